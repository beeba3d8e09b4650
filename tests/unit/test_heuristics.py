"""Heuristic freshness (RFC 9111 §4.2.2) in CacheControl's style, and ``models.Headers``."""

from __future__ import annotations

import datetime
from email.utils import formatdate

import pytest

from httpcache.heuristics import (
    HEURISTICALLY_CACHEABLE,
    BaseHeuristic,
    ExpiresAfter,
    HeuristicInput,
    LastModified,
    OneDayCache,
)
from httpcache.models import Headers, Response
from httpcache.policy.directives import format_http_date, parse_http_date
from tests.support.heuristics import OneWeekHeuristic

DATE = 1_750_000_000.0  # the response's Date
ARRIVED = DATE + 7.0  # when it reached us
DAY = 86_400.0


def response(**fields: str) -> Response:
    return Response(200, Headers({k.replace("_", "-"): v for k, v in fields.items()}), "OK")


def expires_of(result: Response) -> float | None:
    return parse_http_date(result.headers.get("Expires"))


# ---- ExpiresAfter / OneDayCache ----------------------------------------------------------


def test_expires_after_one_day_from_the_date_field() -> None:
    result = ExpiresAfter(days=1).apply(response(Date=format_http_date(DATE)), ARRIVED)
    assert expires_of(result) == DATE + DAY
    assert result.headers["Date"] == format_http_date(DATE)


def test_expires_after_without_date_counts_from_the_response_time() -> None:
    result = ExpiresAfter(days=1).apply(response(), ARRIVED)
    assert expires_of(result) == ARRIVED + DAY


def test_expires_after_with_an_invalid_date_counts_from_the_response_time() -> None:
    result = ExpiresAfter(hours=2).apply(response(Date="yesterday"), ARRIVED)
    assert expires_of(result) == ARRIVED + 2 * 3600


@pytest.mark.parametrize(
    ("kwargs", "seconds"),
    [
        ({"days": 1}, DAY),
        ({"hours": 1, "minutes": 30}, 5400.0),
        ({"weeks": 2}, 14 * DAY),
        ({"seconds": 0}, 0.0),
    ],
)
def test_expires_after_takes_timedelta_arguments(kwargs: dict[str, float], seconds: float) -> None:
    result = ExpiresAfter(**kwargs).apply(response(Date=format_http_date(DATE)), ARRIVED)
    assert expires_of(result) == DATE + seconds


def test_expires_after_replaces_an_existing_expires() -> None:
    original = response(Date=format_http_date(DATE), expires="0", Content_Type="text/plain")
    result = ExpiresAfter(days=1).apply(original, ARRIVED)
    assert result.headers.get_all("expires") == [format_http_date(DATE + DAY)]
    assert result.headers["Content-Type"] == "text/plain"
    assert original.headers["expires"] == "0"  # the input is left alone


def test_expires_after_repr() -> None:
    assert "days=1" in repr(ExpiresAfter(days=1))


def test_one_day_cache() -> None:
    result = OneDayCache().apply(response(Date=format_http_date(DATE)), ARRIVED)
    assert expires_of(result) == DATE + DAY
    assert isinstance(OneDayCache(), ExpiresAfter)


def test_one_day_cache_warns_as_cachecontrol_does() -> None:
    result = OneDayCache().apply(response(Date=format_http_date(DATE)), ARRIVED)
    assert result.headers["Warning"] == '110 - "Response is Stale"'


def test_last_modified_adds_no_warning() -> None:
    original = response(
        Date=format_http_date(DATE), Last_Modified=format_http_date(DATE - 10 * DAY)
    )
    assert "warning" not in LastModified().apply(original, ARRIVED).headers


@pytest.mark.parametrize("heuristic", [ExpiresAfter(days=1), OneDayCache()])
def test_expires_after_and_one_day_cache_say_public(heuristic: BaseHeuristic) -> None:
    original = response(Date=format_http_date(DATE), Cache_Control="private, max-age=0")
    result = heuristic.apply(original, ARRIVED)
    assert result.headers.get_all("Cache-Control") == ["public"]
    assert expires_of(result) == DATE + DAY


def test_expires_after_warns_as_cachecontrol_does() -> None:
    result = ExpiresAfter(days=1).apply(response(Date=format_http_date(DATE)), ARRIVED)
    assert result.headers["Warning"] == (
        "110 - Automatically cached for 1 day, 0:00:00. Response might be stale"
    )


