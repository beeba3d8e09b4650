"""Request coalescing: concurrent identical misses in one process, one network request.

The first thread to miss on a key becomes the leader and fetches; the others wait
until the leader's response is stored (or turns out not to be storable, or fails),
then look in the cache again. A waiter that times out simply goes to the network.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable


class Flight:
    """One leader's fetch of one key, which followers can wait for."""

    __slots__ = ("_event", "_key", "_landed", "_registry")

    def __init__(self, registry: Flights, key: Hashable) -> None:
        self._registry = registry
        self._key = key
        self._landed = False
        #: Made by the first follower that waits: most flights have none.
        self._event: threading.Event | None = None

    def land(self) -> None:
        """The fetch is over (stored or not): wake the followers. Idempotent."""
        event = self._registry._land(self._key, self)
        if event is not None:
            event.set()

    def wait(self, timeout: float) -> bool:
        event = self._registry._event_of(self)
        return True if event is None else event.wait(timeout)


class Flights:
    """The fetches in progress, by key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Hashable, Flight] = {}
        #: Fetches landed so far: a lookup made when this was the same as now cannot
        #: have missed a response a flight stored meanwhile.
        self.landed = 0

    def join_or_lead(self, key: Hashable) -> tuple[Flight, bool]:
        """The flight for ``key`` and whether the caller leads it."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                return flight, False
            flight = self._flights[key] = Flight(self, key)
            return flight, True

    def _land(self, key: Hashable, flight: Flight) -> threading.Event | None:
        """Mark ``flight`` landed (once); the event its followers wait on, if any."""
        with self._lock:
            if flight._landed:
                return None
            flight._landed = True
            self.landed += 1
            if self._flights.get(key) is flight:
                del self._flights[key]
            return flight._event

    def _event_of(self, flight: Flight) -> threading.Event | None:
        """The event to wait on for ``flight``; None once it has landed."""
        with self._lock:
            if flight._landed:
                return None
            if flight._event is None:
                flight._event = threading.Event()
            return flight._event
