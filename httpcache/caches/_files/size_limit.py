"""``max_size`` of a file cache: what the folder takes on disk, measured by a stat of
every file when an estimate says it may be past the limit.

Measuring the folder means a stat of every file, so it is done only when this
instance's estimate (the last measure plus what it stored since) passes
``max_size``, or after it stored ``RESCAN_SHARE`` of it (other processes write too).
A measure over the limit removes least recently used entries (by the mtime a hit
stamps) down to ``EVICT_TO`` of it, so that the next measures are that many writes
away. A failure here is logged; the commit stands.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from ...errors import StorageError
from .primitives import HEX32, storage_errors, walk2

logger = logging.getLogger("httpcache")

#: Past the limit, least recently used entries go until this share of it is left;
#: the folder is measured again after this share of it was written.
EVICT_TO = 0.9
RESCAN_SHARE = 0.1


class SizeLimit:
    """Keeps the files of one cache within its ``max_size``."""

    def __init__(
        self,
        roots: Callable[[], tuple[str, ...]],
        entries_dir: str,
        remove: Callable[[str], bool],
    ) -> None:
        """``roots()``: the folders of striped files; ``remove(kd)``: remove an entry."""
        self._roots = roots
        self._entries_dir = entries_dir
        self._remove = remove
        self._lock = threading.Lock()
        self._measured = False
        self._estimate = 0
        self._unmeasured = 0

    def usage(self) -> dict[str, list[int]]:
        """``{kd: [last use in ns, bytes]}`` from a stat of every file, none opened."""
        usage: dict[str, list[int]] = {}
        for root in self._roots():
            for item in walk2(root):
                kd = item.name[:32]
                if not HEX32.match(kd):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    info = item.stat(follow_symlinks=False)
                    slot = usage.setdefault(kd, [0, 0])  # a body without head: oldest
                    slot[1] += info.st_size
                    if root == self._entries_dir:
                        slot[0] = info.st_mtime_ns
        return usage

    def stored(self, added: int, max_size: int) -> None:
        """``added`` bytes were just stored: measure and evict if need be."""
        with self._lock:
            self._estimate += added
            self._unmeasured += added
            if (
                self._measured
                and self._estimate <= max_size
                and self._unmeasured < max_size * RESCAN_SHARE
            ):
                return
            self._measured, self._unmeasured = True, 0
        try:
            with storage_errors("evict entries"):
                usage = self.usage()
                total = sum(size for _, size in usage.values())
                if total > max_size:
                    goal = max_size * EVICT_TO
                    by_age = sorted(usage.items(), key=lambda item: (item[1][0], item[0]))
                    for kd, (_, size) in by_age:
                        if total <= goal:
                            break
                        self._remove(kd)
                        total -= size
                self._estimate = total
        except StorageError as exc:
            logger.warning("eviction stopped: %s", exc)

    def forget(self) -> None:
        """The folder changed in a way the estimate does not follow: measure next time."""
        with self._lock:
            self._measured, self._estimate, self._unmeasured = False, 0, 0
