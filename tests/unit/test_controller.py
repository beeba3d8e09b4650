"""Table tests of the pure controller: fixed ``now``, no I/O, no clock."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from httpcache.heuristics import ExpiresAfter, LastModified
from httpcache.keys import vary_values
from httpcache.models import Entry, Headers, Request, Response
from httpcache.policy.actions import (
    CacheStatus,
    DoNotStore,
    Forward,
    Freshen,
    GatewayTimeout,
    Invalidate,
    Revalidate,
    Store,
    UseStored,
)
from httpcache.policy.controller import (
    Exchange,
    Settings,
    decide,
    on_response,
    stale_if_error_allows,
)
from httpcache.policy.directives import format_http_date, parse_vary
from httpcache.policy.expiration import resolve
from httpcache.policy.freshness import current_age

NOW = 1_750_000_000.0
URL = "http://origin.test/r"
DEFAULT = Settings()


def request(method: str = "GET", url: str = URL, **headers: str) -> Request:
    return Request(method, url, Headers({k.replace("_", "-"): v for k, v in headers.items()}))


def stored(
    headers: dict[str, str],
    *,
    received: float = NOW - 10,
    sent: float | None = None,
    req: Request | None = None,
    status: int = 200,
) -> Entry:
    """An entry received ``NOW - received`` ago, with a Date of when it was received."""
    headers = {"Date": format_http_date(received), **headers}
    response = Response(status, Headers(headers), "OK", URL)
    req = req or request()
    return Entry(
        key="k",
        primary_key="k",
        request=req,
        response=response,
        request_time=received if sent is None else sent,
        response_time=received,
        created_at=received,
        expires=None,
        vary=vary_values(req.headers, [n for n in parse_vary(response.headers) if n != "*"]),
    )


def exchange(headers: dict[str, str], *, status: int = 200, req: Request | None = None) -> Exchange:
    headers = {"Date": format_http_date(NOW), **headers}
    return Exchange(req or request(), Response(status, Headers(headers), "", URL), NOW, NOW)


def respond(headers: dict[str, str], settings: Settings = DEFAULT, **kw: object) -> object:
    decision = on_response(
        exchange(headers, **kw),  # type: ignore[arg-type]
        primary_key="k",
        stored_request=request(),
        settings=settings,
    )
    return next(a for a in decision.actions if isinstance(a, Store | DoNotStore | Freshen))


# ---- freshness and the age calculation (RFC 9111 §4.2) ------------------------------


@pytest.mark.parametrize(
    ("headers", "age", "expected"),
    [
        ({"Cache-Control": "max-age=60"}, 10, UseStored),
        ({"Cache-Control": "max-age=60"}, 70, Forward),
        ({"Cache-Control": "max-age=60", "ETag": '"v1"'}, 70, Revalidate),
        (
            {"Cache-Control": "max-age=60", "Last-Modified": format_http_date(NOW - 999)},
            70,
            Revalidate,
        ),
        ({"Expires": format_http_date(NOW + 50)}, 10, UseStored),
        ({"Expires": format_http_date(NOW - 1)}, 10, Forward),
        ({"Expires": "0"}, 1, Forward),  # §5.3: invalid Expires = already expired
        ({"Expires": "garbage", "Cache-Control": "max-age=60"}, 10, UseStored),  # max-age wins
        ({"Cache-Control": "max-age=60, max-age=120"}, 10, Forward),  # conflicting: stale
        ({"Cache-Control": "max-age=abc"}, 10, Forward),  # invalid: stale
        ({"Cache-Control": "s-maxage=600"}, 10, Forward),  # s-maxage is for shared caches
        ({}, 10, Forward),  # no lifetime, no heuristic: stale
    ],
)
def test_freshness_from_response_headers(headers: dict, age: float, expected: type) -> None:
    entry = stored(headers, received=NOW - age)
    assert isinstance(decide(request(), [entry], NOW, DEFAULT), expected)


def test_age_header_and_response_delay_count() -> None:
    # §4.2.3: corrected_initial_age = max(apparent_age, age_value + response_delay)
    entry = stored({"Cache-Control": "max-age=60", "Age": "45"}, received=NOW - 10, sent=NOW - 16)
    assert current_age(entry, NOW) == pytest.approx(45 + 6 + 10)
    assert isinstance(decide(request(), [entry], NOW, DEFAULT), Forward)


def test_apparent_age_from_a_date_in_the_past() -> None:
    entry = stored({"Cache-Control": "max-age=60"}, received=NOW - 10)
    old_date = entry.response.headers.updated([("Date", format_http_date(NOW - 100))])
    entry = entry.with_changes(response=Response(200, old_date, "OK"))
    assert current_age(entry, NOW) == pytest.approx(100)


def test_date_in_the_future_does_not_make_age_negative() -> None:
    entry = stored({"Cache-Control": "max-age=60"}, received=NOW - 10)
    future = entry.response.headers.updated([("Date", format_http_date(NOW + 3600))])
    entry = entry.with_changes(response=Response(200, future, "OK"))
    assert current_age(entry, NOW) == pytest.approx(10)


def test_clock_going_back_never_makes_age_negative() -> None:
    # Behind the arrival, how much time passed is unknown: the age is unknown
    # (infinite), never negative and never reset to zero, so the entry is stale.
    entry = stored({"Cache-Control": "max-age=60"}, received=NOW)
    assert current_age(entry, NOW - 86_400) == math.inf


# ---- request directives (RFC 9111 §5.2.1) ------------------------------------------


FRESH = {"Cache-Control": "max-age=100", "ETag": '"v1"'}


@pytest.mark.parametrize(
    ("request_headers", "age", "expected", "status"),
    [
        ({"Cache-Control": "max-age=5"}, 10, Revalidate, None),  # §5.2.1.1
        ({"Cache-Control": "max-age=50"}, 10, UseStored, CacheStatus.HIT),
        ({"Cache-Control": "min-fresh=95"}, 10, Revalidate, None),  # §5.2.1.3
        ({"Cache-Control": "min-fresh=20"}, 10, UseStored, CacheStatus.HIT),
        ({"Cache-Control": "no-cache"}, 10, Revalidate, None),  # §5.2.1.4
        ({"Pragma": "no-cache"}, 10, Revalidate, None),  # §5.4
        ({"Pragma": "no-cache", "Cache-Control": "max-age=50"}, 10, UseStored, None),
        ({"Cache-Control": "max-stale"}, 500, UseStored, CacheStatus.STALE),  # §5.2.1.2
        ({"Cache-Control": "max-stale=500"}, 200, UseStored, CacheStatus.STALE),
        ({"Cache-Control": "max-stale=50"}, 200, Revalidate, None),
        ({"Cache-Control": "only-if-cached"}, 10, UseStored, CacheStatus.HIT),
        ({"Cache-Control": "only-if-cached"}, 500, UseStored, CacheStatus.STALE),
    ],
)
def test_request_directives(
    request_headers: dict, age: float, expected: type, status: CacheStatus | None
) -> None:
    action = decide(request(**request_headers), [stored(FRESH, received=NOW - age)], NOW, DEFAULT)
    assert isinstance(action, expected)
    if status is not None:
        assert action.status is status  # type: ignore[union-attr]


def test_only_if_cached_without_entry_is_504() -> None:
    req = request(Cache_Control="only-if-cached")
    assert isinstance(decide(req, [], NOW, DEFAULT), GatewayTimeout)
    opted = Settings(only_if_cached=True)
    assert isinstance(decide(request(), [], NOW, opted), GatewayTimeout)


def test_only_if_cached_and_must_revalidate_is_504() -> None:
    entry = stored({"Cache-Control": "max-age=1, must-revalidate"}, received=NOW - 50)
    assert isinstance(
        decide(request(), [entry], NOW, Settings(only_if_cached=True)), GatewayTimeout
    )


def test_request_no_store_forbids_storing() -> None:
    action = decide(request(Cache_Control="no-store"), [], NOW, DEFAULT)
    assert isinstance(action, Forward) and not action.may_store
    decision = on_response(
        exchange({"Cache-Control": "max-age=60"}),
        primary_key="k",
        stored_request=request(),
        settings=DEFAULT,
        may_store=action.may_store,
    )
    assert isinstance(decision.actions[0], DoNotStore)


# ---- response directives (RFC 9111 §5.2.2) ------------------------------------------


@pytest.mark.parametrize(
    ("headers", "age", "expected"),
    [
        ({"Cache-Control": "max-age=100, no-cache", "ETag": '"a"'}, 1, Revalidate),  # §5.2.2.4
        ({"Cache-Control": "max-age=100, must-revalidate", "ETag": '"a"'}, 1, UseStored),
        ({"Cache-Control": "max-age=100, private"}, 1, UseStored),  # private cache: ok
        ({"Cache-Control": "max-age=100, public"}, 1, UseStored),
        ({"Cache-Control": "max-age=100, immutable"}, 1, UseStored),
    ],
)
def test_response_directives_on_use(headers: dict, age: float, expected: type) -> None:
    assert isinstance(
        decide(request(), [stored(headers, received=NOW - age)], NOW, DEFAULT), expected
    )


def test_qualified_no_cache_hides_the_named_fields() -> None:
    entry = stored({"Cache-Control": 'max-age=100, no-cache="Set-Cookie"', "Set-Cookie": "a=1"})
    action = decide(request(), [entry], NOW, DEFAULT)
    assert isinstance(action, UseStored) and action.hide_fields == ("set-cookie",)


def test_must_revalidate_forbids_max_stale() -> None:
    entry = stored(
        {"Cache-Control": "max-age=1, must-revalidate", "ETag": '"a"'}, received=NOW - 50
    )
    action = decide(request(Cache_Control="max-stale"), [entry], NOW, DEFAULT)
    assert isinstance(action, Revalidate)


def test_stale_while_revalidate_serves_stale_and_refreshes() -> None:
    entry = stored({"Cache-Control": "max-age=10, stale-while-revalidate=60", "ETag": '"a"'})
    action = decide(request(), [entry], NOW + 30, DEFAULT)
    assert isinstance(action, UseStored) and action.revalidate_in_background
    assert action.status is CacheStatus.STALE
    beyond = decide(request(), [entry], NOW + 100, DEFAULT)
    assert isinstance(beyond, Revalidate)


def test_stale_while_revalidate_from_the_option() -> None:
    entry = stored({"Cache-Control": "max-age=10", "ETag": '"a"'})
    action = decide(request(), [entry], NOW + 30, Settings(stale_while_revalidate=60))
    assert isinstance(action, UseStored) and action.revalidate_in_background


def test_stale_if_error_window() -> None:
    entry = stored({"Cache-Control": "max-age=10, stale-if-error=60"})
    assert stale_if_error_allows(entry, request(), NOW + 30, DEFAULT)
    assert stale_if_error_allows(entry, request(), NOW + 100, DEFAULT) is None
    plain = stored({"Cache-Control": "max-age=10"})
    assert stale_if_error_allows(plain, request(), NOW + 30, DEFAULT) is None
    assert stale_if_error_allows(plain, request(), NOW + 30, Settings(stale_if_error=math.inf))
    strict = stored({"Cache-Control": "max-age=10, must-revalidate"})
    assert stale_if_error_allows(strict, request(), NOW + 30, Settings(stale_if_error=99)) is None


# ---- storability (RFC 9111 §3) ------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "stores"),
    [
        ({"Cache-Control": "max-age=60"}, 200, True),
        ({"Cache-Control": "no-store, max-age=60"}, 200, False),  # §5.2.2.5
        ({"Cache-Control": "max-age=60", "Vary": "*"}, 200, False),  # §4.1
        ({"Cache-Control": "max-age=60"}, 206, False),  # partial content
        ({"Cache-Control": "max-age=60"}, 404, True),  # cacheable by default (RFC 9110 §15.1)
        ({"Cache-Control": "max-age=60"}, 500, True),  # §3: any final status, if fresh
        ({"ETag": '"v"'}, 500, False),  # not heuristically cacheable, no freshness
        ({"ETag": '"v"'}, 200, True),  # no lifetime, but revalidatable
        ({"Last-Modified": format_http_date(NOW - 10)}, 200, True),
        ({}, 200, False),  # neither lifetime nor validator: pointless
        ({"Cache-Control": "no-cache"}, 200, False),  # always revalidated, no validator
        ({"Cache-Control": "no-cache", "ETag": '"v"'}, 200, True),
        ({"Cache-Control": "private, max-age=60"}, 200, True),  # a private cache may
    ],
)
def test_storability(headers: dict, status: int, stores: bool) -> None:
    assert isinstance(respond(headers, status=status), Store) is stores


def test_shared_cache_rules() -> None:
    shared = Settings(shared=True)
    assert isinstance(respond({"Cache-Control": "private, max-age=60"}, shared), DoNotStore)
    with_auth = request(Authorization="Bearer t")
    # §3.5: a shared cache stores an authorized response only if explicitly allowed
    assert isinstance(respond({"Cache-Control": "max-age=60"}, shared, req=with_auth), DoNotStore)
    for allowed in ("public, max-age=60", "s-maxage=60", "max-age=60, must-revalidate"):
        assert isinstance(respond({"Cache-Control": allowed}, shared, req=with_auth), Store)
    # a private cache (the default) keeps authorized responses (partitioned by credential)
    assert isinstance(respond({"Cache-Control": "max-age=60"}, req=with_auth), Store)


def test_s_maxage_sets_lifetime_only_when_shared() -> None:
    entry = stored({"Cache-Control": "max-age=10, s-maxage=600"}, received=NOW - 100)
    assert isinstance(decide(request(), [entry], NOW, Settings(shared=True)), UseStored)
    assert isinstance(decide(request(), [entry], NOW, DEFAULT), Forward)


def test_stored_entry_expiry_accounts_for_initial_age() -> None:
    store = respond({"Cache-Control": "max-age=60", "Age": "20"})
    assert isinstance(store, Store)
    assert store.entry.expires == pytest.approx(NOW + 40)


def test_hop_by_hop_fields_are_not_stored() -> None:
    store = respond(
        {
            "Cache-Control": "max-age=60",
            "Connection": "X-Secret",
            "X-Secret": "1",
            "Keep-Alive": "timeout=5",
        }
    )
    assert isinstance(store, Store)
    assert "x-secret" not in store.entry.response.headers
    assert "keep-alive" not in store.entry.response.headers


# ---- heuristics (RFC 9111 §4.2.2) ------------------------------------------------------


def test_heuristic_only_when_configured_and_no_explicit_lifetime() -> None:
    lm = {"Last-Modified": format_http_date(NOW - 10 * 86_400)}
    assert isinstance(respond({**lm, "Cache-Control": "public"}), DoNotStore) is False  # validator
    with_heuristic = Settings(heuristic=LastModified())
    store = respond(lm, with_heuristic)
    assert isinstance(store, Store)
    assert store.entry.expires == pytest.approx(NOW + 86_400)  # 10% of 10 days, capped at 1 day
    explicit = respond({**lm, "Cache-Control": "max-age=5"}, with_heuristic)
    assert explicit.entry.expires == pytest.approx(NOW + 5)


def test_heuristic_skips_statuses_not_cacheable_by_default() -> None:
    settings = Settings(heuristic=ExpiresAfter(days=1), allowable_codes=frozenset({200, 302}))
    assert isinstance(respond({}, settings, status=302), DoNotStore)
    assert isinstance(respond({"Cache-Control": "public"}, settings, status=302), Store)


# ---- the caller's expiration (precedence) -------------------------------------------------


def test_expire_after_overrides_header_lifetime() -> None:
    settings = Settings(expiration=resolve(3600))
    entry = stored({"Cache-Control": "max-age=10"}, received=NOW - 100)
    assert isinstance(decide(request(), [entry], NOW, settings), UseStored)
    store = respond({"Cache-Control": "max-age=10"}, settings)
    assert store.entry.expires == pytest.approx(NOW + 3600)


def test_expire_after_does_not_override_no_store() -> None:
    assert isinstance(
        respond({"Cache-Control": "no-store"}, Settings(expiration=resolve(60))), DoNotStore
    )


def test_expire_immediately_stores_and_revalidates() -> None:
    settings = Settings(expiration=resolve(0))
    store = respond({"ETag": '"a"'}, settings)
    assert isinstance(store, Store)
    entry = stored({"ETag": '"a"'}, received=NOW)
    assert isinstance(decide(request(), [entry], NOW, settings), Revalidate)


def test_do_not_cache_bypasses() -> None:
    settings = Settings(expiration=resolve(__import__("httpcache").DO_NOT_CACHE))
    entry = stored({"Cache-Control": "max-age=100"})
    action = decide(request(), [entry], NOW, settings)
    assert isinstance(action, Forward) and action.status is CacheStatus.BYPASS
    assert isinstance(respond({"Cache-Control": "max-age=100"}, settings), DoNotStore)


def test_request_directives_outrank_expire_after() -> None:
    settings = Settings(expiration=resolve("1d"))
    entry = stored({"ETag": '"a"'}, received=NOW - 100)
    assert isinstance(
        decide(request(Cache_Control="max-age=10"), [entry], NOW, settings), Revalidate
    )
    assert isinstance(decide(request(Cache_Control="no-cache"), [entry], NOW, settings), Revalidate)


def test_cache_control_false_ignores_headers() -> None:
    settings = Settings(cache_control=False)
    store = respond({"Cache-Control": "no-store"}, settings)
    assert isinstance(store, Store) and store.entry.expires is None  # kept forever
    entry = stored({"Cache-Control": "max-age=0"}, received=NOW - 10**6)
    assert isinstance(decide(request(Cache_Control="no-cache"), [entry], NOW, settings), UseStored)
    timed = Settings(cache_control=False, expiration=resolve(60))
    assert isinstance(decide(request(), [entry], NOW, timed), Forward)
    assert isinstance(respond({}, settings, status=404), DoNotStore)  # (200,) by default here


def test_refresh_and_force_refresh() -> None:
    entry = stored({"Cache-Control": "max-age=100", "ETag": '"a"'})
    assert isinstance(decide(request(), [entry], NOW, Settings(refresh=True)), Revalidate)
    forced = decide(request(), [entry], NOW, Settings(force_refresh=True))
    assert isinstance(forced, Forward) and forced.status is CacheStatus.BYPASS and forced.may_store


def test_cache_etags_false_is_time_priority() -> None:
    # CacheControl's cache_etags=False: an ETag alone no longer keeps a response, but
    # what was stored for its freshness is revalidated with its ETag once stale.
    settings = Settings(cache_etags=False)
    entry = stored({"Cache-Control": "max-age=1", "ETag": '"a"'}, received=NOW - 50)
    action = decide(request(), [entry], NOW, settings)
    assert isinstance(action, Revalidate)
    assert action.conditional_headers == (("If-None-Match", '"a"'),)
    assert isinstance(respond({"ETag": '"a"'}, settings), DoNotStore)
    store = respond({"ETag": '"a"', "Cache-Control": "max-age=60"}, settings)
    assert isinstance(store, Store)
    assert store.entry.stale_until is not None and store.entry.stale_until > NOW + 60  # kept


def test_methods_and_pass_through_requests() -> None:
    entry = stored({"Cache-Control": "max-age=100"})
    assert isinstance(decide(request("POST"), [entry], NOW, DEFAULT), Forward)
    ranged = decide(request(Range="bytes=0-10"), [entry], NOW, DEFAULT)  # RFC 9110 §14
    assert isinstance(ranged, UseStored) and ranged.byte_range is not None
    assert isinstance(decide(request(If_Match='"a"'), [entry], NOW, DEFAULT), Forward)
    own = decide(request(If_None_Match='"a"'), [entry], NOW, DEFAULT)  # §4.3.2: no match
    assert isinstance(own, UseStored) and not own.not_modified
    posting = Settings(cacheable_methods=frozenset({"GET", "POST"}))
    assert isinstance(decide(request("POST"), [entry], NOW, posting), UseStored)


# ---- Vary (RFC 9111 §4.1) ------------------------------------------------------------------


def test_vary_selects_the_matching_variant() -> None:
    json_req = request(Accept="application/json")
    html_req = request(Accept="text/html")
    vary = {"Cache-Control": "max-age=100", "Vary": "Accept"}
    json_entry = stored(vary, req=json_req).with_changes(key="json")
    html_entry = stored(vary, req=html_req).with_changes(key="html")
    entries = [json_entry, html_entry]
    assert decide(json_req, entries, NOW, DEFAULT).entry.key == "json"  # type: ignore[union-attr]
    assert decide(html_req, entries, NOW, DEFAULT).entry.key == "html"  # type: ignore[union-attr]
    other = decide(request(Accept="image/png"), entries, NOW, DEFAULT)
    assert isinstance(other, Forward) and "Vary" in other.reason
    spaced = request(Accept="application/json ")
    assert isinstance(decide(spaced, entries, NOW, DEFAULT), UseStored)


def test_vary_star_never_matches() -> None:
    entry = stored({"Cache-Control": "max-age=100", "Vary": "*"})
    assert isinstance(decide(request(), [entry], NOW, DEFAULT), Forward)


def test_most_recent_matching_variant_wins() -> None:
    older = stored({"Cache-Control": "max-age=100"}, received=NOW - 50).with_changes(key="old")
    newer = stored({"Cache-Control": "max-age=100"}, received=NOW - 5).with_changes(key="new")
    assert decide(request(), [older, newer], NOW, DEFAULT).entry.key == "new"  # type: ignore[union-attr]


def test_each_variant_gets_its_own_key() -> None:
    vary = {"Cache-Control": "max-age=100", "Vary": "Accept"}
    keys = set()
    for accept in ("a/b", "c/d"):
        decision = on_response(
            exchange(vary, req=request(Accept=accept)),
            primary_key="k",
            stored_request=request(),
            settings=DEFAULT,
        )
        keys.add(decision.actions[0].entry.key)  # type: ignore[union-attr]
    assert len(keys) == 2


# ---- conditional requests and 304 (RFC 9111 §4.3) -----------------------------------------


def test_conditional_headers_from_validators() -> None:
    lm = format_http_date(NOW - 1000)
    entry = stored(
        {"Cache-Control": "max-age=1", "ETag": 'W/"v1"', "Last-Modified": lm}, received=NOW - 50
    )
    action = decide(request(), [entry], NOW, DEFAULT)
    assert isinstance(action, Revalidate)
    assert dict(action.conditional_headers) == {"If-None-Match": 'W/"v1"', "If-Modified-Since": lm}


def test_304_merges_headers_but_not_content_length() -> None:
    entry = stored(
        {"Cache-Control": "max-age=1", "ETag": '"v1"', "Content-Length": "5", "X-Old": "1"},
        received=NOW - 50,
    )
    not_modified = exchange(
        {"Cache-Control": "max-age=300", "ETag": '"v1"', "Content-Length": "0", "X-New": "2"},
        status=304,
    )
    decision = on_response(
        not_modified, primary_key="k", stored_request=request(), settings=DEFAULT, revalidated=entry
    )
    freshen = decision.actions[0]
    assert isinstance(freshen, Freshen)
    headers = freshen.entry.response.headers
    assert headers["Cache-Control"] == "max-age=300"
    assert headers["Content-Length"] == "5" and headers["X-Old"] == "1" and headers["X-New"] == "2"
    assert freshen.entry.response.status == 200
    assert freshen.entry.expires == pytest.approx(NOW + 300)
    assert isinstance(decide(request(), [freshen.entry], NOW + 10, DEFAULT), UseStored)


def _freshened(entry: Entry, headers: dict[str, str], at: float = NOW) -> Entry:
    """``entry`` freshened by a 304 with these fields (no Date unless given), received
    at ``at`` for a request sent then."""
    not_modified = Exchange(request(), Response(304, Headers(headers), "", URL), at, at)
    decision = on_response(
        not_modified, primary_key="k", stored_request=request(), settings=DEFAULT, revalidated=entry
    )
    freshen = decision.actions[0]
    assert isinstance(freshen, Freshen)
    return freshen.entry


def test_a_304_without_age_makes_the_response_young_again() -> None:
    # Stored 100s ago with Age: 5000 and max-age=3600: stale. The 304 (Date: now, no
    # Age) says it is current now: its age is the 304's, not the old Age (§4.3.4, §4.2.3).
    entry = stored(
        {"Cache-Control": "max-age=3600", "ETag": '"v1"', "Age": "5000"}, received=NOW - 100
    )
    assert isinstance(decide(request(), [entry], NOW, DEFAULT), Revalidate)
    fresh = _freshened(entry, {"Date": format_http_date(NOW), "ETag": '"v1"'})
    assert "Age" not in fresh.response.headers
    assert current_age(fresh, NOW + 10) == pytest.approx(10)
    assert isinstance(decide(request(), [fresh], NOW + 10, DEFAULT), UseStored)


def test_a_304_with_age_gives_its_own() -> None:
    entry = stored(
        {"Cache-Control": "max-age=3600", "ETag": '"v1"', "Age": "5000"}, received=NOW - 100
    )
    fresh = _freshened(entry, {"Date": format_http_date(NOW), "ETag": '"v1"', "Age": "30"})
    assert current_age(fresh, NOW) == pytest.approx(30)


def test_a_304_without_date_is_dated_when_received() -> None:
    # RFC 9110 §6.6.1: a recipient records when a message without Date was received;
    # the stored Date of the old response would make the freshened one old at once.
    entry = stored({"Cache-Control": "max-age=60", "ETag": '"v1"'}, received=NOW - 1000)
    fresh = _freshened(entry, {"ETag": '"v1"'})
    assert fresh.response.headers["Date"] == format_http_date(NOW)
    assert current_age(fresh, NOW + 5) == pytest.approx(5)
    assert isinstance(decide(request(), [fresh], NOW + 5, DEFAULT), UseStored)


def test_a_304_without_date_adds_none_to_a_response_stored_without() -> None:
    # A Date written here has whole seconds: added to a response that had none, it
    # would age it by up to a second at once (a renewed expiry before the old one).
    entry = stored({"Cache-Control": "max-age=60", "ETag": '"v1"'}, received=NOW - 1000)
    entry = replace(
        entry, response=replace(entry.response, headers=entry.response.headers.without("date"))
    )
    at = NOW + 0.75
    fresh = _freshened(entry, {"ETag": '"v1"'}, at=at)
    assert "Date" not in fresh.response.headers
    assert current_age(fresh, at) == pytest.approx(0)
    assert fresh.expires == pytest.approx(at + 60)


def test_304_with_another_etag_does_not_freshen() -> None:
    entry = stored({"Cache-Control": "max-age=1", "ETag": '"v1"'}, received=NOW - 50)
    decision = on_response(
        exchange({"ETag": '"v2"'}, status=304),
        primary_key="k",
        stored_request=request(),
        settings=DEFAULT,
        revalidated=entry,
    )
    assert isinstance(decision.actions[0], DoNotStore)


# ---- invalidation (RFC 9111 §4.4) ------------------------------------------------------------


def test_unsafe_methods_invalidate_target_location_and_content_location() -> None:
    decision = on_response(
        exchange(
            {"Location": "/r/2", "Content-Location": "http://elsewhere.test/x"},
            status=201,
            req=request("POST"),
        ),
        primary_key="k",
        stored_request=request("POST"),
        settings=DEFAULT,
    )
    invalidate = decision.actions[0]
    assert isinstance(invalidate, Invalidate)
    assert invalidate.urls == (URL, "http://origin.test/r/2")  # other origins untouched


@pytest.mark.parametrize(("method", "status"), [("GET", 200), ("POST", 500), ("DELETE", 404)])
def test_no_invalidation_for_safe_methods_or_errors(method: str, status: int) -> None:
    decision = on_response(
        exchange({}, status=status, req=request(method)),
        primary_key="k",
        stored_request=request(method),
        settings=DEFAULT,
    )
    assert not any(isinstance(a, Invalidate) for a in decision.actions)
