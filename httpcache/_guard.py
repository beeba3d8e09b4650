"""Storage failures degrade to the network: one warning per outage, not one per call."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

logger = logging.getLogger("httpcache")
T = TypeVar("T")


class StorageGuard:
    """Runs storage calls; a failure is logged and replaced by a default value.

    The first failure after a success logs a WARNING; later ones log at DEBUG until
    a call succeeds again, which logs INFO. Callers never see the exception.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._healthy = True
        self._lock = threading.Lock()

    def call(self, what: str, operation: Callable[[], T], default: T, *, minor: bool = False) -> T:
        """``operation()``, or ``default`` if it fails.

        A ``minor`` operation (hit and miss counters) neither warns nor counts as
        proof that storage works again.
        """
        try:
            result = operation()
        except Exception as exc:  # any backend failure: the caller still gets an answer
            if minor:
                logger.debug("cache storage %s failed to %s (%s)", self.name, what, exc)
            else:
                self.failed(what, exc)
            return default
        if not minor:
            self.succeeded()
        return result

    def failed(self, what: str, exc: BaseException) -> None:
        with self._lock:
            first, self._healthy = self._healthy, False
        log = logger.warning if first else logger.debug
        log("cache storage %s failed to %s (%s); using the network", self.name, what, exc)

    def succeeded(self) -> None:
        if not self._healthy:
            with self._lock:
                recovered, self._healthy = not self._healthy, True
            if recovered:
                logger.info("cache storage %s works again", self.name)
