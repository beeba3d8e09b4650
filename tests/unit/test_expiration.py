"""The caller's expiration values (``expire_after``) and ``urls_expire_after`` patterns."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from httpcache.errors import ConfigurationError
from httpcache.policy.expiration import (
    DO_NOT_CACHE,
    EXPIRE_IMMEDIATELY,
    NEVER_EXPIRE,
    UNSET,
    Expiration,
    UrlExpirations,
    parse_duration,
    resolve,
    validate,
)

NEVER = Expiration(lifetime=math.inf)
NOON = datetime(2025, 6, 15, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, NEVER),
        (-1, NEVER),
        (NEVER_EXPIRE, NEVER),
        (math.inf, NEVER),
        ("never", NEVER),
        (" Never ", NEVER),
        ("-1", NEVER),
        (0, Expiration(lifetime=0.0)),
        (EXPIRE_IMMEDIATELY, Expiration(lifetime=0.0)),
        (0.0, Expiration(lifetime=0.0)),
        ("0", Expiration(lifetime=0.0)),
        (DO_NOT_CACHE, Expiration(do_not_cache=True)),
        (60, Expiration(lifetime=60.0)),
        (2.5, Expiration(lifetime=2.5)),
        (timedelta(minutes=5), Expiration(lifetime=300.0)),
        (timedelta(0), Expiration(lifetime=0.0)),
        (timedelta(days=1, milliseconds=500), Expiration(lifetime=86400.5)),
        ("90s", Expiration(lifetime=90.0)),
        ("15m", Expiration(lifetime=900.0)),
        ("2h30m", Expiration(lifetime=9000.0)),
        ("1d", Expiration(lifetime=86400.0)),
        ("1w", Expiration(lifetime=604800.0)),
        ("1.5h", Expiration(lifetime=5400.0)),
        ("500ms", Expiration(lifetime=0.5)),
        ("1d 2h", Expiration(lifetime=93600.0)),
        ("2H30M", Expiration(lifetime=9000.0)),
        ("3600", Expiration(lifetime=3600.0)),
        ("  90s ", Expiration(lifetime=90.0)),
    ],
)
def test_every_accepted_form_is_resolved(value: object, expected: Expiration) -> None:
    assert resolve(value) == expected  # type: ignore[arg-type]
    assert validate(value) is value  # type: ignore[arg-type]


def test_unset_resolves_to_none() -> None:
    assert resolve(UNSET) is None


def test_sentinels_have_readable_reprs() -> None:
    assert repr(DO_NOT_CACHE) == "DO_NOT_CACHE"
    assert repr(UNSET) == "UNSET"


def test_aware_datetime_is_an_absolute_deadline() -> None:
    expiration = resolve(NOON)
    assert expiration == Expiration(deadline=NOON.timestamp())


def test_naive_datetime_means_utc() -> None:
    assert resolve(NOON.replace(tzinfo=None)) == Expiration(deadline=NOON.timestamp())


def test_datetime_in_another_zone_is_the_same_instant() -> None:
    paris_summer = timezone(timedelta(hours=2))
    assert resolve(NOON.astimezone(paris_summer)) == Expiration(deadline=NOON.timestamp())


@pytest.mark.parametrize(
    ("expiration", "response_time", "lifetime"),
    [
        (Expiration(lifetime=60.0), 1000.0, 60.0),
        (Expiration(lifetime=math.inf), 1000.0, math.inf),
        (Expiration(lifetime=0.0), 1000.0, 0.0),
        (Expiration(deadline=1060.0), 1000.0, 60.0),
        (Expiration(deadline=900.0), 1000.0, 0.0),  # a deadline in the past: stale
        (Expiration(do_not_cache=True), 1000.0, 0.0),
    ],
)
def test_lifetime_from(expiration: Expiration, response_time: float, lifetime: float) -> None:
    assert expiration.lifetime_from(response_time) == lifetime


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("abc", "'abc'"),
        ("5x", "'5x'"),
        ("", "''"),
        ("   ", "'   '"),
        ("1h30", "'1h30'"),
        ("h", "'h'"),
        ("1.h", "'1.h'"),
        ("-5", "'-5'"),
        ("-5s", "'-5s'"),
        ("1e3", "'1e3'"),
        ("inf", "'inf'"),
        ("nan", "'nan'"),
        (-5, "-5"),
        (-0.5, "-0.5"),
        (-math.inf, "-inf"),
        (True, "True"),
        (False, "False"),
        (math.nan, "nan"),
        ([60], "[60]"),
        ({"s": 1}, "{'s': 1}"),
        (b"60", "b'60'"),
    ],
)
def test_bad_values_raise_configuration_error_naming_the_value(value: object, shown: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve(value)  # type: ignore[arg-type]
    assert shown.lower() in str(caught.value).lower()
    with pytest.raises(ConfigurationError):
        validate(value)  # type: ignore[arg-type]


def test_configuration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        resolve("soon")


def test_negative_timedelta_is_refused_naming_the_value() -> None:
    with pytest.raises(ConfigurationError, match=r"timedelta\(days=-1\)"):
        resolve(timedelta(days=-1))


def test_negative_timedelta_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        resolve(timedelta(seconds=-1))


def test_a_huge_int_does_not_raise_overflow_error() -> None:
    try:
        expiration = resolve(10**400)
    except ConfigurationError:
        return
    assert expiration == NEVER


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("10", 10.0),
        ("1.25", 1.25),
        ("90s", 90.0),
        ("1m30s", 90.0),
        ("1h1m1s", 3661.0),
        ("1w1d", 691200.0),
        ("250ms", 0.25),
        ("1 h 30 m", 5400.0),
        ("0.5d", 43200.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


# ---- URL patterns ---------------------------------------------------------------------


def test_no_patterns_match_nothing() -> None:
    urls = UrlExpirations.build(None)
    assert urls.for_url("https://api.test/v1") is None
    assert not urls.matches("https://api.test/v1")
    assert UrlExpirations.build({}).patterns == ()


def test_first_match_wins() -> None:
    urls = UrlExpirations.build({"api.test/v1/users": 10, "api.test/v1": 20, "api.test": 30})
    assert urls.for_url("https://api.test/v1/users/7") == Expiration(lifetime=10.0)
    assert urls.for_url("https://api.test/v1/items") == Expiration(lifetime=20.0)
    assert urls.for_url("https://api.test/v2") == Expiration(lifetime=30.0)
    assert urls.for_url("https://other.test/v1") is None

    reversed_order = UrlExpirations.build({"api.test": 30, "api.test/v1/users": 10})
    assert reversed_order.for_url("https://api.test/v1/users/7") == Expiration(lifetime=30.0)


@pytest.mark.parametrize("pattern", ["api.test/v1", "https://api.test/v1", "http://api.test/v1"])
@pytest.mark.parametrize(
    "url",
    ["https://api.test/v1", "http://api.test/v1/users?page=2", "https://api.test/v1?x=1"],
)
def test_scheme_is_optional_and_patterns_match_as_prefixes(pattern: str, url: str) -> None:
    urls = UrlExpirations.build({pattern: "1h"})
    assert urls.for_url(url) == Expiration(lifetime=3600.0)
    assert urls.matches(url)


@pytest.mark.parametrize(
    ("pattern", "url", "matches"),
    [
        ("*.example.com", "https://img.example.com/a.png", True),
        ("*.example.com", "https://example.com/a.png", False),
        ("api.test/*/items", "https://api.test/v1/items/3", True),
        ("api.test/*/items", "https://api.test/items", False),
        ("api.test/v?/x", "https://api.test/v2/x", True),
        ("api.test/v1/*.json", "https://api.test/v1/a/b.json?x=1", True),
        ("api.test/v1/*.json", "https://api.test/v1/a/b.xml", False),
        ("api.test/v1*", "https://api.test/v1/users", True),
        ("api.test/v1", "https://api.test/v2", False),
        ("api.test/v1", "https://www.api.test/v1", False),
        ("api.test/v1", "https://api.test/V1", False),  # paths are case-sensitive
    ],
)
def test_glob_patterns(pattern: str, url: str, matches: bool) -> None:
    urls = UrlExpirations.build({pattern: 5})
    assert urls.matches(url) is matches
    assert (urls.for_url(url) is not None) is matches


def test_pattern_values_take_every_expiration_form() -> None:
    urls = UrlExpirations.build(
        {"a.test": DO_NOT_CACHE, "b.test": None, "c.test": "15m", "d.test": timedelta(hours=1)}
    )
    assert urls.for_url("https://a.test/") == Expiration(do_not_cache=True)
    assert urls.for_url("https://b.test/") == NEVER
    assert urls.for_url("https://c.test/") == Expiration(lifetime=900.0)
    assert urls.for_url("https://d.test/") == Expiration(lifetime=3600.0)


def test_a_bad_pattern_value_fails_at_build_time() -> None:
    with pytest.raises(ConfigurationError, match="'soon'"):
        UrlExpirations.build({"a.test": "soon"})


# ---- property -------------------------------------------------------------------------

duration_like = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.sampled_from(["1", "0", "9" * 20, ".", "5", "ms", "s", "m", "h", "d", "w", " ", "-"]),
        max_size=12,
    ).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(duration_like)
def test_parse_duration_returns_a_non_negative_float_or_raises_configuration_error(
    text: str,
) -> None:
    try:
        seconds = parse_duration(text)
    except ConfigurationError as exc:
        assert repr(text) in str(exc)
    else:
        assert isinstance(seconds, float)
        assert seconds >= 0
