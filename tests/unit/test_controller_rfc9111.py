"""The controller to the letter of RFC 9111, where the public cache-tests suite found
it wanting: invalid Expires, status codes, must-understand, heuristics applied first.

Fixed ``now``, no I/O; helpers shared with ``test_controller``.
"""

from __future__ import annotations

import time

import pytest

from httpcache.heuristics import BaseHeuristic, ExpiresAfter, LastModified, OneDayCache
from httpcache.models import Headers, Response
from httpcache.policy.actions import DoNotStore, Forward, Revalidate, Store, UseStored
from httpcache.policy.answers import not_modified_head
from httpcache.policy.controller import Exchange, Settings, decide, head_updates, on_response
from httpcache.policy.directives import format_http_date
from httpcache.policy.expiration import resolve
from httpcache.policy.ranges import ByteRange
from tests.support.heuristics import OneWeekHeuristic
from tests.unit.test_controller import NOW, URL, request, respond, stored

DEFAULT = Settings()


# ---- Expires (RFC 9111 §5.3) ---------------------------------------------------------


@pytest.mark.parametrize(
    "expires",
    [
        "Thu, 18 Aug 2050 02:01:18 UTC",
        "Thu, 18 Aug 2050 02:01:18 AEST",
        "Thu, 18 Aug 50 02:01:18 GMT",
        "Thu 18 Aug 2050 02:01:18 GMT",
        "Thu, 18  Aug  2050 02:01:18 GMT",
        "Thu, 18-Aug-2050 02:01:18 GMT",
        "Thu, 18 Aug 2050 02.01.18 GMT",
        "Thu, 18 Aug 2050 2:01:18 GMT",
        "0",
    ],
)
def test_an_invalid_expires_is_in_the_past(expires: str) -> None:
    entry = stored({"Expires": expires}, received=NOW - 1)
    assert isinstance(decide(request(), [entry], NOW, DEFAULT), Forward)


def test_two_expires_lines_are_invalid() -> None:
    future = format_http_date(NOW + 3600)
    entry = stored({}, received=NOW - 1)
    headers = entry.response.headers.updated([("Expires", future), ("Expires", future)])
    twice = entry.with_changes(response=entry.response.__class__(200, headers))
    assert isinstance(decide(request(), [twice], NOW, DEFAULT), Forward)


@pytest.mark.parametrize(
    "expires",
    [
        "Thursday, 18-Aug-50 02:01:18 GMT",  # RFC 850
        "Thu Aug 18 02:01:18 2050",  # asctime
        "THU, 18 AUG 2050 02:01:18 gMT",  # names in another case
    ],
)
def test_the_other_date_formats_give_freshness(expires: str) -> None:
    entry = stored({"Expires": expires}, received=NOW - 1)
    assert isinstance(decide(request(), [entry], NOW, DEFAULT), UseStored)


# ---- status codes (RFC 9111 §3) ----------------------------------------------------------


@pytest.mark.parametrize("status", [299, 302, 303, 307, 400, 499, 500, 502, 503, 504, 599])
def test_any_final_status_with_explicit_freshness_is_stored_and_reused(status: int) -> None:
    assert isinstance(respond({"Cache-Control": "max-age=3600"}, status=status), Store)
    fresh = stored({"Cache-Control": "max-age=3600"}, status=status)
    assert isinstance(decide(request(), [fresh], NOW, DEFAULT), UseStored)


@pytest.mark.parametrize("status", [302, 500, 503, 599])
def test_a_stale_one_is_revalidated_not_reused(status: int) -> None:
    lm = format_http_date(NOW - 100_000)
    entry = stored({"Expires": format_http_date(NOW - 5000), "Last-Modified": lm}, status=status)
    assert isinstance(decide(request(), [entry], NOW, DEFAULT), Revalidate)


