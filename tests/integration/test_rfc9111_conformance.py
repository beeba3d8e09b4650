"""RFC 9111 to the letter, end to end through a real local origin: the behaviours the
public cache-tests suite checks (conformance/ runs the suite itself)."""

from __future__ import annotations

import pytest
import time_machine

from httpcache import CachedSession, CacheStatus
from httpcache.heuristics import LastModified
from httpcache.policy.directives import format_http_date
from tests.support.origin import Origin, Reply, Seen, counter_handler

T0 = 1_800_000_000


@pytest.fixture
def session() -> CachedSession:
    return CachedSession(backend="memory")


# ---- Expires (RFC 9111 §5.3) ----------------------------------------------------------


@pytest.mark.parametrize(
    "expires",
    [
        "Thu, 18 Aug 2050 02:01:18 UTC",
        "Thu, 18 Aug 50 02:01:18 GMT",
        "Thu, 18-Aug-2050 02:01:18 GMT",
        "Thu, 18 Aug 2050 2:01:18 GMT",
    ],
)
def test_an_invalid_expires_is_not_reused(
    origin: Origin, session: CachedSession, expires: str
) -> None:
    url = origin.route("/bad", counter_handler({"Expires": expires}))
    session.get(url)
    assert not session.get(url).from_cache
    assert origin.hits("/bad") == 2


def test_an_rfc850_expires_is_reused(origin: Origin, session: CachedSession) -> None:
    url = origin.route(
        "/old-form", counter_handler({"Expires": "Thursday, 18-Aug-50 02:01:18 GMT"})
    )
    session.get(url)
    assert session.get(url).from_cache


# ---- status codes (RFC 9111 §3) ----------------------------------------------------------


@pytest.mark.parametrize("status", [302, 307, 404, 500, 503, 599])
def test_a_fresh_response_of_any_status_is_reused_and_a_stale_one_revalidated(
    origin: Origin, session: CachedSession, status: int
) -> None:
    def handler(seen: Seen) -> Reply:
        headers = {"Cache-Control": "max-age=60", "Last-Modified": format_http_date(T0 - 999)}
        if seen.headers.get("if-modified-since"):
            return Reply(304, headers)
        return Reply(status, {**headers, "Location": "/elsewhere"}, b"answer")

    url = origin.route("/status", handler)
    with time_machine.travel(T0, tick=False):
        first = session.get(url, allow_redirects=False)
        second = session.get(url, allow_redirects=False)
        assert (first.status_code, second.status_code) == (status, status)
        assert second.from_cache and second.content == b"answer"
    with time_machine.travel(T0 + 61, tick=False):
        stale = session.get(url, allow_redirects=False)
        assert stale.cache_status is CacheStatus.REVALIDATED
    assert [bool(s.headers.get("if-modified-since")) for s in origin.requests_to("/status")] == [
        False,
        True,
    ]


def test_an_error_is_never_kept_for_the_callers_expire_after(origin: Origin) -> None:
    session = CachedSession(backend="memory", expire_after=3600)
    failing = origin.route("/down", counter_handler({}, status=503))
    session.get(failing)
    assert not session.get(failing).from_cache
    ok = origin.route("/up", counter_handler({}))
    session.get(ok)
    assert session.get(ok).from_cache


def test_allowable_codes_still_limit_the_statuses(origin: Origin) -> None:
    session = CachedSession(backend="memory", allowable_codes=(200,))
    url = origin.route("/err", counter_handler({"Cache-Control": "max-age=60"}, status=500))
    session.get(url)
    assert not session.get(url).from_cache


# ---- must-understand (RFC 9111 §5.2.2.3) ---------------------------------------------


def test_must_understand(origin: Origin, session: CachedSession) -> None:
    directives = {"Cache-Control": "max-age=3600, no-store, must-understand"}
    known = origin.route("/known", counter_handler(directives))
    session.get(known)
    assert session.get(known).from_cache
    unknown = origin.route("/unknown", counter_handler(directives, status=599))
    session.get(unknown)
    assert not session.get(unknown).from_cache


