"""requests-cache's options, keywords and backends on CachedSession, through the real origin."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import pytest
import requests

from httpcache import CachedSession, CacheStatus, ConfigurationError
from httpcache.caches import DictCache, FileCache, SQLiteCache
from tests.support.origin import Origin, Reply, Seen, counter_handler

ETAG_FRESH = {"ETag": '"v1"', "Cache-Control": "max-age=600"}


def etag_handler(headers: dict[str, str]) -> object:
    count = {"n": 0}

    def handle(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == headers["ETag"]:
            return Reply(304, dict(headers))
        count["n"] += 1
        return Reply(200, dict(headers), f"body {count['n']}".encode())

    return handle


# ---- old names ----------------------------------------------------------------------------


def test_include_get_headers_is_match_headers(origin: Origin) -> None:
    url = origin.route("/h", counter_handler({"Cache-Control": "max-age=600"}))
    session = CachedSession(backend="memory", include_get_headers=True)
    assert session.settings.match_headers is True
    assert session.settings.include_get_headers is True
    session.get(url, headers={"Accept": "a/x"})
    assert session.get(url, headers={"Accept": "a/x"}).from_cache
    assert not session.get(url, headers={"Accept": "b/y"}).from_cache
    assert origin.hits("/h") == 2


def test_old_data_on_error_is_stale_if_error(origin: Origin) -> None:
    state = {"fail": False}

    def handle(_seen: Seen) -> Reply:
        if state["fail"]:
            return Reply(500, {}, b"down")
        return Reply(200, {"Cache-Control": "max-age=0", "ETag": '"e"'}, b"kept")

    url = origin.route("/e", handle)
    session = CachedSession(backend="memory", old_data_on_error=True)
    assert session.settings.stale_if_error is True
    session.get(url)
    state["fail"] = True
    served = session.get(url)
    assert served.status_code == 200 and served.text == "kept"
    assert served.cache_status is CacheStatus.STALE


def test_max_cache_bytes_is_max_size(origin: Origin) -> None:
    url = origin.route("/big", Reply(200, {"Cache-Control": "max-age=600"}, b"x" * 4000))
    session = CachedSession(backend="memory", max_cache_bytes=6000)
    assert session.cache.max_size == 6000
    for n in range(3):
        session.get(f"{url}?n={n}")
    assert len(session.cache) == 1  # least recently used out first


def test_an_old_name_and_its_new_name_together_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="include_get_headers"):
        CachedSession(backend="memory", include_get_headers=True, match_headers=["Accept"])


# ---- always_revalidate, read_only, autoclose ----------------------------------------------


def test_always_revalidate_sends_a_conditional_request_each_time(origin: Origin) -> None:
    url = origin.route("/r", etag_handler(ETAG_FRESH))
    session = CachedSession(backend="memory", always_revalidate=True)
    assert session.get(url).text == "body 1"
    again = session.get(url)
    assert again.from_cache and again.revalidated and again.text == "body 1"
    assert [s.headers.get("if-none-match") for s in origin.requests_to("/r")] == [None, '"v1"']


def test_read_only_serves_what_is_stored_and_writes_nothing(origin: Origin) -> None:
    stored = origin.route("/stored", counter_handler({"Cache-Control": "max-age=600"}))
    new = origin.route("/new", counter_handler({"Cache-Control": "max-age=600"}))
    session = CachedSession(backend="memory")
    session.get(stored)
    session.settings.read_only = True
    assert session.get(stored).from_cache
    session.get(new)
    assert not session.get(new).from_cache
    assert not session.cache.contains(url=new)
    session.put(stored)  # an unsafe method removes nothing either
    assert session.get(stored).from_cache
    assert origin.hits("/new") == 2


def test_read_only_does_not_freshen_after_a_304(origin: Origin) -> None:
    url = origin.route("/f", etag_handler({"ETag": '"v1"', "Cache-Control": "max-age=0"}))
    session = CachedSession(backend="memory")
    session.get(url)
    before = session.cache.get(session.get(url).cache_key)
    session.settings.read_only = True
    answer = session.get(url)
    assert answer.revalidated and answer.text == "body 1"
    after = session.cache.get(answer.cache_key)
    assert before is not None and after is not None
    assert after.response_time == before.response_time


class ClosingCache(DictCache):
    closed = 0

    def close(self) -> None:
        self.closed += 1


def test_closing_the_session_closes_its_cache_unless_autoclose_is_false(origin: Origin) -> None:
    cache = ClosingCache()
    CachedSession(backend=cache).close()
    assert cache.closed == 1
    kept = ClosingCache()
    session = CachedSession(backend=kept, autoclose=False)
    session.close()
    assert kept.closed == 0
    session.settings.autoclose = True
    session.close()
    assert kept.closed == 1


# ---- per request ---------------------------------------------------------------------------


def test_per_request_expire_after_default_and_none(origin: Origin) -> None:
    url = origin.route("/d", counter_handler({}))  # no freshness of its own
    session = CachedSession(backend="memory", expire_after=600)
    first = session.get(url, expire_after="default")  # the session's 600 s
    assert first.expires is not None
    assert session.get(url, expire_after="default").from_cache
    forever = session.get(url + "?k=1", expire_after=None)
    assert forever.expires is None
    assert session.get(url + "?k=1", expire_after=None).from_cache
    with pytest.raises(ConfigurationError):
        session.get(url, expire_after="sometime")


# ---- storage-format keywords ----------------------------------------------------------------


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    from httpcache import _options

    monkeypatch.setattr(_options, "_warned", set())


@pytest.mark.usefixtures("fresh_warnings")
@pytest.mark.parametrize(
    ("keyword", "value", "why"),
    [
        ("serializer", "pickle", "msgpack"),
        ("decode_content", True, "bytes received"),
        ("content_root_key", "data", "bytes received"),
        ("fast_save", True, "crash"),
    ],
)
def test_format_keywords_without_meaning_log_one_warning(
    origin: Origin, caplog: pytest.LogCaptureFixture, keyword: str, value: object, why: str
) -> None:
    url = origin.route("/w", counter_handler({"Cache-Control": "max-age=600"}))
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        for _ in range(2):
            session = CachedSession(backend="memory", **{keyword: value})
            session.get(url)
            assert session.get(url).from_cache  # and the cache works as always
    lines = [r.getMessage() for r in caplog.records if keyword in r.getMessage()]
    assert len(lines) == 1 and why in lines[0]


@pytest.mark.usefixtures("fresh_warnings")
def test_sqlite_keywords_act(
    origin: Origin, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = origin.route("/s", counter_handler({"Cache-Control": "max-age=600"}))
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        session = CachedSession(str(tmp_path / "c"), backend="sqlite", busy_timeout=2500, wal=True)
    assert isinstance(session.cache, SQLiteCache)
    assert session.cache.busy_timeout == 2.5  # milliseconds, as requests-cache takes it
    session.get(url)
    assert session.get(url).from_cache
    assert not caplog.records  # wal=True is what SQLite does here anyway
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        CachedSession(str(tmp_path / "d"), backend="sqlite", wal=False)
        CachedSession(backend="memory", busy_timeout=10)
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "WAL" in messages and "only SQLite waits" in messages


@pytest.mark.parametrize("backend", ["sqlite", "filesystem"])
def test_use_temp_puts_the_cache_in_the_temporary_folder(origin: Origin, backend: str) -> None:
    url = origin.route("/t", counter_handler({"Cache-Control": "max-age=600"}))
    name = f"httpcache-test-{os.getpid()}-{backend}"
    session = CachedSession(name, backend=backend, use_temp=True)
    try:
        assert str(session.cache.cache_name).startswith(tempfile.gettempdir())
        session.get(url)
        assert session.get(url).from_cache
    finally:
        session.cache.clear()
        session.close()
        target = Path(session.cache.cache_name)
        if target.is_file():
            target.unlink()


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"always_revalidate": "yes"}, "always_revalidate"),
        ({"read_only": 1}, "read_only"),
        ({"autoclose": "no"}, "autoclose"),
        ({"max_cache_bytes": -1}, "max_cache_bytes"),
        ({"max_size": "big"}, "max_size"),
        ({"busy_timeout": -5}, "busy_timeout"),
        ({"busy_timeout": "long"}, "busy_timeout"),
        ({"use_temp": "yes"}, "use_temp"),
        ({"use_cache_dir": True}, "use_cache_dir"),  # the memory backend has no folder
        ({"include_get_headers": "Accept"}, "include_get_headers"),  # a name, not a list
        ({"include_get_headers": 5}, "include_get_headers"),
        ({"match_headers": "Accept"}, "match_headers"),
        ({"old_data_on_error": "sometimes"}, "old_data_on_error"),
        ({"old_data_on_error": -3}, "old_data_on_error"),
        ({"stale_if_error": -3}, "stale_if_error"),
        ({"wal": "yes"}, "wal"),
    ],
)
def test_bad_values_name_the_option(options: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        CachedSession(backend="memory", **options)


def test_bad_install_cache_values_fail_at_once() -> None:
    from httpcache import install_cache, is_installed

    with pytest.raises(ConfigurationError, match="read_only"):
        install_cache(backend="memory", read_only="no")
    assert not is_installed()


# ---- backends ---------------------------------------------------------------------------------


def test_backend_by_class(origin: Origin, tmp_path: Path) -> None:
    url = origin.route("/c", counter_handler({"Cache-Control": "max-age=600"}))
    session = CachedSession(str(tmp_path / "files"), backend=FileCache, max_size=10_000)
    assert isinstance(session.cache, FileCache)
    assert session.cache.max_size == 10_000
    assert session.cache.cache_dir == tmp_path / "files"
    session.get(url)
    assert session.get(url).from_cache
    with pytest.raises(ConfigurationError, match="namespace"):
        CachedSession(str(tmp_path / "x"), backend=FileCache, namespace="n")


def test_redis_backend_by_class_with_a_namespace(origin: Origin, redis_server: object) -> None:
    from httpcache.caches import RedisCache

    url = origin.route("/rc", counter_handler({"Cache-Control": "max-age=600"}))
    session = CachedSession(
        backend=RedisCache,
        namespace="by-class",
        url=redis_server.url,  # type: ignore[attr-defined]
    )
    try:
        assert isinstance(session.cache, RedisCache) and session.cache.namespace == "by-class"
        assert session.cache.cache_name == "by-class"
        session.get(url)
        assert session.get(url).from_cache
    finally:
        session.cache.clear()
        session.close()


def test_redis_cache_without_a_connection_uses_the_local_default_redis(
    origin: Origin, tmp_path: Path
) -> None:
    from httpcache.caches import RedisCache
    from tests.support.redis_servers import RedisServer, _port_free

    if not _port_free(6379):
        pytest.skip("something already listens on Redis's default port")
    server = RedisServer(6379, tmp_path)
    server.start()
    try:
        url = origin.route("/default", counter_handler({"Cache-Control": "max-age=600"}))
        session = CachedSession(backend=RedisCache(namespace="default-local"))
        session.get(url)
        assert session.get(url).from_cache
        assert server.client().exists("default-local:{default-local}:expires")
        session.close()
    finally:
        server.stop()


def test_max_size_beside_a_redis_instance_is_applied(
    origin: Origin, redis_server: object, redis_namespace: str
) -> None:
    from httpcache.caches import RedisCache

    url = origin.route("/rm", Reply(200, {"Cache-Control": "max-age=600"}, b"y" * 4000))
    cache = RedisCache(namespace=redis_namespace, url=redis_server.url)  # type: ignore[attr-defined]
    session = CachedSession(backend=cache, max_size=20_000)
    try:
        assert session.cache is cache and cache.max_size == 20_000
        for n in range(12):
            session.get(f"{url}?n={n}")
        assert 0 < len(cache) < 12  # the limit acts: the cache does not grow without one
        assert session.get(f"{url}?n=11").from_cache  # the newest stays
    finally:
        cache.clear()
        session.close()


def test_max_size_beside_an_instance_is_applied(origin: Origin) -> None:
    url = origin.route("/m", Reply(200, {"Cache-Control": "max-age=600"}, b"y" * 4000))
    cache = DictCache()
    session = CachedSession(backend=cache, max_size=6000)
    assert session.cache is cache and cache.max_size == 6000
    for n in range(4):
        session.get(f"{url}?n={n}")
    assert len(cache) == 1  # the limit acts: the cache does not grow without one


@pytest.mark.parametrize(
    ("make", "options", "named"),
    [
        (lambda tmp: DictCache(max_size=1000), {"max_size": 2000}, "max_size"),
        (lambda tmp: FileCache(str(tmp), forever=True), {"max_size": 2000}, "max_size"),
        (lambda tmp: DictCache(), {"max_size": 0}, "max_size"),
        (lambda tmp: DictCache(), {"namespace": "x"}, "namespace"),
        (lambda tmp: DictCache(), {"use_cache_dir": True}, "use_cache_dir"),
        (lambda tmp: SQLiteCache(str(tmp / "db")), {"busy_timeout": 100}, "busy_timeout"),
        (lambda tmp: SQLiteCache(str(tmp / "db")), {"use_temp": True}, "use_temp"),
    ],
)
def test_an_option_that_cannot_apply_to_an_instance_is_refused(
    tmp_path: Path, make: object, options: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        CachedSession(backend=make(tmp_path), **options)  # type: ignore[operator]


# ---- keys: credentials, POST, method override ---------------------------------------------------


def test_a_credential_header_named_in_ignored_parameters_leaves_the_key(origin: Origin) -> None:
    url = origin.route("/k", counter_handler({"Cache-Control": "max-age=600"}))
    shared = CachedSession(backend="memory", ignored_parameters=["X-API-Key"])
    shared.get(url, headers={"X-API-Key": "alice-secret"})
    bob = shared.get(url, headers={"X-API-Key": "bob-secret"})
    assert bob.from_cache
    stored = shared.cache.get(bob.cache_key)
    assert stored is not None and stored.request.headers["X-API-Key"] == "REDACTED"
    assert "alice-secret" not in repr(stored)

    partitioned = CachedSession(backend="memory")  # the default list: credentials partition
    partitioned.get(url, headers={"X-API-Key": "alice-secret"})
    assert not partitioned.get(url, headers={"X-API-Key": "bob-secret"}).from_cache


def test_a_cached_post_leaves_the_other_stored_bodies_of_its_url(origin: Origin) -> None:
    url = origin.route("/q", counter_handler({"Cache-Control": "max-age=600"}))
    session = CachedSession(backend="memory", allowable_methods=("GET", "POST"))
    session.get(url)
    session.post(url, json={"q": 1})
    session.post(url, json={"q": 2})
    assert session.post(url, json={"q": 1}).from_cache
    assert session.post(url, json={"q": 2}).from_cache
    assert session.get(url).from_cache
    assert origin.hits("/q") == 3


def test_a_post_not_cached_still_invalidates(origin: Origin) -> None:
    url = origin.route("/i", counter_handler({"Cache-Control": "max-age=600"}))
    session = CachedSession(backend="memory")
    session.get(url)
    session.post(url, data=b"change")
    assert not session.get(url).from_cache


@pytest.mark.parametrize(
    ("field", "value"),
    [("X-HTTP-Method-Override", "GET"), ("X-HTTP-Method", "GET"), ("X-Method-Override", "get")],
)
def test_every_method_override_field_naming_get_is_cached_as_requests_cache_keys_it(
    origin: Origin, field: str, value: str
) -> None:
    # requests-cache caches a request whose override names an allowable method, under
    # the key of the request as sent (its method, URL and body): so does httpcache.
    url = origin.route("/ov", counter_handler({"Cache-Control": "max-age=600"}))
    session = CachedSession(backend="memory")
    session.get(url)
    first = session.post(url, data=b"q=1", headers={field: value})
    again = session.post(url, data=b"q=1", headers={field: value})
    assert (first.from_cache, again.from_cache) == (False, True)
    assert again.text == first.text == "body 2"
    assert session.cache.contains(request=requests.Request("POST", url, data=b"q=1"))
    assert not session.cache.contains(request=requests.Request("POST", url, data=b"q=2"))
    assert session.get(url).text == "body 1"  # the GET stored before: not invalidated
    assert not session.post(url, data=b"q=1", headers={field: "PUT"}).from_cache
    assert not session.get(url).from_cache  # an override to PUT is not cached: it invalidates
    assert origin.hits("/ov") == 4


def test_method_override_get_is_cached_as_a_get(origin: Origin) -> None:
    url = origin.route("/o", counter_handler({"Cache-Control": "max-age=600"}))
    session = CachedSession(backend="memory")
    session.post(url, json={"q": 1}, headers={"X-HTTP-Method-Override": "GET"})
    again = session.post(url, json={"q": 1}, headers={"X-HTTP-Method-Override": "GET"})
    assert again.from_cache
    assert not session.post(
        url, json={"q": 2}, headers={"X-HTTP-Method-Override": "GET"}
    ).from_cache
    assert session.cache.contains(request=requests.Request("POST", url, json={"q": 1}))
    session.post(url, json={"q": 1})  # a plain POST: not cached, and it invalidates
    assert origin.hits("/o", method="POST") == 3
    assert not session.post(
        url, json={"q": 1}, headers={"X-HTTP-Method-Override": "GET"}
    ).from_cache
