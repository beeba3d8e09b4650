"""Redis comes back: after a restart (its data gone, or kept), after losing its
scripts (``SCRIPT FLUSH``), after a ``FLUSHALL``, caching resumes on the next
request, with the real ``redis-server`` of the fixture restarted on its port. While
it is down, calls are refused at once or after a bounded wait, never longer than the
socket timeout and the backoff allow.

Each scenario: a response is cached and served; Redis goes through the event; then
the very next request is answered (from the origin, the entry being gone, or from
the cache where Redis kept it) and stored, and the one after it is a hit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from httpcache import CachedSession
from httpcache.caches.redis import RedisCache
from tests.support.origin import Origin, Reply, counter_handler
from tests.support.redis_servers import RedisServer

FRESH = {"Cache-Control": "max-age=600"}
TIMEOUT = 0.5


@pytest.fixture
def server(redis_server: RedisServer) -> Iterator[RedisServer]:
    redis_server.ensure_up()
    yield redis_server
    redis_server.ensure_up()


def _session(server: RedisServer, namespace: str, given: bool = False) -> CachedSession:
    """A session on a client the cache builds, or (``given``) on one the caller made
    with redis-py's defaults."""
    if given:
        client = redis.Redis.from_url(server.url)
        return CachedSession(backend=RedisCache(client, namespace=namespace))
    cache = RedisCache(
        url=server.url,
        namespace=namespace,
        socket_timeout=TIMEOUT,
        socket_connect_timeout=TIMEOUT,
    )
    return CachedSession(backend=cache)


def _restart(server: RedisServer) -> None:
    server.stop()
    server.start()


def _flush_scripts(server: RedisServer) -> None:
    client = server.client()
    client.script_flush()
    client.close()


def _flush_all(server: RedisServer) -> None:
    client = server.client()
    client.flushall()
    client.close()


EVENTS: dict[str, Callable[[RedisServer], None]] = {
    "restart": _restart,
    "scripts lost": _flush_scripts,
    "flushall": _flush_all,
}


@pytest.mark.parametrize("client", ["built", "given"])
@pytest.mark.parametrize("event", list(EVENTS))
def test_caching_resumes_on_the_next_request(
    origin: Origin,
    server: RedisServer,
    event: str,
    client: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = origin.route("/r", counter_handler(FRESH))
    other = origin.route("/other", counter_handler(FRESH))
    session = _session(server, f"resume-{event.replace(' ', '-')}", client == "given")
    session.get(url)
    assert session.get(url).from_cache
    EVENTS[event](server)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        first = session.get(url)  # the entry is gone (or kept, scripts lost)
        assert first.status_code == 200
        assert session.get(url).from_cache, "caching did not resume on the next request"
        # A URL never seen stores at once too (the write path works again).
        assert not session.get(other).from_cache
        assert session.get(other).from_cache
    assert origin.hits("/other") == 1
    session.close()


def test_an_outage_is_bounded_and_caching_resumes_once_redis_is_back(
    origin: Origin, server: RedisServer
) -> None:
    url = origin.route("/down", counter_handler(FRESH))
    session = _session(server, "bounded")
    session.get(url)
    server.stop()
    try:
        for _ in range(5):  # every call answered from the origin, each in bounded time
            started = time.monotonic()
            response = session.get(url)
            assert response.status_code == 200 and not response.from_cache
            assert time.monotonic() - started < 2 * TIMEOUT + 2.0
    finally:
        server.start()
    # Back: the first request after the restart may still meet the old connections;
    # the one after it is stored, and the next is a hit.
    session.get(url)
    session.get(url)
    assert session.get(url).from_cache
    session.close()


def test_the_backoff_between_retries_is_bounded() -> None:
    """What the client built for a URL retries: once, after at most 50 ms."""
    cache = RedisCache(url="redis://127.0.0.1:1/0", namespace="backoff")
    retry = cache.client.connection_pool.connection_kwargs["retry"]
    assert retry._retries == 1
    assert all(retry._backoff.compute(n) <= 0.05 for n in range(10))
    cache.close()
    assert isinstance(retry, redis.retry.Retry)


def test_redis_out_of_memory_during_a_store(
    origin: Origin, server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis's "full disk": ``maxmemory`` reached with ``noeviction``. A store fails
    (the caller gets the origin's response, one warning); caching resumes once
    there is room again."""
    big = bytes(range(256)) * 8192  # 2 MiB, in two chunks
    url = origin.route("/oom", lambda seen: Reply(200, FRESH, big))
    session = _session(server, "oom")
    admin = server.client()
    used = int(admin.info("memory")["used_memory"])
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", str(used + 512 * 1024))
    try:
        with caplog.at_level(logging.WARNING, logger="httpcache"):
            for _ in range(3):
                response = session.get(url)
                assert response.content == big and not response.from_cache
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "maxmemory" in warnings[0].getMessage()
    finally:
        admin.config_set("maxmemory", "0")
        admin.close()
    session.close()
    # (The failed store may have been slow enough for the session to skip storage for
    # a second: another session, as the next process would, stores at once.)
    session = _session(server, "oom")
    session.get(url)
    assert session.get(url).from_cache
    session.close()