def test_one_day_cache_leaves_a_response_with_expires_alone() -> None:
    original = response(Date=format_http_date(DATE), Expires=format_http_date(DATE + 60))
    assert OneDayCache().apply(original, ARRIVED) is original


@pytest.mark.parametrize(
    "fields",
    [
        {"Cache-Control": "max-age=0"},
        {"Cache-Control": "public, max-age=600"},
        {"Expires": "0"},
        {"Expires": format_http_date(DATE + 60)},
    ],
)
def test_last_modified_leaves_explicit_freshness_alone_rfc9111_4_2_2(
    fields: dict[str, str],
) -> None:
    original = Response(
        200,
        Headers(
            {
                "Date": format_http_date(DATE),
                "Last-Modified": format_http_date(DATE - 10 * DAY),
                **fields,
            }
        ),
    )
    assert LastModified().apply(original, ARRIVED) is original


class WritesEmailDates(BaseHeuristic):
    """``email.utils.formatdate()`` writes ``-0000``, which is no HTTP-date."""

    def update_headers(self, response):  # type: ignore[no-untyped-def]
        return {"Expires": formatdate(DATE + 60), "X-Note": formatdate(DATE)}


def test_a_date_a_heuristic_writes_in_another_form_becomes_an_imf_fixdate() -> None:
    result = WritesEmailDates().apply(response(), ARRIVED)
    assert result.headers["Expires"] == format_http_date(DATE + 60)
    assert result.headers["X-Note"] == formatdate(DATE)  # not a date field: as written


# ---- LastModified (RFC 9111 §4.2.2) ----------------------------------------------------


@pytest.mark.parametrize(
    ("age_of_last_modified", "lifetime"),
    [
        (10 * 3600.0, 3600.0),  # 10% of ten hours
        (1000.0, 100.0),
        (100 * DAY, DAY),  # capped at one day
        (10 * DAY, DAY),
        (9 * DAY, 0.9 * DAY),
    ],
)
def test_last_modified_gives_ten_percent_capped_at_a_day_rfc9111_4_2_2(
    age_of_last_modified: float, lifetime: float
) -> None:
    original = response(
        Date=format_http_date(DATE),
        Last_Modified=format_http_date(DATE - age_of_last_modified),
    )
    result = LastModified().apply(original, ARRIVED)
    assert expires_of(result) == DATE + lifetime


def test_last_modified_without_date_uses_the_response_time() -> None:
    original = response(Last_Modified=format_http_date(ARRIVED - 1000))
    assert expires_of(LastModified().apply(original, ARRIVED)) == ARRIVED + 100


def test_last_modified_custom_fraction_and_cap() -> None:
    heuristic = LastModified(fraction=0.5, max_lifetime=datetime.timedelta(hours=1))
    short = response(Date=format_http_date(DATE), Last_Modified=format_http_date(DATE - 1000))
    long = response(Date=format_http_date(DATE), Last_Modified=format_http_date(DATE - DAY))
    assert expires_of(heuristic.apply(short, ARRIVED)) == DATE + 500
    assert expires_of(heuristic.apply(long, ARRIVED)) == DATE + 3600


@pytest.mark.parametrize(
    "fields",
    [
        {"Date": format_http_date(DATE)},  # no Last-Modified
        {"Date": format_http_date(DATE), "Last-Modified": "not a date"},
        {"Date": format_http_date(DATE), "Last-Modified": format_http_date(DATE + 3600)},
        {"Date": format_http_date(DATE), "Last-Modified": format_http_date(DATE)},
    ],
    ids=["missing", "invalid", "future", "same-as-date"],
)
def test_last_modified_gives_nothing_without_a_past_last_modified(fields: dict[str, str]) -> None:
    original = Response(200, Headers(fields))
    assert LastModified().apply(original, ARRIVED) is original


# ---- custom heuristics in CacheControl's documented style --------------------------------


