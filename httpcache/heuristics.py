"""Heuristic freshness (RFC 9111 §4.2.2), in CacheControl's style.

A heuristic returns header fields to set on a response, as CacheControl's do: the
policy applies it to every response to a cached method (but a ``no-store`` one)
before it judges the response's fields, and the caller gets the fields set, and the
``warning()``, whether the response is stored or not. What the heuristic wrote
decides storage only for a status that is heuristically cacheable (RFC 9110 §15.1)
or marked ``public``; a heuristic never stores a ``no-store`` response. So a custom
heuristic may make a ``private, max-age=0`` response cacheable, and ``ExpiresAfter``
/ ``OneDayCache`` set ``Expires`` and ``Cache-Control: public``. ``LastModified``
gives a lifetime only to a response without explicit freshness (§4.2.2), and only
where CacheControl's does (no Cache-Control but ``public``; a status cacheable by
default, or any status marked ``public``).

Custom heuristics subclass ``BaseHeuristic`` and override ``update_headers`` (and, if
they like, ``warning``), exactly as with CacheControl. Any other object with an
``update_headers(response)`` method is taken as one too (duck typing, as CacheControl
takes it, a heuristic written against CacheControl's own ``BaseHeuristic`` included);
its ``warning(response)`` is used if it has one. The response they receive has
``.status``, ``.headers`` (a case-insensitive mapping) and ``.response_time``. A date
a heuristic writes in another form than an HTTP-date (``email.utils``'
``formatdate()`` gives ``-0000``) is rewritten as an IMF-fixdate.

Built-in heuristics take the response's ``Date`` (or its arrival time) as "now",
never the clock, so the policy stays a pure function. They also take the response
objects CacheControl's heuristics do (anything with ``.status`` and ``.headers``).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from email.utils import parsedate_tz
from typing import Any, Protocol

from .errors import ConfigurationError
from .models import Headers, Response
from .policy.directives import format_http_date, parse_cache_control, parse_http_date

#: RFC 9110 §15.1: status codes that are cacheable by default.
HEURISTICALLY_CACHEABLE = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
#: Fields whose value is an HTTP-date (RFC 9110 §5.6.7).
DATE_FIELDS = frozenset({"date", "expires", "last-modified"})


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
        """The Warning field value added when fields were set: CacheControl's (Warning
        is obsolete, RFC 9111 §5.5; return ``None`` for none)."""
        return '110 - "Response is Stale"'

    def update_headers(self, response: Any) -> dict[str, str]:
        return {}

    def apply(self, response: Response, response_time: float) -> Response:
        """The response with this heuristic's fields set (the same object if none)."""
        view = HeuristicInput(response.status, response.headers, response_time)
        fields = (self.update_headers(view) or {}).items()
        updated = {name: _as_http_date(name, str(value)) for name, value in fields}
        if not updated:
            return response
        warning = self.warning(view)
        if warning is not None:
            updated["Warning"] = warning
        return replace(response, headers=response.headers.updated(updated.items()))


class HeuristicLike(Protocol):
    """What ``heuristic=`` takes: a ``BaseHeuristic``, or any object with its method."""

    def update_headers(self, response: Any) -> Mapping[str, str] | None: ...


class _Delegate(BaseHeuristic):
    """A heuristic that is not a ``BaseHeuristic``: its own ``update_headers`` and
    ``warning`` (``BaseHeuristic``'s default warning if it has none)."""

    def __init__(self, heuristic: Any) -> None:
        self.heuristic = heuristic

    def update_headers(self, response: Any) -> dict[str, str]:
        fields = self.heuristic.update_headers(response)
        if fields is None:
            return {}
        if not isinstance(fields, Mapping):
            raise ConfigurationError(
                f"heuristic {self.heuristic!r}: update_headers() must return a mapping "
                f"of header fields, not {fields!r}"
            )
        return dict(fields)

    def warning(self, response: Any) -> str | None:
        own = getattr(self.heuristic, "warning", None)
        if not callable(own):
            return super().warning(response)
        value = own(response)
        return None if value is None else str(value)

    def __repr__(self) -> str:
        return repr(self.heuristic)


