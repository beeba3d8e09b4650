"""Parsers of the header fields the cache decides by (RFC 9111 §5, RFC 9110 §5.6, §8.8)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from httpcache.models import Headers
from httpcache.policy.directives import (
    DELTA_SECONDS_MAX,
    CacheDirectives,
    format_http_date,
    parse_age,
    parse_cache_control,
    parse_delta_seconds,
    parse_etag,
    parse_http_date,
    parse_vary,
    pragma_no_cache,
    split_list,
)

# Sun, 06 Nov 1994 08:49:37 GMT, the example of RFC 9110 §5.6.7.
RFC_EXAMPLE = 784111777.0


def cc(*lines: str) -> CacheDirectives:
    return parse_cache_control(list(lines))


# ---- Cache-Control (RFC 9111 §5.2) -------------------------------------------------


@pytest.mark.parametrize(
    ("line", "attribute", "expected"),
    [
        # §5.2.1.1 / §5.2.2.1 max-age
        ("max-age=60", "max_age", 60),
        ("max-age=0", "max_age", 0),
        ("max-age=007", "max_age", 7),
        # §5.2.2.10 s-maxage
        ("s-maxage=30", "s_maxage", 30),
        # §5.2.1.2 max-stale with a value ...
        ("max-stale=120", "max_stale", 120),
        # ... and without one: a stale response of any age is acceptable
        ("max-stale", "max_stale", DELTA_SECONDS_MAX),
        # §5.2.1.3 min-fresh
        ("min-fresh=15", "min_fresh", 15),
        # RFC 5861 extensions
        ("stale-while-revalidate=45", "stale_while_revalidate", 45),
        ("stale-if-error=3600", "stale_if_error", 3600),
        # boolean directives
        ("no-store", "no_store", True),  # §5.2.1.5 / §5.2.2.5
        ("no-transform", "no_transform", True),  # §5.2.1.6 / §5.2.2.6
        ("only-if-cached", "only_if_cached", True),  # §5.2.1.7
        ("must-revalidate", "must_revalidate", True),  # §5.2.2.2
        ("proxy-revalidate", "proxy_revalidate", True),  # §5.2.2.8
        ("must-understand", "must_understand", True),  # §5.2.2.3
        ("public", "public", True),  # §5.2.2.9
        ("immutable", "immutable", True),  # RFC 8246
        ("no-cache", "no_cache", True),  # §5.2.1.4 / §5.2.2.4
        ("private", "private", True),  # §5.2.2.7
    ],
)
def test_each_directive_is_read_rfc9111_5_2(line: str, attribute: str, expected: object) -> None:
    directives = cc(line)
    assert getattr(directives, attribute) == expected
    assert directives.invalid == frozenset()
    # and nothing else is set
    others = {
        name: getattr(directives, name) for name in CacheDirectives.__slots__ if name != attribute
    }
    defaults = {name: getattr(CacheDirectives(), name) for name in others}
    if attribute in ("no_cache", "private"):
        others.pop(f"{attribute}_fields"), defaults.pop(f"{attribute}_fields")
    assert others == defaults


def test_no_directive_gives_the_defaults() -> None:
    assert cc() == CacheDirectives()
    assert cc("") == CacheDirectives()
    assert not CacheDirectives().has_explicit_freshness


@pytest.mark.parametrize(
    ("line", "no_cache_fields"),
    [
        ("no-cache", ()),
        ('no-cache="Set-Cookie"', ("set-cookie",)),
        ('no-cache="Set-Cookie, X-Foo"', ("set-cookie", "x-foo")),
        ('no-cache="Set-Cookie,X-Foo", max-age=60', ("set-cookie", "x-foo")),
    ],
)
def test_no_cache_with_and_without_field_names_rfc9111_5_2_2_4(
    line: str, no_cache_fields: tuple[str, ...]
) -> None:
    directives = cc(line)
    assert directives.no_cache is True
    assert directives.no_cache_fields == no_cache_fields


@pytest.mark.parametrize(
    ("line", "private_fields"),
    [
        ("private", ()),
        ('private="Set-Cookie"', ("set-cookie",)),
        ('private="X-User, X-Session"', ("x-user", "x-session")),
    ],
)
def test_private_with_and_without_field_names_rfc9111_5_2_2_7(
    line: str, private_fields: tuple[str, ...]
) -> None:
    directives = cc(line)
    assert directives.private is True
    assert directives.private_fields == private_fields


def test_unqualified_no_cache_wins_over_a_qualified_duplicate() -> None:
    # A conflict between the two forms must not weaken the directive.
    directives = cc('no-cache, no-cache="Set-Cookie"')
    assert directives.no_cache is True
    assert directives.no_cache_fields == ()


@pytest.mark.parametrize(
    "line",
    ["MAX-AGE=60", "Max-Age=60", "mAx-AgE=60", "  max-age=60  ", 'max-age="60"', 'MAX-AGE="60"'],
)
def test_names_are_case_insensitive_and_values_may_be_quoted_rfc9111_5_2(line: str) -> None:
    directives = cc(line)
    assert directives.max_age == 60
    assert directives.invalid == frozenset()


@pytest.mark.parametrize(
    "line", ["NO-STORE", "No-Store", "PUBLIC, NO-STORE", "Must-Revalidate, no-store"]
)
def test_flag_names_are_case_insensitive(line: str) -> None:
    assert cc(line).no_store is True


def test_has_explicit_freshness() -> None:
    assert cc("max-age=0").has_explicit_freshness
    assert cc("s-maxage=10").has_explicit_freshness
    assert not cc("public, must-revalidate").has_explicit_freshness


@pytest.mark.parametrize(
    "lines",
    [
        ["max-age=60, max-age=120"],  # §4.2.1: conflicting duplicates are invalid
        ["max-age=60", "max-age=120"],  # also when on different field lines
        ['max-age=60, max-age="120"'],
        ["max-age=60, max-age=abc"],
    ],
)
def test_conflicting_max_age_is_invalid_and_stale_rfc9111_4_2_1(lines: list[str]) -> None:
    directives = parse_cache_control(lines)
    assert directives.max_age == 0
    assert "max-age" in directives.invalid


@pytest.mark.parametrize(
    "lines",
    [["max-age=60, max-age=60"], ["max-age=60", "max-age=60"], ['max-age=60, max-age="60"']],
)
def test_identical_duplicates_are_not_a_conflict(lines: list[str]) -> None:
    directives = parse_cache_control(lines)
    assert directives.max_age == 60
    assert directives.invalid == frozenset()


def test_conflicting_s_maxage_is_invalid_and_stale() -> None:
    directives = cc("s-maxage=10, s-maxage=20")
    assert directives.s_maxage == 0
    assert "s-maxage" in directives.invalid


@pytest.mark.parametrize(
    "line",
    [
        "max-age=abc",
        "max-age=-1",
        "max-age=1.5",
        "max-age=",
        'max-age=""',
        "max-age=1e3",
        "max-age=+5",
        "max-age=0x10",
        "max-age",
        "max-age=6 0",
        "max-age=\u0661\u0662",  # non-ASCII digits are not DIGIT
    ],
)
def test_invalid_max_age_is_treated_as_stale_rfc9111_4_2_1(line: str) -> None:
    directives = cc(line)
    assert directives.max_age == 0  # §4.2.1: an invalid freshness lifetime is stale
    assert "max-age" in directives.invalid
    assert directives.has_explicit_freshness


@pytest.mark.parametrize(
    ("line", "attribute", "name"),
    [
        ("min-fresh=abc", "min_fresh", "min-fresh"),
        ("min-fresh=-3", "min_fresh", "min-fresh"),
        ("max-stale=abc", "max_stale", "max-stale"),
        ("max-stale=1.5", "max_stale", "max-stale"),
        ("stale-while-revalidate=soon", "stale_while_revalidate", "stale-while-revalidate"),
        ("stale-if-error=-1", "stale_if_error", "stale-if-error"),
        ("stale-if-error", "stale_if_error", "stale-if-error"),
    ],
)
def test_invalid_allowances_give_no_allowance(line: str, attribute: str, name: str) -> None:
    directives = cc(line)
    assert getattr(directives, attribute) is None
    assert name in directives.invalid


def test_max_stale_with_and_without_value_conflict_gives_no_allowance() -> None:
    directives = cc("max-stale, max-stale=10")
    assert directives.max_stale is None
    assert "max-stale" in directives.invalid


@pytest.mark.parametrize(
    ("line", "attribute"),
    [
        ("max-age=99999999999999999999999", "max_age"),
        ("s-maxage=2147483649", "s_maxage"),
        ("max-stale=1" + "0" * 40, "max_stale"),
        ("min-fresh=4294967296", "min_fresh"),
        ("stale-while-revalidate=99999999999", "stale_while_revalidate"),
        ("stale-if-error=" + "9" * 4000, "stale_if_error"),
    ],
)
def test_delta_seconds_overflow_is_capped_at_2_pow_31_rfc9111_1_2_2(
    line: str, attribute: str
) -> None:
    directives = cc(line)
    assert getattr(directives, attribute) == DELTA_SECONDS_MAX
    assert directives.invalid == frozenset()


def test_delta_seconds_just_at_the_cap() -> None:
    assert parse_delta_seconds("2147483647") == 2147483647
    assert parse_delta_seconds("2147483648") == DELTA_SECONDS_MAX
    assert parse_delta_seconds("2147483649") == DELTA_SECONDS_MAX
    assert parse_delta_seconds(None) is None
    assert parse_delta_seconds("") is None


HUGE = "9" * 5000  # longer than int()'s 4300-digit limit (CVE-2020-10735)


@pytest.mark.parametrize(
    ("parse", "expected"),
    [
        (lambda: parse_cache_control(["max-age=" + HUGE]).max_age, DELTA_SECONDS_MAX),
        (lambda: parse_cache_control(["max-stale=" + HUGE]).max_stale, DELTA_SECONDS_MAX),
        (lambda: parse_age(Headers({"Age": HUGE})), DELTA_SECONDS_MAX),
        (lambda: parse_delta_seconds("0" * 4999 + "7"), 7),
    ],
    ids=["max-age", "max-stale", "age", "leading-zeros"],
)
def test_delta_seconds_of_any_length_is_capped_rfc9111_1_2_2(
    parse: Callable[[], int | None], expected: int
) -> None:
    assert parse() == expected


def test_several_field_lines_are_combined_rfc9110_5_3() -> None:
    directives = parse_cache_control(["public", "max-age=60", "must-revalidate, immutable"])
    assert directives.public
    assert directives.max_age == 60
    assert directives.must_revalidate
    assert directives.immutable
    assert directives == cc("public, max-age=60, must-revalidate, immutable")


def test_commas_inside_quotes_do_not_split_directives_rfc9110_5_6_4() -> None:
    directives = cc('private="a, b", no-cache="c,d", max-age=5')
    assert directives.private_fields == ("a", "b")
    assert directives.no_cache_fields == ("c", "d")
    assert directives.max_age == 5


def test_unknown_directives_and_empty_members_are_ignored_rfc9111_5_2_3() -> None:
    directives = cc(',,  , community="UCI", foo=bar, max-age=10,, ')
    assert directives.max_age == 10
    assert directives.invalid == frozenset()


def test_a_realistic_response_field() -> None:
    directives = cc('private, no-cache="Set-Cookie", max-age=0, must-revalidate')
    assert directives.private and directives.must_revalidate and directives.no_cache
    assert directives.no_cache_fields == ("set-cookie",)
    assert directives.max_age == 0


# ---- Pragma (RFC 9111 §5.4) -------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ([("Pragma", "no-cache")], True),
        ([("Pragma", "No-Cache")], True),
        ([("Pragma", "foo, no-cache")], True),
        ([("Pragma", "foo"), ("Pragma", "no-cache")], True),
        ([("Pragma", "foo")], False),
        ([("Pragma", "")], False),
        ([], False),
        # §5.4: with Cache-Control present, Pragma is ignored
        ([("Pragma", "no-cache"), ("Cache-Control", "max-age=60")], False),
        ([("cache-control", "max-stale"), ("Pragma", "no-cache")], False),
    ],
)
def test_pragma_no_cache_only_without_cache_control_rfc9111_5_4(
    fields: list[tuple[str, str]], expected: bool
) -> None:
    assert pragma_no_cache(Headers(fields)) is expected


# ---- HTTP dates (RFC 9110 §5.6.7) ---------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850 format
        "Sun Nov  6 08:49:37 1994",  # ANSI C's asctime() format
        "  Sun, 06 Nov 1994 08:49:37 GMT  ",
    ],
)
def test_the_three_http_date_formats_rfc9110_5_6_7(value: str) -> None:
    assert parse_http_date(value) == RFC_EXAMPLE


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "0",
        "-1",
        "garbage",
        "Sun, 06 Xyz 1994 08:49:37 GMT",
        "Sun, 06 Nov 10000 08:49:37 GMT",
        "Sun, 06 Nov 0000 08:49:37 GMT",
        "tomorrow",
        "1994-11-06T08:49:37Z",
    ],
)
def test_unreadable_dates_are_none(value: str | None) -> None:
    assert parse_http_date(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 32 Nov 1994 08:49:37 GMT",
        "Mon, 99 Dec 2099 00:00:00 GMT",
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 06 Nov 1994 08:61:37 GMT",
        "Thu, 30 Feb 2023 00:00:00 GMT",
        "Sunday, 31-Apr-94 08:49:37 GMT",
    ],
)
def test_impossible_calendar_dates_are_invalid_rfc9110_5_6_7(value: str) -> None:
    assert parse_http_date(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 09:49:37 +0100",  # a numeric zone
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 AEST",
        "Sun, 06 Nov 94 08:49:37 GMT",  # two-digit year in an IMF-fixdate
        "Sun 06 Nov 1994 08:49:37 GMT",  # no comma
        "Sun, 06  Nov  1994 08:49:37 GMT",  # two spaces
        "Sun, 06-Nov-1994 08:49:37 GMT",  # dashes in an IMF-fixdate
        "Sun, 06 Nov 1994 08.49.37 GMT",  # periods in the time
        "Sun, 06 Nov 1994 8:49:37 GMT",  # one-digit hour
        "Sun, 6 Nov 1994 08:49:37 GMT",  # one-digit day
        "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:38 GMT",  # two values
        "Sun, 06 Nov 1994 08:49:37",  # no zone
        "Sun, 06 Nov 1994 08:49:37 GMT+1",
        "Sun, 06 November 1994 08:49:37 GMT",
        "Sunday, 06 Nov 1994 08:49:37 GMT",  # long day name in an IMF-fixdate
        "Sun, 06-Nov-94 08:49:37 GMT",  # short day name in an RFC 850 date
        "Sun Nov 6 08:49:37 1994",  # asctime's day is padded with a space
        "Xyz, 06 Nov 1994 08:49:37 GMT",
    ],
)
def test_only_the_three_formats_are_dates_rfc9110_5_6_7(value: str) -> None:
    # RFC 9111 §5.3: such an Expires is invalid, i.e. in the past.
    assert parse_http_date(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "SUN, 06 NOV 1994 08:49:37 GMT",
        "sun, 06 nov 1994 08:49:37 gmt",
        "SUNDAY, 06-NOV-94 08:49:37 GMT",
        "SUN NOV  6 08:49:37 1994",
    ],
)
def test_names_in_another_case_are_still_read(value: str) -> None:
    assert parse_http_date(value) == RFC_EXAMPLE


@pytest.mark.parametrize(
    ("value", "year"),
    [
        ("Thursday, 18-Aug-50 02:01:18 GMT", 2050),
        ("Thursday, 01-Jan-00 00:00:00 GMT", 2000),
        ("Thursday, 31-Dec-68 00:00:00 GMT", 2068),
        ("Thursday, 01-Jan-69 00:00:00 GMT", 1969),
        ("Thursday, 18-Aug-99 02:01:18 GMT", 1999),
    ],
)
def test_rfc850_two_digit_years_rfc9110_5_6_7(value: str, year: int) -> None:
    date = parse_http_date(value)
    assert date is not None
    assert time.gmtime(date).tm_year == year


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799.0),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        ("Mon, 01 Jan 1900 00:00:00 GMT", -2208988800.0),
        ("Tue, 19 Jan 2038 03:14:08 GMT", 2147483648.0),
    ],
)
def test_far_future_and_past_dates(value: str, expected: float) -> None:
    assert parse_http_date(value) == expected


@pytest.mark.parametrize(
    "timestamp", [0.0, RFC_EXAMPLE, 1_750_000_000.0, 2147483648.0, 253402300799.0]
)
def test_format_http_date_round_trips(timestamp: float) -> None:
    text = format_http_date(timestamp)
    assert text.endswith(" GMT")
    assert parse_http_date(text) == timestamp


def test_format_http_date_is_imf_fixdate() -> None:
    assert format_http_date(RFC_EXAMPLE) == "Sun, 06 Nov 1994 08:49:37 GMT"


# ---- Age (RFC 9111 §5.1) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ([("Age", "0")], 0),
        ([("Age", "120")], 120),
        ([("age", " 7 ")], 7),
        ([("Age", "99999999999999")], DELTA_SECONDS_MAX),
        # §5.1: a list-based value: use the first member
        ([("Age", "10, 20")], 10),
        ([("Age", "10"), ("Age", "20")], 10),
        # §5.1: an invalid value is ignored
        ([("Age", "abc")], None),
        ([("Age", "-5")], None),
        ([("Age", "1.5")], None),
        ([("Age", "")], None),
        ([], None),
    ],
)
def test_age_rfc9111_5_1(fields: list[tuple[str, str]], expected: int | None) -> None:
    assert parse_age(Headers(fields)) == expected


# ---- ETag (RFC 9110 §8.8.3) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"xyzzy"', '"xyzzy"'),
        ('W/"xyzzy"', 'W/"xyzzy"'),
        ('""', '""'),
        ('  "abc"  ', '"abc"'),
        ('"caf\xe9"', '"caf\xe9"'),  # obs-text
        ("xyzzy", None),
        ('"unterminated', None),
        ('w/"lower-case-weak"', None),
        ('"has"quote"', None),
        ('"has space"', None),
        ('"a", "b"', None),
        ("", None),
    ],
)
def test_etag_rfc9110_8_8_3(value: str, expected: str | None) -> None:
    assert parse_etag(Headers({"ETag": value})) == expected


def test_no_etag() -> None:
    assert parse_etag(Headers()) is None


# ---- Vary (RFC 9110 §12.5.5) --------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ([("Vary", "Accept-Encoding")], ("accept-encoding",)),
        ([("Vary", "Accept-Encoding, User-Agent")], ("accept-encoding", "user-agent")),
        ([("Vary", "accept"), ("Vary", "ACCEPT, Origin")], ("accept", "origin")),
        ([("Vary", "*")], ("*",)),
        ([("Vary", "Accept, *")], ("*",)),
        ([("Vary", "Accept"), ("Vary", "*")], ("*",)),
        ([("Vary", "")], ()),
        ([("Vary", " , ,")], ()),
        ([("Vary", "@@@, Accept, a b")], ("accept",)),
        ([], ()),
    ],
)
def test_vary_rfc9110_12_5_5(fields: list[tuple[str, str]], expected: tuple[str, ...]) -> None:
    assert parse_vary(Headers(fields)) == expected


# ---- split_list (RFC 9110 §5.6.1) ----------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["a, b,c"], ["a", "b", "c"]),
        (["a", "b"], ["a", "b"]),
        ([",, a ,, "], ["a"]),
        (['x="1,2", y'], ['x="1,2"', "y"]),
        ([r'x="a\"b,c", y'], [r'x="a\"b,c"', "y"]),
        ([""], []),
        ([], []),
        # A quote only opens a value; a stray one, or one never closed, hides nothing.
        (['", no-store'], ['"', "no-store"]),
        (['max-age="1, no-store'], ["max-age=", '"1', "no-store"]),
        (['x = "a,b", y'], ['x = "a,b"', "y"]),
    ],
)
def test_split_list_rfc9110_5_6_1(values: list[str], expected: list[str]) -> None:
    assert split_list(values) == expected


@pytest.mark.parametrize("line", ['", no-store', 'max-age="60, no-store', 'foo"bar, no-store'])
def test_malformed_quotes_do_not_hide_no_store(line: str) -> None:
    assert cc(line).no_store


# ---- properties: never raise, documented types --------------------------------------

any_text = st.text(max_size=200)  # control characters and any unicode included
field_like = st.one_of(
    any_text,
    st.lists(
        st.sampled_from(
            [
                "max-age",
                "s-maxage",
                "max-stale",
                "min-fresh",
                "no-cache",
                "private",
                "no-store",
                "W/",
                '"',
                "=",
                ",",
                "\\",
                " ",
                "*",
                "\x00",
                "\r\n",
                "9" * 30,
                "0",
                "-1",
                "1.5",
                "Nov",
                "GMT",
                "\xe9",
                "\U0001f600",
            ]
        ),
        max_size=30,
    ).map("".join),
)
lines = st.lists(field_like, max_size=5)
NUMERIC = (
    "max_age",
    "s_maxage",
    "max_stale",
    "min_fresh",
    "stale_while_revalidate",
    "stale_if_error",
)


@settings(max_examples=300, deadline=None)
@given(lines)
def test_parse_cache_control_never_raises(values: list[str]) -> None:
    directives = parse_cache_control(values)
    assert isinstance(directives, CacheDirectives)
    for name in NUMERIC:
        value = getattr(directives, name)
        assert value is None or (type(value) is int and 0 <= value <= 2**31)
    assert isinstance(directives.invalid, frozenset)
    assert all(isinstance(f, str) for f in directives.no_cache_fields + directives.private_fields)


@settings(max_examples=30, deadline=None)
@given(st.text(min_size=1, max_size=40).map(lambda t: t * (20_000 // len(t) + 1)))
def test_parse_cache_control_very_long_values(value: str) -> None:
    assert isinstance(parse_cache_control([value, value]), CacheDirectives)
    assert isinstance(parse_vary(Headers({"Vary": value})), tuple)
    assert parse_http_date(value) is None or math.isfinite(parse_http_date(value) or 0)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), any_text, field_like))
def test_parse_http_date_never_raises(value: str | None) -> None:
    result = parse_http_date(value)
    assert result is None or (isinstance(result, float) and math.isfinite(result))


@settings(max_examples=200, deadline=None)
@given(
    st.builds(
        "{}, {:02d} {} {:04d} {:02d}:{:02d}:{:02d} {}".format,
        st.sampled_from(["Mon", "Tue", "Sun", "Xyz"]),
        st.integers(0, 99),
        st.sampled_from(["Jan", "Feb", "Nov", "Dec", "Foo"]),
        st.integers(0, 99999),
        st.integers(0, 99),
        st.integers(0, 99),
        st.integers(0, 99),
        st.sampled_from(["GMT", "UTC", "+0100", "-9999", "+99999999", "", "EST"]),
    )
)
def test_parse_http_date_near_misses_never_raise(value: str) -> None:
    result = parse_http_date(value)
    assert result is None or (isinstance(result, float) and math.isfinite(result))


headers_strategy = st.lists(
    st.tuples(st.sampled_from(["Vary", "ETag", "Age", "Pragma", "Cache-Control"]), field_like),
    max_size=6,
).map(Headers)


@settings(max_examples=300, deadline=None)
@given(headers_strategy)
def test_header_parsers_never_raise(headers: Headers) -> None:
    vary = parse_vary(headers)
    assert isinstance(vary, tuple) and all(isinstance(n, str) for n in vary)
    assert all(n == n.lower() for n in vary)
    assert len(set(vary)) == len(vary)
    etag = parse_etag(headers)
    assert etag is None or isinstance(etag, str)
    age = parse_age(headers)
    assert age is None or (type(age) is int and 0 <= age <= 2**31)
    assert isinstance(pragma_no_cache(headers), bool)


@settings(max_examples=300, deadline=None)
@given(lines)
def test_split_list_never_raises(values: list[str]) -> None:
    members = split_list(values)
    assert isinstance(members, list)
    assert all(isinstance(m, str) and m and m == m.strip() for m in members)
