"""RFC 9111 behaviour through a real HTTP server on 127.0.0.1, end to end."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests
import time_machine

from httpcache import CachedSession, CacheStatus
from httpcache.caches.memory import DictCache
from httpcache.models import Entry
from httpcache.policy.directives import format_http_date
from tests.support.origin import Origin, Reply, Seen, counter_handler


@pytest.fixture
def session() -> CachedSession:
    return CachedSession(backend="memory")


def get_twice(session: CachedSession, url: str, **kw: object) -> tuple:
    return session.get(url, **kw), session.get(url, **kw)


# ---- freshness ---------------------------------------------------------------------


def test_max_age_fresh_hit(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/a", counter_handler({"Cache-Control": "max-age=60"}))
    first, second = get_twice(session, url)
    assert (first.text, second.text) == ("body 1", "body 1")
    assert (first.from_cache, second.from_cache) == (False, True)
    assert (first.cache_status, second.cache_status) == (CacheStatus.MISS, CacheStatus.HIT)
    assert origin.hits("/a") == 1


def test_expires_header(origin: Origin, session: CachedSession) -> None:
    with time_machine.travel(1_800_000_000, tick=False):
        expires = format_http_date(time.time() + 100)
        url = origin.route("/e", counter_handler({"Expires": expires}))
        assert session.get(url).text == "body 1"
        assert session.get(url).from_cache
    with time_machine.travel(1_800_000_000 + 101, tick=False):
        assert session.get(url).text == "body 2"


def test_age_header_shortens_freshness(origin: Origin, session: CachedSession) -> None:
    with time_machine.travel(1_800_000_000, tick=False):
        url = origin.route("/age", counter_handler({"Cache-Control": "max-age=100", "Age": "90"}))
        session.get(url)
    with time_machine.travel(1_800_000_000 + 5, tick=False):
        assert session.get(url).from_cache
    with time_machine.travel(1_800_000_000 + 11, tick=False):
        assert not session.get(url).from_cache


def test_stale_response_revalidated_with_etag(origin: Origin, session: CachedSession) -> None:
    def handler(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"v1"':
            return Reply(304, {"ETag": '"v1"', "Cache-Control": "max-age=10", "X-Fresh": "yes"})
        return Reply(200, {"ETag": '"v1"', "Cache-Control": "max-age=10"}, b"payload")

    url = origin.route("/etag", handler)
    with time_machine.travel(1_800_000_000, tick=False):
        session.get(url)
    with time_machine.travel(1_800_000_000 + 20, tick=False):
        again = session.get(url)
        assert again.text == "payload"
        assert again.revalidated and again.from_cache
        assert again.cache_status is CacheStatus.REVALIDATED
        assert again.headers["X-Fresh"] == "yes"  # §4.3.4: 304 fields merged
        assert session.get(url).cache_status is CacheStatus.HIT  # freshened
    assert [s.headers.get("if-none-match") for s in origin.requests_to("/etag")] == [None, '"v1"']


def test_last_modified_sends_if_modified_since(origin: Origin, session: CachedSession) -> None:
    last_modified = "Tue, 15 Nov 1994 12:45:26 GMT"

    def handler(seen: Seen) -> Reply:
        if seen.headers.get("if-modified-since") == last_modified:
            return Reply(304, {})
        return Reply(200, {"Last-Modified": last_modified}, b"doc")

    url = origin.route("/lm", handler)
    session.get(url)
    assert session.get(url).revalidated
    assert origin.requests_to("/lm")[1].headers["if-modified-since"] == last_modified


def test_changed_resource_replaces_entry(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/changing", counter_handler({"ETag": '"x"'}))
    assert session.get(url).text == "body 1"
    second = session.get(url)  # the origin ignores If-None-Match and sends 200
    assert second.text == "body 2" and second.cache_status is CacheStatus.EXPIRED
    assert len(session.cache) == 1


# ---- response directives -------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "stored"),
    [
        ("no-store, max-age=60", False),
        ("private, max-age=60", True),
        ("public, max-age=60", True),
        ("max-age=60, immutable", True),
        ("max-age=60, must-revalidate", True),
    ],
)
def test_response_directives_storage(
    origin: Origin, session: CachedSession, cache_control: str, stored: bool
) -> None:
    url = origin.route("/d", counter_handler({"Cache-Control": cache_control}))
    get_twice(session, url)
    assert origin.hits("/d") == (1 if stored else 2)


def test_no_cache_response_revalidates_every_time(origin: Origin, session: CachedSession) -> None:
    def handler(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"n"':
            return Reply(304, {"ETag": '"n"'})
        return Reply(200, {"Cache-Control": "no-cache", "ETag": '"n"'}, b"n")

    url = origin.route("/nocache", handler)
    responses = [session.get(url) for _ in range(3)]
    assert [r.text for r in responses] == ["n", "n", "n"]
    assert [r.revalidated for r in responses] == [False, True, True]
    assert origin.hits("/nocache") == 3


def test_must_revalidate_never_serves_stale_on_error(origin: Origin) -> None:
    session = CachedSession(backend="memory", stale_if_error=True)
    state = {"fail": False}

    def handler(_seen: Seen) -> Reply:
        if state["fail"]:
            return Reply(503, {}, b"down")
        return Reply(200, {"Cache-Control": "max-age=1, must-revalidate"}, b"ok")

    url = origin.route("/mr", handler)
    with time_machine.travel(1_800_000_000, tick=False):
        session.get(url)
    state["fail"] = True
    with time_machine.travel(1_800_000_000 + 30, tick=False):
        assert session.get(url).status_code == 503


def test_stale_if_error_directive_hides_5xx_and_network_errors(origin: Origin) -> None:
    session = CachedSession(backend="memory")
    state = {"fail": False}

    def handler(_seen: Seen) -> Reply:
        if state["fail"]:
            return Reply(500, {}, b"boom")
        return Reply(200, {"Cache-Control": "max-age=10, stale-if-error=100"}, b"good")

    url = origin.route("/sie", handler)
    with time_machine.travel(1_800_000_000, tick=False):
        session.get(url)
    state["fail"] = True
    with time_machine.travel(1_800_000_000 + 50, tick=False):
        stale = session.get(url)
        assert (stale.status_code, stale.text, stale.cache_status) == (200, "good", "stale")
    with time_machine.travel(1_800_000_000 + 500, tick=False):
        assert session.get(url).status_code == 500  # beyond the allowance
    origin.close()
    with time_machine.travel(1_800_000_000 + 50, tick=False):
        assert session.get(url, timeout=5).text == "good"  # connection refused: stale
    with (
        time_machine.travel(1_800_000_000 + 500, tick=False),
        pytest.raises(requests.ConnectionError),
    ):
        session.get(url, timeout=5)


def test_stale_while_revalidate_refreshes_in_background(origin: Origin) -> None:
    session = CachedSession(backend="memory")
    url = origin.route(
        "/swr", counter_handler({"Cache-Control": "max-age=10, stale-while-revalidate=100"})
    )
    with time_machine.travel(1_800_000_000, tick=False):
        session.get(url)
    with time_machine.travel(1_800_000_000 + 30, tick=False):
        stale = session.get(url)
        assert (stale.text, stale.cache_status) == ("body 1", CacheStatus.STALE)
        session.wait_for_background(timeout=10)
        fresh = session.get(url)
        assert (fresh.text, fresh.cache_status) == ("body 2", CacheStatus.HIT)
    assert origin.hits("/swr") == 2


def test_closing_waits_for_a_background_refresh(origin: Origin, tmp_path: Path) -> None:
    """The refresh stores into the cache: close() must not pull it from under it."""
    started, release = threading.Event(), threading.Event()
    answers = iter([b"body 1", b"body 2"])

    def slow_refresh(_seen: Seen) -> Reply:
        text = next(answers)
        if text == b"body 2":
            started.set()
            release.wait(10)
        return Reply(200, {"Cache-Control": "max-age=10, stale-while-revalidate=100"}, text)

    url = origin.route("/swr-close", slow_refresh)
    session = CachedSession(str(tmp_path / "swr.sqlite"), backend="sqlite")
    with time_machine.travel(1_800_000_000, tick=False):
        session.get(url)
    with time_machine.travel(1_800_000_000 + 30, tick=False):
        assert session.get(url).cache_status == CacheStatus.STALE
        assert started.wait(10)
        closer = threading.Thread(target=session.close)
        closer.start()
        closer.join(0.5)
        assert closer.is_alive()  # waiting for the refresh in flight
        release.set()
        closer.join(10)
        reopened = CachedSession(str(tmp_path / "swr.sqlite"), backend="sqlite")
        assert reopened.get(url, only_if_cached=True).text == "body 2"
        reopened.close()


# ---- request directives -------------------------------------------------------------------


def test_request_no_cache_and_pragma_revalidate(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/rq", counter_handler({"Cache-Control": "max-age=600"}))
    session.get(url)
    assert session.get(url, headers={"Cache-Control": "no-cache"}).text == "body 2"
    assert session.get(url, headers={"Pragma": "no-cache"}).text == "body 3"
    assert session.get(url).text == "body 3"


def test_request_max_age_min_fresh_max_stale(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/ages", counter_handler({"Cache-Control": "max-age=100"}))
    with time_machine.travel(1_800_000_000, tick=False):
        session.get(url)
    with time_machine.travel(1_800_000_000 + 50, tick=False):
        assert session.get(url, headers={"Cache-Control": "max-age=60"}).from_cache
        assert session.get(url, headers={"Cache-Control": "min-fresh=40"}).from_cache
        refetched = session.get(url, headers={"Cache-Control": "min-fresh=60"})
        assert refetched.text == "body 2"
    with time_machine.travel(1_800_000_000 + 50 + 150, tick=False):
        stale = session.get(url, headers={"Cache-Control": "max-stale=100"})
        assert (stale.text, stale.cache_status) == ("body 2", CacheStatus.STALE)
        assert session.get(url, headers={"Cache-Control": "max-age=0"}).text == "body 3"


def test_only_if_cached(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/oic", counter_handler({"Cache-Control": "max-age=60"}))
    miss = session.get(url, headers={"Cache-Control": "only-if-cached"})
    assert miss.status_code == 504 and not miss.from_cache
    assert origin.hits("/oic") == 0
    session.get(url)
    hit = session.get(url, only_if_cached=True)
    assert hit.status_code == 200 and hit.from_cache


def test_request_no_store_keeps_a_revalidation_answered_in_full_out(
    origin: Origin, session: CachedSession
) -> None:
    # A stale entry with a validator: the no-store request revalidates it, the
    # origin answers 200, and that response must not replace it (§5.2.1.5).
    url = origin.route("/nsr", counter_handler({"Cache-Control": "max-age=0", "ETag": '"v"'}))
    assert session.get(url).text == "body 1"
    answered = session.get(url, headers={"Cache-Control": "no-store"})
    assert answered.text == "body 2" and not answered.from_cache
    (stored,) = session.cache.entries()
    assert session.cache.read_body(stored.key) == b"body 1"


def test_request_no_store_is_not_stored(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/ns", counter_handler({"Cache-Control": "max-age=60"}))
    session.get(url, headers={"Cache-Control": "no-store"})
    assert len(session.cache) == 0


# ---- Vary -------------------------------------------------------------------------------


def test_vary_keeps_every_variant(origin: Origin, session: CachedSession) -> None:
    def handler(seen: Seen) -> Reply:
        accept = seen.headers.get("accept", "")
        return Reply(200, {"Cache-Control": "max-age=60", "Vary": "Accept"}, accept.encode())

    url = origin.route("/vary", handler)
    for _ in range(2):
        for accept in ("application/json", "text/html"):
            assert session.get(url, headers={"Accept": accept}).text == accept
    assert origin.hits("/vary") == 2
    assert len(session.cache) == 2


def test_vary_star_is_never_reused(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/star", counter_handler({"Cache-Control": "max-age=60", "Vary": "*"}))
    get_twice(session, url)
    assert origin.hits("/star") == 2


# ---- invalidation (§4.4) -----------------------------------------------------------------


def test_unsafe_request_invalidates(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/res", counter_handler({"Cache-Control": "max-age=600"}))
    session.get(url)
    session.post(url, data=b"change")
    assert session.get(url).text == "body 3"


def test_failed_unsafe_request_does_not_invalidate(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/keep", counter_handler({"Cache-Control": "max-age=600"}))
    session.get(url)
    origin.route("/keep", Reply(500, {}, b"no"))
    assert session.post(url, data=b"x").status_code == 500
    assert session.get(url).from_cache


# ---- credentials --------------------------------------------------------------------------


def test_different_credentials_never_share_a_response(
    origin: Origin, session: CachedSession
) -> None:
    def handler(seen: Seen) -> Reply:
        return Reply(200, {"Cache-Control": "max-age=60"}, seen.headers["authorization"].encode())

    url = origin.route("/me", handler)
    alice = {"Authorization": "Bearer alice-token"}
    bob = {"Authorization": "Bearer bob-token"}
    assert session.get(url, headers=alice).text == "Bearer alice-token"
    assert session.get(url, headers=bob).text == "Bearer bob-token"
    assert session.get(url, headers=alice).from_cache
    for entry in session.cache.entries():
        assert "token" not in repr(entry)


# ---- coalescing ----------------------------------------------------------------------------


def test_concurrent_identical_misses_make_one_request(origin: Origin) -> None:
    session = CachedSession(backend="memory")
    release = threading.Event()

    def slow(_seen: Seen) -> Reply:
        release.wait(10)
        return Reply(200, {"Cache-Control": "max-age=60"}, b"shared body")

    url = origin.route("/slow", slow)
    results: list[requests.Response] = []
    start = threading.Barrier(8)

    def fetch() -> None:
        start.wait()
        results.append(session.get(url, timeout=30))

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while origin.hits("/slow") < 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # wait for the leader's request to arrive; not a timing guess
    release.set()
    for t in threads:
        t.join(30)
    assert [r.text for r in results] == ["shared body"] * 8
    assert origin.hits("/slow") == 1
    assert sum(r.from_cache for r in results) == 7


def test_a_lone_miss_looks_in_storage_once(origin: Origin) -> None:
    """Only a request that waited for another's fetch needs a second lookup."""

    class CountingCache(DictCache):
        def __init__(self) -> None:
            super().__init__()
            self.lookups = 0

        def find(self, primary_key: str) -> list[Entry]:
            self.lookups += 1
            return super().find(primary_key)

    cache = CountingCache()
    session = CachedSession(backend=cache)
    url = origin.route("/lone", counter_handler({"Cache-Control": "max-age=60"}))
    assert not session.get(url).from_cache
    assert cache.lookups == 1
    assert session.get(url).from_cache
    assert cache.lookups == 2
    assert origin.hits("/lone") == 1


def test_qualified_no_cache_hides_fields_until_revalidated(
    origin: Origin, session: CachedSession
) -> None:
    headers = {"Cache-Control": 'max-age=60, no-cache="Set-Cookie"', "Set-Cookie": "sid=1"}
    url = origin.route("/qnc", counter_handler(headers))
    assert session.get(url).headers["Set-Cookie"] == "sid=1"
    hit = session.get(url)
    assert hit.from_cache and "Set-Cookie" not in hit.headers  # §5.2.2.4


def test_shared_cache_applies_the_authorization_rule(origin: Origin) -> None:
    shared = CachedSession(backend="memory", shared=True)
    plain = origin.route("/auth", counter_handler({"Cache-Control": "max-age=60"}))
    public = origin.route("/authpub", counter_handler({"Cache-Control": "public, max-age=60"}))
    auth = {"Authorization": "Bearer t"}
    for url in (plain, public):
        shared.get(url, headers=auth)
        shared.get(url, headers=auth)
    assert (origin.hits("/auth"), origin.hits("/authpub")) == (2, 1)  # §3.5