@pytest.mark.parametrize(
    "headers",
    [
        {"Expires": format_http_date(NOW + 60)},
        {"Cache-Control": "public", "ETag": '"v"'},
        {"Cache-Control": "private", "ETag": '"v"'},  # a private cache may (§3)
    ],
)
def test_explicit_cacheability_stores_any_status(headers: dict[str, str]) -> None:
    assert isinstance(respond(headers, status=500), Store)


@pytest.mark.parametrize("status", [302, 307, 400, 500, 503])
def test_without_explicit_freshness_only_heuristically_cacheable_statuses(status: int) -> None:
    validators = {"ETag": '"v"', "Last-Modified": format_http_date(NOW - 100)}
    assert isinstance(respond(validators, status=status), DoNotStore)
    assert isinstance(respond(validators, status=404), Store)


def test_allowable_codes_still_limit_what_is_stored() -> None:
    only_200 = Settings(allowable_codes=frozenset({200}))
    assert isinstance(respond({"Cache-Control": "max-age=60"}, only_200, status=500), DoNotStore)


def test_expire_after_applies_to_200_and_the_callers_codes_only() -> None:
    hour = Settings(expiration=resolve(3600))
    ok = respond({}, hour)
    assert isinstance(ok, Store) and ok.entry.expires == pytest.approx(NOW + 3600)
    # an error is never kept for the caller's hour by accident: its own fields decide
    assert isinstance(respond({}, hour, status=500), DoNotStore)
    assert isinstance(respond({}, hour, status=404), DoNotStore)
    error = respond({"Cache-Control": "max-age=60"}, hour, status=503)
    assert isinstance(error, Store) and error.entry.expires == pytest.approx(NOW + 60)
    assert not error.entry.expiry_from_caller
    listed = Settings(expiration=resolve(3600), allowable_codes=frozenset({200, 404}))
    missing = respond({}, listed, status=404)
    assert isinstance(missing, Store) and missing.entry.expires == pytest.approx(NOW + 3600)


def test_expire_after_is_not_the_lifetime_of_a_stored_error() -> None:
    hour = Settings(expiration=resolve(3600))
    error = stored({"Cache-Control": "max-age=60"}, received=NOW - 120, status=503)
    assert isinstance(decide(request(), [error], NOW, hour), Forward)
    ok = stored({"Cache-Control": "max-age=60"}, received=NOW - 120)
    assert isinstance(decide(request(), [ok], NOW, hour), UseStored)


# ---- must-understand (RFC 9111 §5.2.2.3) ---------------------------------------------


def test_must_understand_with_an_understood_status_sets_no_store_aside() -> None:
    directives = {"Cache-Control": "max-age=3600, no-store, must-understand"}
    assert isinstance(respond(directives), Store)
    assert isinstance(respond(directives, status=404), Store)


@pytest.mark.parametrize("status", [299, 499, 599])
def test_must_understand_with_an_unknown_status_is_not_stored(status: int) -> None:
    assert isinstance(
        respond({"Cache-Control": "max-age=3600, must-understand"}, status=status), DoNotStore
    )
    assert isinstance(
        respond({"Cache-Control": "max-age=3600, no-store, must-understand"}, status=status),
        DoNotStore,
    )


# ---- heuristics, applied before the fields are judged (CacheControl's way) ------------


def test_a_custom_heuristic_makes_a_private_max_age_0_response_cacheable() -> None:
    settings = Settings(heuristic=OneWeekHeuristic())
    store = respond({"Cache-Control": "private, max-age=0", "Expires": "-1"}, settings)
    assert isinstance(store, Store)
    assert store.entry.expires == pytest.approx(NOW + 7 * 86_400)
    fields = Headers(store.heuristic_fields)
    assert fields["cache-control"] == "public"
    assert fields["expires"] == format_http_date(NOW + 7 * 86_400)  # as an IMF-fixdate
    assert fields["Warning"] == '110 - "Automatically cached! Response is Stale."'
    assert store.entry.response.headers["Warning"] == fields["Warning"]


