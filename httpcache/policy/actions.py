"""The closed set of things the controller can tell the driver to do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..models import Entry
from .partials import Completion
from .ranges import ByteRange


class CacheStatus(StrEnum):
    """How a response was obtained, in the spirit of RFC 9211 Cache-Status."""

    HIT = "hit"  # served from cache, fresh
    STALE = "stale"  # served from cache although stale (allowed by a directive or option)
    REVALIDATED = "revalidated"  # the origin confirmed the stored response (304)
    MISS = "miss"  # nothing usable was stored; fetched from the origin
    EXPIRED = "expired"  # a stale entry was replaced by a full response from the origin
    BYPASS = "bypass"  # the cache was not consulted (method, option, or directive)
    OFFLINE_MISS = "only-if-cached"  # only-if-cached and nothing usable: 504


# ---- what to do with a request (``controller.decide``) -------------------------------


@dataclass(frozen=True, slots=True)
class UseStored:
    """Answer from the stored entry without contacting the origin."""

    entry: Entry
    status: CacheStatus
    reason: str
    #: Fields that may not be sent without revalidation (no-cache="...", §5.2.2.4).
    hide_fields: tuple[str, ...] = ()
    #: stale-while-revalidate: also refresh the entry in the background (RFC 5861 §3).
    revalidate_in_background: bool = False
    #: The caller's own conditional matches: answer 304 from the entry (§4.3.2).
    not_modified: bool = False
    #: The caller asked for these bytes of the stored complete response (RFC 9110 §14).
    byte_range: ByteRange | None = None


@dataclass(frozen=True, slots=True)
class Revalidate:
    """Send a conditional request built from the stored entry's validators (§4.3.1)."""

    entry: Entry
    conditional_headers: tuple[tuple[str, str], ...]
    reason: str
    status: CacheStatus = CacheStatus.REVALIDATED
    may_store: bool = True  # False: a full response to it is not stored (§5.2.1.5)


@dataclass(frozen=True, slots=True)
class Forward:
    """Send the request to the origin as it is."""

    reason: str
    status: CacheStatus
    #: Whether the response may be stored (False for a request carrying no-store, §5.2.1.5).
    may_store: bool = True
    #: A stale entry still usable if the origin fails (stale-if-error).
    stale: Entry | None = None
    #: A plain GET with a fresh stored part: ask for the rest only, and join (§3.4).
    completes: Completion | None = None


@dataclass(frozen=True, slots=True)
class GatewayTimeout:
    """only-if-cached with nothing usable: answer 504 (RFC 9111 §5.2.1.7)."""

    reason: str


RequestAction = UseStored | Revalidate | Forward | GatewayTimeout


# ---- what to do with a response (``controller.on_response``) ---------------------


@dataclass(frozen=True, slots=True)
class Store:
    """Store the response (the driver streams its body into the entry)."""

    entry: Entry
    reason: str
    #: Fields the heuristic set: the caller's response carries them too, as stored.
    heuristic_fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class DoNotStore:
    reason: str
    #: Fields the heuristic set: the caller's response carries them all the same.
    heuristic_fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Freshen:
    """A 304 confirmed ``entry``: store its updated head and serve its body (§4.3.4)."""

    entry: Entry
    reason: str


@dataclass(frozen=True, slots=True)
class Invalidate:
    """Remove stored responses for these URLs after an unsafe request (§4.4)."""

    urls: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class ServeStale:
    """The origin failed; serve the stored entry instead (stale-if-error, RFC 5861 §4)."""

    entry: Entry
    reason: str


ResponseAction = Store | DoNotStore | Freshen | Invalidate | ServeStale
#: The one thing done with a response's body: keep it, freshen a stored one, or not.
ResponseOutcome = Store | Freshen | DoNotStore


@dataclass(frozen=True, slots=True)
class ResponseDecision:
    """Everything to do once a response arrived: one outcome, and maybe an invalidation
    (RFC 9111 §4.4) to perform first."""

    outcome: ResponseOutcome
    invalidate: Invalidate | None = None

    @property
    def actions(self) -> tuple[ResponseAction, ...]:
        """The invalidation (if any) and the outcome, in the order they are performed."""
        if self.invalidate is None:
            return (self.outcome,)
        return (self.invalidate, self.outcome)
