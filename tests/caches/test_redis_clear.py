"""RedisCache.clear() and max_size: bodies left in their grace by a clear still count.

A clear removes every entry at once, but a body of several chunks lives
``REPLACED_BODY_GRACE`` seconds more (a reader in the middle of it finishes). That
memory is Redis's all the same, so ``max_size`` must count it until it goes, as it
does for a body replaced or deleted one at a time.
"""

from __future__ import annotations

import time

import pytest
import redis
import time_machine
from redis.cluster import RedisCluster

from httpcache.caches import redis as redis_module
from httpcache.caches.redis import RedisCache

from .test_redis import SMALL_CHUNK, _memory_of, body_of, live_entry


@pytest.fixture(params=["server", "cluster"])
def any_client(request: pytest.FixtureRequest) -> redis.Redis | RedisCluster:
    fixture = "redis_client" if request.param == "server" else "redis_cluster_client"
    return request.getfixturevalue(fixture)


def _counted(client: redis.Redis | RedisCluster, namespace: str) -> int:
    return int(client.get(f"{namespace}:{{{namespace}}}:bytes") or 0)


def test_a_clear_refilled_at_once_stays_within_max_size(
    any_client: redis.Redis | RedisCluster, redis_namespace: str
) -> None:
    """Filling the cache, clearing it and filling it again within the grace: the
    bodies the clear left for readers count, so the limit holds."""
    limit = 300_000
    cache = RedisCache(
        any_client, namespace=redis_namespace, chunk_size=SMALL_CHUNK, max_size=limit
    )
    largest = 0
    for round_ in range(3):
        for n in range(10):
            url = f"http://h.test/fill/{round_}/{n}"
            cache.save(live_entry(url, writer=round_), body_of(url, round_, 20 * SMALL_CHUNK))
            largest = max(largest, _memory_of(any_client, redis_namespace))
        cache.clear()
    assert largest <= limit * 1.1, f"{largest} bytes in Redis for a limit of {limit}"
    cache.close()


def test_bodies_a_clear_leaves_count_until_their_grace_is_over(
    any_client: redis.Redis | RedisCluster, redis_namespace: str
) -> None:
    cache = RedisCache(any_client, namespace=redis_namespace, chunk_size=SMALL_CHUNK)
    large = b"c" * 10 * SMALL_CHUNK
    cache.save(live_entry("http://h.test/a"), large)
    cache.save(live_entry("http://h.test/b"), large)
    cache.save(live_entry("http://h.test/b"), large)  # b's first body enters its grace
    cache.save(live_entry("http://h.test/inline"), b"small")  # no body list to keep
    cache.clear()
    # Both live bodies and the one already in its grace: three, and nothing else.
    assert _counted(any_client, redis_namespace) == 3 * len(large)
    assert len(cache) == 0
    cache.clear()  # a second clear keeps counting them (their grace is not renewed)
    assert _counted(any_client, redis_namespace) == 3 * len(large)
    later = time.time() + redis_module.REPLACED_BODY_GRACE + 1
    with time_machine.travel(later, tick=False):  # the next commit finds the grace over
        cache.save(live_entry("http://h.test/after"), b"small")
    assert 0 < _counted(any_client, redis_namespace) < SMALL_CHUNK  # the small entry only
    cache.close()


def test_a_body_without_its_head_counts_what_redis_measures(
    any_client: redis.Redis | RedisCluster, redis_namespace: str
) -> None:
    """A body list whose head is gone (a writer killed between its two steps) has
    no size to read: the clear counts what ``MEMORY USAGE`` says of it."""
    cache = RedisCache(any_client, namespace=redis_namespace, chunk_size=SMALL_CHUNK)
    large = b"o" * 10 * SMALL_CHUNK
    entry = cache.save(live_entry("http://h.test/orphan"), large)
    cache.save(live_entry("http://h.test/kept"), large)
    any_client.delete(f"{redis_namespace}:{{{entry.primary_key}}}:h:{entry.key}")
    cache.clear()
    counted = _counted(any_client, redis_namespace)
    assert len(large) + len(large) // 2 < counted < 3 * len(large)  # both, the orphan measured
    assert cache.read_entry(entry.key) is None and len(cache) == 0
    cache.close()
