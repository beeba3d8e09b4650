from __future__ import annotations

import io
import logging
import os
import shutil
import sqlite3
import stat
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from httpcache.caches.base import BaseCache, EntryInfo
from httpcache.caches.memory import DictCache
from httpcache.caches.sqlite import SQLiteCache, resolve_path
from httpcache.caches.sqlite import index as sqlite_index
from httpcache.errors import StorageError
from httpcache.models import Headers, Response
from httpcache.serialize import dumps_entry

from .contract import NOW, CacheContract, make_entry

CHUNK = 64 * 1024  # small chunks, so that multi-chunk bodies stay small in tests


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "cache.sqlite"


@pytest.fixture
def cache(db_path: Path) -> Iterator[SQLiteCache]:
    cache = SQLiteCache(db_path, chunk_size=CHUNK)
    yield cache
    cache.close()


def raw(path: Path) -> sqlite3.Connection:
    """A plain connection, to look at (or damage) the file behind the cache's back."""
    return sqlite3.connect(path, isolation_level=None)


def body_of(size: int, seed: int = 0) -> bytes:
    pattern = bytes((seed + i) % 251 for i in range(251))
    return (pattern * (size // len(pattern) + 1))[:size]


class TestSQLiteCache(CacheContract):
    @pytest.fixture
    def cache(self, db_path: Path) -> Iterator[SQLiteCache]:
        cache = SQLiteCache(db_path)
        yield cache
        cache.close()

    @pytest.fixture
    def reopen(self, db_path: Path) -> Iterator[Callable[[BaseCache], BaseCache]]:
        opened: list[BaseCache] = []

        def reopen(cache: BaseCache) -> BaseCache:
            cache.close()
            opened.append(SQLiteCache(db_path))
            return opened[-1]

        yield reopen
        for cache in opened:
            cache.close()


# ---- file, folders, permissions ------------------------------------------------------


def test_sqlite_suffix_added_only_when_missing(tmp_path: Path) -> None:
    assert resolve_path(tmp_path / "demo_cache") == tmp_path / "demo_cache.sqlite"
    assert resolve_path(tmp_path / "demo.sqlite") == tmp_path / "demo.sqlite"
    assert resolve_path(tmp_path / "demo.db") == tmp_path / "demo.db"


def test_use_cache_dir_puts_relative_paths_in_the_user_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = SQLiteCache("demo", use_cache_dir=True)
    assert cache.path == tmp_path / "xdg" / "httpcache" / "demo.sqlite"
    absolute = SQLiteCache(tmp_path / "here", use_cache_dir=True)
    assert absolute.path == tmp_path / "here.sqlite"


def test_nothing_is_created_before_first_use(tmp_path: Path) -> None:
    SQLiteCache(tmp_path / "a" / "b" / "cache")
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_folders_0700_and_files_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        cache = SQLiteCache(tmp_path / "new" / "sub" / "cache")
        cache.save(make_entry(), b"x")
        files = ["cache.sqlite", "cache.sqlite-wal", "cache.sqlite-shm"]
        modes = {
            name: stat.S_IMODE((tmp_path / "new" / "sub" / name).stat().st_mode) for name in files
        }
        cache.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new" / "sub").stat().st_mode) == 0o700
    assert modes == dict.fromkeys(files, 0o600)


def test_existing_folders_are_left_alone(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    SQLiteCache(tmp_path / "cache").save(make_entry(), b"x")
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755


def test_wal_mode_and_schema(cache: SQLiteCache, db_path: Path) -> None:
    cache.save(make_entry(), b"x")
    with raw(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"entries", "bodies", "writers", "counters", "entries_primary_key"} <= names


# ---- persistence ------------------------------------------------------------------------


def test_everything_survives_a_new_instance(cache: SQLiteCache, db_path: Path) -> None:
    entry = cache.save(make_entry(), body_of(200_000))
    cache.record_lookup(hit=True)
    cache.record_lookup(hit=False)
    cache.record_lookup(hit=False)
    cache.close()
    again = SQLiteCache(db_path)
    assert again.read_entry(entry.key) == entry
    assert again.read_body(entry.key) == body_of(200_000)
    assert again.lookup_counts() == (1, 2)
    assert (again.stats().hits, again.stats().misses) == (1, 2)
    again.close()


def test_a_batch_stores_together_at_its_end(cache: SQLiteCache, db_path: Path) -> None:
    outside = SQLiteCache(db_path, busy_timeout=0.1)
    entries = [make_entry(f"http://example.test/{i}") for i in range(5)]
    with cache.batch():
        for i, entry in enumerate(entries):
            cache.save(entry, b"body %d" % i)
        # The writer sees its own entries; another connection sees none yet.
        assert [cache.read_body(e.key) for e in entries] == [b"body %d" % i for i in range(5)]
        assert cache.find(entries[0].primary_key) == [cache.read_entry(entries[0].key)]
        assert outside.read_entry(entries[0].key) is None
        with pytest.raises(StorageError):  # other writers wait for the end
            outside.save(make_entry("http://example.test/other"), b"x")
    assert [outside.read_body(e.key) for e in entries] == [b"body %d" % i for i in range(5)]
    assert len(outside) == 5 and outside.stats().bytes == 5 * len(b"body 0")
    outside.close()


def test_a_batch_that_raises_stores_nothing(cache: SQLiteCache) -> None:
    kept = cache.save(make_entry("http://example.test/kept"), b"kept")
    with pytest.raises(RuntimeError), cache.batch():
        cache.save(make_entry("http://example.test/a"), b"a")
        cache.delete(kept.key)
        raise RuntimeError("stop")
    assert cache.read_body(kept.key) == b"kept"
    assert cache.read_entry(make_entry("http://example.test/a").key) is None
    assert len(cache) == 1
    cache.save(make_entry("http://example.test/b"), b"b")  # and the cache goes on
    assert len(cache) == 2


def test_a_failed_write_in_a_batch_undoes_only_itself(cache: SQLiteCache) -> None:
    first = make_entry("http://example.test/first")
    with cache.batch():
        cache.save(first, b"first")
        writer = cache.open_writer(make_entry("http://example.test/second"))
        writer.write(b"x" * (CHUNK + 1))  # a chunk stored within the batch
        with pytest.raises(StorageError), cache.connections.transaction("fail") as conn:
            conn.execute("DELETE FROM heads")
            conn.execute("INSERT INTO no_such_table VALUES (1)")
        writer.commit()
    assert cache.read_body(first.key) == b"first"
    assert cache.read_body(make_entry("http://example.test/second").key) == b"x" * (CHUNK + 1)


def test_close_closes_connections_of_every_thread_and_reopens(cache: SQLiteCache) -> None:
    entry = cache.save(make_entry(), b"x")
    worker = threading.Thread(target=lambda: cache.read_entry(entry.key))
    worker.start()
    worker.join()
    conns = cache.connections.all_open()
    assert len(conns) == 2
    cache.close()
    for conn in conns:
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")
    assert cache.read_entry(entry.key) == entry  # used again: reopened


# ---- bodies: chunks, streaming, snapshots ----------------------------------------------


def test_body_is_stored_in_chunks(cache: SQLiteCache, db_path: Path) -> None:
    entry = cache.save(make_entry(), body_of(5 * CHUNK + 10))
    with raw(db_path) as conn:
        sizes = [row[0] for row in conn.execute("SELECT length(data) FROM bodies ORDER BY seq")]
    assert sizes == [CHUNK] * 5 + [10]
    assert cache.read_entry(entry.key).size == 5 * CHUNK + 10


def test_streamed_body_reads_like_a_file(cache: SQLiteCache) -> None:
    body = body_of(3 * CHUNK + 123)
    entry = cache.save(make_entry(), body)
    with cache.open_body(entry.key) as stream:
        assert stream.readable()
        first = stream.read(100)
        across = stream.read(CHUNK)  # crosses a chunk boundary
        buffer = bytearray(1000)
        count = stream.readinto(buffer)
        rest = stream.read()
        assert stream.read(10) == b""
    assert first + across + bytes(buffer[:count]) + rest == body
    assert stream.closed
    with pytest.raises(ValueError):
        stream.read(1)
    # Wrapped the way a driver might, it still reads the same.
    with io.BufferedReader(cache.open_body(entry.key)) as buffered:  # type: ignore[arg-type]
        assert buffered.read() == body


def test_large_body_streams_in_flat_memory(tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "big")  # real 1 MiB chunks
    size = 48 * 1024 * 1024
    piece = body_of(256 * 1024)
    tracemalloc.start()
    try:
        writer = cache.open_writer(make_entry())
        for _ in range(size // len(piece)):
            writer.write(piece)
        entry = writer.commit()
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        seen = 0
        with cache.open_body(entry.key) as stream:
            while chunk := stream.read(256 * 1024):
                assert chunk == piece
                seen += len(chunk)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        cache.close()
    assert seen == size == entry.size
    assert write_peak < 8 * 1024 * 1024
    assert read_peak < 8 * 1024 * 1024


def test_reader_keeps_the_old_body_while_it_is_replaced(cache: SQLiteCache) -> None:
    old_body, new_body = body_of(6 * CHUNK, seed=1), body_of(4 * CHUNK + 7, seed=2)
    entry = cache.save(make_entry(), old_body)
    stream = cache.open_body(entry.key)
    head = stream.read(CHUNK + 5)
    cache.save(make_entry(created_at=NOW + 1), new_body)  # chunks of the old body deleted
    assert head + stream.read() == old_body
    stream.close()
    assert cache.read_body(entry.key) == new_body


@pytest.mark.parametrize("change", ["delete", "clear", "remove_expired"])
def test_reader_keeps_its_body_whatever_happens_meanwhile(cache: SQLiteCache, change: str) -> None:
    body = body_of(5 * CHUNK + 1)
    entry = cache.save(make_entry(expires=NOW - 1), body)
    with cache.open_body(entry.key) as stream:
        head = stream.read(10)
        if change == "delete":
            assert cache.delete(entry.key) == 1
        elif change == "clear":
            cache.clear()  # cannot compact the file under a reader: no wait, no error
        else:
            assert cache.remove_expired(now=NOW) == 1
        assert head + stream.read() == body
    assert cache.open_body(entry.key) is None


def test_readers_in_threads_while_a_writer_replaces(cache: SQLiteCache) -> None:
    bodies = [body_of(3 * CHUNK + n, seed=n) for n in range(8)]
    entry = cache.save(make_entry(), bodies[0])
    seen: list[bytes] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(20):
                with cache.open_body(entry.key) as stream:
                    seen.append(stream.read())
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    for body in bodies[1:]:
        cache.save(make_entry(), body)
    for thread in readers:
        thread.join()
    assert errors == []
    assert seen and all(body in bodies for body in seen)


@pytest.mark.parametrize("size", [10, 3 * CHUNK + 1], ids=["one chunk", "streamed"])
def test_open_entry_pairs_head_and_body_of_one_write(cache: SQLiteCache, size: int) -> None:
    assert cache.open_entry("nope") is None
    old = cache.save(make_entry(), body_of(size, seed=1))
    entry, stream = cache.open_entry(old.key)
    new = cache.save(make_entry(created_at=NOW + 1), body_of(size + 5, seed=2))
    with stream:
        assert (entry, stream.read()) == (old, body_of(size, seed=1))
    entry, stream = cache.open_entry(old.key)
    with stream:
        assert (entry, stream.read()) == (new, body_of(size + 5, seed=2))


def test_unclosed_reader_gives_its_connection_back_when_collected(cache: SQLiteCache) -> None:
    entry = cache.save(make_entry(), body_of(3 * CHUNK))
    stream = cache.open_body(entry.key)
    stream.read(10)
    del stream
    assert cache.connections.idle_readers() == 1
    cache.clear()  # compacting works: no snapshot left open


# ---- writers --------------------------------------------------------------------------


def chunk_rows(path: Path) -> int:
    with raw(path) as conn:
        return conn.execute("SELECT count(*) FROM bodies").fetchone()[0]


def test_chunks_of_an_unfinished_write_are_invisible_then_discarded(
    cache: SQLiteCache, db_path: Path
) -> None:
    old = cache.save(make_entry(), b"old")  # smaller than a chunk: kept with its head
    writer = cache.open_writer(make_entry(created_at=NOW + 1))
    writer.write(body_of(3 * CHUNK))
    assert chunk_rows(db_path) == 3  # written, but nothing refers to them
    assert cache.read_entry(old.key) == old
    assert cache.read_body(old.key) == b"old"
    assert cache.stats().bytes == 3
    writer.abort()
    assert chunk_rows(db_path) == 0
    writer.abort()  # twice is fine


def test_writer_used_as_context_manager_aborts_on_error(cache: SQLiteCache, db_path: Path) -> None:
    with pytest.raises(RuntimeError), cache.open_writer(make_entry()) as writer:
        writer.write(body_of(2 * CHUNK))
        raise RuntimeError("download failed")
    assert chunk_rows(db_path) == 0
    assert len(cache) == 0


def test_commit_twice_or_write_after_commit_is_an_error(cache: SQLiteCache) -> None:
    writer = cache.open_writer(make_entry())
    writer.write(b"abc")
    writer.commit()
    with pytest.raises(RuntimeError):
        writer.commit()
    with pytest.raises(RuntimeError):
        writer.write(b"more")
    writer.abort()  # after commit: does nothing
    assert cache.read_body(make_entry().key) == b"abc"


def test_orphans_of_dead_writers_are_deleted(
    cache: SQLiteCache, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    abandoned = cache.open_writer(make_entry("http://h.test/abandoned"))
    abandoned.write(body_of(2 * CHUNK))
    cache.save(make_entry("http://h.test/other"), body_of(CHUNK + 1))
    assert chunk_rows(db_path) == 2 + 2  # still young: kept
    monkeypatch.setattr(sqlite_index, "ORPHAN_AGE", -1.0)
    cache.save(make_entry("http://h.test/third"), b"y")
    assert chunk_rows(db_path) == 2  # the orphan's chunks went with the next commit
    with pytest.raises(StorageError, match="removed"):
        abandoned.commit()  # its claim is gone: the write fails, nothing half-stored
    assert not cache.contains(url="http://h.test/abandoned")


def test_clear_fails_writers_in_progress(cache: SQLiteCache, db_path: Path) -> None:
    writer = cache.open_writer(make_entry())
    writer.write(body_of(2 * CHUNK))
    cache.clear()
    assert chunk_rows(db_path) == 0
    with pytest.raises(StorageError):
        writer.write(body_of(2 * CHUNK))
    assert len(cache) == 0


def test_clear_shrinks_the_file(cache: SQLiteCache, db_path: Path) -> None:
    for i in range(20):
        cache.save(make_entry(f"http://h.test/{i}"), body_of(256 * 1024, seed=i))

    def on_disk() -> int:
        return sum(
            p.stat().st_size for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)
        )

    assert on_disk() > 5_000_000
    cache.clear()
    assert on_disk() < 200_000
    assert len(cache) == 0


@pytest.mark.parametrize(
    "expires", [None, float("nan"), float("inf"), -1e12, 0.0, NOW - 1, NOW, 4e13, 1e300]
)
def test_expired_is_exact_at_any_expiry(cache: SQLiteCache, expires: float | None) -> None:
    entry = cache.save(make_entry(expires=expires), b"body")
    was_expired = expires is not None and expires <= NOW
    assert [e.key for e in cache.entries(expired=True, now=NOW)] == [entry.key] * was_expired
    assert cache.stats(now=NOW).expired == was_expired
    assert cache.remove_expired(now=NOW) == was_expired
    assert len(cache) == (not was_expired)


def test_a_revalidation_that_shortens_the_lifetime_is_still_removed_when_expired(
    cache: SQLiteCache,
) -> None:
    long_lived = cache.save(make_entry("http://h.test/long", expires=NOW + 3600), b"a")
    short = cache.save(make_entry("http://h.test/short", expires=NOW + 3600), body_of(CHUNK + 1))
    longer = cache.save(make_entry("http://h.test/longer", expires=NOW + 60), b"c")
    cache.update_head(short.with_changes(expires=NOW + 5))  # moves its row
    cache.update_head(longer.with_changes(expires=NOW + 7200))  # may keep it
    assert cache.remove_expired(now=NOW + 10) == 1
    assert {e.url for e in cache.entries()} == {long_lived.url, longer.url}
    assert cache.read_entry(longer.key).expires == NOW + 7200
    assert cache.remove_expired(now=NOW + 3600) == 1
    assert cache.read_body(longer.key) == b"c"
    assert len(cache) == 1


def test_many_entries_expiring_in_one_millisecond_are_all_stored(
    cache: SQLiteCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ids of one millisecond made scarce (8, not a million): stores keep finding one.
    monkeypatch.setattr(sqlite_index, "ID_RANDOM_BITS", 3)
    same = [make_entry(f"http://h.test/{i}", expires=NOW + 60) for i in range(30)]
    later = cache.save(make_entry("http://h.test/later", expires=NOW + 61), b"later")
    with cache.batch():
        for i, entry in enumerate(same):
            cache.save(entry, b"%d" % i)
    cache.update_head(later.with_changes(expires=NOW + 60))  # into the crowd
    assert len(cache) == 31
    assert [cache.read_body(e.key) for e in same] == [b"%d" % i for i in range(30)]
    assert cache.remove_expired(now=NOW + 59.999) == 0
    assert cache.remove_expired(now=NOW + 60) == 31
    assert len(cache) == 0


def test_update_head_rewrites_only_the_head(cache: SQLiteCache, db_path: Path) -> None:
    entry = cache.save(make_entry(), body_of(2 * CHUNK))
    with raw(db_path) as conn:
        before = conn.execute("SELECT body_id, chunks FROM entries").fetchone()
    cache.update_head(entry.with_changes(expires=NOW + 999, size=1))
    with raw(db_path) as conn:
        after = conn.execute("SELECT body_id, chunks, expires, size FROM entries").fetchone()
    assert after == (*before, NOW + 999, 2 * CHUNK)
    assert cache.read_entry(entry.key).size == 2 * CHUNK  # the stored size is kept
    assert [e.expires for e in cache.entries()] == [NOW + 999]


def disk(path: Path) -> int:
    """The bytes of the database file and its WAL."""
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


@pytest.mark.parametrize("size", [300, 10 * 1024, CHUNK + 1], ids=["small", "10k", "chunked"])
def test_max_size_bounds_the_file_and_its_wal(db_path: Path, size: int) -> None:
    """What eviction counts is the pages entries take (a 10 KiB body fills three 4 KiB
    pages), and the WAL is cut back past its share: the file and the WAL together
    stay within max_size (plus the few pages of an empty cache)."""
    limit = 2_000_000
    cache = SQLiteCache(db_path, chunk_size=CHUNK, max_size=limit)
    empty = disk(db_path) if db_path.exists() else 0
    largest = 0
    writes = 3 * limit // size if size < CHUNK else 3 * limit // size + 5
    for i in range(writes):
        cache.save(make_entry(f"http://h.test/{i}", expires=None), body_of(size, i))
        largest = max(largest, disk(db_path))
    assert largest <= limit * 1.1 + max(empty, 128 * 1024)
    kept = sorted(int(e.url.rsplit("/", 1)[1]) for e in cache.entries())
    assert kept == list(range(writes - len(kept), writes))  # the most recent ones
    assert len(kept) > 0.5 * limit / (size + 1500)  # pages cost, but not wildly
    assert cache.read_body(make_entry(f"http://h.test/{writes - 1}").key) == body_of(
        size, writes - 1
    )
    cache.close()


def test_byte_counters_follow_every_change(cache: SQLiteCache, db_path: Path) -> None:
    def check() -> None:
        with raw(db_path) as conn:
            real = conn.execute("SELECT total(size), total(head_size) FROM entries").fetchone()
            (rows,) = conn.execute("SELECT count(*) FROM entries").fetchone()
            kept = conn.execute(
                "SELECT value FROM counters WHERE name IN ('body_bytes', 'head_bytes')"
                " ORDER BY name"
            ).fetchall()
        assert [int(total) for total in real] == [value for (value,) in kept]
        assert cache.stats().bytes == int(real[0])
        assert len(cache) == cache.stats().entries == rows

    cache.save(make_entry("http://h.test/a", expires=NOW - 1), body_of(3 * CHUNK))
    cache.save(make_entry("http://h.test/a", expires=NOW - 1), b"replaced")
    b = cache.save(make_entry("http://h.test/b"), b"bb")
    cache.update_head(b.with_changes(response=Response(200, Headers({"X-Long": "v" * 500}))))
    writer = cache.open_writer(make_entry("http://h.test/c"))
    writer.write(body_of(2 * CHUNK))
    writer.abort()
    cache.save(make_entry("http://h.test/d"), b"dd")
    cache.delete(urls=["http://h.test/d"])
    check()
    assert cache.remove_expired(now=NOW) == 1
    check()
    cache.max_size = 60_000
    for i in range(12):  # 10 KiB each: past the limit, the oldest go
        cache.save(make_entry(f"http://h.test/e{i}"), body_of(10 * 1024))
    kept = {e.url for e in cache.entries()}
    assert "http://h.test/b" not in kept and "http://h.test/e11" in kept
    check()
    cache.clear()
    check()


def test_removing_expired_entries_keeps_the_rest_whole(cache: SQLiteCache, db_path: Path) -> None:
    for i in range(8):
        cache.save(make_entry(f"http://h.test/old/{i}", expires=NOW - i), body_of(CHUNK + i))
    never = cache.save(make_entry("http://h.test/never", expires=None), body_of(2 * CHUNK + 1))
    fresh = cache.save(make_entry("http://h.test/fresh", expires=NOW + 5), b"fresh")
    writer = cache.open_writer(make_entry("http://h.test/in-flight"))
    writer.write(body_of(2 * CHUNK, seed=3))  # chunks stored, entry not yet

    assert cache.remove_expired(now=NOW) == 8

    assert {e.url for e in cache.entries()} == {never.url, fresh.url}
    assert len(cache) == 2
    assert cache.read_entry(never.key) == never
    assert cache.read_body(never.key) == body_of(2 * CHUNK + 1)
    assert cache.read_body(fresh.key) == b"fresh"
    writer.write(b"end")
    in_flight = writer.commit()
    assert cache.read_body(in_flight.key) == body_of(2 * CHUNK, seed=3) + b"end"
    with raw(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM bodies").fetchone() == (3 + 3,)
        assert conn.execute("SELECT count(*) FROM heads").fetchone() == (3,)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        real = conn.execute("SELECT total(size) FROM entries").fetchone()[0]
    assert cache.stats().bytes == real


# ---- inspection ------------------------------------------------------------------------

URLS = [
    "http://one.test/a",
    "https://one.test/b?x=1",
    "http://two.test/[x]",
    "http://two.test/ab/c",
    "http://three.test:8080/é/ü",
    "ftp://three.test/a*b",
    "noscheme/path",
]
PATTERNS = [
    "*",
    "*one.test*",
    "http://*",
    "https://one.test/*",
    "one.test/?",
    "*/[ab]*",
    "*/[!a]*",
    "*[x]",
    "*[[]x]",
    "*[",
    "two.test/ab/*",
    "*.test:80*/é/*",
    "*a?b",
    "*a[*]b",
    "noscheme/*",
    "ftp://*",
    "*://three.test*",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_url_glob_gives_the_same_results_as_the_base_class(
    cache: SQLiteCache, pattern: str
) -> None:
    reference = DictCache()
    for url in URLS:
        cache.save(make_entry(url), b"x")
        reference.save(make_entry(url), b"x")
    expected = {e.url for e in reference.entries(url=pattern)}
    assert {e.url for e in cache.entries(url=pattern)} == expected


def test_entries_are_summaries_with_the_stored_metadata(cache: SQLiteCache) -> None:
    stored = [
        cache.save(make_entry("http://h.test/a", status=404), b"abc"),
        cache.save(make_entry("http://h.test/b", expires=None), b""),
        cache.save(make_entry("http://h.test/c", vary=(("accept", "=x"),)), b"12"),
    ]
    fields = [
        "key", "primary_key", "method", "url", "status", "size",
        "created_at", "expires", "stale_until", "request_time", "response_time",
    ]  # fmt: skip

    def metadata(entry: object) -> tuple[object, ...]:
        return tuple(getattr(entry, name) for name in fields)

    assert sorted(map(metadata, cache.entries())) == sorted(map(metadata, stored))
    assert sorted(map(metadata, cache.iter_entries())) == sorted(map(metadata, stored))
    assert sorted(cache.iter_entries(), key=lambda e: e.url) == stored  # whole heads


def test_listing_while_deleting_in_the_loop(cache: SQLiteCache) -> None:
    for i in range(30):
        cache.save(make_entry(f"http://h.test/{i}"), b"x")
    for entry in cache.entries():
        cache.delete(entry.key)
    assert len(cache) == 0


def test_delete_older_than_and_by_url_with_unusual_urls(cache: SQLiteCache) -> None:
    cache.save(make_entry("http://h.test/new", created_at=NOW), b"x")
    cache.save(make_entry("http://h.test/old", created_at=NOW - 100), b"x")
    assert cache.delete(older_than=100, now=NOW) == 0  # not strictly older
    assert cache.delete(older_than=99.5, now=NOW) == 1
    assert cache.delete(urls=["http://H.TEST/new", "http://h.test/missing"]) == 1
    assert cache.delete() == 0


# ---- damaged, foreign and failing storage ---------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        b"\x80\x04\x95garbage pickle",
        b"",
        b'["httpcache", 99, []]',
        dumps_entry(make_entry())[:-7],
    ],
)
def test_unreadable_head_is_a_miss_with_one_warning(
    cache: SQLiteCache, db_path: Path, head: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    good = cache.save(make_entry("http://h.test/good"), b"good")
    bad = cache.save(make_entry("http://h.test/bad"), b"bad")
    with raw(db_path) as conn:
        conn.execute(
            "UPDATE heads SET head = ? WHERE id = (SELECT id FROM entries WHERE key = ?)",
            (head, bad.key),
        )
    # Inspection reads it as a miss, with a warning each time, and leaves it.
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        assert cache.read_entry(bad.key) is None
        assert cache.open_entry(bad.key) is None
        assert list(cache.iter_entries()) == [good]
    assert len(caplog.records) == 3
    assert len(cache) == 2
    caplog.clear()
    # A lookup finds it a miss, warns once, and removes it.
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        assert cache.find(bad.primary_key) == []
    assert [r.name for r in caplog.records] == ["httpcache"]
    assert bad.key in caplog.records[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        assert cache.find(bad.primary_key) == []
        assert list(cache.iter_entries()) == [good]
    assert caplog.records == []
    assert len(cache) == 1 and cache.stats().bytes == len(b"good")
    assert cache.find(good.primary_key) == [good]
    cache.save(make_entry("http://h.test/bad"), b"again")  # a new store takes its place
    assert cache.read_body(bad.key) == b"again"


FOREIGN = {
    "garbage": lambda path: path.write_bytes(os.urandom(64 * 1024)),
    "text": lambda path: path.write_text("not a database\n" * 100),
    "another application's database": lambda path: _foreign_database(path),
}


def _foreign_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, value BLOB)")
    conn.execute("INSERT INTO responses VALUES ('k', x'00ff')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("kind", list(FOREIGN))
@pytest.mark.parametrize(
    "first_call",
    [
        lambda cache: cache.find("k"),
        lambda cache: cache.save(make_entry(), b"x"),
        lambda cache: list(cache.entries()),
        lambda cache: len(cache),
        lambda cache: cache.stats(),
        lambda cache: cache.clear(),
    ],
    ids=["find", "save", "entries", "len", "stats", "clear"],
)
def test_an_unusable_file_is_moved_aside_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str, first_call: object
) -> None:
    path = tmp_path / "cache.sqlite"
    FOREIGN[kind](path)
    original = path.read_bytes()
    cache = SQLiteCache(path)  # does not touch the file yet
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        first_call(cache)  # type: ignore[operator]
        cache.save(make_entry(), b"works")
        assert cache.read_body(make_entry().key) == b"works"
    [warning] = [r.getMessage() for r in caplog.records]
    assert "moved aside" in warning
    [aside] = tmp_path.glob("cache.sqlite.corrupt-*")
    assert aside.name in warning and aside.read_bytes() == original  # kept as it was
    assert len(cache) == 1
    cache.close()


def test_a_file_found_damaged_while_in_use_is_moved_aside(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = SQLiteCache(db_path, chunk_size=CHUNK)
    for i in range(20):
        cache.save(make_entry(f"http://h.test/{i}"), body_of(CHUNK // 2, i))
    cache.close()
    data = bytearray(db_path.read_bytes())
    data[4096 * 3 : 4096 * 6] = os.urandom(4096 * 3)  # pages past the header
    db_path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        for i in range(20):  # some query meets the damage: StorageError, moved aside
            try:
                cache.read_body(make_entry(f"http://h.test/{i}").key)
                list(cache.iter_entries())
                cache.delete(make_entry(f"http://h.test/{i}").key)
            except StorageError as exc:
                assert "moved aside" in str(exc)
                break
        else:
            raise AssertionError("the damage was never found")
    assert len(list(db_path.parent.glob("cache.sqlite.corrupt-*"))) == 1
    cache.save(make_entry(), b"new")  # a new file
    assert len(cache) == 1 and cache.read_body(make_entry().key) == b"new"
    cache.close()


@pytest.mark.parametrize("kind", list(FOREIGN))
def test_clear_works_on_a_damaged_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "cache.sqlite"
    FOREIGN[kind](path)
    cache = SQLiteCache(path)
    cache.clear()
    assert len(cache) == 0 and list(cache.entries()) == []
    cache.close()


def test_locked_beyond_the_timeout_is_a_storage_error(db_path: Path) -> None:
    cache = SQLiteCache(db_path, busy_timeout=0.05)
    entry = cache.save(make_entry(), b"x")
    blocker = raw(db_path)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(StorageError, match="locked") as raised:
            cache.save(make_entry("http://h.test/other"), b"y")
        assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
        assert cache.read_body(entry.key) == b"x"  # WAL: readers go on
        patient = SQLiteCache(db_path)  # 30 s for writes, not for bookkeeping
        started = time.monotonic()
        assert patient.find(entry.primary_key) == [entry]  # the LRU time is skipped
        with pytest.raises(StorageError):
            patient.record_lookup(hit=True)
        assert time.monotonic() - started < 5
        patient.close()
    finally:
        blocker.rollback()
        blocker.close()
    cache.save(make_entry("http://h.test/other"), b"y")
    cache.close()


def test_disk_full_is_a_storage_error_and_keeps_the_old_entry(cache: SQLiteCache) -> None:
    entry = cache.save(make_entry(), b"old")
    conn = cache.connections.connection()
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages + 20}")  # SQLite's own "disk full"
    with pytest.raises(StorageError, match="full"):
        cache.save(make_entry(created_at=NOW + 1), body_of(10 * CHUNK))
    assert cache.read_entry(entry.key) == entry
    assert cache.read_body(entry.key) == b"old"


def test_newer_schema_is_refused_and_older_one_replaced(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    SQLiteCache(db_path).save(make_entry(), b"x")
    with raw(db_path) as conn:
        conn.execute("UPDATE meta SET value = 99 WHERE name = 'schema'")
    with pytest.raises(StorageError, match="newer"):
        SQLiteCache(db_path).find("k")
    assert not list(db_path.parent.glob("*.corrupt-*"))  # a newer version's: left alone
    with raw(db_path) as conn:
        conn.execute("UPDATE meta SET value = 0 WHERE name = 'schema'")
    cache = SQLiteCache(db_path)
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        assert len(cache) == 0
    assert "older httpcache" in caplog.text
    cache.save(make_entry(), b"x")
    assert len(cache) == 1


# ---- read-only files and folders (run as another user when we are root) ------------------


def _read_only_checks(path: str, as_nobody: bool) -> dict[str, str]:
    """Runs in a child process: every call succeeds or raises StorageError."""
    if as_nobody:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    from httpcache.caches.sqlite import SQLiteCache
    from httpcache.errors import StorageError

    from .contract import make_entry

    cache = SQLiteCache(path, busy_timeout=0.2)
    entry = make_entry().with_changes(size=len(b"stored"))
    calls = {
        "read_entry": lambda: cache.read_entry(entry.key) == entry,
        "find": lambda: cache.find(entry.primary_key) == [entry],
        "read_body": lambda: cache.read_body(entry.key) == b"stored",
        "len": lambda: len(cache) == 1,
        "save": lambda: cache.save(make_entry("http://h.test/new"), b"new") and False,
        "delete": lambda: cache.delete(entry.key) and False,
        "clear": lambda: cache.clear() or False,
    }
    outcomes = {}
    for name, call in calls.items():
        try:
            outcomes[name] = "right" if call() else "wrong"
        except StorageError:
            outcomes[name] = "StorageError"
        except BaseException as exc:
            outcomes[name] = repr(exc)
    return outcomes


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path is private to us)."""
    folder = Path(tempfile.mkdtemp(prefix="httpcache-ro-"))
    os.chmod(folder, 0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
    shutil.rmtree(folder)


@pytest.mark.parametrize("what", ["file", "folder", "new file in folder"])
def test_read_only_storage_is_a_storage_error(shared_dir: Path, what: str) -> None:
    as_nobody = os.geteuid() == 0  # root ignores permissions: drop them in the child
    folder = shared_dir / "cache"
    cache = SQLiteCache(folder / "cache")
    cache.save(make_entry(), b"stored")
    cache.close()  # last connection: WAL checkpointed, -wal and -shm removed
    path = folder / "cache.sqlite"
    target = path
    if what == "file":
        os.chmod(folder, 0o777)  # folder writable, file not
        os.chmod(path, 0o444)
    elif what == "folder":
        os.chmod(path, 0o666)  # file writable, folder not
        os.chmod(folder, 0o555)
    else:
        os.chmod(folder, 0o555)
        target = folder / "other.sqlite"
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        outcomes = pool.submit(_read_only_checks, str(target), as_nobody).result(timeout=60)
    for name in ("save", "delete", "clear"):
        assert outcomes[name] == "StorageError", outcomes
    allowed = {"right", "StorageError"} if what != "new file in folder" else {"StorageError"}
    for name in ("read_entry", "find", "read_body", "len"):
        assert outcomes[name] in allowed, outcomes


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_opens_its_own_connections(cache: SQLiteCache) -> None:
    entry = cache.save(make_entry(), b"parent")
    parent_conn = cache.connections.connection()
    ctx = get_context("fork")
    results = ctx.Queue()

    def child() -> None:
        try:
            ok = (
                cache.read_body(entry.key) == b"parent"
                and cache.connections.connection() is not parent_conn
            )
            cache.save(make_entry("http://h.test/child"), b"child")
            results.put(ok)
        except BaseException as exc:
            results.put(repr(exc))

    process = ctx.Process(target=child)
    process.start()
    process.join(30)
    assert results.get(timeout=5) is True
    assert cache.read_body(make_entry("http://h.test/child").key) == b"child"
    assert cache.connections.connection() is parent_conn


def test_a_listing_gives_every_field_of_its_entries(cache: SQLiteCache) -> None:
    stored = cache.save(make_entry("http://h.test/s", expires=NOW + 5), b"body")
    (summary,) = cache.entries()
    assert summary == EntryInfo.of(stored)


def test_removed_entries_leave_reclaimable_space_that_compact_gives_back(
    cache: SQLiteCache, db_path: Path
) -> None:
    for i in range(200):
        cache.save(
            make_entry(f"http://h.test/{i}", expires=NOW - 1 if i % 2 else None), body_of(10_000, i)
        )
    full = cache.stats()
    assert full.disk_bytes is not None and full.disk_bytes >= 200 * 10_000
    assert cache.remove_expired(now=NOW) == 100
    after = cache.stats()
    assert after.reclaimable is not None and after.reclaimable >= 100 * 10_000 * 0.9
    assert after.disk_bytes is not None and after.disk_bytes >= full.disk_bytes  # held still
    given = cache.compact()
    assert given >= 100 * 10_000 * 0.9
    compacted = cache.stats()
    assert compacted.disk_bytes is not None and compacted.disk_bytes <= after.disk_bytes - given
    assert compacted.reclaimable is not None and compacted.reclaimable < 64 * 1024
    assert disk(db_path) == compacted.disk_bytes
    for i in range(0, 200, 2):  # the entries kept are whole
        assert cache.read_body(make_entry(f"http://h.test/{i}").key) == body_of(10_000, i)
    assert cache.compact() < 64 * 1024  # nothing more to give


def test_compact_of_a_file_made_without_incremental_vacuum_rewrites_it(db_path: Path) -> None:
    raw_conn = raw(db_path)
    raw_conn.execute("PRAGMA auto_vacuum = NONE")
    raw_conn.execute("CREATE TABLE t (x)")  # fixes the mode in the file
    raw_conn.execute("DROP TABLE t")
    raw_conn.close()
    cache = SQLiteCache(db_path, chunk_size=CHUNK)
    for i in range(50):
        cache.save(make_entry(f"http://h.test/{i}"), body_of(10_000, i))
    cache.delete(*[make_entry(f"http://h.test/{i}").key for i in range(40)])
    assert cache.compact() > 0
    assert len(cache) == 10
    cache.close()