def test_a_cachecontrol_style_custom_heuristic_is_applied() -> None:
    original = response(Date=format_http_date(DATE), Cache_Control="max-age=0, private")
    result = OneWeekHeuristic().apply(original, ARRIVED)
    assert expires_of(result) == DATE + 7 * DAY
    # names are matched case-insensitively: the old Cache-Control is replaced, not doubled
    assert result.headers.get_all("Cache-Control") == ["public"]
    assert result.headers["Warning"] == '110 - "Automatically cached! Response is Stale."'
    assert result.headers["Date"] == format_http_date(DATE)
    assert result.status == 200


class NoWarning(BaseHeuristic):
    def update_headers(self, response):  # type: ignore[no-untyped-def]
        return {"Cache-Control": "max-age=60"}


def test_a_custom_heuristic_gets_cachecontrols_default_warning() -> None:
    result = NoWarning().apply(response(), ARRIVED)
    assert result.headers["cache-control"] == "max-age=60"
    assert result.headers["warning"] == '110 - "Response is Stale"'


class Silent(BaseHeuristic):
    def update_headers(self, response):  # type: ignore[no-untyped-def]
        return {"Cache-Control": "max-age=60"}

    def warning(self, response):  # type: ignore[no-untyped-def]
        return None


def test_a_custom_heuristic_whose_warning_is_none_adds_none() -> None:
    assert "warning" not in Silent().apply(response(), ARRIVED).headers


class SeesTheResponse(BaseHeuristic):
    seen: HeuristicInput | None = None

    def update_headers(self, response):  # type: ignore[no-untyped-def]
        type(self).seen = response
        return {}


def test_a_heuristic_sees_status_headers_and_response_time() -> None:
    original = Response(404, Headers({"X-A": "1"}))
    assert SeesTheResponse().apply(original, ARRIVED) is original
    seen = SeesTheResponse.seen
    assert seen is not None
    assert seen.status == 404
    assert seen.headers["x-a"] == "1"
    assert seen.response_time == ARRIVED
    assert seen.date == ARRIVED


class ReturnsNone(BaseHeuristic):
    def update_headers(self, response):  # type: ignore[no-untyped-def]
        return None


class AlwaysWarns(BaseHeuristic):
    def warning(self, response):  # type: ignore[no-untyped-def]
        return '110 - "stale"'


@pytest.mark.parametrize(
    "heuristic", [BaseHeuristic(), ReturnsNone(), AlwaysWarns(), LastModified()]
)
def test_apply_returns_the_same_object_when_nothing_changes(heuristic: BaseHeuristic) -> None:
    original = response(Date=format_http_date(DATE))
    assert heuristic.apply(original, ARRIVED) is original


def test_base_heuristic_defaults() -> None:
    assert BaseHeuristic().update_headers(None) == {}
    assert BaseHeuristic().warning(None) == '110 - "Response is Stale"'  # CacheControl's


def test_heuristically_cacheable_statuses_rfc9110_15_1() -> None:
    assert {200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501} == HEURISTICALLY_CACHEABLE
    assert 302 not in HEURISTICALLY_CACHEABLE and 500 not in HEURISTICALLY_CACHEABLE


# ---- models.Headers ------------------------------------------------------------------------


def test_headers_lookup_is_case_insensitive() -> None:
    headers = Headers({"Content-Type": "text/html"})
    assert headers["content-type"] == headers["CONTENT-TYPE"] == "text/html"
    assert "content-TYPE" in headers
    assert headers.get("CONTENT-type") == "text/html"
    assert headers.get("missing") is None
    assert 1 not in headers  # type: ignore[comparison-overlap]
    with pytest.raises(KeyError):
        headers["missing"]


def test_repeated_fields_are_joined_by_getitem_and_kept_apart_by_get_all_rfc9110_5_3() -> None:
    headers = Headers([("Set-Cookie", "a=1"), ("Accept", "x"), ("set-cookie", "b=2")])
    assert headers["Set-Cookie"] == "a=1, b=2"
    assert headers.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert headers.get_all("missing") == []
    assert len(headers) == 2


def test_headers_keep_order_and_every_field_line() -> None:
    lines = [("B", "1"), ("a", "2"), ("b", "3"), ("C", "4")]
    headers = Headers(lines)
    assert list(headers) == ["B", "a", "C"]  # one name per field, first spelling, in order
    assert headers.fields() == tuple(lines)


def test_get_all_returns_a_copy() -> None:
    headers = Headers([("A", "1")])
    headers.get_all("a").append("2")
    assert headers.get_all("a") == ["1"]


