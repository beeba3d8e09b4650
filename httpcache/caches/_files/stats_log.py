"""Hit and miss counts of a file cache: a log of one byte per lookup, folded into
``stats`` when the counts are read.

Counting a lookup appends one byte to ``stats.log`` (``O_APPEND``: no lock, no new
file, and one byte cannot be torn by a crash). Reading the counts folds the log into
``stats`` under the ``stats`` lock: the log is renamed to ``stats.<token>``, taken with
an exclusive ``flock`` (an appender holds a shared one while it writes, and appends
again to a new log if it finds its file unlinked), counted, recorded in ``stats``
with its token, then removed. A leftover ``stats.<token>`` (a crash mid-fold) is
folded next time, unless ``stats`` already names it. Bytes other than ``+`` and ``-``
are ignored, so damage costs counts, never the cache. In a read-only folder the
counts are read without folding.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager

import msgpack

from ...errors import StorageError
from .locks import Busy
from .primitives import (
    APPEND_FLAGS,
    TempFile,
    TempOwner,
    fcntl,
    list_names,
    open_file,
    read_at,
    read_whole,
    remove_file,
    storage_errors,
)

logger = logging.getLogger("httpcache")

_STATS_MAGIC = "httpcache-stats"
_STATS_VERSION = 2  # [magic, version, hits, misses, token of the last log folded]
_HIT, _MISS = b"+", b"-"
ROTATED = re.compile(r"stats\.([0-9a-f]{16})\Z")
#: A lookup that finds the counter log this long folds it (if the lock is free).
FOLD_AT = 64 << 10


class StatsLog:
    """The counts of one cache folder, handed how to lock, create folders and stage
    files (the cache's own ways)."""

    def __init__(
        self,
        owner: TempOwner,
        directory: str,
        locked: Callable[[str, bool], AbstractContextManager[None]],
        stage: Callable[[bytes], TempFile],
    ) -> None:
        self._owner = owner
        self.directory = directory
        self._locked = locked
        self._stage = stage
        self.stats_path = os.path.join(directory, "stats")
        self.log_path = os.path.join(directory, "stats.log")

    def record(self, hit: bool) -> None:
        """Count a lookup: one byte appended to the log."""
        with storage_errors("count a lookup"):
            size = self._append(_HIT if hit else _MISS)
        if size >= FOLD_AT:  # keep the log short; if someone else is folding, they do it
            with contextlib.suppress(Busy):
                self.fold(wait=False)

    def counts(self) -> tuple[int, int]:
        try:
            self.fold(wait=True)
        except StorageError as exc:  # read-only, say: the logs are counted where they are
            logger.debug("hit and miss counts not folded: %s", exc)
            hits, misses, folded = self._read_counts()
            for name in list_names(self.directory):
                found = ROTATED.match(name)
                if name == "stats.log" or (found and found.group(1) != folded):
                    with storage_errors("read the hit/miss counters"):
                        log = read_whole(os.path.join(self.directory, name))
                    hits, misses = hits + log.count(_HIT), misses + log.count(_MISS)
            return hits, misses
        hits, misses, _ = self._read_counts()
        return hits, misses

    def files(self) -> list[str]:
        """The names of the files counts are kept in (what ``clear`` removes)."""
        return [
            name
            for name in list_names(self.directory)
            if ROTATED.match(name) or name in ("stats", "stats.log")
        ]

    def _append(self, mark: bytes) -> int:
        """Append ``mark`` to the log; the log's size before it."""
        for _ in range(5):
            fd = self._open_log()
            try:
                if fcntl is not None:  # a fold waits for appends in flight
                    fcntl.flock(fd, fcntl.LOCK_SH)
                info = os.fstat(fd)
                if info.st_nlink == 0:  # folded or cleared since we opened it
                    continue
                os.write(fd, mark)
                return info.st_size
            finally:
                os.close(fd)
        raise StorageError(f"{self.log_path} keeps being replaced")

    def _open_log(self) -> int:
        """The log, opened to append, created if missing. Another process may create
        it, or a fold rename it away, between two of these steps: they are tried again."""
        filemode = self._owner.filemode
        for _ in range(5):
            try:
                return os.open(self.log_path, APPEND_FLAGS)
            except FileNotFoundError:
                pass
            self._owner._make_dir(self.directory)
            try:
                fd = os.open(self.log_path, APPEND_FLAGS | os.O_CREAT | os.O_EXCL, filemode)
            except FileExistsError:
                continue  # created by another process meanwhile: open that one
            try:
                os.fchmod(fd, filemode)
            except BaseException:
                os.close(fd)
                raise
            return fd
        raise StorageError(f"{self.log_path} keeps being replaced")

    def fold(self, wait: bool) -> None:
        """Move the counts in the log (and any a crash left mid-fold) into ``stats``."""
        with self._locked("stats", wait), storage_errors("fold the hit/miss counters"):
            for name in list_names(self.directory):
                if ROTATED.match(name):
                    self._fold_rotated(name)
            try:
                if os.lstat(self.log_path).st_size == 0:
                    return
                name = f"stats.{secrets.token_hex(8)}"
                os.rename(self.log_path, os.path.join(self.directory, name))
            except FileNotFoundError:
                return
            self._fold_rotated(name)

    def _fold_rotated(self, name: str) -> None:
        """Add a renamed log to ``stats`` (unless it says it has it), then remove it."""
        path = os.path.join(self.directory, name)
        fd = open_file(path)
        if fd is None:
            remove_file(path)  # not a regular file: not ours to count
            return
        try:
            if fcntl is not None:  # appends in flight finish first, later ones see nlink 0
                fcntl.flock(fd, fcntl.LOCK_EX)
            hits, misses, folded = self._read_counts()
            token = name[len("stats.") :]
            if token != folded:
                log = read_at(fd, os.fstat(fd).st_size, 0)
                hits, misses = hits + log.count(_HIT), misses + log.count(_MISS)
                data = msgpack.packb([_STATS_MAGIC, _STATS_VERSION, hits, misses, token])
                tmp = self._stage(data)
                try:
                    tmp.move_to(self.stats_path, self._owner)
                finally:
                    tmp.discard()
            os.unlink(path)
        finally:
            os.close(fd)

    def _read_counts(self) -> tuple[int, int, str]:
        """Hits, misses and the token of the last log folded, from ``stats``."""
        with storage_errors("read the hit/miss counters"):
            fd = open_file(self.stats_path)
            if fd is None:
                return 0, 0, ""
            with os.fdopen(fd, "rb") as file:
                data = file.read(256)
        try:
            magic, version, hits, misses, *rest = msgpack.unpackb(data)
            if (
                magic != _STATS_MAGIC
                or (version, len(rest)) not in ((1, 0), (_STATS_VERSION, 1))
                or not (hits >= 0 and misses >= 0)
            ):
                raise ValueError("not a httpcache stats file")
            return int(hits), int(misses), str(rest[0]) if rest else ""
        except Exception as exc:  # damaged counters restart from zero
            logger.warning("ignoring damaged %s: %r", self.stats_path, exc)
            return 0, 0, ""
