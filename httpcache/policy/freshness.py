"""Age and freshness (RFC 9111 §4.2): pure arithmetic over an entry and ``now``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from ..models import Entry, Headers, Response
from .directives import CacheDirectives, parse_age, parse_cache_control
from .directives import parse_http_date as _parse_http_date

#: Parsing is pure and the same few field values come back with every hit of a
#: stored response, so results are kept (``CacheDirectives`` is frozen).
parse_http_date = lru_cache(maxsize=1024)(_parse_http_date)


@lru_cache(maxsize=1024)
def _directives(values: tuple[str, ...]) -> CacheDirectives:
    return parse_cache_control(values)


def cache_control_of(headers: Headers) -> CacheDirectives:
    """The Cache-Control directives of a message's header fields."""
    global _last
    last = _last
    if last[0] is headers:  # asked again for the same (immutable) fields
        return last[1]
    directives = _directives(tuple(headers.get_all("cache-control")))
    _last = (headers, directives)
    return directives


#: The last fields ``cache_control_of`` read and their directives: deciding on one
#: response asks for them several times (storability, lifetime, expiry).
_last: tuple[Headers | None, CacheDirectives] = (None, CacheDirectives())


def response_directives(response: Response) -> CacheDirectives:
    return cache_control_of(response.headers)


def date_of(headers: Headers, fallback: float) -> float:
    """The Date field, or when the response arrived if Date is absent or unreadable."""
    date = parse_http_date(headers.get("date"))
    return fallback if date is None else date


def initial_age(entry: Entry) -> float:
    """``corrected_initial_age`` of RFC 9111 §4.2.3: the age when the response arrived."""
    return initial_age_of(entry.response.headers, entry.request_time, entry.response_time)


def initial_age_of(headers: Headers, request_time: float, response_time: float) -> float:
    """``initial_age`` of a response with these fields, before it is an entry."""
    date = parse_http_date(headers.get("date"))
    apparent_age = 0.0 if date is None else max(0.0, response_time - date)
    response_delay = max(0.0, response_time - request_time)
    corrected_age_value = (parse_age(headers) or 0) + response_delay
    return max(apparent_age, corrected_age_value)


def resident_time(entry: Entry, now: float) -> float:
    """Seconds since the response arrived (RFC 9111 §4.2.3 ``resident_time``).

    A clock reading earlier than the arrival means the clock went back (or that
    another machine sharing the cache runs ahead): how much time passed is unknown,
    so it is taken as infinite and the entry as stale. Counting it as no time, or as
    the negative time of the RFC's formula, would make the entry fresher with every
    step back; a stale entry would become fresh again.
    """
    resident = now - entry.response_time
    return math.inf if resident < 0 else resident


def current_age(entry: Entry, now: float) -> float:
    """RFC 9111 §4.2.3 ``current_age`` (infinite when the clock is behind the arrival)."""
    return initial_age(entry) + resident_time(entry, now)


def header_lifetime(response: Response, response_time: float, shared: bool) -> float | None:
    """Explicit freshness lifetime from the response's fields (RFC 9111 §4.2.1).

    ``None`` when the response gives none (a heuristic may then apply, §4.2.2).
    """
    cc = response_directives(response)
    if shared and cc.s_maxage is not None:
        return float(cc.s_maxage)
    if cc.max_age is not None:
        return float(cc.max_age)
    if "expires" in response.headers:
        lines = response.headers.get_all("expires")
        # §5.3: an invalid Expires (such as "0", or two field lines) is in the past.
        expires = parse_http_date(lines[0]) if len(lines) == 1 else None
        if expires is None:
            return 0.0
        return max(0.0, expires - date_of(response.headers, response_time))
    return None


@dataclass(frozen=True, slots=True)
class Freshness:
    """How fresh a stored response is for one request."""

    lifetime: float
    age: float

    @property
    def remaining(self) -> float:
        """Seconds of freshness left (negative once stale). A lifetime without end
        (the caller's ``NEVER_EXPIRE``) stays fresh whatever the age, or the clock."""
        if math.isinf(self.lifetime):
            return math.inf
        return self.lifetime - self.age

    @property
    def is_fresh(self) -> bool:
        return self.remaining > 0

    @property
    def staleness(self) -> float:
        return max(0.0, -self.remaining)
