"""Every command on every backend, and --backend redis against a real Redis server."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import time_machine

from tests.cli.conftest import Invoke
from tests.support.origin import Origin, Reply, counter_handler
from tests.support.redis_servers import RedisServer

BACKENDS = ["memory", "sqlite", "filesystem", "separate-body", "redis"]
FRESH = {"Cache-Control": "max-age=60", "ETag": '"b"'}


@pytest.fixture
def backend_args(
    request: pytest.FixtureRequest, redis_namespace: str
) -> Callable[[str], list[str]]:
    """The global options selecting a backend (redis: the test server, its own namespace)."""

    def args(backend: str) -> list[str]:
        options = ["--backend", backend, "--cache-name", redis_namespace]
        if backend == "redis":
            server: RedisServer = request.getfixturevalue("redis_server")
            server.ensure_up()
            options += ["--redis-url", server.url]
        return options

    return args


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_command(
    hc: Invoke, origin: Origin, backend: str, backend_args: Callable[[str], list[str]]
) -> None:
    g = backend_args(backend)
    url = origin.route("/every", counter_handler(FRESH))
    short = origin.route("/short", Reply(200, {"Cache-Control": "max-age=5", "ETag": '"s"'}, b"s"))

    assert hc(*g, "get", url).stdout_bytes == b"body 1"
    hit = hc(*g, "fetch", "-v", url)
    assert hit.stdout_bytes == b"body 1"
    assert "Cache-Status: httpcache; hit;" in hit.stderr
    assert hc(*g, "head", url).stdout.startswith("HTTP/1.1 200 OK")
    assert hc(*g, "get", "--offline", url).stdout_bytes == b"body 1"
    assert hc(*g, "get", short).exit_code == 0

    listed = json.loads(hc(*g, "cache", "ls", "--json").stdout)
    assert sorted((e["method"], e["url"]) for e in listed) == [
        ("GET", url),
        ("GET", short),
        ("HEAD", url),
    ]
    assert "fresh" in hc(*g, "cache", "ls").stdout
    key = next(e["key"] for e in listed if e["url"] == url and e["method"] == "GET")
    inspected = json.loads(hc(*g, "cache", "inspect", key, "--json").stdout)
    assert inspected[0]["validators"]["etag"] == '"b"'
    assert hc(*g, "inspect", "--body", key).stdout_bytes == b"body 1"

    stats = json.loads(hc(*g, "cache", "stats", "--json").stdout)
    assert stats["entries"] == 3
    assert stats["backend"] == backend
    assert stats["hits"] >= 2

    offline = json.loads(hc(*g, "explain", "--offline", "--json", url).stdout)
    assert "would serve it from the cache" in offline["verdict"]
    assert json.loads(hc(*g, "explain", "--json", url).stdout)["cache_status"] == "hit"

    with time_machine.travel(time.time() + 30, tick=False):
        dry = hc(*g, "cache", "remove-expired", "--dry-run")
        assert dry.stdout.splitlines()[-1] == "would remove 1 expired entry"
        assert hc(*g, "purge-expired").stdout.strip() == "removed 1 expired entry"

    assert hc(*g, "cache", "rm", url).stdout.strip() == "removed 2 entries"  # GET and HEAD
    assert json.loads(hc(*g, "cache", "ls", "--json").stdout) == []
    assert hc(*g, "get", url).stdout_bytes == b"body 3"  # (the HEAD was body 2)
    assert hc(*g, "clear", "--yes").stdout.strip() == "removed 1 entry"
    assert json.loads(hc(*g, "stats", "--json").stdout)["entries"] == 0


def test_redis_shared_between_processes(
    hc_run: Callable[..., object], origin: Origin, redis_server: RedisServer, redis_namespace: str
) -> None:
    redis_server.ensure_up()
    url = origin.route("/shared", counter_handler(FRESH))
    g = ["--backend", "redis", "--redis-url", redis_server.url, "--cache-name", redis_namespace]
    first = hc_run(*g, "get", url)
    second = hc_run(*g, "get", "-v", url)
    assert first.stdout == second.stdout == b"body 1"  # type: ignore[attr-defined]
    assert b"Cache-Status: httpcache; hit;" in second.stderr  # type: ignore[attr-defined]
    stats = hc_run(*g, "stats", "--json")
    assert json.loads(stats.stdout)["entries"] == 1  # type: ignore[attr-defined]
    env = {
        "HC_BACKEND": "redis",
        "HC_REDIS_URL": redis_server.url,
        "HC_CACHE_NAME": redis_namespace,
    }
    assert hc_run("get", "--offline", url, env=env).stdout == b"body 1"  # type: ignore[attr-defined]


def test_redis_namespaces_are_apart(
    hc: Invoke, origin: Origin, redis_server: RedisServer, redis_namespace: str
) -> None:
    redis_server.ensure_up()
    url = origin.route("/ns", counter_handler(FRESH))
    base = ["--backend", "redis", "--redis-url", redis_server.url]
    assert hc(*base, "--cache-name", redis_namespace, "get", url).stdout_bytes == b"body 1"
    assert hc(*base, "--cache-name", redis_namespace + "-b", "get", url).stdout_bytes == b"body 2"
    hc(*base, "--cache-name", redis_namespace + "-b", "clear", "--yes")
    stats = json.loads(hc(*base, "--cache-name", redis_namespace, "stats", "--json").stdout)
    assert stats["entries"] == 1
    assert redis_namespace in stats["location"]


def test_redis_password_is_not_shown(hc: Invoke) -> None:
    result = hc("--backend", "redis", "--redis-url", "redis://user:secret@127.0.0.1:1/0", "stats")
    assert result.exit_code == 69
    assert "secret" not in result.stderr
    assert "***" in result.stderr