def test_headers_from_a_mapping() -> None:
    assert Headers({"A": "1", "B": "2"}).fields() == (("A", "1"), ("B", "2"))


def test_headers_from_headers_keep_repeated_fields() -> None:
    original = Headers(
        [("Set-Cookie", "a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT"), ("Set-Cookie", "b=2")]
    )
    assert Headers(original).fields() == original.fields()


def test_without() -> None:
    headers = Headers([("A", "1"), ("b", "2"), ("B", "3"), ("C", "4")])
    assert headers.without("B").fields() == (("A", "1"), ("C", "4"))
    assert headers.without("a", "c", "missing").fields() == (("b", "2"), ("B", "3"))
    assert headers.without().fields() == headers.fields()
    assert headers.fields() == (("A", "1"), ("b", "2"), ("B", "3"), ("C", "4"))  # unchanged


def test_updated_replaces_every_line_of_a_name() -> None:
    headers = Headers([("A", "1"), ("Set-Cookie", "x"), ("set-cookie", "y"), ("C", "3")])
    updated = headers.updated([("SET-COOKIE", "z"), ("D", "4"), ("d", "5")])
    assert updated.get_all("set-cookie") == ["z"]
    assert updated.get_all("d") == ["4", "5"]
    assert updated["A"] == "1" and updated["C"] == "3"
    assert headers.get_all("set-cookie") == ["x", "y"]  # unchanged
    assert headers.updated([]).fields() == headers.fields()


def test_headers_equality_and_hash() -> None:
    a = Headers([("A", "1"), ("B", "2")])
    b = Headers([("A", "1"), ("B", "2")])
    assert a == b and hash(a) == hash(b)
    assert a != Headers([("A", "1"), ("B", "3")])
    assert a != Headers([("A", "1")])
    assert Headers() == Headers({}) and hash(Headers()) == hash(Headers([]))
    assert len({a, b, Headers()}) == 2
    assert (a == "not headers") is False


def test_headers_values_are_strings() -> None:
    headers = Headers([("Content-Length", 12)])  # type: ignore[list-item]
    assert headers["content-length"] == "12"


def test_headers_repr_shows_the_fields() -> None:
    assert repr(Headers([("A", "1")])) == "Headers([('A', '1')])"


@pytest.mark.parametrize(
    ("status", "cache_control", "applies"),
    [
        (200, None, True),
        (200, "public", True),
        (200, "private", False),  # CacheControl's condition: no Cache-Control but public
        (200, "no-cache", False),
        (299, None, False),  # not cacheable by default (RFC 9110 §15.1)
        (599, "public", True),  # any status marked public
        (404, None, True),
    ],
)
def test_where_last_modified_applies(status: int, cache_control: str | None, applies: bool) -> None:
    fields = {"Date": format_http_date(DATE), "Last-Modified": format_http_date(DATE - DAY)}
    if cache_control is not None:
        fields["Cache-Control"] = cache_control
    updated = LastModified().update_headers(HeuristicInput(status, Headers(fields), ARRIVED))
    assert bool(updated) is applies
    if applies:
        assert list(updated) == ["expires"]  # CacheControl's field name, as it writes it


class CacheControlsResponse:
    """What CacheControl hands a heuristic: ``.status`` and a case-insensitive mapping."""

    def __init__(self, status: int, headers: dict[str, str]) -> None:
        from requests.structures import CaseInsensitiveDict

        self.status = status
        self.headers = CaseInsensitiveDict(headers)


def test_built_in_heuristics_take_cachecontrols_response_objects() -> None:
    now = format_http_date(DATE)
    week_ago = format_http_date(DATE - 7 * DAY)
    assert LastModified().update_headers(CacheControlsResponse(200, {})) == {}
    seen = LastModified().update_headers(
        CacheControlsResponse(200, {"Date": now, "Last-Modified": week_ago})
    )
    assert seen == {"expires": format_http_date(DATE + 0.7 * DAY)}
    dated = ExpiresAfter(days=1).update_headers(CacheControlsResponse(200, {"date": now}))
    assert dated == {"expires": format_http_date(DATE + DAY), "cache-control": "public"}
    assert ExpiresAfter(days=1).update_headers(CacheControlsResponse(200, {})) == {}  # no date
