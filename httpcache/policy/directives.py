"""Header field values the cache decides by, parsed into frozen values.

Every parser here takes whatever a server or caller sent and never raises: a value
it cannot read is reported as such (``None``, or a directive listed in ``invalid``)
and the policy treats it as the RFC says for invalid values.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ..models import Headers

#: RFC 9111 §1.2.2: a delta-seconds too large to represent is taken as 2^31.
DELTA_SECONDS_MAX = 2_147_483_648

_DELTA = re.compile(r"[0-9]+")
# RFC 9110 §5.6.2 token characters; anything else ends a directive name.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def parse_delta_seconds(value: str | None) -> int | None:
    """RFC 9111 §1.2.2 delta-seconds: a non-negative integer, capped at 2^31."""
    if value is None:
        return None
    value = value.strip()
    if not _DELTA.fullmatch(value):
        return None
    digits = value.lstrip("0") or "0"
    # Any run of digits is valid; int() refuses more than 4300 of them (CVE-2020-10735),
    # and anything longer than 2^31's ten digits is capped anyway.
    if len(digits) > len(str(DELTA_SECONDS_MAX)):
        return DELTA_SECONDS_MAX
    return min(int(digits), DELTA_SECONDS_MAX)


def split_list(values: Iterable[str]) -> list[str]:
    """Split comma-separated list members (RFC 9110 §5.6.1), keeping quoted commas.

    A quoted string only opens a parameter's value (after ``=``, §5.6.4); a quote
    anywhere else is a stray character of a malformed member, and a quoted string
    left open at the end of the line hides nothing: its text is split on commas
    (``max-age="1, no-store`` still says no-store).
    """
    members: list[str] = []
    for value in values:
        current: list[str] = []
        in_quotes = escaped = False
        opened = 0  # where the quoted string being read began in ``current``
        for char in value:
            if escaped:
                escaped = False
            elif char == "\\" and in_quotes:
                escaped = True
            elif char == '"' and in_quotes:
                in_quotes = False
            elif char == '"' and "".join(current).rstrip().endswith("="):
                in_quotes, opened = True, len(current)
            elif char == "," and not in_quotes:
                members.append("".join(current).strip())
                current = []
                continue
            current.append(char)
        if in_quotes:
            members.append("".join(current[:opened]).strip())
            members.extend(part.strip() for part in "".join(current[opened:]).split(","))
        else:
            members.append("".join(current).strip())
    return [m for m in members if m]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


@dataclass(frozen=True, slots=True)
class CacheDirectives:
    """Cache-Control directives (RFC 9111 §5.2) of a request or a response.

    Absent numeric directives are ``None``. A directive whose value could not be
    read, or that was given twice with different values, is named in ``invalid``
    and its numeric value is set as the policy's conservative reading: 0 for
    max-age and s-maxage (stale, §4.2.1), no allowance for the others.
    """

    max_age: int | None = None
    s_maxage: int | None = None
    max_stale: int | None = None  # request; DELTA_SECONDS_MAX when given without a value
    min_fresh: int | None = None  # request
    stale_while_revalidate: int | None = None
    stale_if_error: int | None = None
    no_cache: bool = False
    no_cache_fields: tuple[str, ...] = ()  # response: no-cache="field, ..." (§5.2.2.4)
    no_store: bool = False
    no_transform: bool = False
    only_if_cached: bool = False
    must_revalidate: bool = False
    proxy_revalidate: bool = False
    must_understand: bool = False
    private: bool = False
    private_fields: tuple[str, ...] = ()
    public: bool = False
    immutable: bool = False
    invalid: frozenset[str] = field(default_factory=frozenset)

    @property
    def has_explicit_freshness(self) -> bool:
        return self.max_age is not None or self.s_maxage is not None


_NUMERIC = {
    "max-age": "max_age",
    "s-maxage": "s_maxage",
    "max-stale": "max_stale",
    "min-fresh": "min_fresh",
    "stale-while-revalidate": "stale_while_revalidate",
    "stale-if-error": "stale_if_error",
}
_FLAGS = {
    "no-store": "no_store",
    "no-transform": "no_transform",
    "only-if-cached": "only_if_cached",
    "must-revalidate": "must_revalidate",
    "proxy-revalidate": "proxy_revalidate",
    "must-understand": "must_understand",
    "public": "public",
    "immutable": "immutable",
}
_STALE_IF_INVALID = {"max-age", "s-maxage"}


def parse_cache_control(values: Iterable[str]) -> CacheDirectives:
    """Parse every Cache-Control field line of a message into ``CacheDirectives``."""
    seen: dict[str, str | None] = {}
    invalid: set[str] = set()
    for member in split_list(values):
        name, sep, raw = member.partition("=")
        name = name.strip().lower()
        if not _TOKEN.fullmatch(name):
            continue
        value = _unquote(raw) if sep else None
        if name in seen and seen[name] != value:
            invalid.add(name)  # §4.2.1: conflicting duplicates
            continue
        seen[name] = value

    out: dict[str, object] = {}
    for name, value in seen.items():
        if name in _NUMERIC:
            number = parse_delta_seconds(value)
            if name == "max-stale" and value is None:
                number = DELTA_SECONDS_MAX  # §5.2.1.2: any staleness
            if number is None or name in invalid:
                invalid.add(name)
                number = 0 if name in _STALE_IF_INVALID else None
            out[_NUMERIC[name]] = number
        elif name in _FLAGS:
            out[_FLAGS[name]] = True
        elif name in ("no-cache", "private"):
            fields = tuple(
                f.strip().lower() for f in (value or "").split(",") if _TOKEN.fullmatch(f.strip())
            )
            out[name.replace("-", "_")] = True
            out[f"{name.replace('-', '_')}_fields"] = fields
    return CacheDirectives(**out, invalid=frozenset(invalid))  # type: ignore[arg-type]


# ---- dates (RFC 9110 §5.6.7) ---------------------------------------------------------

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAY = r"(?:mon|tue|wed|thu|fri|sat|sun)"
_DAY_LONG = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH = r"([a-z]{3})"
_TIME = r"(\d{2}):(\d{2}):(\d{2})"
# RFC 9110 §5.6.7: the three formats, and nothing else. Names are matched in any case
# (a server's "THU" or "gMT" is not ambiguous); every space, digit and sign is exact.
_IMF_FIXDATE = re.compile(rf"{_DAY}, (\d{{2}}) {_MONTH} (\d{{4}}) {_TIME} gmt", re.IGNORECASE)
_RFC850_DATE = re.compile(rf"{_DAY_LONG}, (\d{{2}})-{_MONTH}-(\d{{2}}) {_TIME} gmt", re.IGNORECASE)
_ASCTIME_DATE = re.compile(rf"{_DAY} {_MONTH} (\d{{2}}| \d) {_TIME} (\d{{4}})", re.IGNORECASE)
#: rfc850-date's two-digit year: 69-99 are 1969-1999, 00-68 are 2000-2068. This is
#: RFC 9110 §5.6.7's "more than 50 years in the future is in the past" rule for any
#: clock between 2019 and 2068, without reading the clock (the policy never does).
_TWO_DIGIT_PIVOT = 69


def parse_http_date(value: str | None) -> float | None:
    """An HTTP-date as POSIX seconds, or ``None`` when it is not one.

    Only the three formats of RFC 9110 §5.6.7 are dates: IMF-fixdate, the obsolete
    RFC 850 form and asctime. Anything else (``UTC`` for ``GMT``, a numeric offset,
    dashes in an IMF-fixdate, a one-digit hour, two values joined by a comma, ``0``)
    is invalid, which an ``Expires`` reader takes as a time in the past (RFC 9111
    §5.3) and an ``If-Modified-Since`` reader ignores (RFC 9110 §13.1.3).
    """
    if not value:
        return None
    value = value.strip()
    try:
        if match := _IMF_FIXDATE.fullmatch(value):
            day, month, year, hour, minute, second = match.groups()
        elif match := _RFC850_DATE.fullmatch(value):
            day, month, short_year, hour, minute, second = match.groups()
            century = 1900 if int(short_year) >= _TWO_DIGIT_PIVOT else 2000
            year = str(century + int(short_year))
        elif match := _ASCTIME_DATE.fullmatch(value):
            month, day, hour, minute, second, year = match.groups()
        else:
            return None
        number = _MONTHS.get(month.lower())
        if number is None:
            return None
        parts = (int(year), number, int(day), int(hour), int(minute), int(second))
        return _timestamp(parts, 0)
    except (ValueError, OverflowError):
        return None


def _timestamp(parts: tuple[int, ...], offset: int) -> float | None:
    """POSIX seconds of a calendar date, or None when no such moment exists.

    ``calendar.timegm`` rolls impossible dates over (32 Nov becomes 2 Dec); an
    impossible date is an invalid one (RFC 9110 §5.6.7), so it is checked first.
    Second 60 is the leap second that the grammar allows.
    """
    year, month, day, hour, minute, second = parts
    datetime(year, month, day, hour, minute, min(second, 59))  # raises ValueError
    if second > 60:
        return None
    return float(calendar.timegm((year, month, day, hour, minute, second)) - offset)


def format_http_date(timestamp: float) -> str:
    """POSIX seconds as an IMF-fixdate (RFC 9110 §5.6.7)."""
    from email.utils import formatdate

    return formatdate(timestamp, usegmt=True)


# ---- the other fields --------------------------------------------------------------


def parse_age(headers: Headers) -> int | None:
    """The Age field (RFC 9111 §5.1); an invalid value is ignored."""
    values = headers.get_all("age")
    return parse_delta_seconds(split_list(values)[0]) if values and split_list(values) else None


def parse_vary(headers: Headers) -> tuple[str, ...]:
    """Field names from Vary (RFC 9110 §12.5.5), lower-cased; ``("*",)`` for Vary: *."""
    names = []
    for member in split_list(headers.get_all("vary")):
        name = member.strip().lower()
        if name == "*":
            return ("*",)
        if _TOKEN.fullmatch(name) and name not in names:
            names.append(name)
    return tuple(names)


def pragma_no_cache(headers: Headers) -> bool:
    """RFC 9111 §5.4: Pragma: no-cache counts only when Cache-Control is absent."""
    if "cache-control" in headers:
        return False
    return any(m.strip().lower() == "no-cache" for m in split_list(headers.get_all("pragma")))


_ETAG = re.compile(r'(W/)?"[\x21\x23-\x7e\x80-\xff]*"')


def parse_etag(headers: Headers) -> str | None:
    """The entity tag (RFC 9110 §8.8.3) if it is well formed, else ``None``."""
    value = headers.get("etag")
    if value is None:
        return None
    value = value.strip()
    return value if _ETAG.fullmatch(value) else None