def as_heuristic(value: object) -> BaseHeuristic | None:
    """``value`` as the policy's heuristic: a ``BaseHeuristic`` as it is, any other
    object with an ``update_headers`` method through it; anything else is refused."""
    if value is None or isinstance(value, BaseHeuristic):
        return value
    if callable(getattr(value, "update_headers", None)):
        return _Delegate(value)
    raise ConfigurationError(
        f"heuristic must be a heuristic (an object with update_headers(response), "
        f"such as an httpcache.heuristics.BaseHeuristic), not {value!r}"
    )


class ExpiresAfter(BaseHeuristic):
    """Fresh for a fixed time after the response's date, whatever its own fields say
    (but ``no-store``): ``ExpiresAfter(days=1)`` sets ``Expires`` and
    ``Cache-Control: public``, with a ``Warning`` as CacheControl's does."""

    def __init__(self, **timedelta_kwargs: float) -> None:
        self.delta = timedelta(**timedelta_kwargs)

    def update_headers(self, response: Any) -> dict[str, str]:
        date = _date_of(response)
        if date is None:
            return {}
        expires = date + self.delta.total_seconds()
        return {"expires": format_http_date(expires), "cache-control": "public"}

    def warning(self, response: Any) -> str | None:
        return f"110 - Automatically cached for {self.delta}. Response might be stale"

    def __repr__(self) -> str:
        return f"ExpiresAfter({self.delta!r})"


class OneDayCache(ExpiresAfter):
    """Fresh for one day after the response's date, unless it has an ``Expires``:
    sets ``Expires`` and ``Cache-Control: public``, with CacheControl's warning."""

    def __init__(self) -> None:
        super().__init__(days=1)

    def update_headers(self, response: Any) -> dict[str, str]:
        if _field(response, "expires") is not None:
            return {}
        return super().update_headers(response)

    warning = BaseHeuristic.warning

    def __repr__(self) -> str:
        return "OneDayCache()"


class LastModified(BaseHeuristic):
    """10% of the time since Last-Modified (RFC 9111 §4.2.2), at most ``max_lifetime``;
    only for a response without explicit freshness, with no Cache-Control but
    ``public``, and of a status cacheable by default (CacheControl's conditions)."""

    def __init__(self, fraction: float = 0.1, max_lifetime: timedelta = timedelta(days=1)) -> None:
        self.fraction = fraction
        self.max_lifetime = max_lifetime.total_seconds()

    def update_headers(self, response: Any) -> dict[str, str]:
        if _field(response, "expires") is not None:
            return {}  # explicit freshness: no heuristic (§4.2.2)
        cache_control = _field(response, "cache-control")
        public = cache_control is not None
        if public and parse_cache_control([str(cache_control)]) != _PUBLIC:
            return {}  # max-age (explicit), or anything that asks for care
        if not public and getattr(response, "status", None) not in HEURISTICALLY_CACHEABLE:
            return {}  # RFC 9110 §15.1: only these, or any status marked public
        last_modified = parse_http_date(_field(response, "last-modified"))
        date = _date_of(response)
        if last_modified is None or date is None:
            return {}
        lifetime = min(max(0.0, date - last_modified) * self.fraction, self.max_lifetime)
        if lifetime <= 0:
            return {}
        return {"expires": format_http_date(date + lifetime)}

    def warning(self, response: Any) -> str | None:
        return None


_PUBLIC = parse_cache_control(["public"])


def _field(response: Any, name: str) -> str | None:
    """A header field of any response-like object (its ``.headers`` mapping)."""
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get(name)
    if value is None and isinstance(headers, dict):  # a plain dict: case as written
        value = next((v for k, v in headers.items() if str(k).lower() == name), None)
    return None if value is None else str(value)


def _date_of(response: Any) -> float | None:
    """The response's Date, else when it arrived (if known)."""
    date = parse_http_date(_field(response, "date"))
    if date is not None:
        return date
    arrived = getattr(response, "response_time", None)
    return float(arrived) if isinstance(arrived, int | float) else None


def _as_http_date(name: str, value: str) -> str:
    """A date field a heuristic wrote in a form the policy would read as invalid (a
    numeric zone such as ``-0000``) as an IMF-fixdate; any other value as it is."""
    if name.lower() not in DATE_FIELDS or parse_http_date(value) is not None:
        return value
    parsed = parsedate_tz(value)
    if parsed is None or parsed[0] < 1900:
        return value
    try:
        when = calendar.timegm(parsed[:6]) - (parsed[9] or 0)
    except (ValueError, OverflowError):
        return value
    return format_http_date(when)
