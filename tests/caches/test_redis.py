"""RedisCache against a real Redis server and a real 3-node Redis Cluster.

Servers start once per session (tests/support/redis_servers.py); every test gets an
emptied database and its own namespace.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

import msgpack
import pytest
import redis
import time_machine
from redis.cluster import RedisCluster
from redis.crc import key_slot

from httpcache.caches import redis as redis_module
from httpcache.caches.base import BaseCache, EntryInfo
from httpcache.caches.redis import RedisCache
from httpcache.caches.redis import index as redis_index
from httpcache.caches.redis import reads as redis_reads
from httpcache.caches.redis.heads import HEAD_READ, HeadValue, pack_head, unpack_head, with_parts
from httpcache.errors import ConfigurationError, StorageError
from httpcache.models import Entry
from httpcache.serialize import dumps_entry

from ..support.redis_servers import RedisServer
from ..support.without_redis import WITHOUT_REDIS
from .contract import CacheContract, make_entry

SMALL_CHUNK = 1024


class TestRedisCache(CacheContract):
    @pytest.fixture
    def cache(self, redis_client: redis.Redis, redis_namespace: str) -> Iterator[RedisCache]:
        cache = RedisCache(redis_client, namespace=redis_namespace)
        yield cache
        cache.close()

    @pytest.fixture
    def reopen(
        self, redis_server: RedisServer, redis_namespace: str
    ) -> Iterator[Callable[[BaseCache], BaseCache]]:
        opened: list[BaseCache] = []

        def reopen(cache: BaseCache) -> BaseCache:
            cache.close()  # sends its counts
            opened.append(RedisCache(url=redis_server.url, namespace=redis_namespace))
            return opened[-1]

        yield reopen
        for cache in opened:
            cache.close()


class TestRedisClusterCache(CacheContract):
    @pytest.fixture
    def cache(self, redis_cluster_client: RedisCluster, redis_namespace: str) -> RedisCache:
        return RedisCache(redis_cluster_client, namespace=redis_namespace)

    @pytest.fixture
    def reopen(
        self, redis_cluster_client: RedisCluster, redis_namespace: str
    ) -> Callable[[BaseCache], BaseCache]:
        def reopen(cache: BaseCache) -> BaseCache:
            cache.close()
            return RedisCache(redis_cluster_client, namespace=redis_namespace)

        return reopen


# ---- helpers --------------------------------------------------------------------------


def live_entry(url: str, *, writer: int = 0, ttl: float | None = 600.0, **kw: object) -> Entry:
    """An entry stored now (not at the contract's fixed NOW), tagged with its writer."""
    now = time.time()
    return make_entry(
        url,
        created_at=now,
        expires=None if ttl is None else now + ttl,
        headers={"X-Writer": str(writer)},
        **kw,  # type: ignore[arg-type]
    )


def body_of(url: str, writer: int, size: int) -> bytes:
    """A body that tells who wrote it for which URL, at any offset."""
    unit = f"{writer}|{url}|".encode()
    return (unit * (size // len(unit) + 1))[:size]


def namespace_keys(client: redis.Redis | RedisCluster, namespace: str) -> list[str]:
    return sorted(k.decode() for k in client.scan_iter(match=f"{namespace}:*", count=1000))


# ---- layout, TTLs, namespaces ------------------------------------------------------------------


def test_import_httpcache_without_redis() -> None:
    code = WITHOUT_REDIS + (
        "import httpcache, httpcache.caches\n"
        "assert 'redis' not in sys.modules\n"
        "try:\n"
        "    httpcache.caches.backend_class('redis')\n"
        "except httpcache.BackendNotAvailableError as exc:\n"
        "    print('unavailable:', exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "pip install 'httpcache-rfc9111[redis]'" in result.stdout


def test_keys_of_a_resource_share_one_slot(redis_client: redis.Redis) -> None:
    cache = RedisCache(redis_client, namespace="layout", chunk_size=SMALL_CHUNK)
    json_variant = live_entry("http://h.test/a", vary=(("accept", "=application/json"),))
    html_variant = live_entry("http://h.test/a", vary=(("accept", "=text/html"),))
    cache.save(json_variant, b"j" * 3000)  # three chunks
    cache.save(html_variant, b"h")  # one chunk: inline, in its head
    pk = json_variant.primary_key
    resource = [k for k in namespace_keys(redis_client, "layout") if f"{{{pk}}}" in k]
    assert {k.split(":")[2] for k in resource} == {"h", "b", "v"}
    assert len(resource) == 4  # two heads, one body list, one variant set
    assert unpack_head(redis_client.get(f"layout:{{{pk}}}:h:{html_variant.key}")).body == b"h"
    assert {key_slot(k.encode()) for k in resource} == {key_slot(pk.encode())}
    index = [k for k in namespace_keys(redis_client, "layout") if k.startswith("layout:{layout}")]
    assert {key_slot(k.encode()) for k in index} == {key_slot(b"layout")}
    [json_body] = [k for k in resource if f":b:{json_variant.key}:" in k]
    assert redis_client.llen(json_body) == 3


def test_ttls_follow_stale_until(redis_client: redis.Redis) -> None:
    cache = RedisCache(redis_client, namespace="ttl", chunk_size=SMALL_CHUNK)
    soon = cache.save(live_entry("http://h.test/soon", ttl=1000), b"x" * 2500)
    assert soon.stale_until == pytest.approx(time.time() + 1030, abs=5)
    never = cache.save(live_entry("http://h.test/never", ttl=None), b"y" * 2500)
    past = cache.save(make_entry("http://h.test/past"), b"z")  # stale_until in 2023

    def ttls(entry: Entry, keys_wanted: int = 2) -> set[int]:
        keys = [k for k in namespace_keys(redis_client, "ttl") if entry.primary_key in k]
        assert len(keys) == keys_wanted  # head and body list (no Vary: no variant set)
        return {redis_client.ttl(k) for k in keys}

    assert all(1020 <= t <= 1030 for t in ttls(soon))
    assert ttls(never) == {-1}
    assert all(0 < t <= cache.min_ttl for t in ttls(past, 1))  # its body is in its head
    index = [k for k in namespace_keys(redis_client, "ttl") if k.startswith("ttl:{ttl}:")]
    assert index and {redis_client.ttl(k) for k in index} == {-1}

    # Freshening moves the TTLs.
    cache.update_head(soon.with_changes(stale_until=time.time() + 5000))
    assert all(4990 <= t <= 5000 for t in ttls(soon))


def test_the_variant_set_lives_as_long_as_its_longest_lived_member(
    redis_client: redis.Redis,
) -> None:
    cache = RedisCache(redis_client, namespace="vttl")

    def save(accept: str, ttl: float | None) -> Entry:
        stored = cache.save(live_entry("http://h.test/v", ttl=ttl, vary=(("accept", accept),)), b"")
        cache._writes.unread.settle()  # its reply read: another client surely sees it
        return stored

    html = save("=html", 1000)
    variants = f"vttl:{{{html.primary_key}}}:v"
    assert redis_client.smembers(variants) == {html.key.encode()}
    assert 1020 <= redis_client.ttl(variants) <= 1030
    save("=json", 3000)
    assert 3020 <= redis_client.ttl(variants) <= 3030
    save("=xml", 10)
    assert 3020 <= redis_client.ttl(variants) <= 3030  # never shortened
    cache.update_head(html.with_changes(stale_until=time.time() + 5000))
    assert 4990 <= redis_client.ttl(variants) <= 5000
    save("=text", None)
    assert redis_client.ttl(variants) == -1
    assert len(cache.find(html.primary_key)) == 4


def test_pending_chunks_have_a_short_ttl_and_abort_removes_them(
    redis_client: redis.Redis,
) -> None:
    cache = RedisCache(redis_client, namespace="pending", chunk_size=SMALL_CHUNK)
    writer = cache.open_writer(live_entry("http://h.test/big"))
    writer.write(b"a" * 5000)
    [body] = namespace_keys(redis_client, "pending")
    assert ":b:" in body and redis_client.llen(body) == 4
    assert 0 < redis_client.ttl(body) <= redis_module.PENDING_TTL
    writer.abort()
    assert namespace_keys(redis_client, "pending") == []


@pytest.fixture(params=["server", "cluster"])
def any_client(request: pytest.FixtureRequest) -> redis.Redis | RedisCluster:
    fixture = "redis_client" if request.param == "server" else "redis_cluster_client"
    return request.getfixturevalue(fixture)


def test_clear_removes_only_its_namespace_without_keys(
    any_client: redis.Redis | RedisCluster,
) -> None:
    mine = RedisCache(any_client, namespace="app", chunk_size=SMALL_CHUNK)
    neighbours = [
        RedisCache(any_client, namespace=ns, chunk_size=SMALL_CHUNK)
        for ns in ("app:sub", "app2", "ap*")
    ]
    for cache in [mine, *neighbours]:
        for i in range(30):
            cache.save(live_entry(f"http://h.test/{i}"), b"b" * (i * 100))
        cache.record_lookup(hit=True)
    any_client.set("app:unrelated", b"keep me")
    any_client.set("unrelated", b"keep me too")
    _reset_command_stats(any_client)

    mine.clear()

    assert len(mine) == 0 and list(mine.entries()) == []
    assert mine.lookup_counts() == (1, 0)  # counters are not entries
    for cache in neighbours:
        assert len(cache) == 30
        assert cache.read_body(live_entry("http://h.test/29").key) == b"b" * 2900
    assert any_client.get("app:unrelated") == b"keep me"
    assert any_client.get("unrelated") == b"keep me too"
    commands = _command_stats(any_client)
    assert "keys" not in commands and "flushdb" not in commands and "flushall" not in commands
    assert "scan" in commands and "unlink" in commands
    mine.save(live_entry("http://h.test/again"), b"works")  # usable after clear
    assert len(mine) == 1


def _reset_command_stats(client: redis.Redis | RedisCluster) -> None:
    if isinstance(client, RedisCluster):
        client.config_resetstat(target_nodes=RedisCluster.PRIMARIES)
    else:
        client.config_resetstat()


def _command_stats(client: redis.Redis | RedisCluster) -> set[str]:
    """Commands run since the reset, on every node (``cmdstat_<name>``)."""
    if isinstance(client, RedisCluster):
        infos = client.info("commandstats", target_nodes=RedisCluster.PRIMARIES).values()
    else:
        infos = [client.info("commandstats")]
    return {name.removeprefix("cmdstat_") for info in infos for name in info}


def test_namespace_is_validated(redis_client: redis.Redis) -> None:
    with pytest.raises(ConfigurationError):
        RedisCache(redis_client, namespace="a{b}")
    with pytest.raises(ConfigurationError):
        RedisCache(redis_client, namespace="")
    with pytest.raises(ConfigurationError):
        RedisCache(redis.Redis(port=1, decode_responses=True))


def test_built_from_url(redis_server: RedisServer, redis_client: redis.Redis) -> None:
    with RedisCache(url=redis_server.url, namespace="from-url") as cache:
        entry = cache.save(live_entry("http://h.test/u"), b"via url")
    with RedisCache(redis_client, namespace="from-url") as cache:
        assert cache.read_body(entry.key) == b"via url"


def test_hit_and_miss_counters_are_shared(redis_client: redis.Redis) -> None:
    one = RedisCache(redis_client, namespace="counters")
    two = RedisCache(redis_client, namespace="counters")
    one.record_lookup(hit=True)
    two.record_lookup(hit=False)
    two.record_lookup(hit=True)
    assert one.lookup_counts() == (1, 0)  # two's counts go with its next round trip
    assert two.lookup_counts() == (2, 1)
    assert one.lookup_counts() == (2, 1)
    assert one.stats().hits == 2
    for _ in range(5):
        one.record_lookup(hit=True)
    two.find("anything")  # a round trip: its counts go with it
    two.record_lookup(hit=False)
    two.find("something else")
    one.flush_counters()
    three = RedisCache(redis_client, namespace="counters")
    assert three.lookup_counts() == (7, 2)


def test_entries_spread_over_the_cluster(redis_cluster_client: RedisCluster) -> None:
    cache = RedisCache(redis_cluster_client, namespace="spread")
    for i in range(40):
        cache.save(live_entry(f"http://h.test/{i}"), b"x")
    per_node = [
        sum(1 for k in redis_cluster_client.scan_iter(match="spread:*", target_nodes=node))
        for node in redis_cluster_client.get_primaries()
    ]
    assert sum(1 for n in per_node if n) == 3
    assert len(cache) == 40


# ---- reading: streaming, pairing, damage ---------------------------------------------------


def test_body_streams_by_chunk_and_survives_a_rewrite(redis_client: redis.Redis) -> None:
    cache = RedisCache(redis_client, namespace="stream", chunk_size=SMALL_CHUNK)
    other = RedisCache(redis_client, namespace="stream", chunk_size=SMALL_CHUNK)
    old_body = body_of("u", 1, 10 * SMALL_CHUNK + 7)
    entry = cache.save(live_entry("http://h.test/s", writer=1), old_body)
    [found] = cache.find(entry.primary_key)
    stream = cache.open_body(found.key)
    assert stream is not None
    assert stream.read(100) == old_body[:100]
    # Another process replaces the entry while this reader is in the middle of it.
    other.save(live_entry("http://h.test/s", writer=2), body_of("u", 2, 5 * SMALL_CHUNK))
    assert stream.read() == old_body[100:]  # the old generation, whole
    [newer] = cache.find(entry.primary_key)
    assert newer.response.headers["X-Writer"] == "2"
    assert cache.read_body(newer.key) == body_of("u", 2, 5 * SMALL_CHUNK)


def test_body_matches_the_head_this_thread_found(redis_client: redis.Redis) -> None:
    cache = RedisCache(redis_client, namespace="pair")
    other = RedisCache(redis_client, namespace="pair")
    cache.save(live_entry("http://h.test/p", writer=1), b"one")
    [found] = cache.find(live_entry("http://h.test/p").primary_key)
    other.save(live_entry("http://h.test/p", writer=2), b"two, longer")
    assert cache.read_body(found.key) == b"one"  # what `found` describes
    assert cache.read_body(found.key) == b"two, longer"  # later reads see the new one


def test_vanished_entries_are_skipped_and_pruned(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = RedisCache(redis_client, namespace="gone")
    kept = cache.save(live_entry("http://h.test/kept"), b"k")
    gone = cache.save(live_entry("http://h.test/gone"), b"g")
    # Redis dropped the entry (TTL, maxmemory eviction): only the index row is left.
    for key in namespace_keys(redis_client, "gone"):
        if gone.primary_key in key:
            redis_client.unlink(key)
    assert [e.key for e in cache.entries()] == [kept.key]
    assert redis_client.hlen("gone:{gone}:meta") == 2  # too young to prune
    assert len(cache) == 2  # the index's count: until a listing notices
    monkeypatch.setattr(redis_index, "PRUNE_GRACE", 0.0)
    assert [e.key for e in cache.entries()] == [kept.key]
    assert redis_client.hlen("gone:{gone}:meta") == 1
    assert len(cache) == 1
    assert cache.stats().bytes == 1


def test_commits_prune_rows_of_vanished_expired_entries(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_index, "PRUNE_GRACE", 0.0)
    monkeypatch.setattr(redis_index, "PRUNE_EVERY", 1)
    cache = RedisCache(redis_client, namespace="prune")
    old = cache.save(make_entry("http://h.test/old"), b"o")  # expired in 2023
    redis_client.unlink(f"prune:{{{old.primary_key}}}:h:{old.key}")  # as its TTL would
    new = cache.save(live_entry("http://h.test/new"), b"n")
    assert redis_client.hkeys("prune:{prune}:meta") == [new.key.encode()]
    # What max_size counts is back to the one entry: its body and its head.
    head = unpack_head(redis_client.get(f"prune:{{{new.primary_key}}}:h:{new.key}")).entry
    assert int(redis_client.get("prune:{prune}:bytes")) == new.size + len(head)


FOREIGN = msgpack.packb({"x": 1})
DAMAGE: dict[str, Callable[[redis.Redis, str], object]] = {
    "a pickle": lambda r, k: r.set(k, b"\x80\x04garbage pickle"),
    "a list": lambda r, k: r.rpush(k, b"x"),
    "a hash (an older format's head)": lambda r, k: r.hset(k, mapping={"v": "3", "e": b"x"}),
    "another format": lambda r, k: r.set(k, b"99 ab 0 0 1.0 0 0\n"),
    "damaged entry": lambda r, k: r.set(k, pack_head(b"\xc1\xc1", "ab", 0, 0, 1.0, 0)),
    "foreign msgpack": lambda r, k: r.set(k, pack_head(FOREIGN, "ab", 0, 0, 1.0, 0)),
    "a cut field line": lambda r, k: r.set(k, r.get(k)[:20]),
    "a flipped bit in the head": lambda r, k: _replace(r, k, entry=lambda v: _flip(v.entry, 40)),
    "a flipped bit in the inline body": lambda r, k: _replace(
        r, k, body=lambda v: _flip(v.body, 2)
    ),
}


def _replace(
    client: redis.Redis,
    name: str,
    entry: Callable[[HeadValue], bytes] | None = None,
    body: Callable[[HeadValue], bytes] | None = None,
) -> None:
    """Plant a changed entry or inline body in the head at ``name``."""
    value = client.get(name)
    parts = unpack_head(value)
    changed = with_parts(
        value, entry=entry(parts) if entry else None, body=body(parts) if body else None
    )
    client.set(name, changed, keepttl=True)


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1 :]


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_head_is_a_logged_miss(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    cache = RedisCache(redis_client, namespace="damage")
    entry = cache.save(live_entry("http://h.test/d"), b"body")
    head = f"damage:{{{entry.primary_key}}}:h:{entry.key}"
    if "flipped" not in damage and "cut" not in damage:
        redis_client.delete(head)
    DAMAGE[damage](redis_client, head)
    # Inspection: a miss with a warning each time; the entry stays. (A listing reads
    # heads without their bodies: one with a damaged inline body is listed.)
    body_only = "body" in damage
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        assert cache.read_entry(entry.key) is None
        assert cache.open_body(entry.key) is None
        listed = [e.key for e in cache.iter_entries()]
    assert listed == ([entry.key] if body_only else [])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3 - body_only and all(head in r.getMessage() for r in warnings)
    assert redis_client.exists(head)
    caplog.clear()
    # A lookup: a miss with one warning, and the entry is removed (its index row too).
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        assert cache.find(entry.primary_key) == []
        assert cache.find(entry.primary_key) == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and head in warnings[0].getMessage()
    assert not redis_client.exists(head)
    assert not redis_client.hexists("damage:{damage}:meta", entry.key)
    cache.save(entry, b"fresh")  # a new write takes its place
    assert cache.read_body(entry.key) == b"fresh"


def test_inline_body_of_another_size_is_a_logged_miss(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisCache(redis_client, namespace="damage4")
    entry = cache.save(live_entry("http://h.test/d"), b"body")
    head = f"damage4:{{{entry.primary_key}}}:h:{entry.key}"
    _replace(redis_client, head, body=lambda _: b"bod")  # cut short
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        assert cache.open_entry(entry.key) is None
        assert cache.open_body(entry.key) is None
        assert cache.find(entry.primary_key) == []  # removed now
        assert cache.open_entry(entry.key) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3 and all(head in r.getMessage() for r in warnings)
    assert not redis_client.exists(head)


def test_entries_of_the_older_layout_are_misses(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Format 1 (every body in a list, index rows of 12 fields): a miss logged as a
    warning, as any unusable entry is, removed by the lookup, then replaced."""
    cache = RedisCache(redis_client, namespace="old")
    entry = live_entry("http://h.test/old")
    pk = entry.primary_key
    head = f"old:{{{pk}}}:h:{entry.key}"
    redis_client.hset(
        head, mapping={"v": "1", "e": dumps_entry(entry), "g": "g1", "n": "1", "s": "3"}
    )
    redis_client.rpush(f"old:{{{pk}}}:b:{entry.key}:g1", b"old")
    redis_client.sadd(f"old:{{{pk}}}:v", entry.key)
    row = [1, pk, "GET", entry.url, 200, 3, entry.created_at, entry.expires, entry.stale_until]
    row += [entry.request_time, entry.response_time, time.time()]
    redis_client.hset("old:{old}:meta", entry.key, msgpack.packb(row))
    redis_client.zadd("old:{old}:expires", {entry.key: entry.expires})
    with caplog.at_level(logging.INFO, logger="httpcache"):
        assert cache.read_entry(entry.key) is None
        assert cache.find(pk) == []
        assert cache.open_entry(entry.key) is None
        assert list(cache.entries()) == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # read_entry, then find, which removed it
    assert all("older httpcache" in r.getMessage() for r in warnings)
    assert not redis_client.exists(head)
    stored = cache.save(entry, b"new body")
    [found] = cache.find(pk)
    assert found == stored and cache.read_body(entry.key) == b"new body"
    assert [e.key for e in cache.entries()] == [entry.key] and len(cache) == 1


def test_a_damaged_variant_set_loses_only_the_vary_variants(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisCache(redis_client, namespace="damage3")
    plain = cache.save(live_entry("http://h.test/d"), b"body")  # no Vary: in no set
    variant = cache.save(live_entry("http://h.test/d", vary=(("accept", "=html"),)), b"html")
    assert len(cache.find(plain.primary_key)) == 2
    variants = f"damage3:{{{plain.primary_key}}}:v"
    redis_client.delete(variants)
    redis_client.set(variants, b"junk")
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        assert cache.find(plain.primary_key) == [plain]
        assert cache.find(plain.primary_key) == [plain]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and variants in warnings[0].getMessage()
    assert not redis_client.exists(variants)  # removed: the next variant makes a set
    cache.save(variant, b"again")
    assert sorted(e.key for e in cache.find(plain.primary_key)) == sorted([plain.key, variant.key])


def test_damaged_body_and_index_are_misses(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisCache(redis_client, namespace="damage2", chunk_size=SMALL_CHUNK)
    entry = cache.save(live_entry("http://h.test/d"), b"body" * SMALL_CHUNK)  # a list
    [body] = [k for k in namespace_keys(redis_client, "damage2") if ":b:" in k]
    redis_client.delete(body)
    redis_client.set(body, b"not a list")
    redis_client.hset("damage2:{damage2}:meta", "bogus", b"\xc1")
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        assert cache.open_body(entry.key) is None
        assert [e.key for e in cache.entries()] == [entry.key]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
    assert not redis_client.hexists("damage2:{damage2}:meta", "bogus")  # pruned


# ---- outages ------------------------------------------------------------------------------


def _every_call(cache: RedisCache, entry: Entry) -> dict[str, Callable[[], object]]:
    return {
        "find": lambda: cache.find(entry.primary_key),
        "read_entry": lambda: cache.read_entry(entry.key),
        "open_body": lambda: cache.open_body(entry.key),
        "save": lambda: cache.save(entry, b"new"),
        "update_head": lambda: cache.update_head(entry),
        "delete_keys": lambda: cache.delete_keys([entry.key]),
        "iter_entries": lambda: list(cache.iter_entries()),
        "entries": lambda: list(cache.entries(expired=False)),
        "clear": cache.clear,
        "stats": cache.stats,
        "flush_counters": lambda: (cache.record_lookup(hit=True), cache.flush_counters()),
        "lookup_counts": cache.lookup_counts,
        "delete": lambda: cache.delete(urls=[entry.url]),
        "remove_expired": cache.remove_expired,
        "contains": lambda: cache.contains(url=entry.url),
        "len": lambda: len(cache),
    }


def test_server_down_raises_storage_error_then_recovers(
    redis_server: RedisServer, redis_namespace: str
) -> None:
    cache = RedisCache(url=redis_server.url, namespace=redis_namespace)
    entry = cache.save(live_entry("http://h.test/o"), b"before")
    redis_server.stop()
    try:
        started = time.monotonic()
        for name, call in _every_call(cache, entry).items():
            with pytest.raises(StorageError) as caught:
                call()
            assert isinstance(caught.value.__cause__, redis.RedisError), name
        assert time.monotonic() - started < 5  # refused at once, no long retries
    finally:
        redis_server.start()
    assert cache.read_body(entry.key) is None  # the server kept nothing (no persistence)
    cache.save(entry, b"after")
    assert cache.read_body(entry.key) == b"after"
    cache.close()


def test_frozen_server_times_out(redis_server: RedisServer, redis_namespace: str) -> None:
    cache = RedisCache(url=redis_server.url, namespace=redis_namespace, socket_timeout=0.3)
    entry = cache.save(live_entry("http://h.test/t"), b"x")
    redis_server.pause()
    try:
        with pytest.raises(StorageError) as caught:
            cache.find(entry.primary_key)
        assert isinstance(caught.value.__cause__, redis.TimeoutError)
    finally:
        redis_server.resume()
    assert cache.read_body(entry.key) == b"x"
    cache.close()


# ---- several processes ------------------------------------------------------------------------

MP_URLS = 200


def _mp_size(i: int, writer: int) -> int:
    return (i * 211 + writer * 997) % (3 * SMALL_CHUNK)  # 0 .. 3 chunks


def _mp_worker(url: str, namespace: str, writer: int) -> int:
    """Every process writes and reads the same URLs: a head always comes with its body."""
    cache = RedisCache(url=url, namespace=namespace, chunk_size=SMALL_CHUNK)
    checked = 0
    for i in range(MP_URLS):
        target = f"http://mp.test/{i}"
        cache.save(live_entry(target, writer=writer), body_of(target, writer, _mp_size(i, writer)))
        for entry in cache.find(live_entry(target).primary_key):
            who = int(entry.response.headers["X-Writer"])
            assert cache.read_body(entry.key) == body_of(target, who, _mp_size(i, who)), target
            checked += 1
    cache.close()
    return checked


def test_processes_share_the_cache(
    redis_server: RedisServer, redis_client: redis.Redis, redis_namespace: str
) -> None:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(4, mp_context=context) as pool:
        futures = [pool.submit(_mp_worker, redis_server.url, redis_namespace, n) for n in range(4)]
        assert [f.result(timeout=60) for f in futures] == [MP_URLS] * 4
    cache = RedisCache(redis_client, namespace=redis_namespace)
    assert len(cache) == MP_URLS
    for entry in cache.iter_entries():
        who = int(entry.response.headers["X-Writer"])
        index = int(entry.url.rsplit("/", 1)[1])
        assert cache.read_body(entry.key) == body_of(entry.url, who, _mp_size(index, who))
    assert not [
        k for k in namespace_keys(redis_client, redis_namespace) if redis_client.ttl(k) > 900
    ]


BIG_CHUNK = 64 * 1024
BIG = 40 * BIG_CHUNK + 123


def _killed_writer(url: str, namespace: str, conn: object, forever: bool) -> None:
    """Write a large body; tell the parent after some chunks; it kills us (SIGKILL)."""
    cache = RedisCache(url=url, namespace=namespace, chunk_size=BIG_CHUNK)
    target = "http://kill.test/big"
    if not forever:  # stop in the middle of one write, and wait for the signal
        writer = cache.open_writer(live_entry(target, writer=2))
        body = body_of(target, 2, BIG)
        for n, start in enumerate(range(0, BIG, BIG_CHUNK)):
            writer.write(body[start : start + BIG_CHUNK])
            if n == 10:
                conn.send("half written")  # type: ignore[attr-defined]
                conn.recv()  # type: ignore[attr-defined]  # never answered
    for generation in range(3, 10_000):  # commit after commit; killed at any point
        cache.save(live_entry(target, writer=generation), body_of(target, generation, BIG))
        if generation == 5:
            conn.send("rewriting")  # type: ignore[attr-defined]


@pytest.mark.parametrize("forever", [False, True], ids=["mid-write", "mid-rewrites"])
def test_writer_killed_leaves_old_or_new_never_a_mix(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    redis_namespace: str,
    forever: bool,
) -> None:
    cache = RedisCache(redis_client, namespace=redis_namespace, chunk_size=BIG_CHUNK)
    target = "http://kill.test/big"
    cache.save(live_entry(target, writer=1, ttl=None), body_of(target, 1, BIG))
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=_killed_writer, args=(redis_server.url, redis_namespace, child, forever)
    )
    process.start()
    try:
        assert parent.poll(30), "the writer never reported"
        parent.recv()
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
    assert process.exitcode == -signal.SIGKILL
    [entry] = cache.find(live_entry(target).primary_key)
    who = int(entry.response.headers["X-Writer"])
    assert cache.read_body(entry.key) == body_of(target, who, BIG)
    if not forever:
        assert who == 1  # the interrupted write never became visible
        pending = [k for k in namespace_keys(redis_client, redis_namespace) if ":b:" in k]
        ttls = sorted(redis_client.ttl(k) for k in pending)
        assert ttls[0] == -1 and 0 < ttls[1] <= redis_module.PENDING_TTL  # old body, orphan


def test_body_lost_mid_stream_is_a_broken_read(redis_client: redis.Redis) -> None:
    cache = RedisCache(redis_client, namespace="broken", chunk_size=SMALL_CHUNK)
    entry = cache.save(live_entry("http://h.test/b"), b"z" * 3 * SMALL_CHUNK)
    stream = cache.open_body(entry.key)
    assert stream is not None and stream.read(SMALL_CHUNK) == b"z" * SMALL_CHUNK
    [body] = [k for k in namespace_keys(redis_client, "broken") if ":b:" in k]
    redis_client.delete(body)  # dropped by Redis (memory pressure) under the reader
    with pytest.raises(OSError, match="vanished") as caught:
        stream.read()
    assert isinstance(caught.value, StorageError)


def test_deleted_or_cleared_under_a_reader_the_body_is_read_to_its_end(
    redis_client: redis.Redis,
) -> None:
    cache = RedisCache(redis_client, namespace="grace", chunk_size=SMALL_CHUNK)
    body = bytes(range(256)) * (3 * SMALL_CHUNK // 256 + 1)
    for remove in (lambda key: cache.delete_keys([key]), lambda _key: cache.clear()):
        entry = cache.save(live_entry("http://h.test/g"), body)
        stream = cache.open_body(entry.key)
        assert stream is not None and stream.read(SMALL_CHUNK) == body[:SMALL_CHUNK]
        remove(entry.key)  # another process deletes it, or clears the cache
        assert cache.read_entry(entry.key) is None  # gone for every new reader
        assert stream.read() == body[SMALL_CHUNK:]  # this reader finishes
        bodies = [k for k in namespace_keys(redis_client, "grace") if ":b:" in k]
        assert all(0 < redis_client.ttl(k) <= redis_module.REPLACED_BODY_GRACE for k in bodies)


def test_scripts_flushed_from_the_server_are_loaded_again(
    any_client: redis.Redis | RedisCluster,
) -> None:
    cache = RedisCache(any_client, namespace="flushed", chunk_size=SMALL_CHUNK)
    small = cache.save(live_entry("http://h.test/small"), b"small")
    big = cache.save(live_entry("http://h.test/big"), b"b" * 3 * SMALL_CHUNK)
    for step in range(4):
        any_client.script_flush()  # on a cluster: on every primary
        if step == 0:
            cache.save(small, b"again")
            assert cache.read_body(small.key) == b"again"
        elif step == 1:
            cache.update_head(small.with_changes(expires=small.expires + 10))
            assert cache.read_entry(small.key).expires == small.expires + 10
        elif step == 2:
            assert cache.delete_keys([big.key]) == 1
        else:
            assert len(cache) == 1 and cache.remove_expired(now=time.time() + 10**6) == 1


def test_a_hit_is_one_round_trip_and_counts_ride_along(
    any_client: redis.Redis | RedisCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """find + open_entry + record_lookup: one round trip (commands sent together on a
    server, a pipeline on a cluster), on a server and on a cluster."""
    cache = RedisCache(any_client, namespace="trips")
    body = body_of("http://h.test/hit", 1, 1024)
    entry = cache.save(live_entry("http://h.test/hit", writer=1), body)
    cache.record_lookup(hit=False)
    sent: list[int] = []
    real_pipeline = cache.client.pipeline
    real_send_all = redis_reads.send_all

    def counting_pipeline(*args: object, **kwargs: object) -> object:
        pipe = real_pipeline(*args, **kwargs)
        real_execute = pipe.execute

        def execute(*a: object, **k: object) -> object:
            sent.append(len(pipe))
            return real_execute(*a, **k)

        pipe.execute = execute  # type: ignore[method-assign]
        return pipe

    def counting_send_all(client: object, commands: list[tuple[object, ...]]) -> list[object]:
        sent.append(len(commands))
        return real_send_all(client, commands)

    cache.client.pipeline = counting_pipeline  # type: ignore[method-assign]
    monkeypatch.setattr(redis_reads, "send_all", counting_send_all)
    for _ in range(3):
        [found] = cache.find(entry.primary_key)
        pair = cache.open_entry(found.key)
        assert pair is not None and pair[0] == entry and pair[1].read() == body
        cache.record_lookup(hit=True)
    # One round trip per hit, the first carrying the earlier miss, each the hit before.
    assert len(sent) == 3 and sent[0] == 3 and sent[1] == sent[2] == 3
    del cache.client.pipeline
    other = RedisCache(any_client, namespace="trips")
    assert other.lookup_counts() == (2, 1)  # the last hit is not sent yet
    cache.close()
    assert other.lookup_counts() == (3, 1)


def test_a_redis_that_refuses_to_measure_memory_still_holds_a_limit(
    redis_client: redis.Redis,
    redis_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis before 6.2 has no ZRANDMEMBER, and a managed one may refuse MEMORY: the
    limit then goes by an assumed ratio of memory to bytes, without a warning."""

    def refused(self: object) -> float:
        raise redis.ResponseError("unknown command 'MEMORY'")

    monkeypatch.setattr(redis_index.Index, "_measure", refused)
    cache = RedisCache(redis_client, namespace=redis_namespace, max_size=60_000)
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        for i in range(20):
            cache.save(live_entry(f"http://h.test/{i}"), b"x" * 5_000)
    assert caplog.records == []
    counted = int(redis_client.get(f"{redis_namespace}:{{{redis_namespace}}}:bytes") or 0)
    assert counted * redis_index.ASSUMED_RATIO <= 60_000
    assert cache.read_body(live_entry("http://h.test/19").key) == b"x" * 5_000


def _memory_of(client: redis.Redis | RedisCluster, namespace: str) -> int:
    """What Redis's memory holds for the namespace's keys (``MEMORY USAGE``)."""
    return sum(
        int(client.memory_usage(name, samples=0) or 0)
        for name in client.scan_iter(match=f"{namespace}:*", count=1000)
        if not name.endswith(b":stats")
    )


def test_replaced_bodies_in_their_grace_count_for_max_size(
    any_client: redis.Redis | RedisCluster, redis_namespace: str
) -> None:
    """Rewriting the same URLs with large bodies leaves each old body in its grace
    (for readers in the middle of it): that memory counts, so the limit holds."""
    limit = 300_000
    cache = RedisCache(
        any_client, namespace=redis_namespace, chunk_size=SMALL_CHUNK, max_size=limit
    )
    urls = [f"http://h.test/re/{n}" for n in range(4)]
    largest = 0
    for round_ in range(30):
        for url in urls:
            cache.save(live_entry(url, writer=round_), body_of(url, round_, 20 * SMALL_CHUNK))
        largest = max(largest, _memory_of(any_client, redis_namespace))
    assert largest <= limit * 1.1, f"{largest} bytes in Redis for a limit of {limit}"
    for url in urls:  # the newest bodies are all there
        assert cache.read_body(live_entry(url).key) == body_of(url, 29, 20 * SMALL_CHUNK)
    cache.close()


def test_bodies_in_their_grace_stop_counting_when_it_is_over(
    any_client: redis.Redis | RedisCluster, redis_namespace: str
) -> None:
    cache = RedisCache(any_client, namespace=redis_namespace, chunk_size=SMALL_CHUNK)
    counted = f"{redis_namespace}:{{{redis_namespace}}}:bytes"
    body = b"g" * 10 * SMALL_CHUNK
    cache.save(live_entry("http://h.test/g"), body)
    alone = int(any_client.get(counted) or 0)
    cache.save(live_entry("http://h.test/g"), body)  # the first body enters its grace
    assert int(any_client.get(counted) or 0) == alone + len(body)
    cache.delete_keys([live_entry("http://h.test/g").key])  # and so does the second
    assert int(any_client.get(counted) or 0) == 2 * len(body)
    later = time.time() + redis_module.REPLACED_BODY_GRACE + 1
    with time_machine.travel(later, tick=False):  # the next commit finds the grace over
        cache.save(live_entry("http://h.test/other"), b"small")
    assert 0 < int(any_client.get(counted) or 0) < SMALL_CHUNK  # the small entry only
    cache.close()


def test_a_store_does_not_wait_for_its_reply_and_every_reader_sees_it(
    redis_server: RedisServer, redis_client: redis.Redis, redis_namespace: str
) -> None:
    writer = RedisCache(redis_client, namespace=redis_namespace)
    reader = RedisCache(redis_server.client(), namespace=redis_namespace)
    first = writer.save(live_entry("http://h.test/first"), b"first")  # waits: scripts loaded
    assert not writer._writes.unread._pending
    second = writer.save(live_entry("http://h.test/second"), b"second")
    assert writer._writes.unread._pending  # sent; its reply not read yet
    assert [e.key for e in writer.find(second.primary_key)] == [second.key]  # its own write
    assert not writer._writes.unread._pending  # read by the writer's next call
    # Another client sees it once it ran (not ordered with the writer's connection before).
    assert reader.read_entry(second.key) == second
    assert reader.read_body(second.key) == b"second"
    writer.save(live_entry("http://h.test/third"), b"third")
    writer.close()  # reads the last reply, sends the counts
    assert not writer._writes.unread._pending
    assert {e.url for e in reader.entries()} == {first.url, second.url, "http://h.test/third"}
    reader.close()


def test_a_store_sent_to_a_server_that_lost_its_scripts_is_run_again(
    redis_client: redis.Redis, redis_namespace: str
) -> None:
    cache = RedisCache(redis_client, namespace=redis_namespace)
    cache.save(live_entry("http://h.test/a"), b"a")
    redis_client.script_flush()
    entry = cache.save(live_entry("http://h.test/b"), b"b")  # sent; the server refuses it
    assert cache.read_entry(entry.key) == entry  # the reply read, the store run again
    assert cache.read_body(entry.key) == b"b"
    assert len(cache) == 2
    cache.close()


def test_a_lookup_after_a_store_reads_both_replies_on_one_connection(
    redis_client: redis.Redis, redis_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lookup goes behind the unread store, on its connection: no connection of
    its own from the pool, one send, and it sees the store."""
    cache = RedisCache(redis_client, namespace=redis_namespace)
    cache.save(live_entry("http://h.test/first"), b"first")  # waits: scripts loaded
    stored = cache.save(live_entry("http://h.test/second"), b"second")
    assert cache._writes.unread._pending
    taken: list[object] = []
    pool = redis_client.connection_pool
    real_get = pool.get_connection

    def counting_get(*args: object, **kwargs: object) -> object:
        taken.append(args)
        return real_get(*args, **kwargs)

    monkeypatch.setattr(pool, "get_connection", counting_get)
    assert cache.find(stored.primary_key) == [stored]
    assert taken == [] and not cache._writes.unread._pending
    assert cache.read_body(stored.key) == b"second"


@pytest.mark.parametrize("event", ["scripts lost", "connection closed"])
def test_a_lookup_behind_a_store_that_was_not_run_is_sent_again_and_sees_it(
    redis_client: redis.Redis, redis_namespace: str, event: str
) -> None:
    cache = RedisCache(redis_client, namespace=redis_namespace)
    cache.save(live_entry("http://h.test/a"), b"a")
    if event == "scripts lost":
        redis_client.script_flush()
        stored = cache.save(live_entry("http://h.test/b"), b"b")  # the server refuses it
    else:
        stored = cache.save(live_entry("http://h.test/b"), b"b")
        pending_connection = cache._writes.unread._pending[threading.get_ident()][0]
        pending_connection.disconnect()  # its reply is lost with it
    assert cache.find(stored.primary_key) == [stored]  # run again, then looked up anew
    assert cache.read_body(stored.key) == b"b" and len(cache) == 2
    cache.close()


def test_a_freshening_after_a_lookup_does_not_wait_and_is_seen_by_every_reader(
    redis_server: RedisServer, redis_client: redis.Redis, redis_namespace: str
) -> None:
    """A 304's head update (the head read by this thread's lookup, so its body's size
    is known) is sent and its reply read at the next call, as a store's is."""
    cache = RedisCache(redis_client, namespace=redis_namespace)
    reader = RedisCache(redis_server.client(), namespace=redis_namespace)
    entry = cache.save(live_entry("http://h.test/f", ttl=10), b"body")
    [found] = cache.find(entry.primary_key)
    sooner = time.time() + 1000
    cache.update_head(found.with_changes(expires=sooner, stale_until=sooner + 30))
    assert not cache._writes.unread._pending  # the first waits: its script is loaded
    [found] = cache.find(entry.primary_key)
    assert found.expires == sooner
    later = time.time() + 5000
    freshened = found.with_changes(expires=later, stale_until=later + 30)
    cache.update_head(freshened)
    assert cache._writes.unread._pending  # sent; its reply not read yet
    assert cache.find(entry.primary_key) == [freshened]  # its own write; the reply read
    assert not cache._writes.unread._pending
    assert reader.read_entry(entry.key) == freshened  # another client, once it ran
    assert [e.expires for e in reader.entries()] == [later]  # its index row too
    assert cache.read_body(entry.key) == b"body"
    cache.close()
    reader.close()


def _stored_freshened_and_found(cache: RedisCache) -> tuple[Entry, Entry]:
    """An entry stored and freshened once (the freshen script is loaded: the next
    freshening is sent without waiting), then found by a lookup."""
    entry = cache.save(live_entry("http://h.test/f"), b"body")
    [found] = cache.find(entry.primary_key)
    cache.update_head(found)  # waits: its script is loaded
    assert not cache._writes.unread._pending
    [found] = cache.find(entry.primary_key)
    return entry, found


def test_a_freshening_whose_index_row_had_gone_puts_it_back_when_its_reply_is_read(
    redis_client: redis.Redis, redis_namespace: str
) -> None:
    cache = RedisCache(redis_client, namespace=redis_namespace)
    entry, found = _stored_freshened_and_found(cache)
    meta = f"{redis_namespace}:{{{redis_namespace}}}:meta"
    redis_client.hdel(meta, entry.key)  # pruned, say
    cache.update_head(found.with_changes(expires=found.expires + 60))
    assert cache._writes.unread._pending and not redis_client.hexists(meta, entry.key)
    cache.find(entry.primary_key)  # reads the reply, which says the row was gone
    assert redis_client.hexists(meta, entry.key)
    assert [e.key for e in cache.entries()] == [entry.key]
    cache.close()


def test_a_freshening_sent_to_a_server_that_lost_its_scripts_is_run_again(
    redis_client: redis.Redis, redis_namespace: str
) -> None:
    cache = RedisCache(redis_client, namespace=redis_namespace)
    entry, found = _stored_freshened_and_found(cache)
    redis_client.script_flush()
    freshened = found.with_changes(expires=found.expires + 60)
    cache.update_head(freshened)  # sent; the server refuses it
    assert cache.find(entry.primary_key) == [freshened]  # run again, then looked up anew
    assert cache.read_body(entry.key) == b"body"
    cache.close()


def test_a_listing_reads_a_head_larger_than_its_first_read_whole(
    redis_client: redis.Redis, redis_namespace: str
) -> None:
    """A listing reads the first HEAD_READ bytes of each head; a longer entry (large
    header fields) is read again whole, and comes out intact."""
    cache = RedisCache(redis_client, namespace=redis_namespace)
    now = time.time()
    fields = {"X-Big": "b" * (2 * HEAD_READ)}
    big = make_entry("http://h.test/big", created_at=now, expires=now + 600, headers=fields)
    small = cache.save(live_entry("http://h.test/small"), b"small body")
    stored = cache.save(big, b"big body")
    listed = {entry.key: entry for entry in cache.iter_entries()}
    assert listed == {small.key: small, stored.key: stored}
    assert listed[stored.key].response.headers["X-Big"] == "b" * (2 * HEAD_READ)
    cache.close()


# ---- listing many entries ---------------------------------------------------------------


def _fill(cache: RedisCache, count: int) -> tuple[dict[str, Entry], dict[str, Entry]]:
    """``count`` entries, every third one expired (Redis keeps it a while): the fresh
    and the expired ones by key."""
    fresh: dict[str, Entry] = {}
    expired: dict[str, Entry] = {}
    now = time.time()
    for i in range(count):
        expires = now - 10 if i % 3 == 0 else now + 600 + i
        entry = make_entry(f"http://h{i % 7}.test/{i}", created_at=now - 20, expires=expires)
        stored = cache.save(entry, b"x" * (i % 50))
        (expired if i % 3 == 0 else fresh)[stored.key] = stored
    return fresh, expired


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of a few rows: a listing of a few hundred entries takes many."""
    monkeypatch.setattr(redis_index, "FIRST_PAGE", 4)
    monkeypatch.setattr(redis_index, "PAGE", 16)


def test_a_listing_of_many_pages_gives_each_entry_once_with_its_metadata(
    any_client: redis.Redis | RedisCluster, redis_namespace: str, small_pages: None
) -> None:
    cache = RedisCache(any_client, namespace=redis_namespace)
    fresh, expired = _fill(cache, 300)  # past 128 fields: HSCAN goes page by page
    every = {**fresh, **expired}
    listed = list(cache.entries())
    assert sorted(info.key for info in listed) == sorted(every)  # each once
    assert {info.key: info for info in listed} == {k: EntryInfo.of(e) for k, e in every.items()}
    assert sorted(i.key for i in cache.entries(expired=False)) == sorted(fresh)
    assert sorted(i.key for i in cache.entries(expired=True)) == sorted(expired)
    assert sorted(e.key for e in cache.iter_entries()) == sorted(every)
    assert cache.stats().entries == 300
    url = next(iter(every.values())).url
    assert [info.url for info in cache.entries(url=url)] == [url]
    assert cache.delete(urls=[url]) == 1
    assert sum(1 for _ in cache.entries()) == 299


def test_a_listing_skips_and_prunes_damaged_rows_and_rows_of_vanished_entries(
    any_client: redis.Redis | RedisCluster,
    redis_namespace: str,
    small_pages: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = RedisCache(any_client, namespace=redis_namespace)
    fresh, expired = _fill(cache, 200)
    every = {**fresh, **expired}
    meta = f"{redis_namespace}:{{{redis_namespace}}}:meta"
    damaged = {
        "bogus": b"\xc1",
        "older": b"\x9c\x01" + b"\xc0" * 11,  # format 1
        "foreign": msgpack.packb({"x": 1}),
        "wrong types": msgpack.packb([2, "pk", "GET", "u", "200", *[0] * 8]),
    }
    for key, raw in damaged.items():
        any_client.hset(meta, key, raw)
    vanished = sorted(fresh)[:5] + sorted(expired)[:5]
    for key in vanished:  # Redis dropped them (eviction): only the index rows are left
        any_client.delete(f"{redis_namespace}:{{{every[key].primary_key}}}:h:{key}")
    alive = sorted(set(every) - set(vanished))
    assert sorted(info.key for info in cache.entries()) == alive
    assert not any(any_client.hexists(meta, key) for key in damaged)  # pruned
    assert all(any_client.hexists(meta, key) for key in vanished)  # too young to prune
    assert sorted(i.key for i in cache.entries(expired=True)) == sorted(
        set(expired) - set(vanished)
    )
    monkeypatch.setattr(redis_index, "PRUNE_GRACE", 0.0)
    assert sorted(i.key for i in cache.entries(expired=False)) == sorted(set(fresh) - set(vanished))
    assert sorted(info.key for info in cache.entries()) == alive
    assert not any(any_client.hexists(meta, key) for key in vanished)  # pruned
    assert any_client.hlen(meta) == len(alive)


def test_a_key_scanned_twice_is_listed_once(redis_client: redis.Redis) -> None:
    cache = RedisCache(redis_client, namespace="twice")
    entry = cache.save(live_entry("http://h.test/twice"), b"t")
    raw = redis_client.hget("twice:{twice}:meta", entry.key)
    # An HSCAN page as the script packs it, the key in it twice (HSCAN does that when
    # the hash is resized between two calls).
    keys, raws = msgpack.packb([entry.key, entry.key]), msgpack.packb([raw, raw])
    seen: set[str] = set()
    assert [r.key for r in cache.index.scanned_rows([b"0", keys, raws], seen)] == [entry.key]
    assert cache.index.scanned_rows([b"0", keys, raws], seen) == []


def test_a_listing_stopped_early_reads_little_and_leaves_the_client_sound(
    redis_client: redis.Redis, small_pages: None
) -> None:
    cache = RedisCache(redis_client, namespace="early")
    fresh, expired = _fill(cache, 300)
    _reset_command_stats(redis_client)
    listing = cache.entries()
    first = [next(listing) for _ in range(100)]  # past the pages read alone (4, 8, 16, 32)
    connections = redis_client.info("stats")["total_connections_received"]
    listing.close()  # the replies sent ahead are read: later calls get their own
    # Its connection is back in the pool as sound (none unread, none made anew).
    assert redis_client.info("stats")["total_connections_received"] == connections
    assert redis_client.info("commandstats")["cmdstat_hscan"]["calls"] <= 8  # of 13
    assert all(info.key in fresh or info.key in expired for info in first)
    for _ in range(5):  # on every connection of the pool
        assert redis_client.ping() is True
        assert redis_client.hlen("early:{early}:meta") == 300
        assert sum(1 for _ in cache.entries()) == 300


def test_a_listing_goes_on_when_the_server_loses_its_scripts(
    redis_client: redis.Redis, small_pages: None
) -> None:
    cache = RedisCache(redis_client, namespace="flushed")
    fresh, expired = _fill(cache, 300)
    listing = cache.entries()
    keys = [next(listing).key for _ in range(10)]
    redis_client.script_flush()
    keys += [info.key for info in listing]
    assert sorted(keys) == sorted({**fresh, **expired})
    redis_client.script_flush()
    assert sorted(i.key for i in cache.entries(expired=True)) == sorted(expired)