@pytest.mark.parametrize("heuristic", [OneWeekHeuristic(), ExpiresAfter(days=1), OneDayCache()])
def test_no_heuristic_ever_stores_a_no_store_response(heuristic: BaseHeuristic) -> None:
    settings = Settings(heuristic=heuristic)
    assert isinstance(respond({"Cache-Control": "no-store"}, settings), DoNotStore)
    assert isinstance(respond({"Cache-Control": "max-age=60, no-store"}, settings), DoNotStore)


def test_expires_after_overrides_the_fields_and_says_public() -> None:
    store = respond(
        {"Cache-Control": "no-cache, max-age=5"}, Settings(heuristic=ExpiresAfter(hours=2))
    )
    assert isinstance(store, Store)
    assert store.entry.expires == pytest.approx(NOW + 7200)
    assert store.entry.response.headers["Cache-Control"] == "public"
    assert "Warning" in Headers(store.heuristic_fields)


def test_one_day_cache_leaves_an_expires_alone() -> None:
    settings = Settings(heuristic=OneDayCache())
    own = respond({"Expires": format_http_date(NOW + 60)}, settings)
    assert isinstance(own, Store) and own.entry.expires == pytest.approx(NOW + 60)
    assert own.heuristic_fields == ()
    plain = respond({}, settings)
    assert isinstance(plain, Store) and plain.entry.expires == pytest.approx(NOW + 86_400)
    assert Headers(plain.heuristic_fields)["Cache-Control"] == "public"


def test_last_modified_stays_rfc9111_4_2_2() -> None:
    settings = Settings(heuristic=LastModified())
    lm = {"Last-Modified": format_http_date(NOW - 100_000)}
    explicit = respond({**lm, "Cache-Control": "max-age=0"}, settings)
    assert isinstance(explicit, Store) and explicit.entry.expires == pytest.approx(NOW)
    assert explicit.heuristic_fields == ()
    dated = respond({**lm, "Expires": format_http_date(NOW + 5)}, settings)
    assert dated.entry.expires == pytest.approx(NOW + 5)
    heuristic = respond(lm, settings)
    assert heuristic.entry.expires == pytest.approx(NOW + 10_000)  # 10% of the age


def test_a_heuristic_skips_statuses_not_heuristically_cacheable() -> None:
    settings = Settings(heuristic=OneWeekHeuristic())
    assert isinstance(respond({}, settings, status=500), DoNotStore)
    assert isinstance(respond({}, settings, status=404), Store)


def test_the_callers_expire_after_outranks_the_heuristic() -> None:
    settings = Settings(heuristic=OneWeekHeuristic(), expiration=resolve(60))
    store = respond({}, settings)
    assert isinstance(store, Store) and store.entry.expires == pytest.approx(NOW + 60)
    assert store.heuristic_fields == ()


# ---- the caller's own conditional request (RFC 9111 §4.3.2) ----------------------------

FRESH = {"Cache-Control": "max-age=3600"}


@pytest.mark.parametrize(
    ("stored_etag", "if_none_match"),
    [
        ('"abcdef"', '"abcdef"'),
        ('W/"abcdef"', 'W/"abcdef"'),
        ('W/"abcdef"', '"abcdef"'),  # weak comparison (RFC 9110 §8.8.3.2)
        ('"abcdef"', 'W/"abcdef"'),
        ('"abcdef"', '"1234", "abcdef", "5678"'),
        ('"abcdef"', '"abcdef", "1234"'),
        ('"abcdef"', '"1234", "5678", "abcdef"'),
        ('"abcdef"', "*"),
        ('"abcdef"', "abcdef"),  # unquoted forms read as if quoted
        ("abcdef", '"abcdef"'),
        ("abcdef", "abcdef"),
        ('w/"abcdef"', 'w/"abcdef"'),
        ('W\\"abcdef"', 'W\\"abcdef"'),  # malformed, but the very same text
    ],
)
def test_a_matching_if_none_match_is_answered_304(stored_etag: str, if_none_match: str) -> None:
    entry = stored({**FRESH, "ETag": stored_etag})
    action = decide(request(If_None_Match=if_none_match), [entry], NOW, DEFAULT)
    assert isinstance(action, UseStored) and action.not_modified


