"""The caller's options (the contract's list), each through a real local server."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import requests
import time_machine

from httpcache import (
    DO_NOT_CACHE,
    EXPIRE_IMMEDIATELY,
    NEVER_EXPIRE,
    BackendNotAvailableError,
    CacheControl,
    CachedSession,
    CacheMixin,
    CacheStatus,
    ConfigurationError,
    DictCache,
    LastModified,
    StorageError,
    create_key,
)
from httpcache.keys import REDACTED
from tests.support.origin import Origin, Reply, Seen, counter_handler

T0 = 1_800_000_000
PLAIN = {"Content-Type": "text/plain"}  # no caching headers at all


def at(seconds: float) -> time_machine.travel:
    return time_machine.travel(T0 + seconds, tick=False)


# ---- expire_after ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expire_after", "fresh_at", "stale_at"),
    [
        (60, 59, 61),
        (60.5, 60, 61),
        (timedelta(minutes=2), 119, 121),
        ("90s", 89, 91),
        ("15m", 899, 901),
        ("2h30m", 9_000 - 1, 9_000 + 1),
        ("1d", 86_399, 86_401),
        ("1w", 604_799, 604_801),
        (datetime.fromtimestamp(T0 + 300, UTC), 299, 301),
    ],
)
def test_expire_after_forms(
    origin: Origin, expire_after: object, fresh_at: int, stale_at: int
) -> None:
    session = CachedSession(backend="memory", expire_after=expire_after)
    url = origin.route("/x", counter_handler(PLAIN))
    with at(0):
        session.get(url)
    with at(fresh_at):
        assert session.get(url).from_cache
    with at(stale_at):
        assert session.get(url).text == "body 2"


@pytest.mark.parametrize("never", [None, NEVER_EXPIRE, -1, "never"])
def test_never_expire(origin: Origin, never: object) -> None:
    session = CachedSession(backend="memory", expire_after=never)
    url = origin.route("/n", counter_handler({"Cache-Control": "max-age=1"}))
    with at(0):
        first = session.get(url)
        assert first.expires is None
    with at(10 * 365 * 86_400):
        assert session.get(url).from_cache


def test_expire_immediately_stores_and_revalidates(origin: Origin) -> None:
    session = CachedSession(backend="memory", expire_after=EXPIRE_IMMEDIATELY)

    def handler(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"e"':
            return Reply(304, {"ETag": '"e"'})
        return Reply(200, {"ETag": '"e"'}, b"etagged")

    url = origin.route("/ei", handler)
    session.get(url)
    assert session.get(url).revalidated
    assert len(session.cache) == 1


def test_do_not_cache(origin: Origin) -> None:
    session = CachedSession(backend="memory", expire_after=DO_NOT_CACHE)
    url = origin.route("/dnc", counter_handler({"Cache-Control": "max-age=60"}))
    first, second = session.get(url), session.get(url)
    assert (first.text, second.text) == ("body 1", "body 2")
    assert second.cache_status is CacheStatus.BYPASS
    assert len(session.cache) == 0


def test_expire_after_outranks_headers_but_not_request_directives(origin: Origin) -> None:
    session = CachedSession(backend="memory", expire_after=3600)
    url = origin.route("/p", counter_handler({"Cache-Control": "max-age=1"}))
    with at(0):
        session.get(url)
    with at(100):
        assert session.get(url).from_cache  # expire_after replaces max-age=1
        assert not session.get(url, headers={"Cache-Control": "no-cache"}).from_cache


def test_per_request_expire_after(origin: Origin) -> None:
    session = CachedSession(backend="memory", expire_after=10)
    url = origin.route("/r", counter_handler(PLAIN))
    with at(0):
        first = session.get(url, expire_after=1000)
        assert first.expires == datetime.fromtimestamp(T0 + 1000, UTC)
    with at(500):
        assert session.get(url, expire_after=1000).from_cache
        assert not session.get(url).from_cache  # the session's 10 s applies again


def test_expire_after_chosen_when_stored_holds_for_the_next_session(origin: Origin) -> None:
    # `hc get URL --expire-after 1d`, then `hc get URL`: kept exactly as long as said,
    # longer than the headers (none here) and shorter than them (max-age=3600).
    cache = DictCache()
    longer = origin.route("/longer", counter_handler(PLAIN))
    shorter = origin.route("/shorter", counter_handler({"Cache-Control": "max-age=3600"}))
    with at(0):
        CachedSession(backend=cache, expire_after="1d").get(longer)
        CachedSession(backend=cache, expire_after=10).get(shorter)
    later = CachedSession(backend=cache)  # says nothing about expiration
    with at(100):
        assert later.get(longer).from_cache
        assert not later.get(shorter).from_cache  # the caller's 10 s, not max-age=3600
    with at(86_401):
        assert not later.get(longer).from_cache
    assert origin.hits("/longer") == 2


def test_revalidation_keeps_the_lifetime_the_caller_chose(origin: Origin) -> None:
    cache = DictCache()
    url = origin.route(
        "/tagged",
        lambda seen: (
            Reply(304, {"ETag": '"v1"'})
            if seen.headers.get("if-none-match") == '"v1"'
            else Reply(200, {**PLAIN, "ETag": '"v1"'}, b"tagged")
        ),
    )
    with at(0):
        CachedSession(backend=cache, expire_after=60).get(url)
    later = CachedSession(backend=cache)
    with at(100):
        revalidated = later.get(url)
        assert revalidated.revalidated and revalidated.content == b"tagged"
    with at(150):
        assert later.get(url).from_cache  # 60 s again from the 304, not the headers' 0
    assert origin.hits("/tagged") == 2


def test_urls_expire_after_first_match_wins(origin: Origin) -> None:
    host = origin.base.split("://")[1]
    session = CachedSession(
        backend="memory",
        expire_after=5,
        urls_expire_after={
            f"{host}/static": NEVER_EXPIRE,
            "*/api/v1/*": 60,
            f"{host}/api": 1000,
            f"{host}/private": DO_NOT_CACHE,
        },
    )
    urls = {
        p: origin.route(p, counter_handler(PLAIN))
        for p in ("/static/a", "/api/v1/b", "/private", "/x")
    }
    with at(0):
        for url in urls.values():
            session.get(url)
    with at(30):
        assert session.get(urls["/static/a"]).from_cache
        assert session.get(urls["/api/v1/b"]).from_cache
        assert not session.get(urls["/x"]).from_cache  # the session's 5 s
        assert not session.get(urls["/private"]).from_cache
    with at(100):
        assert not session.get(urls["/api/v1/b"]).from_cache  # 60, not the later 1000
        assert session.get(urls["/static/a"]).from_cache


@pytest.mark.parametrize("bad", ["soon", "5x", -5, [1]])
def test_bad_expiration_is_a_clear_error(bad: object) -> None:
    with pytest.raises(ConfigurationError, match=r"expire_after|duration"):
        CachedSession(backend="memory", expire_after=bad)


# ---- per-request flags ---------------------------------------------------------------------


def test_refresh_revalidates_and_force_refresh_ignores(origin: Origin) -> None:
    session = CachedSession(backend="memory")

    def handler(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"f"':
            return Reply(304, {"ETag": '"f"'})
        return Reply(200, {"ETag": '"f"', "Cache-Control": "max-age=600"}, b"f")

    url = origin.route("/flags", handler)
    session.get(url)
    refreshed = session.get(url, refresh=True)
    assert refreshed.revalidated and refreshed.text == "f"
    forced = session.get(url, force_refresh=True)
    assert not forced.from_cache and forced.cache_status is CacheStatus.BYPASS
    seen = [s.headers.get("if-none-match") for s in origin.requests_to("/flags")]
    assert seen == [None, '"f"', None]


def test_cache_disabled_block(origin: Origin) -> None:
    session = CachedSession(backend="memory")
    url = origin.route("/cd", counter_handler({"Cache-Control": "max-age=60"}))
    session.get(url)
    with session.cache_disabled():
        assert session.get(url).text == "body 2"
    assert session.get(url).text == "body 1"


# ---- cache_control=False, methods, codes ---------------------------------------------------


def test_cache_control_false_keeps_everything_for_expire_after(origin: Origin) -> None:
    session = CachedSession(backend="memory", cache_control=False, expire_after=60)
    url = origin.route("/ccf", counter_handler({"Cache-Control": "no-store"}))
    with at(0):
        session.get(url)
        assert session.get(url).from_cache
    with at(61):
        assert not session.get(url).from_cache


def test_allowable_methods_post_keyed_by_body(origin: Origin) -> None:
    session = CachedSession(backend="memory", allowable_methods=("GET", "POST"), expire_after=60)
    url = origin.route("/search", counter_handler(PLAIN))
    assert session.post(url, json={"q": "a", "page": 1}).text == "body 1"
    assert session.post(url, json={"page": 1, "q": "a"}).from_cache  # same body, other order
    assert session.post(url, json={"q": "b"}).text == "body 2"
    assert session.post(url, data=b"a").text == "body 3"
    assert session.post(url, data=b"a").from_cache


def test_allowable_codes(origin: Origin) -> None:
    default = CachedSession(backend="memory")
    url = origin.route("/gone", counter_handler({"Cache-Control": "max-age=60"}, status=404))
    default.get(url)
    assert default.get(url).from_cache  # 404 is cacheable by default (RFC 9110 §15.1)
    only_ok = CachedSession(backend="memory", allowable_codes=(200,))
    only_ok.get(url)
    assert not only_ok.get(url).from_cache


# ---- keys: ignored_parameters, match_headers, key_fn -------------------------------------


def test_ignored_parameters_leave_the_key_and_storage(origin: Origin) -> None:
    session = CachedSession(
        backend="memory", expire_after=60, ignored_parameters=["api_key", "X-Trace"]
    )
    url = origin.route("/ip", counter_handler(PLAIN))
    session.get(url, params={"q": "1", "api_key": "SECRET-1"}, headers={"x-trace": "t1"})
    second = session.get(url, params={"api_key": "SECRET-2", "q": "1"}, headers={"X-Trace": "t2"})
    assert second.from_cache
    [info] = session.cache.entries()
    entry = session.cache.get(info.key)  # the whole entry: a listing has no headers
    assert entry is not None
    assert "SECRET" not in entry.url and f"api_key={REDACTED}" in entry.url
    assert entry.request.headers["X-Trace"] == REDACTED
    assert "SECRET" not in repr(entry)


def test_default_ignored_parameters_redact_credentials(origin: Origin) -> None:
    session = CachedSession(backend="memory", expire_after=60)
    url = origin.route("/cred", counter_handler(PLAIN))
    session.get(
        url,
        params={"access_token": "TOK"},
        headers={"Authorization": "Bearer TOK", "Cookie": "s=TOK"},
    )
    [entry] = session.cache.entries()
    assert "TOK" not in repr(entry)


def test_debug_log_redacts_secret_parameters(
    origin: Origin, caplog: pytest.LogCaptureFixture
) -> None:
    session = CachedSession(backend="memory", expire_after=60, ignored_parameters=["api_key"])
    url = origin.route("/logged", counter_handler(PLAIN))
    with caplog.at_level(logging.DEBUG, logger="httpcache"):
        session.get(url, params={"api_key": "SENTINEL-KEY", "q": "1"})
        session.get(url, params={"api_key": "SENTINEL-KEY", "q": "1"})
    lines = [record.getMessage() for record in caplog.records]
    assert any("/logged" in line and "q=1" in line for line in lines)  # the URL is logged
    assert not any("SENTINEL-KEY" in line for line in lines)


def test_match_headers(origin: Origin) -> None:
    url = origin.route("/mh", counter_handler(PLAIN))
    listed = CachedSession(backend="memory", expire_after=60, match_headers=["Accept-Language"])
    listed.get(url, headers={"Accept-Language": "en"})
    assert not listed.get(url, headers={"Accept-Language": "fr"}).from_cache
    assert listed.get(url, headers={"Accept-Language": "en", "X-Other": "1"}).from_cache
    every = CachedSession(backend="memory", expire_after=60, match_headers=True)
    every.get(url, headers={"X-Other": "1"})
    assert not every.get(url, headers={"X-Other": "2"}).from_cache


def test_key_fn(origin: Origin) -> None:
    def path_only(request: requests.PreparedRequest, **kwargs: object) -> str:
        return request.path_url.split("?")[0]

    session = CachedSession(backend="memory", expire_after=60, key_fn=path_only)
    url = origin.route("/kf", counter_handler(PLAIN))
    session.get(url, params={"a": 1})
    hit = session.get(url, params={"b": 2})
    assert hit.from_cache and hit.cache_key == "/kf"


def test_public_create_key_accepts_prepared_requests() -> None:
    prepared = requests.Request("GET", "http://h.test/a?b=1&a=2").prepare()
    reordered = requests.Request("GET", "http://H.test:80/a?a=2&b=1").prepare()
    assert create_key(prepared) == create_key(reordered)


def test_filter_fn(origin: Origin) -> None:
    session = CachedSession(
        backend="memory", expire_after=60, filter_fn=lambda r: b"cache me" in r.content
    )
    yes = origin.route("/yes", Reply(200, PLAIN, b"please cache me"))
    no = origin.route("/no", Reply(200, PLAIN, b"leave me"))
    for url in (yes, no, yes, no):
        session.get(url)
    assert (origin.hits("/yes"), origin.hits("/no")) == (1, 2)


# ---- stale_if_error, stale_while_revalidate, heuristics, cache_etags options -------------


def test_stale_if_error_option(origin: Origin) -> None:
    session = CachedSession(backend="memory", expire_after=10, stale_if_error=True)
    state = {"fail": False}

    def handler(_seen: Seen) -> Reply:
        return Reply(502, {}, b"bad gateway") if state["fail"] else Reply(200, PLAIN, b"kept")

    url = origin.route("/sieo", handler)
    with at(0):
        session.get(url)
    state["fail"] = True
    with at(10_000):
        stale = session.get(url)
        assert (stale.text, stale.cache_status, stale.is_expired) == ("kept", "stale", True)


def test_stale_while_revalidate_option(origin: Origin) -> None:
    session = CachedSession(backend="memory", expire_after=10, stale_while_revalidate="5m")
    url = origin.route("/swro", counter_handler(PLAIN))
    with at(0):
        session.get(url)
    with at(20):
        assert session.get(url).cache_status is CacheStatus.STALE
        session.wait_for_background(10)
        assert session.get(url).text == "body 2"


def test_heuristic_option(origin: Origin) -> None:
    session = CachedSession(backend="memory", heuristic=LastModified())
    last_modified = "Mon, 01 Jan 2024 00:00:00 GMT"
    url = origin.route("/h", counter_handler({"Last-Modified": last_modified}))
    with at(0):
        session.get(url)
        hit = session.get(url)
        assert hit.from_cache and hit.cache_status is CacheStatus.HIT  # no revalidation needed


class DuckWeek:
    """A heuristic that is not a BaseHeuristic (written against another library's)."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def update_headers(self, response: object) -> dict[str, str]:
        self.seen.append(response.status)  # type: ignore[attr-defined]
        return {"cache-control": "public, max-age=604800"}

    def warning(self, response: object) -> str:
        return '110 - "duck"'


@pytest.mark.parametrize("face", ["session", "adapter"])
def test_heuristic_option_takes_any_object_with_update_headers(origin: Origin, face: str) -> None:
    duck = DuckWeek()
    url = origin.route(f"/duck/{face}", counter_handler(PLAIN))
    if face == "session":
        session: requests.Session = CachedSession(backend="memory", heuristic=duck)
    else:
        session = CacheControl(requests.Session(), heuristic=duck)  # type: ignore[arg-type]
    if face == "adapter":
        adapter = session.get_adapter(url)
        assert adapter.heuristic is duck  # type: ignore[attr-defined]  # CacheControl's
        assert adapter.cacheable_methods == ("GET",)  # type: ignore[attr-defined]
    first, second = session.get(url), session.get(url)
    assert duck.seen == [200]  # called on the miss; the hit is fresh by what it wrote
    assert second.from_cache and origin.hits(f"/duck/{face}") == 1
    assert first.headers["Warning"] == second.headers["Warning"] == '110 - "duck"'


@pytest.mark.parametrize("bad", [object(), "LastModified", 3])
def test_heuristic_without_update_headers_names_the_option(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="heuristic"):
        CachedSession(backend="memory", heuristic=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="heuristic"):
        CacheControl(requests.Session(), heuristic=bad)  # type: ignore[arg-type]


def test_a_heuristic_returning_no_mapping_names_the_option(origin: Origin) -> None:
    class Odd:
        def update_headers(self, response: object) -> list[str]:
            return ["max-age=60"]

    session = CachedSession(backend="memory", heuristic=Odd())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="heuristic"):
        session.get(origin.route("/odd", counter_handler(PLAIN)))


