"""Crash mid-write: a process storing a large body is killed (SIGKILL) at many points,
inside the storage write included.

A dry run counts the lines the storage code runs while a child stores a new version
of a 3 MiB body through ``CachedSession`` (streamed), and where its commit begins;
then children are killed at points spread over the whole write, densely over the
commit. After each kill: the next reader gets a whole body the origin sent (from the
cache, old or new, or fresh), SQLite passes ``integrity_check``, no lock is held, and
after the next write (and after ``clear``) no temporary file or orphan is left.
The memory backend dies with its process: nothing to check.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
import redis
import time_machine

from httpcache import CachedSession
from httpcache.caches import redis as redis_module
from httpcache.caches import sqlite as sqlite_module
from httpcache.caches.base import BaseCache
from tests.support.origin import Origin
from tests.support.redis_servers import RedisServer

from ._proc import (
    KillAt,
    Store,
    check_response,
    fast_context,
    files_under,
    held_locks,
    report_errors,
    serve_versioned,
    spread,
)

SIZE = 3 * 1024 * 1024 + 17
CHUNK = 256 * 1024  # SQLite and Redis store the body in 13 pieces
PATH = "/big"
#: Kill points before the commit begins, and over the commit.
WRITE_POINTS = 4
COMMIT_POINTS = 10
CHILD_TIMEOUT = 30.0
#: Waiting this long for a lock means a dead process still holds it.
LOCK_WAIT = 2.0


def store_new_version(store: Store, url: str, kill_at: int, conn: Connection) -> None:
    """Child: fetch a new version of the big body (``force_refresh``), streamed to the
    caller and to storage; killed by its own tracer at line ``kill_at`` of the storage
    code. Sends (lines run, line where commit began, problem) if it lives."""

    def work() -> tuple[int, int | None, str | None]:
        session = CachedSession(backend=store.open())
        with KillAt(kill_at) as tracer:
            response = session.get(url, force_refresh=True, stream=True, timeout=20)
            body = b"".join(response.iter_content(64 * 1024))
        problem = check_response(PATH, SIZE, response.status_code, response.headers, body)
        return tracer.lines, tracer.commit_at, problem

    report_errors(conn, work)


def run_writer(store: Store, url: str, kill_at: int) -> tuple[str, object]:
    """One child: ("killed", None) or ("lived", its report)."""
    context = fast_context()
    parent_end, child_end = context.Pipe()
    child = context.Process(target=store_new_version, args=(store, url, kill_at, child_end))
    child.start()
    child_end.close()
    try:
        reply = parent_end.recv() if parent_end.poll(CHILD_TIMEOUT) else "timeout"
    except EOFError:
        reply = None  # the pipe closed: the child died
    child.join(CHILD_TIMEOUT)
    if child.is_alive():
        child.kill()
        child.join(5)
        pytest.fail(f"the writer killed at line {kill_at} did not end")
    if child.exitcode == -signal.SIGKILL:
        return "killed", None
    assert child.exitcode == 0, (kill_at, child.exitcode, reply)
    return "lived", reply


def read_back(store: Store, url: str) -> BaseCache:
    """The next reader: a new process's cache gets a whole body the origin sent."""
    cache = store.open()
    session = CachedSession(backend=cache)
    started = time.monotonic()
    response = session.get(url, timeout=20)
    assert time.monotonic() - started < LOCK_WAIT + 5
    assert (
        check_response(PATH, SIZE, response.status_code, response.headers, response.content) is None
    )
    return cache


def write_next(cache: BaseCache, url: str) -> None:
    """The next write of the same resource, which must not wait on a dead writer."""
    started = time.monotonic()
    session = CachedSession(backend=cache)
    response = session.get(url, force_refresh=True, timeout=20)
    assert (
        check_response(PATH, SIZE, response.status_code, response.headers, response.content) is None
    )
    assert time.monotonic() - started < LOCK_WAIT + 5, "the next write waited on a lock"
    again = session.get(url, timeout=20)
    assert again.from_cache and again.headers["X-Version"] == response.headers["X-Version"]
    assert again.content == response.content


# ---- what is left behind, per backend ------------------------------------------------


def sqlite_checks(store: Store, after: str) -> None:
    with sqlite3.connect(store.sqlite_path, timeout=LOCK_WAIT) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # The write lock is free: a write transaction starts at once.
        conn.execute("BEGIN IMMEDIATE")
        conn.rollback()
        if after == "clear":
            counts = [
                conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("entries", "bodies", "writers")
            ]
            assert counts == [0, 0, 0]
        elif after == "orphan age":
            # Bodies of dead writers are gone; every chunk belongs to an entry.
            assert conn.execute("SELECT count(*) FROM writers").fetchone() == (0,)
            stray = conn.execute(
                "SELECT count(*) FROM bodies WHERE body_id NOT IN (SELECT body_id FROM entries)"
            ).fetchone()
            assert stray == (0,)
    conn.close()


