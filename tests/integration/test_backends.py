"""Every backend behind CachedSession and CacheControl, end to end, plus outages."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from httpcache import CacheControl, CachedSession, CacheStatus
from httpcache.caches import BaseCache, backend_class
from tests.support.origin import Origin, Reply, Seen, counter_handler

BIG = os.urandom(3 * 1024 * 1024 + 17)  # more than one storage chunk everywhere

BACKENDS = ["memory", "sqlite", "filesystem", "separate-body", "redis"]


@pytest.fixture(params=BACKENDS)
def make_session(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., CachedSession]:
    name = request.param

    def make(**options: object) -> CachedSession:
        if name == "redis":
            server = request.getfixturevalue("redis_server")
            namespace = request.getfixturevalue("redis_namespace")
            return CachedSession(namespace, backend="redis", url=server.url, **options)
        if name == "memory":
            return CachedSession(backend="memory", **options)
        return CachedSession(str(tmp_path / "cache"), backend=name, **options)

    return make


def test_hit_revalidation_and_variants(origin: Origin, make_session: Callable) -> None:
    session = make_session()

    def handler(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"v"':
            return Reply(304, {"ETag": '"v"', "Cache-Control": "max-age=600"})
        body = seen.headers.get("accept", "").encode()
        return Reply(200, {"ETag": '"v"', "Cache-Control": "max-age=0", "Vary": "Accept"}, body)

    url = origin.route("/b", handler)
    for accept in ("a/x", "b/y"):
        assert session.get(url, headers={"Accept": accept}).text == accept
        again = session.get(url, headers={"Accept": accept})
        assert again.text == accept and again.cache_status is CacheStatus.REVALIDATED
        assert session.get(url, headers={"Accept": accept}).cache_status is CacheStatus.HIT
    assert len(session.cache) == 2
    assert session.cache.stats().entries == 2
    session.cache.clear()
    assert len(session.cache) == 0


def test_large_body_streams_in_and_out(origin: Origin, make_session: Callable) -> None:
    session = make_session()
    url = origin.route("/big", Reply(200, {"Cache-Control": "max-age=600"}, BIG))
    with session.get(url, stream=True) as first:
        assert b"".join(first.iter_content(64 * 1024)) == BIG
    with session.get(url, stream=True) as hit:
        assert hit.from_cache
        assert b"".join(hit.iter_content(100_000)) == BIG
    assert session.get(url).content == BIG
    assert origin.hits("/big") == 1


def test_cache_control_api_with_each_backend_class(origin: Origin, make_session: Callable) -> None:
    cache = make_session().cache
    assert isinstance(cache, BaseCache)
    sess = CacheControl(requests.Session(), cache=cache)
    url = origin.route("/cc", counter_handler({"Cache-Control": "max-age=60"}))
    sess.get(url)
    assert sess.get(url).from_cache


def test_backend_names_resolve_to_the_documented_classes() -> None:
    names = {name: backend_class(name).__name__ for name in BACKENDS}
    assert names == {
        "memory": "DictCache",
        "sqlite": "SQLiteCache",
        "filesystem": "FileCache",
        "separate-body": "SeparateBodyFileCache",
        "redis": "RedisCache",
    }


def test_redis_outage_falls_back_to_the_origin_and_recovers(
    origin: Origin, redis_server: object, redis_namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    session = CachedSession(redis_namespace, backend="redis", url=redis_server.url)  # type: ignore[attr-defined]
    url = origin.route("/r", counter_handler({"Cache-Control": "max-age=600"}))
    session.get(url)
    assert session.get(url).from_cache
    redis_server.stop()  # type: ignore[attr-defined]
    try:
        with caplog.at_level(logging.WARNING, logger="httpcache"):
            during = [session.get(url, timeout=5) for _ in range(3)]
        assert [r.text for r in during] == ["body 2", "body 3", "body 4"]
        assert not any(r.from_cache for r in during)
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    finally:
        redis_server.start()  # type: ignore[attr-defined]
    session.get(url)  # stored again now that Redis is back
    assert session.get(url).from_cache
