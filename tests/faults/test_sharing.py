"""Heavy sharing: 8 processes x 16 threads on 20 hot resources of one cache, with
forced refreshes, revalidations (304), ``clear`` and ``remove_expired`` running
alongside. No call raises, and every body is whole and the very one the origin
sent with the version its headers name (never empty, never torn, never another
version's). The memory backend is shared by the threads of one process.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from httpcache import CachedSession
from tests.caches.contract import NOW, make_entry
from tests.support.origin import Origin
from tests.support.redis_servers import RedisClusterHandle, RedisServer

from ._proc import Store, check_response, fast_context, report_errors, run_children, serve_versioned

PROCESSES = 8
THREADS = 16
CALLS = 6  # per thread: 8 x 16 x 6 = 768 requests per backend, 4608 in all
HOT = 20
CHUNK = 32 * 1024  # bodies of up to 5 pieces in SQLite and Redis
TIMEOUT = 90.0


def size_of(n: int) -> int:
    return 1 + (n * 37_003) % (5 * CHUNK)


def path_of(n: int) -> str:
    return f"/hot/{n}"


def thread_work(session: CachedSession, base: str, worker: int, thread: int) -> Counter[str]:
    """One thread's calls; counts outcomes ("hit", "miss", ...) and problems."""
    seen: Counter[str] = Counter()
    for i in range(CALLS):
        n = (worker * 7 + thread * 3 + i) % HOT
        if thread == 0 and i % 5 == 2:
            session.cache.clear()
            seen["clear"] += 1
        if thread == 1 and i % 5 == 2:
            session.cache.remove_expired()
            seen["remove_expired"] += 1
        force = (thread + i) % 8 == 0
        response = session.get(base + path_of(n), force_refresh=force, timeout=30)
        problem = check_response(
            path_of(n), size_of(n), response.status_code, response.headers, response.content
        )
        if problem:
            seen["problem: " + problem] += 1
        seen["from cache" if response.from_cache else "from origin"] += 1
    return seen


def share(store: Store, base: str, worker: int, threads: int, conn: Connection) -> None:
    """Child: ``threads`` threads, each with its own session on one shared cache."""

    def work() -> dict[str, int]:
        cache = store.open()
        seen: Counter[str] = Counter()
        lock = threading.Lock()
        warnings: list[str] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                warnings.append(record.getMessage())

        logging.getLogger("httpcache").addHandler(Keep(logging.WARNING))

        def run(thread: int) -> None:
            try:
                found = thread_work(CachedSession(backend=cache), base, worker, thread)
            except BaseException:
                found = Counter({"exception: " + traceback.format_exc(): 1})
            with lock:
                seen.update(found)

        pool = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(TIMEOUT)
            if thread.is_alive():
                seen["thread hung"] += 1
        for message in warnings:
            seen["warning: " + message[:300]] += 1
        cache.close()
        return dict(seen)

    report_errors(conn, work)


@pytest.fixture(
    params=["memory", "sqlite", "filesystem", "separate-body", "redis", "redis-cluster"]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    backend = request.param
    chunk = (("chunk_size", CHUNK),)
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        request.getfixturevalue("redis_client")
        return Store("redis", server.url, namespace="sharing", options=chunk)
    if backend == "redis-cluster":
        cluster: RedisClusterHandle = request.getfixturevalue("redis_cluster")
        request.getfixturevalue("redis_cluster_client")
        return Store("redis-cluster", cluster.url, namespace="sharing", options=chunk)
    if backend == "sqlite":
        return Store("sqlite", str(tmp_path / "shared.sqlite"), options=chunk)
    return Store(backend, str(tmp_path / "shared"))


def test_many_processes_and_threads_get_whole_bodies(store: Store, origin: Origin) -> None:
    origin.server.socket.listen(PROCESSES * THREADS)  # room for every connection at once
    for n in range(HOT):
        # Half the resources must be revalidated at every use (304s, head updates)
        # and are what remove_expired removes.
        policy = "max-age=600" if n % 2 else "max-age=0, must-revalidate"
        serve_versioned(origin, path_of(n), size_of(n), policy)
    processes = 1 if store.backend == "memory" else PROCESSES
    argsets = [(store, origin.base, worker, THREADS) for worker in range(processes)]
    replies = run_children(fast_context(), share, argsets, TIMEOUT)

    total: Counter[str] = Counter()
    for reply in replies:
        assert isinstance(reply, dict), reply  # not a crash, nor a timeout
        total.update(reply)
    trouble = {k: v for k, v in total.items() if k.startswith(("problem", "exception", "thread"))}
    assert trouble == {}
    calls = total["from cache"] + total["from origin"]
    assert calls == processes * THREADS * CALLS
    assert total["clear"] and total["remove_expired"]
    # The cache was used: many answers came from it, yet it went to the origin too.
    assert total["from cache"] > calls // 10 and total["from origin"] > HOT
    # Waiting on each other is no storage failure: no lock wait timed out. (A write
    # that a concurrent clear() removed is dropped with a warning: that is allowed.)
    waits = [k for k in total if k.startswith("warning") and ("lock" in k or "timed out" in k)]
    assert waits == []


def test_freshening_an_older_response_keeps_the_newer_one_whole(store: Store) -> None:
    # Two sharers: one revalidates version 1 and gets a 304 while the other has
    # stored version 2 meanwhile. The late 304 must not put v1's head on v2's body.
    cache = store.open()
    old = make_entry("http://h.test/r", created_at=NOW, headers={"X-Version": "1"})
    cache.save(old, b"version 1")
    new = make_entry("http://h.test/r", created_at=NOW + 5, headers={"X-Version": "2"})
    cache.save(new, b"version 2 body")
    cache.update_head(old.with_changes(expires=NOW + 999))  # the late 304 for v1
    opened = cache.open_entry(old.key)
    assert opened is not None
    entry, body = opened
    with body:
        assert (entry.response.headers["X-Version"], body.read()) == ("2", b"version 2 body")
    cache.close()
