"""Locks of the file backends: a ``flock`` on a lock file per stripe of entries."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time

from filelock import FileLock, Timeout

from .primitives import LOCK_FLAGS, try_flock

LOCK_TIMEOUT = 30.0  # seconds; a stripe is held for a few file operations at most

POLL = 0.002


class Busy(Exception):
    """A lock asked for without waiting is held elsewhere."""


#: Lock files this process holds (``FlockLock``): a forked child closes its copies, which
#: would otherwise keep the parent's locks held for as long as the child lives.
_HELD_LOCKS: set[int] = set()


def _close_inherited_locks() -> None:
    for fd in list(_HELD_LOCKS):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_locks)


class FlockLock:
    """An exclusive ``flock`` on a lock file, reentrant per thread: on POSIX this is
    the lock ``filelock.FileLock`` takes (same file, same ``flock``, so the two exclude
    each other), without its bookkeeping, which cost ~150 µs per acquire and release.

    Each acquire opens the file anew: the open file description is the thread's own,
    so threads and processes exclude each other alike. A lock file removed while
    waited on (``clear()``) is noticed (no links left) and a new one is locked.
    """

    def __init__(self, lock_file: str, timeout: float, mode: int) -> None:
        self.lock_file = lock_file
        self._timeout = timeout
        self._mode = mode
        self._local = threading.local()  # .fd, .depth, .pid of this thread's hold
        self._fallback: FileLock | None = None  # where the file system has no flock

    def acquire(self, timeout: float | None = None, poll_interval: float = POLL) -> None:
        if self._fallback is not None:
            self._fallback.acquire(timeout, poll_interval=poll_interval)
            return
        local = self._local
        if getattr(local, "depth", 0) and local.pid == os.getpid():
            local.depth += 1
            return
        wait = self._timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while (fd := self._try_once()) is None:
            if self._fallback is not None:  # pragma: no cover - no flock here
                self._fallback.acquire(timeout, poll_interval=poll_interval)
                return
            if time.monotonic() >= deadline:
                raise Timeout(self.lock_file)
            time.sleep(poll_interval)
        _HELD_LOCKS.add(fd)
        local.fd, local.depth, local.pid = fd, 1, os.getpid()

    def _try_once(self) -> int | None:
        """The locked file's descriptor, or None if another holder has it."""
        while True:
            fd = os.open(self.lock_file, LOCK_FLAGS, self._mode)
            try:
                locked = try_flock(fd)
                if not locked:
                    if locked is None:  # pragma: no cover - filelock has a fallback
                        self._fallback = FileLock(self.lock_file, self._timeout, mode=self._mode)
                    os.close(fd)
                    return None
                info = os.fstat(fd)
                if info.st_nlink > 0:
                    if stat.S_IMODE(info.st_mode) != self._mode:  # the umask took bits
                        os.fchmod(fd, self._mode)
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # removed while we waited: lock the new file

    def release(self) -> None:
        if self._fallback is not None:  # pragma: no cover - no flock here
            self._fallback.release()
            return
        local = self._local
        local.depth -= 1
        if local.depth == 0 and local.pid == os.getpid():
            _HELD_LOCKS.discard(local.fd)
            os.close(local.fd)  # the flock goes with the last descriptor