@pytest.mark.parametrize("if_none_match", ['"other"', '"abcde"', 'W/"x", "y"'])
def test_a_failing_if_none_match_gets_the_full_stored_response(if_none_match: str) -> None:
    entry = stored({**FRESH, "ETag": '"abcdef"'})
    action = decide(request(If_None_Match=if_none_match), [entry], NOW, DEFAULT)
    assert isinstance(action, UseStored) and not action.not_modified


def test_if_none_match_outranks_if_modified_since() -> None:
    entry = stored({**FRESH, "ETag": '"abcdef"', "Last-Modified": format_http_date(NOW - 5000)})
    too_early = format_http_date(NOW - 10_000)  # on its own: modified since, 200
    action = decide(
        request(If_None_Match='"abcdef"', If_Modified_Since=too_early), [entry], NOW, DEFAULT
    )
    assert isinstance(action, UseStored) and action.not_modified
    mismatch = decide(
        request(If_None_Match='"x"', If_Modified_Since=format_http_date(NOW)), [entry], NOW, DEFAULT
    )
    assert isinstance(mismatch, UseStored) and not mismatch.not_modified


@pytest.mark.parametrize(
    ("since", "not_modified"),
    [
        (format_http_date(NOW - 3000), True),  # the same date
        (format_http_date(NOW - 2000), True),  # later than Last-Modified
        # an RFC 850 date with a four-digit year is no date: ignored
        ("Thursday, " + format_http_date(NOW - 3000)[5:].replace(" ", "-", 2), False),
        (format_http_date(NOW - 4000), False),  # earlier: modified since
        ("not a date", False),  # ignored (RFC 9110 §13.1.3)
    ],
)
def test_if_modified_since_against_last_modified(since: str, not_modified: bool) -> None:
    entry = stored({**FRESH, "Last-Modified": format_http_date(NOW - 3000)})
    action = decide(request(If_Modified_Since=since), [entry], NOW, DEFAULT)
    assert isinstance(action, UseStored) and action.not_modified is not_modified


def test_if_modified_since_in_the_rfc850_form() -> None:
    modified = NOW - 3000
    rfc850 = time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(modified))
    entry = stored({**FRESH, "Last-Modified": format_http_date(modified)})
    action = decide(request(If_Modified_Since=rfc850), [entry], NOW, DEFAULT)
    assert isinstance(action, UseStored) and action.not_modified


def test_if_modified_since_without_last_modified_uses_the_date() -> None:
    entry = stored(FRESH, received=NOW - 10)  # Date: NOW - 10
    later = decide(request(If_Modified_Since=format_http_date(NOW)), [entry], NOW, DEFAULT)
    assert isinstance(later, UseStored) and later.not_modified
    earlier = decide(request(If_Modified_Since=format_http_date(NOW - 20)), [entry], NOW, DEFAULT)
    assert isinstance(earlier, UseStored) and not earlier.not_modified


def test_a_stale_entry_leaves_the_callers_conditional_to_the_origin() -> None:
    entry = stored({"Cache-Control": "max-age=1", "ETag": '"abcdef"'}, received=NOW - 100)
    action = decide(request(If_None_Match='"abcdef"'), [entry], NOW, DEFAULT)
    assert isinstance(action, Forward) and action.may_store
    assert action.stale is entry  # still there for stale-if-error
    assert isinstance(decide(request(If_None_Match='"abcdef"'), [], NOW, DEFAULT), Forward)


def test_the_304_carries_the_validators_and_the_age() -> None:
    entry = stored(
        {**FRESH, "ETag": '"abcdef"', "Content-Type": "text/plain", "X-Other": "1"},
        received=NOW - 10,
    )
    head = not_modified_head(entry, NOW)
    assert head.status == 304
    assert head.headers["ETag"] == '"abcdef"'
    assert head.headers["Cache-Control"] == "max-age=3600"
    assert head.headers["Age"] == "10"
    assert "content-type" not in head.headers and "x-other" not in head.headers


