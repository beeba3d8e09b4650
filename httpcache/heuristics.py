"""Heuristic freshness (RFC 9111 §4.2.2), in CacheControl's style.

A heuristic returns header fields to add to a response that has no explicit
freshness (no max-age, s-maxage or Expires); the policy applies it only then, and
only to a status that is heuristically cacheable or marked ``public``. Custom
heuristics subclass ``BaseHeuristic`` and override ``update_headers`` (and, if they
like, ``warning``), exactly as with CacheControl. The response they receive has
``.status``, ``.headers`` (a case-insensitive mapping) and ``.response_time``.

Built-in heuristics take the response's ``Date`` (or its arrival time) as "now",
never the clock, so the policy stays a pure function.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from .models import Headers, Response
from .policy.directives import format_http_date, parse_http_date

#: RFC 9110 §15.1: status codes that are cacheable by default.
HEURISTICALLY_CACHEABLE = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})


@dataclass(frozen=True, slots=True)
class HeuristicInput:
    """What a heuristic sees of a response."""

    status: int
    headers: Headers
    response_time: float

    @property
    def date(self) -> float:
        date = parse_http_date(self.headers.get("date"))
        return self.response_time if date is None else date


class BaseHeuristic:
    """Override ``update_headers`` to return the fields to set on the response."""

    def warning(self, response: Any) -> str | None:
        """A Warning field value to add, or ``None`` (Warning is obsolete, RFC 9111 §5.5)."""
        return None

    def update_headers(self, response: Any) -> dict[str, str]:
        return {}

    def apply(self, response: Response, response_time: float) -> Response:
        """The response with this heuristic's fields set (the same object if none)."""
        view = HeuristicInput(response.status, response.headers, response_time)
        updated = dict(self.update_headers(view) or {})
        if not updated:
            return response
        warning = self.warning(view)
        if warning is not None:
            updated["Warning"] = warning
        return replace(response, headers=response.headers.updated(updated.items()))


class ExpiresAfter(BaseHeuristic):
    """Fresh for a fixed time after the response's date: ``ExpiresAfter(days=1)``."""

    def __init__(self, **timedelta_kwargs: float) -> None:
        self.delta = timedelta(**timedelta_kwargs)

    def update_headers(self, response: Any) -> dict[str, str]:
        expires = response.date + self.delta.total_seconds()
        return {"Expires": format_http_date(expires)}

    def __repr__(self) -> str:
        return f"ExpiresAfter({self.delta!r})"


class OneDayCache(ExpiresAfter):
    """Fresh for one day after the response's date."""

    def __init__(self) -> None:
        super().__init__(days=1)


class LastModified(BaseHeuristic):
    """10% of the time since Last-Modified (RFC 9111 §4.2.2), at most ``max_lifetime``."""

    def __init__(self, fraction: float = 0.1, max_lifetime: timedelta = timedelta(days=1)) -> None:
        self.fraction = fraction
        self.max_lifetime = max_lifetime.total_seconds()

    def update_headers(self, response: Any) -> dict[str, str]:
        last_modified = parse_http_date(response.headers.get("last-modified"))
        if last_modified is None:
            return {}
        date = response.date
        lifetime = min(max(0.0, date - last_modified) * self.fraction, self.max_lifetime)
        if lifetime <= 0:
            return {}
        return {"Expires": format_http_date(date + lifetime)}