def file_checks(store: Store, after: str) -> None:
    assert held_locks(store.folder) == []
    files = files_under(store.folder)
    temps = [name for name in files if name.startswith(".tmp" + os.sep)]
    assert temps == [], f"temporary files outlived the {after}"
    if store.backend == "separate-body":
        # Each body file is the one its head names (a crash's leftovers went).
        heads = [n for n in files if n.startswith("entries" + os.sep)]
        bodies = [n for n in files if n.startswith("bodies" + os.sep)]
        assert len(bodies) == len(heads)
    if after == "clear":
        assert [n for n in files if n.startswith(("entries", "bodies", "variants"))] == []


def redis_checks(client: redis.Redis, namespace: str, after: str) -> None:
    keys = [k.decode() for k in client.scan_iter(match=f"{namespace}:*")]
    if after == "clear":
        # Entries go at once; bodies a moment later (a reader may be in the middle),
        # counted for max_size meanwhile (the grace set and the bytes total).
        counting = (f"{namespace}:{{{namespace}}}:grace", f"{namespace}:{{{namespace}}}:bytes")
        left = {k: client.ttl(k) for k in keys if not k.endswith(":stats") and k not in counting}
        assert all(
            ":b:" in k and 0 < ttl <= redis_module.REPLACED_BODY_GRACE for k, ttl in left.items()
        )
        return
    # The entry's body lives as long as the entry (a day); bodies of dead writers and
    # replaced ones expire by themselves, soon.
    bodies = {k: client.ttl(k) for k in keys if ":b:" in k}
    lasting = [k for k, ttl in bodies.items() if ttl == -1 or ttl > redis_module.PENDING_TTL]
    assert len(lasting) == 1, bodies


# ---- the test ------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "filesystem", "separate-body", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    backend = request.param
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        request.getfixturevalue("redis_client")  # the server is up and empty
        return Store("redis", server.url, namespace="crash", options=(("chunk_size", CHUNK),))
    if backend == "sqlite":
        return Store(
            "sqlite", str(tmp_path / "cache" / "http.sqlite"), options=(("chunk_size", CHUNK),)
        )
    return Store(backend, str(tmp_path / "cache"))


def test_writer_killed_anywhere_leaves_a_whole_body(store: Store, origin: Origin) -> None:
    serve_versioned(origin, PATH, SIZE, "max-age=86400")
    url = origin.url(PATH)
    read_back(store, url).close()  # version 1 is stored

    # A dry run: how many lines the write runs, and where its commit begins.
    outcome, report = run_writer(store, url, kill_at=10**9)
    assert outcome == "lived", report
    lines, commit_at, problem = report  # type: ignore[misc]
    assert problem is None and commit_at is not None and 0 < commit_at < lines
    points = spread(1, commit_at, WRITE_POINTS) + spread(commit_at, lines, COMMIT_POINTS)

    killed = 0
    client = redis.Redis.from_url(store.location) if store.backend == "redis" else None
    for kill_at in sorted(set(points)):
        outcome, report = run_writer(store, url, kill_at)
        if outcome == "lived":  # a run may take fewer lines (nothing left to tidy)
            assert report[2] is None, report  # type: ignore[index]
        killed += outcome == "killed"
        cache = read_back(store, url)
        if store.backend == "sqlite":
            sqlite_checks(store, "kill")
        elif client is None:
            assert held_locks(store.folder) == []
        write_next(cache, url)
        if store.backend in ("filesystem", "separate-body"):
            file_checks(store, "next write")
        cache.close()
    assert killed >= len(points) - 2, f"only {killed} of {len(points)} kill points reached"

    cache = store.open()
    if store.backend == "sqlite":
        # SQLite cannot tell a dead writer from a slow one until ORPHAN_AGE has passed:
        # then the next write removes its chunks.
        with time_machine.travel(time.time() + sqlite_module.ORPHAN_AGE + 60, tick=True):
            write_next(cache, url)
        sqlite_checks(store, "orphan age")
    if client is not None:
        redis_checks(client, store.namespace, "kill")
    cache.clear()
    if store.backend == "sqlite":
        sqlite_checks(store, "clear")
    elif client is not None:
        redis_checks(client, store.namespace, "clear")
        client.close()
    else:
        file_checks(store, "clear")
    cache.close()
