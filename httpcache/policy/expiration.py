"""The caller's expiration values: what ``expire_after`` and its relatives accept.

Accepted forms (the contract): ``None``/``-1``/``NEVER_EXPIRE`` (never expires),
``0``/``EXPIRE_IMMEDIATELY`` (store, but revalidate before every use),
``DO_NOT_CACHE`` (neither read nor store), seconds as int or float, ``timedelta``,
an absolute ``datetime`` (naive means UTC), and duration strings such as ``"90s"``,
``"15m"``, ``"2h30m"``, ``"1d"``, ``"1w"`` (also ``"never"``).
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, TypeAlias

from ..errors import ConfigurationError


class _Sentinel:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> str:
        return self._name


#: Never read from nor write to the cache.
DO_NOT_CACHE: Final = _Sentinel("DO_NOT_CACHE")
#: No expiration given: the response's headers (or the heuristic) decide.
UNSET: Final = _Sentinel("UNSET")
NEVER_EXPIRE: Final = -1
EXPIRE_IMMEDIATELY: Final = 0

ExpirationTime: TypeAlias = int | float | str | datetime | timedelta | _Sentinel | None

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


@dataclass(frozen=True, slots=True)
class Expiration:
    """A resolved expiration: either a lifetime in seconds or an absolute deadline.

    ``lifetime`` may be ``math.inf`` (never expires) or 0 (expire immediately).
    ``deadline`` is POSIX seconds. ``do_not_cache`` bypasses the cache entirely.
    """

    lifetime: float | None = None
    deadline: float | None = None
    do_not_cache: bool = False

    def lifetime_from(self, response_time: float) -> float:
        """Freshness lifetime of a response received at ``response_time``."""
        if self.deadline is not None:
            return max(0.0, self.deadline - response_time)
        return 0.0 if self.lifetime is None else self.lifetime


def parse_duration(text: str) -> float:
    """Seconds in a duration string like ``"90s"``, ``"2h30m"``, ``"1.5d"`` or ``"3600"``."""
    cleaned = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        return float(cleaned)
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(cleaned):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not cleaned or pos != len(cleaned):
        raise ConfigurationError(
            f"cannot read {text!r} as a duration: use seconds or forms like "
            "'90s', '15m', '2h30m', '1d', '1w', or 'never'"
        )
    return total


def resolve(value: ExpirationTime) -> Expiration | None:
    """An ``Expiration`` for a user value; ``None`` when the value is ``UNSET``."""
    if value is UNSET:
        return None
    if value is DO_NOT_CACHE:
        return Expiration(do_not_cache=True)
    if value is None:
        return Expiration(lifetime=math.inf)
    if isinstance(value, bool):
        raise ConfigurationError(f"expire_after cannot be a boolean: {value!r}")
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            raise ConfigurationError("expire_after cannot be NaN")
        if value == NEVER_EXPIRE or value == math.inf:
            return Expiration(lifetime=math.inf)
        if value < 0:
            raise ConfigurationError(
                f"expire_after={value!r}: use -1 for never, 0 to always revalidate, or seconds"
            )
        try:
            return Expiration(lifetime=float(value))
        except OverflowError:  # an int beyond any float: longer than anything, so never
            return Expiration(lifetime=math.inf)
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ConfigurationError(
                f"expire_after={value!r} is negative: use a positive duration, 0 to always "
                "revalidate, or NEVER_EXPIRE"
            )
        return resolve(value.total_seconds())
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return Expiration(deadline=aware.timestamp())
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("never", "-1"):
            return Expiration(lifetime=math.inf)
        return Expiration(lifetime=parse_duration(value))
    raise ConfigurationError(f"expire_after cannot be a {type(value).__name__}: {value!r}")


def validate(value: ExpirationTime) -> ExpirationTime:
    """Check a user value early (raises ``ConfigurationError``) and return it unchanged."""
    resolve(value)
    return value


# ---- URL patterns --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UrlExpirations:
    """``urls_expire_after``: glob patterns, the first match wins.

    A pattern matches with or without the scheme and as a prefix, so
    ``"api.test/v1"`` matches ``https://api.test/v1/users?page=2``.
    """

    patterns: tuple[tuple[str, Expiration | None], ...] = ()

    @classmethod
    def build(cls, mapping: Mapping[str, ExpirationTime] | None) -> UrlExpirations:
        items: Iterable[tuple[str, ExpirationTime]] = (mapping or {}).items()
        return cls(tuple((_prefix_glob(p), resolve(v)) for p, v in items))

    def for_url(self, url: str) -> Expiration | None:
        bare = url.split("://", 1)[-1]
        for pattern, expiration in self.patterns:
            if fnmatch.fnmatchcase(bare, pattern):
                return expiration
        return None

    def matches(self, url: str) -> bool:
        bare = url.split("://", 1)[-1]
        return any(fnmatch.fnmatchcase(bare, p) for p, _ in self.patterns)


def _prefix_glob(pattern: str) -> str:
    return pattern.split("://", 1)[-1].rstrip("*") + "*"
