"""Backend outages: Redis frozen (SIGSTOP), then killed, then restarted; a cache
folder made read-only or unwritable; a disk that fills. Every call still gets the
origin's response, within the backend's timeout plus a second; one warning is logged
for the whole outage; caching resumes once the store is back.

Root ignores permissions, so read-only and full disks come from a tiny tmpfs
(remounted read-only, or filled) where this machine lets us mount one; else a full
disk is ``RLIMIT_FSIZE`` in a child process. Unwritable is a regular file where the
cache folder should be, which stops root too.
"""

from __future__ import annotations

import os
import resource
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from httpcache import CachedSession
from tests.support.origin import Origin
from tests.support.redis_servers import RedisServer
from tests.support.warnings import Warnings

from ._proc import (
    Store,
    check_response,
    fast_context,
    remount,
    report_errors,
    run_children,
    serve_versioned,
    tiny_tmpfs,
)

SIZE = 64 * 1024
PATHS = [f"/o/{n}" for n in range(12)]
#: How long a store waits before giving up: Redis's socket timeouts, SQLite's busy
#: timeout. A call may take this plus a second.
TIMEOUT = 0.5
#: How long caching may take to resume once the store is back.
RESUME_WITHIN = 5.0


def fetch(session: CachedSession, base: str, path: str, problems: list[str]) -> bool:
    """One call: the origin's response, in time. Returns whether it came from the cache."""
    started = time.monotonic()
    response = session.get(base + path, timeout=10)
    took = time.monotonic() - started
    problem = check_response(path, SIZE, response.status_code, response.headers, response.content)
    if problem:  # with what tells where the answer came from
        status = getattr(response, "cache_status", None)
        problems.append(f"{problem} ({status}, {response.content[:40]!r}, {response.url})")
    if took > TIMEOUT + 1.0:
        problems.append(f"{path}: {took:.2f} s")
    return bool(response.from_cache)


def run_outage(
    session: CachedSession, base: str, phases: list[Callable[[], None]], repair: Callable[[], None]
) -> list[str]:
    """Cache some paths; break the store (one phase after another, calls in each);
    repair it; caching must resume. Returns the problems seen."""
    problems: list[str] = []
    for path in PATHS[:3]:
        fetch(session, base, path, problems)
        if not fetch(session, base, path, problems):
            problems.append(f"{path}: not cached before the outage")
    with Warnings() as warnings:
        for phase in phases:
            phase()
            for path in PATHS:  # stored ones and new ones
                fetch(session, base, path, problems)
        repair()
        deadline = time.monotonic() + RESUME_WITHIN
        resumed = False
        for path in PATHS[3:] * 100:  # short polling, bounded by the deadline
            fetch(session, base, path, problems)
            if fetch(session, base, path, problems):
                resumed = True
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
    if not resumed:
        problems.append("caching did not resume")
    if len(warnings.messages) != 1:
        problems.append(f"{len(warnings.messages)} warnings: {warnings.messages}")
    return problems


def routes(origin: Origin) -> str:
    for path in PATHS:
        serve_versioned(origin, path, SIZE)
    return origin.base


# ---- Redis ---------------------------------------------------------------------------------


def test_redis_frozen_then_killed_then_restarted(
    redis_server: RedisServer, redis_client: object, origin: Origin
) -> None:
    options = (("socket_timeout", TIMEOUT), ("socket_connect_timeout", TIMEOUT))
    store = Store("redis", redis_server.url, namespace="outage", options=options)
    session = CachedSession(backend=store.open())
    try:
        problems = run_outage(
            session,
            routes(origin),
            [redis_server.pause, redis_server.stop],
            redis_server.start,
        )
    finally:
        redis_server.ensure_up()
    assert problems == []


# ---- files and SQLite --------------------------------------------------------------------

FILE_BACKENDS = ["sqlite", "filesystem", "separate-body"]


def store_in(backend: str, folder: Path) -> Store:
    if backend == "sqlite":
        return Store("sqlite", str(folder / "cache.sqlite"), options=(("busy_timeout", TIMEOUT),))
    return Store(backend, str(folder / "cache"))


@pytest.mark.parametrize("backend", FILE_BACKENDS)
def test_unwritable_folder(backend: str, tmp_path: Path, origin: Origin) -> None:
    # The store's folder was made; then a regular file took its parent's place.
    parent = tmp_path / "parent"
    store = store_in(backend, parent)
    session = CachedSession(backend=store.open())
    moved = tmp_path / "moved"

    def block() -> None:
        session.cache.close()
        parent.rename(moved)
        parent.write_bytes(b"not a folder")

    def unblock() -> None:
        parent.unlink()
        moved.rename(parent)

    assert run_outage(session, routes(origin), [block], unblock) == []


@pytest.fixture(scope="module")
def tmpfs_works() -> bool:
    with tiny_tmpfs(1 << 20) as folder:
        return folder is not None


@pytest.mark.parametrize("backend", FILE_BACKENDS)
def test_read_only_folder(backend: str, origin: Origin, tmpfs_works: bool) -> None:
    if not tmpfs_works:
        pytest.skip("mounting a tmpfs is not allowed here (root ignores read-only modes)")
    with tiny_tmpfs(16 << 20) as folder:
        assert folder is not None
        session = CachedSession(backend=store_in(backend, folder).open())

        def read_only() -> None:
            session.cache.close()  # files open for writing would keep the remount busy
            remount(folder, "ro")

        problems = run_outage(session, routes(origin), [read_only], lambda: remount(folder, "rw"))
        session.cache.close()
    assert problems == []


@pytest.mark.parametrize("backend", FILE_BACKENDS)
def test_disk_fills(backend: str, origin: Origin, tmpfs_works: bool, tmp_path: Path) -> None:
    base = routes(origin)
    if not tmpfs_works:  # a file size limit in a child process instead
        store = store_in(backend, tmp_path)
        [reply] = run_children(fast_context(), outage_with_file_limit, [(store, base)], 60)
        assert reply == [], reply
        return
    with tiny_tmpfs(2 << 20) as folder:
        assert folder is not None
        session = CachedSession(backend=store_in(backend, folder).open())
        filler = folder / "filler"

        def fill() -> None:
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while True:  # until the disk is full
                    os.write(fd, b"f" * 65536)
            except OSError:
                pass
            finally:
                os.close(fd)

        problems = run_outage(session, base, [fill], filler.unlink)
        session.cache.close()
    assert problems == []


def outage_with_file_limit(store: Store, base: str, conn: Connection) -> None:
    """Child: the same outage, with ``RLIMIT_FSIZE`` below a body's size (EFBIG)."""

    def work() -> list[str]:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        session = CachedSession(backend=store.open())
        limit = SIZE // 2  # no file may grow past it: no body can be stored

        def fill() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))

        def free() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

        return run_outage(session, base, [fill], free)

    report_errors(conn, work)