# ---- Vary: Accept-Language normalised (RFC 9111 §4.1, RFC 9110 §12.5.4) ---------------


def _language_entry(accept_language: str, **fields: str) -> object:
    headers = {"Cache-Control": "max-age=5000", "Vary": "Accept-Language", **fields}
    return stored(headers, req=request(Accept_Language=accept_language))


@pytest.mark.parametrize(
    "again",
    [
        "de, en",  # order
        "eN, De",  # case
        " en ,   de",  # whitespace
        "en;q=1, de;q=1.0",  # the same weights, written out
    ],
)
def test_accept_language_written_differently_selects_the_same_response(again: str) -> None:
    entry = _language_entry("en, de")
    assert isinstance(decide(request(Accept_Language=again), [entry], NOW, DEFAULT), UseStored)


@pytest.mark.parametrize("again", ["en", "fr, de", "en;q=0.5, de", "en, de, fr", "en, de;q=0"])
def test_other_languages_do_not_match(again: str) -> None:
    entry = _language_entry("en, de")
    assert isinstance(decide(request(Accept_Language=again), [entry], NOW, DEFAULT), Forward)


def test_a_response_in_the_preferred_language_is_selected() -> None:
    entry = _language_entry("en, de", **{"Content-Language": "de"})
    preferring = request(Accept_Language="fr;q=0.5, de;q=1.0")
    assert isinstance(decide(preferring, [entry], NOW, DEFAULT), UseStored)
    tied = request(Accept_Language="fr, de")  # de is not preferred over fr
    assert isinstance(decide(tied, [entry], NOW, DEFAULT), Forward)
    absent = request()
    assert isinstance(decide(absent, [entry], NOW, DEFAULT), Forward)


def test_other_fields_are_still_compared_as_sent() -> None:
    entry = stored({"Cache-Control": "max-age=5000", "Vary": "Foo"}, req=request(Foo="a, b"))
    assert isinstance(decide(request(Foo="b, a"), [entry], NOW, DEFAULT), Forward)
    assert isinstance(decide(request(Foo=" a ,b "), [entry], NOW, DEFAULT), UseStored)


# ---- a 200 to a HEAD updates the stored GET (RFC 9111 §4.3.5) ------------------------


def _head_exchange(headers: dict[str, str], status: int = 200) -> Exchange:
    response = Response(status, Headers({"Date": format_http_date(NOW), **headers}), "", URL)
    return Exchange(request("HEAD"), response, NOW, NOW)


def test_a_head_updates_the_stored_get_it_agrees_with() -> None:
    entry = stored({"Cache-Control": "max-age=2", "ETag": '"a"', "X-A": "1"}, received=NOW - 50)
    head = _head_exchange({"Cache-Control": "max-age=1000", "ETag": '"a"', "X-A": "2"})
    updates, stale = head_updates(head, [entry], DEFAULT)
    assert stale == ()
    (update,) = updates
    assert update.entry.response.headers["X-A"] == "2"
    assert isinstance(decide(request(), [update.entry], NOW + 10, DEFAULT), UseStored)


def test_without_validators_the_head_still_updates() -> None:
    entry = stored({"Cache-Control": "max-age=2", "Template-A": "1"}, received=NOW - 50)
    updates, _ = head_updates(_head_exchange({"Cache-Control": "max-age=1000"}), [entry], DEFAULT)
    assert updates and updates[0].entry.response.headers["Template-A"] == "1"  # kept


@pytest.mark.parametrize(
    "fields",
    [
        {"ETag": '"b"'},
        {"Last-Modified": format_http_date(NOW - 1)},
        {"Content-Length": "99"},
    ],
)
def test_a_head_that_disagrees_makes_the_stored_get_go(fields: dict[str, str]) -> None:
    entry = stored(
        {
            "Cache-Control": "max-age=2",
            "ETag": '"a"',
            "Last-Modified": format_http_date(NOW - 999),
            "Content-Length": "10",
        },
        received=NOW - 50,
    )
    updates, stale = head_updates(_head_exchange(fields), [entry], DEFAULT)
    assert updates == () and stale == (entry.key,)


