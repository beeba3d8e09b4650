"""The examples from the documentation of CacheControl and requests-cache, unchanged but
for the import (and a local URL instead of a public one): people move their code over
by changing one line, so each example must behave as its own library documents it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import time_machine

import httpcache
from httpcache import NEVER_EXPIRE, CacheControl, CacheControlAdapter, CachedSession
from httpcache.caches import DictCache, FileCache, SeparateBodyFileCache
from httpcache.heuristics import BaseHeuristic, ExpiresAfter, LastModified
from tests.support.heuristics import OneWeekHeuristic  # the documented example
from tests.support.origin import Origin, Reply, Seen, counter_handler

PLAIN = {"Content-Type": "text/plain"}
CACHEABLE = {"Content-Type": "text/plain", "Cache-Control": "max-age=3600"}


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The examples name relative paths ('demo_cache', '.web_cache'): run them in a tmp dir."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def no_installed_cache() -> Iterator[None]:
    yield
    httpcache.uninstall_cache()


# ---- CacheControl's documentation ---------------------------------------------------------


def test_cachecontrol_wrapper(origin: Origin) -> None:
    # sess = requests.session(); cached_sess = CacheControl(sess)
    url = origin.route("/page", counter_handler(CACHEABLE))
    sess = requests.session()
    cached_sess = CacheControl(sess)
    first = cached_sess.get(url)
    second = cached_sess.get(url)
    assert cached_sess is sess
    assert second.content == first.content == b"body 1"
    assert origin.hits("/page") == 1


def test_cachecontrol_adapter_mounted_on_a_prefix(origin: Origin) -> None:
    # sess.mount('http://', CacheControlAdapter()) -- here on one prefix only
    cached = origin.route("/api/x", counter_handler(CACHEABLE))
    other = origin.route("/other", counter_handler(CACHEABLE))
    sess = requests.Session()
    sess.mount(origin.base + "/api/", CacheControlAdapter(DictCache()))
    for _ in range(2):
        sess.get(cached)
        sess.get(other)
    assert origin.hits("/api/x") == 1
    assert origin.hits("/other") == 2  # outside the prefix: plain requests


def test_cachecontrol_file_caches(origin: Origin, in_tmp: Path) -> None:
    # CacheControl(requests.Session(), cache=FileCache('.web_cache'))
    url = origin.route("/file", counter_handler(CACHEABLE))
    for cache in (FileCache(".web_cache"), SeparateBodyFileCache(".web_cache_separate")):
        sess = CacheControl(requests.Session(), cache=cache)
        assert sess.get(url).content == sess.get(url).content
    assert origin.hits("/file") == 2  # one per cache
    assert (in_tmp / ".web_cache").is_dir() and (in_tmp / ".web_cache_separate").is_dir()


def test_cachecontrol_custom_heuristic_subclass(origin: Origin) -> None:
    url = origin.route("/week", counter_handler(PLAIN))
    sess = CacheControl(requests.Session(), heuristic=OneWeekHeuristic())
    sess.get(url)
    second = sess.get(url)
    assert second.from_cache
    assert origin.hits("/week") == 1


def test_cachecontrol_heuristic_makes_an_uncacheable_response_cacheable(origin: Origin) -> None:
    # The docs' case for OneWeekHeuristic: a server that says "private, max-age=0" and
    # "Expires: -1". The heuristic rewrites those fields before they are judged, and the
    # caller sees its fields and warning() on the miss already.
    headers = {**PLAIN, "Cache-Control": "private, max-age=0", "Expires": "-1"}
    url = origin.route("/uncacheable", counter_handler(headers))
    sess = CacheControl(requests.Session(), heuristic=OneWeekHeuristic())
    first = sess.get(url)
    second = sess.get(url)
    assert origin.hits("/uncacheable") == 1 and second.from_cache
    for response in (first, second):
        assert response.headers["Cache-Control"] == "public"
        assert response.headers["Warning"] == '110 - "Automatically cached! Response is Stale."'
    assert second.text == first.text == "body 1"


def test_cachecontrol_heuristic_fields_reach_responses_not_stored(origin: Origin) -> None:
    class Marks(BaseHeuristic):
        def update_headers(self, response: requests.Response) -> dict[str, str]:
            return {"x-dummy-header": "foobar"}

    url = origin.route("/plain", counter_handler(PLAIN))
    sess = CacheControl(requests.Session(), heuristic=Marks())
    for response in (sess.get(url), sess.get(url)):
        assert response.headers["x-dummy-header"] == "foobar"
        assert response.headers["Warning"] == '110 - "Response is Stale"'  # CacheControl's
        assert not response.from_cache  # no freshness, no validator: not kept
    assert origin.hits("/plain") == 2


def test_cachecontrol_heuristic_never_stores_no_store(origin: Origin) -> None:
    url = origin.route("/secret", counter_handler({**PLAIN, "Cache-Control": "no-store"}))
    sess = CacheControl(requests.Session(), heuristic=OneWeekHeuristic())
    sess.get(url)
    assert not sess.get(url).from_cache
    assert origin.hits("/secret") == 2


def test_cachecontrol_expires_after_and_one_day_cache(origin: Origin) -> None:
    # CacheControl(sess, heuristic=ExpiresAfter(days=1)) / heuristic=OneDayCache()
    from httpcache.heuristics import OneDayCache

    headers = {**PLAIN, "Cache-Control": "max-age=0"}
    for path, heuristic in (("/after", ExpiresAfter(days=1)), ("/oneday", OneDayCache())):
        url = origin.route(path, counter_handler(headers))
        sess = CacheControl(requests.Session(), heuristic=heuristic)
        first = sess.get(url)
        assert first.headers["Cache-Control"] == "public" and "Expires" in first.headers
        assert sess.get(url).from_cache
        assert origin.hits(path) == 1


@pytest.mark.parametrize("heuristic", [ExpiresAfter(days=1), LastModified()])
def test_cachecontrol_builtin_heuristics(origin: Origin, heuristic: BaseHeuristic) -> None:
    headers = {**PLAIN, "Last-Modified": "Mon, 01 Jan 2001 00:00:00 GMT"}
    url = origin.route("/h", counter_handler(headers))
    sess = CacheControl(requests.Session(), heuristic=heuristic)
    sess.get(url)
    assert sess.get(url).from_cache
    assert origin.hits("/h") == 1


def test_cachecontrol_cache_etags_false(origin: Origin) -> None:
    # cache_etags=False: an entry with only an ETag and no freshness is not kept, so
    # no conditional request is made (CacheControl's time-priority mode).
    url = origin.route("/etag", Reply(200, {**PLAIN, "ETag": '"v1"'}, b"tagged"))
    sess = CacheControl(requests.Session(), cache_etags=False)
    sess.get(url)
    sess.get(url)
    assert origin.hits("/etag") == 2
    assert all("if-none-match" not in seen.headers for seen in origin.requests_to("/etag"))
    with_etags = CacheControl(requests.Session())
    with_etags.get(url)
    with_etags.get(url)
    assert origin.requests_to("/etag")[-1].headers.get("if-none-match") == '"v1"'


@pytest.mark.parametrize("status", [301, 308])
def test_cachecontrol_follows_a_permanent_redirect_from_the_cache(
    origin: Origin, status: int
) -> None:
    # CacheControl keeps a 301 (or 308) without caching headers of its own.
    origin.route("/old", Reply(status, {"Location": "/new"}, b"See: /new"))
    origin.route("/new", counter_handler(CACHEABLE))
    sess = CacheControl(requests.Session())
    first = sess.get(origin.url("/old"))
    again = sess.get(origin.url("/old"))
    assert again.text == first.text == "body 1"
    assert [r.status_code for r in again.history] == [status] and again.history[0].from_cache
    assert (origin.hits("/old"), origin.hits("/new")) == (1, 1)
    plain = CachedSession(backend="memory")  # httpcache's own default: RFC 9111 alone
    plain.get(origin.url("/old"))
    plain.get(origin.url("/old"))
    assert origin.hits("/old") == 3


def test_cachecontrol_cache_etags_false_is_time_priority(origin: Origin) -> None:
    # A response with freshness and an ETag is kept; once stale, the next request
    # carries If-None-Match, and a 304 serves the stored body with its own fields and
    # makes the entry fresh again.
    def handler(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"v1"':
            return Reply(304, {"ETag": '"v1"', "Cache-Control": "max-age=60", "X-Seen": "304"})
        return Reply(200, {**PLAIN, "ETag": '"v1"', "Cache-Control": "max-age=60"}, b"kept")

    url = origin.route("/timed", handler)
    sess = CacheControl(requests.Session(), cache_etags=False)
    with time_machine.travel(1_800_000_000, tick=False):
        sess.get(url)
        assert sess.get(url).from_cache
    with time_machine.travel(1_800_000_000 + 61, tick=False):
        revalidated = sess.get(url)
        assert revalidated.text == "kept" and revalidated.headers["X-Seen"] == "304"
        assert sess.get(url).from_cache  # fresh again
    sent = [seen.headers.get("if-none-match") for seen in origin.requests_to("/timed")]
    assert sent == [None, '"v1"']


# ---- requests-cache's documentation ---------------------------------------------------------


def test_requests_cache_quickstart(origin: Origin, in_tmp: Path) -> None:
    # session = requests_cache.CachedSession('demo_cache'); session.get(...) in a loop
    url = origin.route("/delay/1", counter_handler(CACHEABLE))
    session = CachedSession("demo_cache")
    responses = [session.get(url) for _ in range(5)]
    assert origin.hits("/delay/1") == 1
    assert [r.from_cache for r in responses] == [False, True, True, True, True]
    assert (in_tmp / "demo_cache.sqlite").exists()  # SQLite in the working folder


def test_headerless_responses_follow_the_rfc_unless_cache_control_is_off(origin: Origin) -> None:
    # The one documented difference: requests-cache keeps a response without caching
    # headers forever by default; httpcache honours the headers (RFC 9111 §4.2: no
    # freshness information means stale), and cache_control=False or an expire_after
    # gives requests-cache's behaviour back.
    url = origin.route("/bare", counter_handler(PLAIN))
    rfc = CachedSession(backend="memory")
    rfc.get(url)
    assert not rfc.get(url).from_cache
    legacy = CachedSession(backend="memory", cache_control=False)
    legacy.get(url)
    assert legacy.get(url).from_cache
    assert legacy.get(url).expires is None  # kept forever, as requests-cache does
    timed = CachedSession(backend="memory", expire_after=60)
    timed.get(url)
    assert timed.get(url).from_cache
    assert origin.hits("/bare") == 4


def test_requests_cache_install_cache(origin: Origin, in_tmp: Path, no_installed_cache: None):
    # requests_cache.install_cache('demo_cache'); requests.get(...); disabled(); uninstall
    url = origin.route("/global", counter_handler(CACHEABLE))
    httpcache.install_cache("demo_cache", backend="memory")
    assert httpcache.is_installed()
    requests.get(url)
    assert requests.get(url).from_cache
    assert origin.hits("/global") == 1
    with httpcache.disabled():
        assert not hasattr(requests.get(url), "from_cache")
    assert origin.hits("/global") == 2
    assert requests.get(url).from_cache  # installed again after the block
    cache = httpcache.get_cache()
    assert cache is not None and len(list(cache.entries())) == 1
    httpcache.clear()
    assert list(cache.entries()) == []
    httpcache.uninstall_cache()
    assert not httpcache.is_installed()
    requests.get(url)
    requests.get(url)
    assert origin.hits("/global") == 4  # plain requests again


def test_requests_cache_enabled_block(origin: Origin, no_installed_cache: None) -> None:
    url = origin.route("/block", counter_handler(CACHEABLE))
    with httpcache.enabled("block_cache", backend="memory"):
        requests.get(url)
        assert requests.get(url).from_cache
    assert not httpcache.is_installed()
    assert origin.hits("/block") == 1


def test_requests_cache_expire_after_and_urls_expire_after(origin: Origin) -> None:
    static = origin.route("/static/logo", counter_handler(PLAIN))
    fast = origin.route("/resource_1", counter_handler(PLAIN))
    urls_expire_after = {
        f"127.0.0.1:{origin.server.server_address[1]}/static": NEVER_EXPIRE,
        "*/resource_1": 60 * 2,
    }
    session = CachedSession(
        backend="memory", expire_after=timedelta(days=1), urls_expire_after=urls_expire_after
    )
    assert session.get(static).expires is None  # never
    entry = session.get(fast)
    assert entry.expires is not None and entry.created_at is not None
    assert abs((entry.expires - entry.created_at).total_seconds() - 120) < 1
    assert session.get(static).from_cache and session.get(fast).from_cache
    session.settings.expire_after = 360  # documented: settings can change later
    assert session.expire_after == 360


def test_requests_cache_allowable_methods_post(origin: Origin) -> None:
    url = origin.route("/search", counter_handler(CACHEABLE))
    session = CachedSession(backend="memory", allowable_methods=("GET", "POST"))
    session.post(url, json={"q": "cats", "page": 1})
    assert session.post(url, json={"page": 1, "q": "cats"}).from_cache  # same body
    assert not session.post(url, json={"q": "dogs"}).from_cache
    assert origin.hits("/search") == 2


def test_requests_cache_ignored_parameters(origin: Origin) -> None:
    url = origin.route("/data", counter_handler(CACHEABLE))
    session = CachedSession(backend="memory", ignored_parameters=["api_key"])
    session.get(url, params={"q": "x", "api_key": "one"})
    hit = session.get(url, params={"q": "x", "api_key": "two"})
    assert hit.from_cache and origin.hits("/data") == 1
    stored = session.cache.get(hit.cache_key)
    assert stored is not None and "one" not in stored.request.url


def test_requests_cache_match_headers(origin: Origin) -> None:
    url = origin.route("/lang", counter_handler(CACHEABLE))
    session = CachedSession(backend="memory", match_headers=["Accept-Language"])
    session.get(url, headers={"Accept-Language": "en"})
    assert not session.get(url, headers={"Accept-Language": "fr"}).from_cache
    assert session.get(url, headers={"Accept-Language": "en"}).from_cache
    assert origin.hits("/lang") == 2


def test_requests_cache_cache_disabled_and_delete(origin: Origin) -> None:
    url = origin.route("/d", counter_handler(CACHEABLE))
    session = CachedSession(backend="memory")
    session.get(url)
    with session.cache_disabled():
        assert not session.get(url).from_cache
    assert session.get(url).from_cache
    assert session.cache.delete(urls=[url]) == 1
    assert not session.get(url).from_cache
    assert origin.hits("/d") == 3


# ---- README: "Coming from requests-cache" and "Coming from CacheControl" -----------------


def test_readme_coming_from_requests_cache(origin: Origin) -> None:
    from httpcache import CachedResponse

    url = origin.route("/coming", counter_handler({"Content-Type": "text/plain"}))
    session = CachedSession("demo", backend="memory", cache_control=False, expire_after=600)
    session.get(url)
    assert isinstance(session.get(url), CachedResponse)
    assert session.cache.urls() == [url]
    assert origin.hits("/coming") == 1


def test_readme_coming_from_cachecontrol(
    origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from filelock import SoftFileLock

    from httpcache.caches.file_cache import FileCache as DocumentedFileCache

    monkeypatch.chdir(tmp_path)
    url = origin.route("/cc", counter_handler(CACHEABLE))
    sess = CacheControl(
        requests.Session(), cache=DocumentedFileCache(".web_cache", lock_class=SoftFileLock)
    )
    sess.get(url)
    assert sess.get(url).from_cache
    assert (tmp_path / ".web_cache").is_dir()
    assert origin.hits("/cc") == 1