def test_cache_etags_false(origin: Origin) -> None:
    session = CachedSession(backend="memory", cache_etags=False)
    url = origin.route("/noetag", counter_handler({"ETag": '"z"'}))
    session.get(url)
    session.get(url)
    assert all("if-none-match" not in s.headers for s in origin.requests_to("/noetag"))
    assert len(session.cache) == 0


# ---- response attributes and inspection ------------------------------------------------------


def test_response_attributes(origin: Origin) -> None:
    session = CachedSession(backend="memory")
    url = origin.route("/attrs", counter_handler({"Cache-Control": "max-age=100"}))
    with at(0):
        miss = session.get(url)
        hit = session.get(url)
    assert (miss.from_cache, hit.from_cache) == (False, True)
    assert hit.created_at == datetime.fromtimestamp(T0, UTC)
    assert hit.expires == datetime.fromtimestamp(T0 + 100, UTC)
    assert hit.is_expired is False and hit.revalidated is False
    assert hit.cache_key == miss.cache_key and session.cache.contains(key=hit.cache_key)
    assert hit.cache_status == "hit" and miss.cache_status == "miss"


def test_inspection_api_on_memory(origin: Origin) -> None:
    session = CachedSession(backend="memory")
    with at(0):
        for path, age in (("/i/1", 10), ("/i/2", 1000), ("/j/3", 1000)):
            session.get(origin.route(path, counter_handler({"Cache-Control": f"max-age={age}"})))
    with at(100):
        assert {
            e.url.rsplit("/", 2)[-2] + "/" + e.url.rsplit("/", 1)[-1]
            for e in session.cache.entries(url="*/i/*")
        } == {"i/1", "i/2"}
        assert [e.url.endswith("/i/1") for e in session.cache.entries(expired=True)] == [True]
        stats = session.cache.stats()
        assert (stats.entries, stats.expired, stats.misses) == (3, 1, 3)
        assert session.remove_expired_responses() == 1
        assert session.cache.delete(urls=[origin.url("/j/3")]) == 1
        assert [e.url for e in session.cache.entries()] == [origin.url("/i/2")]
        assert session.cache.contains(url=origin.url("/i/2"))


# ---- backends, mixin, storage failures -------------------------------------------------------


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(BackendNotAvailableError, match="unknown backend 'mongo'"):
        CachedSession(backend="mongo")


def test_cache_mixin_on_a_session_subclass(origin: Origin) -> None:
    class MySession(CacheMixin, requests.Session):
        pass

    session = MySession(backend=DictCache(), expire_after=60)
    url = origin.route("/mix", counter_handler(PLAIN))
    session.get(url)
    assert session.get(url).from_cache


class BrokenCache(DictCache):
    """A store whose every read and write fails, as a dead disk or server would."""

    def find(self, primary_key: str) -> list:
        raise StorageError("disk on fire")

    def open_writer(self, entry: object) -> object:
        raise StorageError("disk on fire")


def test_storage_failure_degrades_to_the_network(
    origin: Origin, caplog: pytest.LogCaptureFixture
) -> None:
    session = CachedSession(backend=BrokenCache(), expire_after=60)
    url = origin.route("/broken", counter_handler(PLAIN))
    with caplog.at_level(logging.DEBUG, logger="httpcache"):
        responses = [session.get(url) for _ in range(3)]
    assert [r.text for r in responses] == ["body 1", "body 2", "body 3"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "disk on fire" in warnings[0].getMessage()
