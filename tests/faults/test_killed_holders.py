"""A lock held by a process that was killed (``kill -9``) blocks nothing: the file
backends' stripe lock files and SQLite's write lock are released with the process
that held them, and the next store of the same entry goes through.

(``test_crash`` kills writers at many points of a write; here a process is killed
while it only holds the lock, the worst moment for a lock file.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from httpcache import CachedSession
from tests.support.origin import Origin, counter_handler

from ._proc import Store

FRESH = {"Cache-Control": "max-age=600"}

#: Child: take the lock the next store of entry ``key`` needs, say so, wait to be killed.
HOLD_FILE_LOCK = """
import sys, time
from httpcache.caches.file import FileCache
from httpcache.caches.separate_body import SeparateBodyFileCache
from httpcache.caches._files import name_of
kind, location, key = sys.argv[1:]
cache = (FileCache if kind == "filesystem" else SeparateBodyFileCache)(location)
with cache._locked(name_of(key)[:2]):
    print("locked", flush=True)
    time.sleep(600)
"""
HOLD_SQLITE_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[2], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE counters SET value = value WHERE name = 'hits'")
print("locked", flush=True)
time.sleep(600)
"""


def _store(backend: str, folder: Path) -> Store:
    if backend == "sqlite":
        # A short busy timeout: the lock must be free at once, not after a wait.
        return Store("sqlite", str(folder / "cache.sqlite"), options=(("busy_timeout", 2.0),))
    return Store(backend, str(folder / "cache"))


@pytest.mark.parametrize("backend", ["sqlite", "filesystem", "separate-body"])
def test_a_lock_held_by_a_killed_process_blocks_nothing(
    origin: Origin, tmp_path: Path, backend: str
) -> None:
    store = _store(backend, tmp_path)
    url = origin.route("/locked", counter_handler(FRESH))
    session = CachedSession(backend=store.open())
    key = session.get(url).cache_key
    assert session.get(url).from_cache
    code = HOLD_SQLITE_LOCK if backend == "sqlite" else HOLD_FILE_LOCK
    location = str(store.sqlite_path) if backend == "sqlite" else store.location
    holder = subprocess.Popen(
        [sys.executable, "-c", code, backend, location, key], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
    finally:
        holder.kill()
        holder.wait()
    # The holder is dead: the next store of the same entry goes through.
    refreshed = session.get(url, force_refresh=True)
    assert refreshed.text == "body 2"
    hit = session.get(url)
    assert hit.from_cache and hit.text == "body 2"
    session.close()
