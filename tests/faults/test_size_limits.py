"""Size limits: many 10 KiB entries written through the storage protocol into a cache
whose ``max_size`` is 10 MB. The store stays within the limit plus 10% all along (on
disk for the backends that keep files, SQLite's file and WAL together; in Redis's
memory, as ``MEMORY USAGE`` counts it, for the cache's own keys), the entries kept
are the most recently used ones, ``stats`` counts exactly what is there, and
``clear`` gives the space back (SQLite vacuumed).

How many entries each backend gets is set by what one write costs it on a small CI
machine: 20,000 for memory, fewer for the others, always several times the limit.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from httpcache.caches import redis as redis_module
from httpcache.caches.base import BaseCache
from tests.caches.contract import make_entry
from tests.support.redis_servers import RedisServer

from ._proc import Store, files_under

MAX_SIZE = 10_000_000
BODY = b"s" * 10 * 1024
#: Entries written per backend (each 10 KiB: 200, 40 and 15 MB against 10 MB).
WRITES = {"memory": 20_000, "sqlite": 4_000, "filesystem": 1_500, "separate-body": 1_500}
WRITES["redis"] = 1_500
CHECK_EVERY = 500


def url_of(i: int) -> str:
    return f"http://size{i % 3}.test/{i}"


#: The share of ``max_size / body`` entries kept at least: SQLite counts pages (a
#: 10 KiB body with its head fills three 4 KiB pages), Redis the memory its allocator
#: gives (a 10 KiB value takes 12 KiB) and its index.
KEPT_AT_LEAST = {"sqlite": 0.65, "redis": 0.65}


def footprint(store: Store, cache: BaseCache) -> int:
    """Bytes the store takes: files on disk, Redis's memory for its keys, else what
    the backend counts."""
    if store.backend == "sqlite":
        base = str(store.sqlite_path)
        return sum(os.path.getsize(base + s) for s in ("", "-wal") if os.path.exists(base + s))
    if store.backend in ("filesystem", "separate-body"):
        return sum(files_under(store.folder).values())
    if store.backend == "redis":
        client = redis.Redis.from_url(store.location)
        try:
            return sum(
                client.memory_usage(name, samples=0) or 0
                for name in client.scan_iter(match=b"sizes:*", count=1000)
                if not name.endswith(b":stats")
            )
        finally:
            client.close()
    return cache.stats().bytes


@pytest.fixture(params=list(WRITES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    backend = request.param
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        request.getfixturevalue("redis_client")
        return Store("redis", server.url, namespace="sizes", max_size=MAX_SIZE)
    if backend == "sqlite":
        return Store("sqlite", str(tmp_path / "sizes.sqlite"), max_size=MAX_SIZE)
    return Store(backend, str(tmp_path / "sizes"), max_size=MAX_SIZE)


def test_store_stays_within_max_size_and_clear_gives_space_back(store: Store) -> None:
    cache = store.open()
    writes = WRITES[store.backend]
    largest = 0
    for i in range(writes):
        cache.save(make_entry(url_of(i), expires=None), BODY)
        if i % CHECK_EVERY == CHECK_EVERY - 1:
            largest = max(largest, footprint(store, cache))

    # Exactly the most recently written entries are there, and stats counts them.
    kept = {entry.url for entry in cache.iter_entries()}
    at_least = KEPT_AT_LEAST.get(store.backend, 0.8)
    assert at_least * MAX_SIZE / len(BODY) < len(kept) <= MAX_SIZE / len(BODY)
    assert kept == {url_of(i) for i in range(writes - len(kept), writes)}
    for _ in range(7):
        cache.record_lookup(hit=True)
    for _ in range(3):
        cache.record_lookup(hit=False)
    stats = cache.stats()
    assert (stats.entries, stats.bytes, stats.expired) == (len(kept), len(kept) * len(BODY), 0)
    assert sum(stats.per_host.values()) == len(kept)
    assert (stats.hits, stats.misses) == (7, 3)
    assert len(cache) == len(kept)
    newest = make_entry(url_of(writes - 1))
    assert cache.read_body(newest.key) == BODY

    cache.clear()
    assert len(cache) == 0 and cache.stats().bytes == 0
    if store.backend == "sqlite":
        assert footprint(store, cache) <= 64 * 1024  # vacuumed, WAL emptied
    elif store.backend in ("filesystem", "separate-body"):
        assert footprint(store, cache) <= 4 * 1024
    elif store.backend == "redis":
        client = redis.Redis.from_url(store.location)
        left = {k: client.ttl(k) for k in client.scan_iter(match=b"sizes:*")}
        bodies = [k for k in left if b":b:" in k]
        assert set(left) - set(bodies) <= {b"sizes:{sizes}:stats"}
        # Bodies go a moment later (a reader elsewhere may be in the middle of one).
        assert all(0 < left[k] <= redis_module.REPLACED_BODY_GRACE for k in bodies)
        client.close()
    cache.close()
    assert largest <= MAX_SIZE * 1.1, f"{largest} bytes stored"
