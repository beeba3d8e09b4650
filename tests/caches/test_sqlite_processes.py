"""SQLiteCache shared by processes: concurrent writers, and a writer killed mid-body.

Children are started with "spawn" and build their own cache from the path, as
separate programs would.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from multiprocessing import get_context
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from httpcache.caches.sqlite import SQLiteCache

from .contract import NOW, make_entry

MiB = 1024 * 1024
spawn = get_context("spawn")


def body_for(url: str, size: int) -> bytes:
    seed = url.encode()
    return (seed * (size // len(seed) + 1))[:size]


def write_and_read(path: str, worker: int, count: int) -> list[str]:
    """Child: store ``count`` URLs (some of them shared with other workers) and read
    each back; return the problems seen."""
    cache = SQLiteCache(path, chunk_size=16 * 1024)
    problems = []
    try:
        for i in range(count):
            # Every 4th URL is written by all workers: same key, racing replacements.
            url = f"http://h.test/shared/{i}" if i % 4 == 0 else f"http://h.test/{worker}/{i}"
            size = 100 + (i * 977) % 40_000  # one to three chunks
            body = body_for(url, size)
            entry = cache.save(make_entry(url), body)
            got = cache.read_body(entry.key)
            if got != body:
                problems.append(f"{url}: {len(got or b'')} bytes, wanted {len(body)}")
            cache.record_lookup(hit=True)
    except Exception as exc:
        problems.append(repr(exc))
    finally:
        cache.close()
    return problems


def test_four_processes_share_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "shared")
    with spawn.Pool(4) as pool:
        results = pool.starmap(write_and_read, [(path, n, 200) for n in range(4)])
    assert results == [[], [], [], []]
    cache = SQLiteCache(path)
    assert len(cache) == 4 * 150 + 50
    for entry in cache.iter_entries():
        size = 100 + (int(entry.url.rsplit("/", 1)[1]) * 977) % 40_000
        assert cache.read_body(entry.key) == body_for(entry.url, size)
    assert cache.stats().hits == 800
    with sqlite3.connect(cache.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    cache.close()


def write_until_killed(path: str, signal_pipe: Connection, commit: bool) -> None:
    """Child: stream a 20 MiB body; say so after a few chunks, then either keep
    writing (and wait, never committing) or commit at once; the parent kills us."""
    cache = SQLiteCache(path)
    writer = cache.open_writer(make_entry(created_at=NOW + 1))
    piece = b"N" * (256 * 1024)
    for written in range(1, 81):
        writer.write(piece)
        if written == 16:  # four chunks are stored
            signal_pipe.send("ready")
            if commit:
                writer.commit()
                signal_pipe.send("committed")
                break
    signal_pipe.recv()  # wait to be killed


OLD_BODY = b"O" * (3 * MiB + 5)  # several chunks: read through a snapshot


@pytest.mark.parametrize("commit", [False, True], ids=["mid-body", "around-commit"])
def test_writer_killed_mid_write_leaves_old_or_new_never_a_mix(
    tmp_path: Path, commit: bool
) -> None:
    path = str(tmp_path / "killed")
    cache = SQLiteCache(path)
    old = cache.save(make_entry(), OLD_BODY)
    parent_end, child_end = spawn.Pipe()
    child = spawn.Process(target=write_until_killed, args=(path, child_end, commit))
    child.start()
    try:
        assert parent_end.poll(60), "the child never reported"
        assert parent_end.recv() == "ready"
        os.kill(child.pid, signal.SIGKILL)  # mid-stream, or racing the commit
    finally:
        child.join(30)
    assert child.exitcode == -signal.SIGKILL

    fresh = SQLiteCache(path)  # as the next process would
    entry = fresh.read_entry(old.key)
    body = fresh.read_body(old.key)
    if entry is None:
        assert body is None
    elif entry.created_at == old.created_at:
        assert (entry, body) == (old, OLD_BODY)
    else:
        assert commit, "an uncommitted body became visible"
        assert entry.size == 16 * 256 * 1024
        assert body == b"N" * entry.size
    with sqlite3.connect(fresh.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # The file is usable at once (no lock left behind), and the dead writer's
    # chunks go with the next clear().
    fresh.save(make_entry("http://h.test/after"), b"after")
    fresh.clear()
    with sqlite3.connect(fresh.path) as conn:
        assert conn.execute("SELECT count(*) FROM bodies").fetchone() == (0,)
    fresh.close()
    cache.close()