# ---- Age (RFC 9111 §4, §5.1) -----------------------------------------------------------


def test_a_response_from_storage_carries_its_current_age(
    origin: Origin, session: CachedSession
) -> None:
    url = origin.route("/aged", counter_handler({"Cache-Control": "max-age=600", "Age": "30"}))
    with time_machine.travel(T0, tick=False):
        first = session.get(url)
        assert first.headers["Age"] == "30"  # the origin's, untouched on a miss
    with time_machine.travel(T0 + 12, tick=False):
        hit = session.get(url)
        assert hit.from_cache and hit.headers["Age"] == "42"
        stored = session.cache.get(hit.cache_key)
        assert stored is not None and stored.response.headers["Age"] == "30"  # not rewritten


def test_a_stale_response_served_on_error_carries_its_age(origin: Origin) -> None:
    session = CachedSession(backend="memory", stale_if_error=True)
    answers = iter([Reply(200, {"Cache-Control": "max-age=10"}, b"ok"), Reply(500)])
    url = origin.route("/flaky", lambda _seen: next(answers))
    with time_machine.travel(T0, tick=False):
        session.get(url)
    with time_machine.travel(T0 + 100, tick=False):
        stale = session.get(url)
        assert stale.cache_status is CacheStatus.STALE and stale.headers["Age"] == "100"


