"""Recovery: a store that cannot be used as it is still serves what it can.

- An unreadable or foreign SQLite file (garbage, another application's database) at
  the cache's path is moved aside as ``<name>.corrupt-<time>`` with one warning, and
  a new cache is started; ``hc cache clear`` and ``clear()`` work on it.
- Another library's or a future version's files in the store: a miss, never a crash,
  and nothing of theirs is served.
- A read-only store (a read-only file system) serves hits and lists its entries;
  writes are skipped with one warning for the whole time it stays read-only.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from httpcache import CachedSession
from httpcache.caches.sqlite import SQLiteCache
from tests.faults._backends import Store, byte_store  # noqa: F401 - fixture
from tests.support.origin import Origin, counter_handler
from tests.support.warnings import Warnings

from ._proc import Store as ProcStore
from ._proc import remount, tiny_tmpfs

FRESH = {"Cache-Control": "max-age=600"}


def _requests_cache_database(path: Path) -> None:
    """What requests-cache leaves at the same path: its own tables."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE responses (key PRIMARY KEY, value BLOB)")
    conn.execute("CREATE TABLE redirects (key PRIMARY KEY, value)")
    conn.execute("INSERT INTO responses VALUES ('abc', x'80049500')")
    conn.commit()
    conn.close()


UNUSABLE = {
    "garbage": lambda path: path.write_bytes(b"\x00\xff garbage " * 4096),
    "requests-cache's database": _requests_cache_database,
    "an empty file": lambda path: path.write_bytes(b""),
}


@pytest.mark.parametrize("kind", list(UNUSABLE))
def test_an_unusable_sqlite_file_is_moved_aside_and_a_new_cache_started(
    origin: Origin, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "http_cache.sqlite"
    UNUSABLE[kind](path)
    path.chmod(0o644)  # another program's file, readable by all
    original = path.read_bytes()
    url = origin.route("/a", counter_handler(FRESH))
    with Warnings() as warnings:
        session = CachedSession(backend=SQLiteCache(path))
        assert session.get(url).text == "body 1"
        hit = session.get(url)
    assert hit.from_cache and hit.text == "body 1"
    aside = sorted(tmp_path.glob("http_cache.sqlite.corrupt-*"))
    if kind == "an empty file":  # a new cache's file is empty: nothing to move aside
        assert aside == [] and warnings.messages == []
    else:
        assert len(aside) == 1 and aside[0].read_bytes() == original
        assert aside[0].stat().st_mode & 0o777 == 0o600  # it may hold cached responses
        assert len(warnings.messages) == 1 and aside[0].name in warnings.messages[0]
    session.close()


@pytest.mark.parametrize("kind", ["garbage", "requests-cache's database"])
def test_hc_cache_clear_works_on_an_unusable_sqlite_file(
    byte_store: Store,  # noqa: F811
    kind: str,
) -> None:
    if byte_store.name != "sqlite":
        pytest.skip("a SQLite file")
    byte_store.path.parent.mkdir(parents=True, exist_ok=True)
    UNUSABLE[kind](byte_store.path)
    cleared = byte_store.cli("cache", "clear", "--yes")
    assert cleared.exit_code == 0, cleared.output
    assert "Traceback" not in cleared.output
    listed = byte_store.cli("cache", "ls", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []


def _foreign_entry_files(store: Store) -> None:
    """Files another library or a later httpcache might leave in the store's folder."""
    folder = store.path
    (folder / "entries" / "ab").mkdir(parents=True, exist_ok=True)
    # A later httpcache's frame (magic of version 9), and CacheControl's pickle-era file.
    later = folder / "entries" / "ab" / ("ab" + "0" * 30)
    later.write_bytes(b"HCF\x09" + b"\x00" * 64)
    (folder / "entries" / "ab" / ("ab" + "1" * 30)).write_bytes(b"cc=4," + b"\x80\x04" * 40)
    (folder / "requests_cache.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    (folder / "3ab5c1").write_bytes(b"\x80\x04garbage")  # CacheControl's FileCache layout


def test_another_librarys_or_a_later_versions_files_are_misses(
    origin: Origin,
    byte_store: Store,  # noqa: F811
) -> None:
    if byte_store.name not in ("filesystem", "separate-body"):
        pytest.skip("files in a folder")
    url = origin.route("/f", counter_handler(FRESH))
    session = byte_store.session()
    session.get(url)
    _foreign_entry_files(byte_store)
    hit = session.get(url)
    assert hit.from_cache and hit.text == "body 1"
    listed = byte_store.cli("cache", "ls", "--json")
    assert listed.exit_code == 0
    assert [row["url"] for row in json.loads(listed.stdout)] == [url]
    stats = byte_store.cli("cache", "stats", "--json")
    assert stats.exit_code == 0 and json.loads(stats.stdout)["entries"] == 1


# ---- read-only stores ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tmpfs_works() -> bool:
    with tiny_tmpfs(1 << 20) as folder:
        return folder is not None


@pytest.fixture
def read_only_folder(tmpfs_works: bool) -> Iterator[Path]:
    if not tmpfs_works:
        pytest.skip("mounting a tmpfs is not allowed here (root ignores read-only modes)")
    with tiny_tmpfs(16 << 20) as folder:
        assert folder is not None
        yield folder


def _store(backend: str, folder: Path) -> ProcStore:
    if backend == "sqlite":
        return ProcStore("sqlite", str(folder / "cache.sqlite"))
    return ProcStore(backend, str(folder / "cache"))


@pytest.mark.parametrize("backend", ["sqlite", "filesystem", "separate-body"])
def test_a_read_only_store_serves_hits_and_lists_entries(
    origin: Origin, read_only_folder: Path, backend: str
) -> None:
    store = _store(backend, read_only_folder)
    urls = [origin.route(f"/ro/{n}", counter_handler(FRESH)) for n in range(3)]
    writer = CachedSession(backend=store.open())
    for url in urls:
        writer.get(url)
    writer.close()
    remount(read_only_folder, "ro")
    try:
        with Warnings() as warnings:
            session = CachedSession(backend=store.open())  # as a new process would
            for url in urls:
                hit = session.get(url)
                assert hit.from_cache and hit.text == "body 1", url
            assert {e.url for e in session.cache.entries()} == set(urls)
            assert session.cache.stats().entries == 3
            new = origin.route("/ro/new", counter_handler(FRESH))
            for n in (1, 2, 3):  # not stored, each time from the origin
                fetched = session.get(new)
                assert not fetched.from_cache and fetched.text == f"body {n}"
            for url in urls:  # hits still served
                assert session.get(url).from_cache
        assert len(warnings.messages) == 1, warnings.messages
        session.close()
    finally:
        remount(read_only_folder, "rw")
    # Writable again: caching resumes.
    session = CachedSession(backend=store.open())
    session.get(new)
    assert session.get(new).from_cache
    session.close()