def test_only_a_200_to_a_head_updates() -> None:
    entry = stored({"Cache-Control": "max-age=2"}, received=NOW - 50)
    assert head_updates(_head_exchange({}, status=410), [entry], DEFAULT) == ((), ())
    got = Exchange(request(), Response(200, Headers({}), "", URL), NOW, NOW)
    assert head_updates(got, [entry], DEFAULT) == ((), ())


# ---- ranges from a stored complete response (RFC 9110 §14, RFC 9111 §3.4) -------------


def test_a_range_is_served_from_a_fresh_stored_200() -> None:
    entry = stored(FRESH)
    action = decide(request(Range="bytes=0-1"), [entry], NOW, DEFAULT)
    assert isinstance(action, UseStored) and action.byte_range == ByteRange(0, 1)


def test_a_failing_if_range_gets_the_whole_response() -> None:
    entry = stored({**FRESH, "ETag": '"a"'})
    failing = decide(request(Range="bytes=0-1", If_Range='"b"'), [entry], NOW, DEFAULT)
    assert isinstance(failing, UseStored) and failing.byte_range is None
    holding = decide(request(Range="bytes=0-1", If_Range='"a"'), [entry], NOW, DEFAULT)
    assert isinstance(holding, UseStored) and holding.byte_range == ByteRange(0, 1)


@pytest.mark.parametrize("value", ["bytes=0-1,5-6", "items=1-2", "bytes=5-1"])
def test_ranges_not_understood_go_to_the_origin_unstored(value: str) -> None:
    action = decide(request(Range=value), [stored(FRESH)], NOW, DEFAULT)
    assert isinstance(action, Forward) and not action.may_store


def test_a_range_with_a_stale_or_partial_entry_goes_to_the_origin() -> None:
    stale = stored({"Cache-Control": "max-age=1", "ETag": '"a"'}, received=NOW - 100)
    action = decide(request(Range="bytes=0-1"), [stale], NOW, DEFAULT)
    assert isinstance(action, Forward) and action.stale is stale
    missing = stored(FRESH, status=404)
    assert isinstance(decide(request(Range="bytes=0-1"), [missing], NOW, DEFAULT), Forward)
    assert isinstance(decide(request(Range="bytes=0-1"), [], NOW, DEFAULT), Forward)


def test_a_range_of_a_head_request_is_left_to_the_origin() -> None:
    action = decide(request("HEAD", Range="bytes=0-1"), [stored(FRESH)], NOW, DEFAULT)
    assert isinstance(action, Forward)


def test_a_matching_conditional_answers_304_before_any_range() -> None:
    entry = stored({**FRESH, "ETag": '"a"'})
    action = decide(request(Range="bytes=0-1", If_None_Match='"a"'), [entry], NOW, DEFAULT)
    assert isinstance(action, UseStored) and action.not_modified and action.byte_range is None


def test_a_206_without_its_range_is_not_stored() -> None:
    # Stored parts: tests/unit/test_partials.py (one byte range, said in Content-Range).
    assert isinstance(respond({"Cache-Control": "max-age=60"}, status=206), DoNotStore)


class Marks(BaseHeuristic):
    """CacheControl's test heuristic: one field, no freshness."""

    def update_headers(self, response):  # type: ignore[no-untyped-def]
        return {"x-dummy-header": "foobar"}


@pytest.mark.parametrize(("status", "headers"), [(200, {}), (304, {}), (500, {}), (301, {})])
def test_the_callers_response_gets_the_heuristics_fields_stored_or_not(
    status: int, headers: dict[str, str]
) -> None:
    outcome = respond(headers, Settings(heuristic=Marks()), status=status)
    assert isinstance(outcome, DoNotStore)  # no freshness, no validator
    assert Headers(outcome.heuristic_fields)["x-dummy-header"] == "foobar"