def test_a_304_without_age_makes_the_stored_response_fresh_again(
    origin: Origin, session: CachedSession
) -> None:
    # Stored already older than its lifetime (Age: 5000, max-age=3600). The 304 carries
    # no Age: the freshened response is as old as the 304, not 5000s (RFC 9111 §4.3.4).
    def handler(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"v"':
            return Reply(304, {"ETag": '"v"'})
        return Reply(200, {"Cache-Control": "max-age=3600", "ETag": '"v"', "Age": "5000"}, b"x")

    url = origin.route("/old", handler)
    with time_machine.travel(T0, tick=False):
        session.get(url)
    with time_machine.travel(T0 + 10, tick=False):
        assert session.get(url).cache_status is CacheStatus.REVALIDATED
    with time_machine.travel(T0 + 20, tick=False):
        hit = session.get(url)
        assert hit.cache_status is CacheStatus.HIT and hit.headers["Age"] == "10"
    assert origin.hits("/old") == 2


# ---- the heuristic, reported with heuristic=LastModified() ----------------------------


def test_last_modified_heuristic(origin: Origin) -> None:
    session = CachedSession(backend="memory", heuristic=LastModified())
    headers = {"Last-Modified": format_http_date(T0 - 10_000)}
    url = origin.route("/lm", counter_handler(headers))
    with time_machine.travel(T0, tick=False):
        session.get(url)
    with time_machine.travel(T0 + 999, tick=False):
        assert session.get(url).from_cache  # 10% of 10 000 s
    with time_machine.travel(T0 + 1001, tick=False):
        assert not session.get(url).from_cache


# ---- the caller's own conditional request (RFC 9111 §4.3.2) ----------------------------


def etag_handler(seen: Seen) -> Reply:
    headers = {"ETag": '"v1"', "Cache-Control": "max-age=60", "Content-Type": "text/plain"}
    if seen.headers.get("if-none-match") == '"v1"':
        return Reply(304, headers)
    return Reply(200, headers, b"the body")


def test_the_callers_if_none_match_is_answered_from_storage(
    origin: Origin, session: CachedSession
) -> None:
    url = origin.route("/tagged", etag_handler)
    with time_machine.travel(T0, tick=False):
        session.get(url)
    with time_machine.travel(T0 + 5, tick=False):
        same = session.get(url, headers={"If-None-Match": 'W/"v1"'})
        assert same.status_code == 304 and same.from_cache and same.content == b""
        assert same.headers["ETag"] == '"v1"' and same.headers["Age"] == "5"
        other = session.get(url, headers={"If-None-Match": '"v0"'})
        assert other.status_code == 200 and other.from_cache and other.content == b"the body"
    assert origin.hits("/tagged") == 1


def test_the_callers_if_modified_since_is_answered_from_storage(
    origin: Origin, session: CachedSession
) -> None:
    modified = format_http_date(T0 - 3000)
    url = origin.route(
        "/dated", counter_handler({"Cache-Control": "max-age=60", "Last-Modified": modified})
    )
    with time_machine.travel(T0, tick=False):
        session.get(url)
        assert session.get(url, headers={"If-Modified-Since": modified}).status_code == 304
        earlier = format_http_date(T0 - 4000)
        assert session.get(url, headers={"If-Modified-Since": earlier}).text == "body 1"
    assert origin.hits("/dated") == 1


def test_a_stale_entry_sends_the_callers_conditional_to_the_origin(
    origin: Origin, session: CachedSession
) -> None:
    url = origin.route("/tagged", etag_handler)
    with time_machine.travel(T0, tick=False):
        session.get(url)
    with time_machine.travel(T0 + 61, tick=False):
        answer = session.get(url, headers={"If-None-Match": '"v1"'})
        assert answer.status_code == 304 and not answer.from_cache
    assert [s.headers.get("if-none-match") for s in origin.requests_to("/tagged")] == [
        None,
        '"v1"',
    ]


# ---- Vary: Accept-Language normalised (RFC 9111 §4.1) ---------------------------------


def test_accept_language_in_another_order_or_case_is_a_hit(
    origin: Origin, session: CachedSession
) -> None:
    headers = {"Cache-Control": "max-age=600", "Vary": "Accept-Language"}
    url = origin.route("/lang", counter_handler(headers))
    session.get(url, headers={"Accept-Language": "en, de"})
    assert session.get(url, headers={"Accept-Language": "DE, en"}).from_cache
    assert not session.get(url, headers={"Accept-Language": "fr"}).from_cache
    assert origin.hits("/lang") == 2


# ---- a 200 to a HEAD updates the stored GET (RFC 9111 §4.3.5) ------------------------


def test_a_head_freshens_and_updates_the_stored_get(origin: Origin, session: CachedSession) -> None:
    def handler(seen: Seen) -> Reply:
        if seen.method == "HEAD":
            fields = {"Cache-Control": "max-age=1000", "Template-A": "2", "Content-Length": "8"}
            return Reply(200, fields)  # the GET's length: it agrees with what is stored
        stored = {"Cache-Control": "max-age=2", "Template-A": "1", "ETag": '"v1"'}
        return Reply(200, stored, b"the body")  # the ETag keeps it once stale

    url = origin.route("/headed", handler)
    with time_machine.travel(T0, tick=False):
        session.get(url)
    with time_machine.travel(T0 + 10, tick=False):
        assert session.head(url).status_code == 200
        again = session.get(url)
        assert again.from_cache and again.content == b"the body"
        assert again.headers["Template-A"] == "2"
    assert [s.method for s in origin.requests_to("/headed")] == ["GET", "HEAD"]


def test_a_head_with_another_etag_makes_the_stored_get_go(
    origin: Origin, session: CachedSession
) -> None:
    def handler(seen: Seen) -> Reply:
        if seen.method == "HEAD":
            return Reply(200, {"Cache-Control": "max-age=1000", "ETag": '"v2"'})
        return Reply(200, {"Cache-Control": "max-age=1000", "ETag": '"v1"'}, b"v1")

    url = origin.route("/changed", handler)
    session.get(url)
    assert session.get(url).from_cache
    session.head(url)
    assert not session.get(url).from_cache


# ---- a range of a stored complete response (RFC 9110 §14, RFC 9111 §3.4) --------------


@pytest.mark.parametrize(
    ("wanted", "content", "content_range"),
    [
        ("bytes=0-1", b"01", "bytes 0-1/11"),
        ("bytes=1-", b"123456789A", "bytes 1-10/11"),
        ("bytes=-1", b"A", "bytes 10-10/11"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_a_range_is_served_from_the_stored_response(
    origin: Origin,
    session: CachedSession,
    wanted: str,
    content: bytes,
    content_range: str,
    stream: bool,
) -> None:
    url = origin.route(
        "/whole", Reply(200, {"Cache-Control": "max-age=3600", "A": "1"}, b"0123456789A")
    )
    session.get(url)
    part = session.get(url, headers={"Range": wanted}, stream=stream)
    assert part.status_code == 206 and part.from_cache
    assert part.content == content
    assert part.headers["Content-Range"] == content_range
    assert part.headers["A"] == "1" and "Age" in part.headers
    assert session.get(url).content == b"0123456789A"  # the stored response is whole
    assert origin.hits("/whole") == 1


def test_a_range_past_the_end_is_416(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/short", Reply(200, {"Cache-Control": "max-age=3600"}, b"abc"))
    session.get(url)
    past = session.get(url, headers={"Range": "bytes=10-"})
    assert past.status_code == 416 and past.headers["Content-Range"] == "bytes */3"
    assert origin.hits("/short") == 1


def test_a_range_without_a_stored_response_goes_to_the_origin(
    origin: Origin, session: CachedSession
) -> None:
    def handler(seen: Seen) -> Reply:
        if seen.headers.get("range") == "bytes=0-1":
            headers = {"Cache-Control": "max-age=3600", "Content-Range": "bytes 0-1/11"}
            return Reply(206, headers, b"01")
        return Reply(200, {"Cache-Control": "max-age=3600"}, b"0123456789A")

    url = origin.route("/ranged", handler)
    first = session.get(url, headers={"Range": "bytes=0-1"})
    assert first.status_code == 206 and not first.from_cache and first.content == b"01"
    whole = session.get(url)  # the 206 is kept as a part, never as the whole
    assert not whole.from_cache and whole.content == b"0123456789A"
    assert session.get(url, headers={"Range": "bytes=0-1"}).from_cache
    # The plain GET asked for the rest of the part only (RFC 9111 §3.4); the origin
    # sent the whole 200, which is stored.
    assert [s.headers.get("range") for s in origin.requests_to("/ranged")] == [
        "bytes=0-1",
        "bytes=2-",
    ]


def test_if_range_that_fails_gets_the_whole_stored_response(
    origin: Origin, session: CachedSession
) -> None:
    headers = {"Cache-Control": "max-age=3600", "ETag": '"v2"'}
    url = origin.route("/if-range", Reply(200, headers, b"0123456789A"))
    session.get(url)
    whole = session.get(url, headers={"Range": "bytes=0-1", "If-Range": '"v1"'})
    assert whole.status_code == 200 and whole.content == b"0123456789A" and whole.from_cache
    part = session.get(url, headers={"Range": "bytes=0-1", "If-Range": '"v2"'})
    assert part.status_code == 206 and part.content == b"01"


# ---- a POST's response for its own URI (RFC 9111 §4, RFC 9110 §9.3.3) ----------------


def test_a_post_response_for_its_own_uri_answers_the_next_get(
    origin: Origin, session: CachedSession
) -> None:
    def handler(seen: Seen) -> Reply:
        fields = {"Cache-Control": "max-age=3600", "Content-Location": "/posted"}
        return Reply(200, fields, b"after " + seen.method.encode())

    url = origin.route("/posted", handler)
    assert session.post(url, data=b"12345").text == "after POST"
    again = session.get(url)
    assert again.from_cache and again.text == "after POST"
    assert [s.method for s in origin.requests_to("/posted")] == ["POST"]
    other = origin.route("/elsewhere", Reply(200, {"Cache-Control": "max-age=60"}, b"x"))
    session.post(other, data=b"1")
    assert not session.get(other).from_cache  # no Content-Location of its own
