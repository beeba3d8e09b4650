"""Storage failures degrade to the network: one warning per outage, not one per call,
and one storage timeout per request at most, not one per storage call."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

logger = logging.getLogger("httpcache")
T = TypeVar("T")

#: A storage call that failed after this many seconds was waiting on a timeout (a
#: frozen server, a lock held elsewhere): storage is then skipped for ``SKIP_FOR``
#: seconds, so that a request waits out one timeout, not one per storage call.
SLOW_FAILURE = 0.2
SKIP_FOR = 1.0
#: Storage calls that only read. A store can fail to write yet read fine (read-only,
#: full disk): reads that work do not end an outage of writes, nor the reverse.
READS = frozenset({"look up", "read an entry", "read a body"})


class StorageGuard:
    """Runs storage calls; a failure is logged and replaced by a default value.

    The first failure logs a WARNING; later ones log at DEBUG until calls of every
    kind that failed (reads, writes; see ``READS``) succeed again, which logs INFO.
    Callers never see the exception. After a slow failure (see ``SLOW_FAILURE``)
    calls return their default at once for ``SKIP_FOR`` seconds; the first call
    after that tries storage again.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._failing: set[bool] = set()  # kinds failing: is_read(what)
        self._lock = threading.Lock()
        self._skip_until = 0.0

    def call(self, what: str, operation: Callable[[], T], default: T, *, minor: bool = False) -> T:
        """``operation()``, or ``default`` if it fails.

        A ``minor`` operation (hit and miss counters) neither warns nor counts as
        proof that storage works again.
        """
        if self._skip_until:
            if time.monotonic() < self._skip_until:
                logger.debug("cache storage %s skipped to %s (timing out)", self.name, what)
                return default
            self._skip_until = 0.0
        started = time.monotonic()
        try:
            result = operation()
        except Exception as exc:  # any backend failure: the caller still gets an answer
            now = time.monotonic()
            if now - started >= SLOW_FAILURE:
                self._skip_until = now + SKIP_FOR
            if minor:
                logger.debug("cache storage %s failed to %s (%s)", self.name, what, exc)
            else:
                self.failed(what, exc)
            return default
        if self._failing and not minor:
            self.succeeded(what)
        return result

    def failed(self, what: str, exc: BaseException) -> None:
        with self._lock:
            first = not self._failing
            self._failing.add(what in READS)
        log = logger.warning if first else logger.debug
        log("cache storage %s failed to %s (%s); using the network", self.name, what, exc)

    def succeeded(self, what: str | None = None) -> None:
        """A call worked: once every kind that failed works, the outage is over."""
        with self._lock:
            was_failing = bool(self._failing)
            if what is None:
                self._failing.clear()
            else:
                self._failing.discard(what in READS)
            recovered = was_failing and not self._failing
        if recovered:
            logger.info("cache storage %s works again", self.name)