def test_a_heuristics_freshness_stores_only_heuristically_cacheable_statuses() -> None:
    settings = Settings(heuristic=ExpiresAfter(days=1))
    error = respond({}, settings, status=500)
    assert isinstance(error, DoNotStore)
    assert Headers(error.heuristic_fields)["Cache-Control"] == "public"  # shown all the same


def test_no_store_gets_no_heuristic_fields() -> None:
    outcome = respond({"Cache-Control": "no-store"}, Settings(heuristic=Marks()))
    assert isinstance(outcome, DoNotStore) and outcome.heuristic_fields == ()


def test_a_post_gets_no_heuristic_fields() -> None:
    post = request("POST")
    outcome = respond({}, Settings(heuristic=Marks()), req=post)
    assert isinstance(outcome, DoNotStore) and outcome.heuristic_fields == ()


# ---- permanent redirects kept, as CacheControl keeps them (its face) -------------------


@pytest.mark.parametrize("status", [301, 308])
def test_the_cachecontrol_face_keeps_a_permanent_redirect(status: int) -> None:
    face = Settings(permanent_redirects=True)
    store = respond({"Location": "/there"}, face, status=status)
    assert isinstance(store, Store) and store.entry.expires is None
    assert isinstance(decide(request(), [store.entry], NOW + 10**7, face), UseStored)
    assert isinstance(decide(request(Cache_Control="no-cache"), [store.entry], NOW, face), Forward)
    assert isinstance(respond({"Location": "/there"}, status=status), DoNotStore)  # default


def test_the_face_keeps_no_other_redirect_and_honours_the_fields() -> None:
    face = Settings(permanent_redirects=True)
    assert isinstance(respond({"Location": "/x"}, face, status=302), DoNotStore)
    assert isinstance(respond({"Cache-Control": "no-store"}, face, status=301), DoNotStore)
    timed = respond({"Cache-Control": "max-age=60"}, face, status=301)
    assert isinstance(timed, Store) and timed.entry.expires == pytest.approx(NOW + 60)


# ---- a POST's response for its own URI stands for it (RFC 9111 §4, RFC 9110 §9.3.3) ---


def _post(headers: dict[str, str], status: int = 200) -> object:
    full = {"Date": format_http_date(NOW), **headers}
    exchange = Exchange(request("POST"), Response(status, Headers(full), "", URL), NOW, NOW)
    decision = on_response(
        exchange, primary_key="post", stored_request=request("POST"), settings=DEFAULT, get_key="g"
    )
    return decision


@pytest.mark.parametrize("location", [URL, "/r", "r"])
def test_a_post_response_with_its_own_content_location_is_kept_as_the_get(location: str) -> None:
    decision = _post({"Cache-Control": "max-age=3600", "Content-Location": location})
    store = decision.outcome  # type: ignore[attr-defined]
    assert isinstance(store, Store)
    assert store.entry.primary_key == "g" and store.entry.method == "GET"
    assert decision.invalidate is not None  # the POST still invalidates first (§4.4)
    assert isinstance(decide(request(), [store.entry], NOW + 10, DEFAULT), UseStored)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Cache-Control": "max-age=3600"}, 200),  # no Content-Location
        ({"Cache-Control": "max-age=3600", "Content-Location": "/elsewhere"}, 200),
        ({"Content-Location": URL, "ETag": '"a"'}, 200),  # no explicit freshness
        ({"Cache-Control": "max-age=3600, no-store", "Content-Location": URL}, 200),
        ({"Cache-Control": "max-age=3600", "Content-Location": URL}, 500),
    ],
)
def test_other_post_responses_are_not_kept(headers: dict[str, str], status: int) -> None:
    assert isinstance(_post(headers, status).outcome, DoNotStore)  # type: ignore[attr-defined]
