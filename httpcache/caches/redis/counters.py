"""Hit and miss counts of a Redis cache: kept in the instance and sent with its next
round trip (``send``), or at once (``flush``); whatever is unsent at the exit of the
interpreter is sent then. A forked child starts with none (its parent sends its own).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import weakref
from typing import Any

_PENDING: weakref.WeakSet[Counters] = weakref.WeakSet()


class Counters:
    """The counts not sent yet, and where they go (the ``stats`` hash)."""

    def __init__(self, client: Any, stats_key: str) -> None:
        self.client = client
        self.stats_key = stats_key
        self._lock = threading.Lock()
        self.pending = [0, 0]

    def record(self, hit: bool) -> None:
        with self._lock:
            self.pending[0 if hit else 1] += 1
        _PENDING.add(self)

    def take(self) -> tuple[int, int]:
        """The unsent counts, now the caller's to send (lost if that fails: they are
        statistics)."""
        if not (self.pending[0] or self.pending[1]):
            return 0, 0
        with self._lock:
            hits, misses = self.pending
            self.pending = [0, 0]
        return hits, misses

    def send(self, pipe: Any) -> bool:
        """Add the unsent counts to ``pipe``; lost if it fails (they are statistics)."""
        hits, misses = self.take()
        if not (hits or misses):
            return False
        if hits:
            pipe.hincrby(self.stats_key, "hits", hits)
        if misses:
            pipe.hincrby(self.stats_key, "misses", misses)
        return True

    def flush(self) -> None:
        pipe = self.client.pipeline(transaction=False)
        if self.send(pipe):
            pipe.execute()

    def read(self) -> tuple[int, int]:
        """The counts in Redis, the unsent ones sent first."""
        pipe = self.client.pipeline(transaction=False)
        self.send(pipe)
        pipe.hmget(self.stats_key, ["hits", "misses"])
        hits, misses = pipe.execute()[-1]
        return int(hits or 0), int(misses or 0)


@atexit.register
def _flush_at_exit() -> None:
    for counters in list(_PENDING):
        with contextlib.suppress(Exception):
            counters.flush()


def _forget_in_child() -> None:
    # A forked child starts with its parent's unsent counts, which the parent sends.
    for counters in list(_PENDING):
        counters.pending = [0, 0]
    _PENDING.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
