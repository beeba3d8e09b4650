"""CacheControl's options of the two file caches: ``lock_class`` and ``forever``.

``FileCache(directory, forever=False, filemode=0o600, dirmode=0o700, lock_class=None)``
is CacheControl's signature. Without ``lock_class`` the caches lock with ``flock`` on
their lock files, the lock ``filelock.FileLock`` takes (which ``lock_class`` reports).
With one, each lock is ``lock_class(path)`` used as a context manager, as CacheControl
does (a lock for file systems without ``flock``, say), taken once per thread however
deeply the cache nests its locking. Like CacheControl, the cache keeps whatever it is
given (``cache.lock_class is lock_class``); one that cannot be called is warned about
when the cache is made and raises ``ConfigurationError`` naming ``lock_class`` when a
lock is needed (a write, a delete).

``forever=True`` keeps entries through the driver's invalidation after an unsafe
request (RFC 9111 §4.4, ``invalidate``); an explicit ``delete()``, ``remove_expired()``
or ``clear()`` still removes them.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from filelock import FileLock

from ..errors import ConfigurationError, StorageError
from ._files import FileCacheBase, logger


class FileCacheOptions(FileCacheBase):
    """``FileCacheBase`` with CacheControl's ``lock_class`` and ``forever``."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        forever: bool = False,
        filemode: int = 0o600,
        dirmode: int = 0o700,
        lock_class: Callable[[str], Any] | None = None,
        *,
        max_size: int | None = None,
        use_cache_dir: bool = False,
    ) -> None:
        if lock_class is not None and not callable(lock_class):
            # Kept, as CacheControl keeps it; it is refused when a lock is needed.
            logger.warning("lock_class %r is not callable: what needs a lock will fail", lock_class)
        if not isinstance(forever, bool):
            raise ConfigurationError(f"forever must be True or False, not {forever!r}")
        super().__init__(
            directory, forever, filemode, dirmode, max_size=max_size, use_cache_dir=use_cache_dir
        )
        #: What locks are made of; FileLock when the cache uses its own flock locks.
        self.lock_class: Callable[[str], Any] = FileLock if lock_class is None else lock_class
        self._own_locks = lock_class is None
        self._held_locks = threading.local()  # .depth: {name: (lock, depth)}

    @contextlib.contextmanager
    def _locked(self, name: str, wait: bool = True) -> Iterator[None]:
        if self._own_locks:
            with super()._locked(name, wait):
                yield
            return
        held: dict[str, list[Any]] = getattr(self._held_locks, "depth", None) or {}
        self._held_locks.depth = held
        if name in held:  # this thread holds it already
            held[name][1] += 1
            try:
                yield
            finally:
                held[name][1] -= 1
            return
        path = os.path.join(self._locks_dir, name + ".lock")
        if not callable(self.lock_class):
            raise ConfigurationError(
                f"lock_class must be a lock class (called with a path), not {self.lock_class!r}"
            )
        try:
            self._make_dir(self._locks_dir)
            lock = self.lock_class(path)
            lock.__enter__()
        except OSError as exc:
            raise StorageError(f"cannot lock {path}: {exc}") from exc
        held[name] = [lock, 1]
        try:
            yield
        finally:
            del held[name]
            lock.__exit__(None, None, None)

    def invalidate(self, urls: Iterable[str]) -> int:
        if self.forever:
            logger.debug("forever=True: entries stay through invalidation; delete() removes them")
            return 0
        return super().invalidate(urls)
