"""FileCache, and ``FileBackendTests``: what both file backends must do beyond the contract.

Real files only, no mocks. Processes use the "spawn" start method and build their
cache from the folder, as separate programs sharing a cache would.

The tests run as root, which ignores ``chmod``, so an unwritable cache is made another
way: a cache folder whose parent is a regular file (every call fails with ENOTDIR),
the ``.tmp`` staging folder replaced by a regular file (writes fail, reads work: a
read-only cache), and ``RLIMIT_FSIZE`` in a child process (EFBIG, as a full disk).
"""

from __future__ import annotations

import errno
import gc
import hashlib
import logging
import multiprocessing
import os
import pickle
import random
import re
import signal
import stat
import threading
import traceback
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest
from filelock import FileLock, Timeout

from httpcache.caches._files import FRAME, SMALL_BODY, FileCacheBase, FlockLock, StagedWriter
from httpcache.caches.base import BaseCache
from httpcache.caches.file import FileCache
from httpcache.errors import StorageError
from httpcache.serialize import dumps_entry

from .contract import NOW, CacheContract, make_entry

URL = "http://h.test/big"
OLD_BODY = b"old body " * 1000
NEW_CHUNK = b"n" * (256 << 10)
NEW_CHUNKS = 16
SPAWN = multiprocessing.get_context("spawn")

_OUR_NAME = re.compile(
    r"entries|variants|bodies|stats|stats\.log|stats\.[0-9a-f]{16}|\.tmp|\.locks"
    r"|(stats|[0-9a-f]{2})\.lock"
    r"|[0-9a-f]{2}|[0-9a-f]{32}(\.[0-9a-f]{16})?"
)


# ---- helpers (module level: child processes import them) --------------------------------


def files_in(folder: Path) -> list[str]:
    """Every file (not folder) under ``folder``, relative, sorted."""
    return sorted(
        os.path.relpath(os.path.join(top, name), folder)
        for top, _, names in os.walk(folder)
        for name in names
    )


def body_of(url: str, writer: int) -> bytes:
    return f"{url} written by {writer};".encode() * (20 + len(url) * 37 % 300)


def check_pair(cache: FileCacheBase, url: str) -> None:
    """The stored head and body of ``url`` come from the same write, byte for byte."""
    [found] = cache.find(make_entry(url).primary_key)
    opened = cache.open_entry(found.key)
    assert opened is not None, url
    entry, stream = opened
    with stream:
        body = stream.read()
    writer = int(entry.response.headers["X-Writer"])
    assert body == body_of(url, writer), url
    assert entry.size == len(body)


def hammer(cache_class: type[FileCacheBase], folder: str, writer: int, conn) -> None:
    try:
        cache = cache_class(folder)
        urls = [f"http://h.test/{i}" for i in range(200)]
        urls = urls[50 * writer :] + urls[: 50 * writer]  # all overlap, not in lockstep
        for url in urls:
            cache.save(make_entry(url, headers={"X-Writer": str(writer)}), body_of(url, writer))
            check_pair(cache, url)
        for url in urls:
            check_pair(cache, url)
        conn.send("ok")
    except BaseException:
        conn.send(traceback.format_exc())


def write_until_killed(
    cache_class: type[FileCacheBase], folder: str, conn, wait_for_kill: bool
) -> None:
    cache = cache_class(folder)
    writer = cache.open_writer(make_entry(URL, created_at=NOW + 5, headers={"X-Version": "new"}))
    for i in range(NEW_CHUNKS):
        writer.write(NEW_CHUNK)
        if i == 2:
            conn.send("halfway")
            if wait_for_kill:
                conn.recv()  # never answered: the parent kills us mid-write
    writer.commit()
    conn.send("committed")


def write_with_tiny_file_limit(cache_class: type[FileCacheBase], folder: str, conn) -> None:
    import resource

    try:
        cache = cache_class(folder)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, hard))
        try:
            cache.save(make_entry(URL, created_at=NOW + 5), b"n" * (1 << 20))
        except StorageError as exc:
            conn.send(("StorageError", getattr(exc.__cause__, "errno", None)))
        else:
            conn.send(("stored", None))
    except BaseException:
        conn.send(("crash", traceback.format_exc()))


def count_lookups(cache_class: type[FileCacheBase], folder: str, worker: int, conn) -> None:
    """300 lookups (worker 0: 100 hits...), folding every few bytes, reading counts too."""
    try:
        from httpcache.caches._files import stats_log

        stats_log.FOLD_AT = 7  # many folds racing with other processes' appends
        cache = cache_class(folder)
        for n in range(300):
            cache.record_lookup(hit=n % 3 != worker % 3)
            if n % 50 == 0:
                cache.lookup_counts()
        conn.send("ok")
    except BaseException:
        conn.send(traceback.format_exc())


def hold_until_told(conn) -> None:
    """A forked child: keeps running (with whatever it inherited) until told to stop."""
    conn.send("up")
    conn.recv()


def run_children(target: Callable[..., None], *argsets: tuple) -> list[object]:
    """Start one spawned process per argument tuple (a pipe end appended); their replies."""
    pipes, children = [], []
    for args in argsets:
        parent_end, child_end = SPAWN.Pipe()
        child = SPAWN.Process(target=target, args=(*args, child_end))
        child.start()
        pipes.append(parent_end)
        children.append(child)
    replies = []
    for parent_end, child in zip(pipes, children, strict=True):
        assert parent_end.poll(60), "a child process did not answer"
        replies.append(parent_end.recv())
        child.join(30)
    return replies


def reframe(
    data: bytes, *, magic: bytes | None = None, envelope_version: int | None = None
) -> bytes:
    """A copy of an entry file with another frame magic or envelope version."""
    found, head_length, crc, length = FRAME.unpack(data[: FRAME.size])
    head = data[FRAME.size : FRAME.size + head_length]
    if envelope_version is not None:
        envelope = msgpack.unpackb(head[:-4])
        envelope[1] = envelope_version
        packed = msgpack.packb(envelope, use_bin_type=True)
        head = packed + zlib.crc32(packed).to_bytes(4, "big")
    payload = data[FRAME.size + head_length :]
    return FRAME.pack(magic or found, len(head), crc, length) + head + payload


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda good: b"",
    "prefix only": lambda good: good[:10],
    "truncated": lambda good: good[:-3],
    "extended": lambda good: good + b"junk",
    "garbage": lambda good: random.Random(7).randbytes(300),
    "pickle": lambda good: pickle.dumps({"status": 200, "body": b"x"}),
    "cachecontrol": lambda good: b"cc=4," + msgpack.packb({"response": {"body": b"x"}}),
    "older frame": lambda good: reframe(good, magic=good[:3] + b"\x00"),
    "older envelope": lambda good: reframe(good, envelope_version=0),
    "flipped head byte": lambda good: good[:20] + bytes([good[20] ^ 0xFF]) + good[21:],
}


# ---- what both file backends do ----------------------------------------------------------


class FileBackendTests(CacheContract):
    cache_class: type[FileCacheBase]

    @pytest.fixture
    def folder(self, tmp_path: Path) -> Path:
        return tmp_path / "cache"

    @pytest.fixture
    def cache(self, folder: Path) -> FileCacheBase:
        return self.cache_class(folder)

    @pytest.fixture
    def reopen(self, folder: Path) -> Callable[[BaseCache], BaseCache]:
        def reopen(cache: BaseCache) -> BaseCache:
            cache.close()
            return self.cache_class(folder)

        return reopen

    # ---- layout -------------------------------------------------------------------------

    def test_another_instance_sees_the_same_entries(self, cache, folder) -> None:
        entry = cache.save(make_entry(), b"shared")
        other = self.cache_class(str(folder))
        assert other.find(entry.primary_key) == [entry]
        assert other.read_body(entry.key) == b"shared"

    def test_cachecontrol_signature(self, folder) -> None:
        cache = self.cache_class(str(folder), True, 0o600, 0o700)
        assert (cache.forever, cache.filemode, cache.dirmode) == (True, 0o600, 0o700)
        assert cache.directory == str(folder)

    def test_folder_may_live_in_the_user_cache_folder(self, tmp_path, monkeypatch) -> None:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        cache = self.cache_class("web", use_cache_dir=True)
        assert cache.directory == str(tmp_path / "xdg" / "httpcache" / "web")
        monkeypatch.setenv("HOME", str(tmp_path))
        assert self.cache_class("~/web").directory == str(tmp_path / "web")

    def test_names_are_digests_never_url_text(self, cache, folder) -> None:
        url = "http://secret.test/path?token=abc"
        cache.save(make_entry(url, vary=(("accept", "=text/html"),)), b"x")
        cache.record_lookup(hit=True)
        for path in files_in(folder):
            assert "secret" not in path
            assert all(_OUR_NAME.fullmatch(part) for part in Path(path).parts), path

    def test_find_reads_only_its_own_variants(self, cache, caplog) -> None:
        entries = [cache.save(make_entry(f"http://h.test/{i}"), b"x") for i in range(30)]
        wanted = cache.save(make_entry("http://h.test/0", vary=(("accept", "=a"),)), b"v")
        for entry in entries[1:]:
            Path(cache.path_of(entry.key)).write_bytes(b"damaged")
        with caplog.at_level(logging.WARNING, logger="httpcache"):
            found = cache.find(wanted.primary_key)
        assert {e.key for e in found} == {entries[0].key, wanted.key}
        assert caplog.records == []  # no other entry file was opened

    @pytest.mark.parametrize("modes", [(0o600, 0o700), (0o640, 0o750)])
    def test_modes_are_exact_whatever_the_umask(self, folder, modes) -> None:
        filemode, dirmode = modes
        previous = os.umask(0)
        try:
            cache = self.cache_class(folder, filemode=filemode, dirmode=dirmode)
            entry = cache.save(make_entry(), b"x")
            cache.save(make_entry(vary=(("accept", "=a"),)), b"y")
            cache.update_head(entry.with_changes(expires=NOW + 99))
            cache.find(entry.primary_key)
            cache.record_lookup(hit=False)
            writer = cache.open_writer(make_entry("http://h.test/pending"))
            writer.write(b"p" * (StagedWriter.IN_MEMORY + 1))  # past memory: in .tmp
            seen = {os.path.join(top, n) for top, _, names in os.walk(folder) for n in names}
            writer.abort()
        finally:
            os.umask(previous)
        assert any(".tmp" in path for path in seen)  # the temporary file was checked too
        assert any(".locks" in path for path in seen)
        for top, _, _ in os.walk(folder):
            assert stat.S_IMODE(os.stat(top).st_mode) == dirmode, top
        for path in seen:
            if os.path.exists(path):
                assert stat.S_IMODE(os.stat(path).st_mode) == filemode, path

    # ---- leftovers ------------------------------------------------------------------------

    def test_no_temporary_files_left_and_clear_leaves_no_files(self, cache, folder) -> None:
        for i in range(10):
            cache.save(make_entry(f"http://h.test/{i}"), b"x" * i)
        aborted = cache.open_writer(make_entry("http://h.test/aborted"))
        aborted.write(b"partial")
        aborted.abort()
        dropped = cache.open_writer(make_entry("http://h.test/dropped"))
        dropped.write(b"partial")
        del dropped
        gc.collect()
        cache.update_head(make_entry("http://h.test/3").with_changes(size=3))
        cache.record_lookup(hit=True)
        assert os.listdir(folder / ".tmp") == []
        locks = [p for p in files_in(folder) if p.endswith(".lock")]
        assert all(p.startswith(".locks/") for p in locks) and len(locks) <= 257
        cache.clear()
        assert files_in(folder) == []
        assert cache.lookup_counts() == (0, 0)

    def test_open_stream_keeps_its_version_across_a_rewrite(self, cache) -> None:
        entry = cache.save(make_entry(), OLD_BODY)
        with cache.open_body(entry.key) as stream:
            assert stream.read(4) == b"old "
            cache.save(make_entry(created_at=NOW + 5), b"new body")
            cache.delete_keys([entry.key])
            assert stream.read() == OLD_BODY[4:]

    # ---- damage, foreign files, symlinks ----------------------------------------------------

    @pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
    def test_damaged_file_is_a_logged_miss(self, cache, damage, caplog) -> None:
        entry = cache.save(make_entry(), b"good body")
        path = Path(cache.path_of(entry.key))
        path.write_bytes(damage(path.read_bytes()))
        with caplog.at_level(logging.WARNING, logger="httpcache"):
            assert cache.read_entry(entry.key) is None
        assert len(caplog.records) == 1
        assert cache.find(entry.primary_key) == []
        assert cache.open_body(entry.key) is None
        assert list(cache.entries()) == []
        assert cache.stats().entries == 0
        assert cache.save(make_entry(), b"again").key == entry.key  # a rewrite repairs it
        assert cache.read_body(entry.key) == b"again"

    def test_file_of_another_key_is_a_miss(self, cache) -> None:
        a = cache.save(make_entry("http://h.test/a"), b"a")
        b = cache.save(make_entry("http://h.test/b"), b"b")
        os.replace(cache.path_of(a.key), cache.path_of(b.key))
        assert cache.read_entry(b.key) is None
        assert cache.open_body(b.key) is None

    def test_symlinked_entry_is_not_followed(self, cache, tmp_path, caplog) -> None:
        elsewhere = self.cache_class(tmp_path / "elsewhere")
        entry = elsewhere.save(make_entry(), b"body")
        cache.save(make_entry(), b"body")
        path = cache.path_of(entry.key)
        os.unlink(path)
        os.symlink(elsewhere.path_of(entry.key), path)
        with caplog.at_level(logging.WARNING, logger="httpcache"):
            assert cache.read_entry(entry.key) is None
        assert "symbolic link" in caplog.text
        assert cache.find(entry.primary_key) == []
        assert cache.open_body(entry.key) is None

    def test_fifo_or_folder_in_place_of_an_entry_is_a_miss(self, cache) -> None:
        a = cache.save(make_entry("http://h.test/a"), b"a")
        b = cache.save(make_entry("http://h.test/b"), b"b")
        os.unlink(cache.path_of(a.key))
        os.mkfifo(cache.path_of(a.key))  # opening it must not block
        os.unlink(cache.path_of(b.key))
        os.mkdir(cache.path_of(b.key))
        assert cache.read_entry(a.key) is None
        assert cache.read_entry(b.key) is None
        assert list(cache.entries()) == []

    def test_damaged_counters_restart_from_zero(self, cache, folder) -> None:
        cache.record_lookup(hit=True)
        assert cache.lookup_counts() == (1, 0)  # folded from the log into stats
        (folder / "stats").write_bytes(b"\x93garbage")
        assert cache.lookup_counts() == (0, 0)
        cache.record_lookup(hit=False)
        assert cache.lookup_counts() == (0, 1)

    # ---- storage failures ----------------------------------------------------------------

    def test_unusable_folder_raises_storage_error(self, tmp_path) -> None:
        blocker = tmp_path / "a-file"
        blocker.write_bytes(b"")
        cache = self.cache_class(blocker / "cache")  # every path under it is ENOTDIR
        entry = make_entry()
        with pytest.raises(StorageError) as raised:
            cache.save(entry, b"x")
        assert isinstance(raised.value.__cause__, NotADirectoryError)
        for call in (
            lambda: cache.find(entry.primary_key),
            lambda: cache.read_entry(entry.key),
            lambda: cache.open_body(entry.key),
            lambda: list(cache.entries()),
            lambda: cache.update_head(entry),
            lambda: cache.delete_keys([entry.key]),
            lambda: cache.record_lookup(hit=True),
            cache.clear,
            cache.stats,
        ):
            with pytest.raises(StorageError) as raised:
                call()
            assert isinstance(raised.value.__cause__, OSError)

    def test_unwritable_staging_folder_keeps_serving_hits(self, cache, folder) -> None:
        entry = cache.save(make_entry(), b"old")
        os.rmdir(folder / ".tmp")
        (folder / ".tmp").write_bytes(b"")  # writes now fail with ENOTDIR, reads work
        with pytest.raises(StorageError):
            cache.save(make_entry(created_at=NOW + 5), b"new")
        with pytest.raises(StorageError):
            cache.update_head(entry.with_changes(expires=NOW + 99))
        assert cache.find(entry.primary_key) == [entry]
        assert cache.read_body(entry.key) == b"old"

    def test_disk_full_mid_write_keeps_the_old_entry(self, cache, folder) -> None:
        old = cache.save(make_entry(URL), OLD_BODY)
        [reply] = run_children(write_with_tiny_file_limit, (self.cache_class, str(folder)))
        assert reply == ("StorageError", errno.EFBIG)
        assert cache.read_entry(old.key) == old
        assert cache.read_body(old.key) == OLD_BODY
        assert os.listdir(folder / ".tmp") == []

    # ---- processes ---------------------------------------------------------------------------

    def test_four_processes_share_one_folder(self, folder) -> None:
        replies = run_children(hammer, *[(self.cache_class, str(folder), n) for n in range(4)])
        assert replies == ["ok"] * 4
        cache = self.cache_class(folder)
        for i in range(200):
            check_pair(cache, f"http://h.test/{i}")
        assert len(cache) == 200
        assert os.listdir(folder / ".tmp") == []

    @pytest.mark.parametrize("wait_for_kill", [True, False], ids=["mid-write", "racing"])
    def test_kill_9_while_writing(self, cache, folder, wait_for_kill) -> None:
        old = cache.save(make_entry(URL, headers={"X-Version": "old"}), OLD_BODY)
        parent_end, child_end = SPAWN.Pipe()
        args = (self.cache_class, str(folder), child_end, wait_for_kill)
        child = SPAWN.Process(target=write_until_killed, args=args)
        child.start()
        assert parent_end.poll(60) and parent_end.recv() == "halfway"
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        assert child.exitcode == -signal.SIGKILL

        reader = self.cache_class(folder)
        opened = reader.open_entry(old.key)
        if opened is not None:
            entry, stream = opened
            with stream:
                seen = (entry.response.headers["X-Version"], stream.read())
            assert seen in {("old", OLD_BODY), ("new", NEW_CHUNK * NEW_CHUNKS)}
        if wait_for_kill:
            assert opened is not None and seen[0] == "old"
            assert len(os.listdir(folder / ".tmp")) == 1  # what the dead writer left
        reader.save(make_entry("http://h.test/next"), b"next")
        assert os.listdir(folder / ".tmp") == []
        reader.save(make_entry(URL), b"rewritten")
        assert reader.read_body(old.key) == b"rewritten"
        self.assert_no_orphans(reader, folder)
        reader.clear()
        assert files_in(folder) == []

    def assert_no_orphans(self, cache: FileCacheBase, folder: Path) -> None:
        """Hook: SeparateBodyFileCache checks that every body file has its head."""

    # ---- threads -----------------------------------------------------------------------

    def test_readers_never_see_a_mix_during_rewrites(self, cache) -> None:
        cache.save(make_entry(URL, headers={"X-Writer": "0"}), body_of(URL, 0))
        done = threading.Event()
        errors: list[BaseException] = []

        def rewrite() -> None:
            for n in range(80):
                cache.save(make_entry(URL, headers={"X-Writer": str(n)}), body_of(URL, n))
            done.set()

        def read() -> None:
            try:
                while not done.is_set():
                    opened = cache.open_entry(make_entry(URL).key)
                    if opened is not None:  # a miss is allowed, a mix is not
                        entry, stream = opened
                        with stream:
                            writer = int(entry.response.headers["X-Writer"])
                            assert stream.read() == body_of(URL, writer)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=read) for _ in range(3)]
        threads.append(threading.Thread(target=rewrite))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []

    # ---- size limit, counters, forever -----------------------------------------------------

    def test_size_limit_counts_files_and_recency_from_any_instance(self, cache, folder) -> None:
        cache.max_size = 60_000
        for i in range(4):
            cache.save(make_entry(f"http://h.test/{i}"), b"x" * 10_000)
        self.cache_class(folder).find(make_entry("http://h.test/0").primary_key)
        for i in range(4, 8):
            cache.save(make_entry(f"http://h.test/{i}"), b"x" * 10_000)
        kept = {e.url for e in cache.entries()}
        assert "http://h.test/0" in kept and "http://h.test/1" not in kept
        assert sum(os.path.getsize(folder / p) for p in files_in(folder)) <= 60_000 + 1_000

    def test_counters_survive_a_new_instance(self, cache, folder) -> None:
        cache.record_lookup(hit=True)
        cache.record_lookup(hit=False)
        cache.record_lookup(hit=True)
        other = self.cache_class(folder)
        assert other.lookup_counts() == (2, 1)
        assert (other.stats().hits, other.stats().misses) == (2, 1)

    def test_counters_of_instances_and_processes_add_up_exactly(self, cache, folder) -> None:
        other = self.cache_class(folder)
        cache.record_lookup(hit=True)
        other.record_lookup(hit=False)
        assert cache.lookup_counts() == other.lookup_counts() == (1, 1)
        replies = run_children(
            count_lookups, *[(self.cache_class, str(folder), n) for n in range(4)]
        )
        assert replies == ["ok"] * 4
        # Each worker: 300 lookups, 100 of them misses (n % 3 == worker % 3).
        assert other.lookup_counts() == (1 + 4 * 200, 1 + 4 * 100)
        assert sorted(os.listdir(folder)) == [".locks", ".tmp", "stats"]  # logs all folded

    def test_a_counter_log_made_and_folded_away_by_others_meanwhile_is_opened_anew(
        self, cache, folder, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The race of processes appending to the log: it is missing, another creates
        it before this one can, a fold renames it away before this one opens it."""
        from httpcache.caches._files import stats_log

        log = str(folder / "stats.log")
        real_open = os.open
        script = [FileNotFoundError, FileExistsError, FileNotFoundError]

        def racing_open(path: str, flags: int, *args: object) -> int:
            if path == log and script:
                raise script.pop(0)(errno.ENOENT, "scripted", path)
            return real_open(path, flags, *args)

        monkeypatch.setattr(stats_log.os, "open", racing_open)
        cache.record_lookup(hit=True)
        assert script == []  # every step of the race was met
        monkeypatch.undo()
        assert self.cache_class(folder).lookup_counts() == (1, 0)

    def test_counter_log_ignores_damage_and_leftovers_count_once(self, cache, folder) -> None:
        cache.record_lookup(hit=True)
        with open(folder / "stats.log", "ab") as log:
            log.write(b"\x00garbage\n+")  # junk (and one more hit) from a crash or a stray writer
        cache.record_lookup(hit=False)
        assert cache.lookup_counts() == (2, 1)
        # A fold cut short: one renamed log not yet in stats, one already in it.
        (folder / "stats.00000000000000aa").write_bytes(b"++-")
        assert cache.lookup_counts() == (4, 2)
        token = msgpack.unpackb((folder / "stats").read_bytes())[-1]
        (folder / f"stats.{token}").write_bytes(b"+++")  # counted, then the crash
        assert cache.lookup_counts() == (4, 2)
        assert [n for n in os.listdir(folder) if n.startswith("stats")] == ["stats"]

    def test_old_stats_file_keeps_its_counts(self, cache, folder) -> None:
        cache._make_dir(str(folder))
        (folder / "stats").write_bytes(msgpack.packb(["httpcache-stats", 1, 5, 7]))
        cache.record_lookup(hit=True)
        assert cache.lookup_counts() == (6, 7)

    def test_clear_zeroes_counters_in_the_log(self, cache, folder) -> None:
        cache.record_lookup(hit=True)
        cache.lookup_counts()
        cache.record_lookup(hit=False)  # in the log, not folded yet
        cache.clear()
        assert cache.lookup_counts() == (0, 0)
        cache.record_lookup(hit=True)
        assert self.cache_class(folder).lookup_counts() == (1, 0)

    # ---- reading a head once per hit ----------------------------------------------------

    def test_open_entry_after_find_serves_what_is_there_now(self, cache, folder) -> None:
        entry = cache.save(make_entry(headers={"X-Version": "1"}), b"one")
        [found] = cache.find(entry.primary_key)
        self.cache_class(folder).save(
            make_entry(created_at=NOW + 5, headers={"X-Version": "2"}), b"two!"
        )
        head, body = cache.open_entry(found.key)
        with body:
            assert (head.response.headers["X-Version"], body.read()) == ("2", b"two!")
        [found] = cache.find(entry.primary_key)
        self.cache_class(folder).delete_keys([found.key])
        assert cache.open_entry(found.key) is None

    def test_open_entry_after_update_head_serves_the_new_head(self, cache) -> None:
        entry = cache.save(make_entry(), b"body")
        [found] = cache.find(entry.primary_key)
        fresher = found.with_changes(expires=NOW + 600)
        cache.update_head(fresher)
        head, body = cache.open_entry(entry.key)
        with body:
            assert (head, body.read()) == (fresher, b"body")
        assert cache.read_entry(entry.key) == fresher

    def test_find_keeps_no_more_files_open_than_its_last_lookup(self, cache) -> None:
        entries = [cache.save(make_entry(f"http://h.test/{i}"), b"x") for i in range(20)]
        before = len(os.listdir("/proc/self/fd"))
        for entry in entries:
            assert cache.find(entry.primary_key) == [entry]
        assert len(os.listdir("/proc/self/fd")) == before + 1
        cache.close()
        assert len(os.listdir("/proc/self/fd")) == before

    def test_forever_only_deletes_when_the_user_asks(self, folder) -> None:
        cache = self.cache_class(folder, forever=True)
        fresh = cache.save(make_entry("http://h.test/fresh"), b"f")
        stale = cache.save(make_entry("http://h.test/stale", expires=NOW - 1), b"s")
        assert cache.delete_keys([fresh.key, stale.key]) == 0  # the driver's invalidation
        assert len(cache) == 2
        assert cache.remove_expired(now=NOW) == 1
        assert cache.delete(fresh.key) == 1
        cache.save(make_entry(), b"x")
        cache.clear()
        assert len(cache) == 0
        with pytest.raises(ValueError):
            self.cache_class(folder, forever=True, max_size=1000)

    # ---- streaming -----------------------------------------------------------------------

    def test_50_mib_body_streams_in_and_out_in_flat_memory(self, cache) -> None:
        chunk = random.Random(3).randbytes(1 << 20)
        expected = hashlib.sha256(chunk * 50).digest()
        got = hashlib.sha256()
        tracemalloc.start()
        try:
            writer = cache.open_writer(make_entry())
            for _ in range(50):
                writer.write(chunk)
            entry = writer.commit()
            with cache.open_body(entry.key) as stream:
                while block := stream.read(1 << 20):
                    got.update(block)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert entry.size == 50 << 20
        assert got.digest() == expected
        assert peak < 8 << 20

    def test_a_body_given_whole_is_written_without_a_copy(self, cache) -> None:
        body = random.Random(4).randbytes(16 << 20)  # a response that was not streamed
        tracemalloc.start()
        try:
            writer = cache.open_writer(make_entry())
            writer.write(body)
            entry = writer.commit()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert cache.read_body(entry.key) == body
        assert peak < 2 << 20


# ---- the stripe lock ---------------------------------------------------------------------


def locked_elsewhere(path: Path) -> bool:
    """Whether another holder has ``path`` locked, asked through filelock itself."""
    try:
        FileLock(str(path), timeout=0).acquire(timeout=0)
    except Timeout:
        return True
    FileLock(str(path)).release(force=True)
    return False


def in_thread(call: Callable[[], object]) -> object:
    """``call()`` in another thread (its exception raised here)."""
    outcome: list[tuple[bool, object]] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:
            outcome.append((False, exc))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    [(ok, value)] = outcome
    if not ok:
        raise value  # type: ignore[misc]
    return value


def test_flock_lock_and_filelock_exclude_each_other(tmp_path) -> None:
    path = tmp_path / "34.lock"
    lock = FlockLock(str(path), timeout=30, mode=0o600)
    lock.acquire()
    lock.acquire()  # reentrant in its thread
    lock.release()
    assert in_thread(lambda: locked_elsewhere(path))
    other = FlockLock(str(path), timeout=30, mode=0o600)
    with pytest.raises(Timeout):
        in_thread(lambda: other.acquire(timeout=0))
    lock.release()
    assert not in_thread(lambda: locked_elsewhere(path))
    with FileLock(str(path)), pytest.raises(Timeout):
        in_thread(lambda: lock.acquire(timeout=0))
    lock.acquire(timeout=0)
    lock.release()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_flock_lock_removed_by_its_holder_the_waiter_locks_a_new_file(tmp_path) -> None:
    path = tmp_path / "34.lock"
    holder = FlockLock(str(path), timeout=30, mode=0o600)
    waiter = FlockLock(str(path), timeout=30, mode=0o600)
    holder.acquire()
    inodes: list[int] = []

    def wait() -> None:
        waiter.acquire()
        inodes.append(os.stat(path).st_ino)

    thread = threading.Thread(target=wait)
    thread.start()  # it polls until the holder lets go
    os.unlink(path)  # as clear() does, while holding it
    holder.release()
    thread.join()
    assert inodes == [os.stat(path).st_ino]  # the waiter holds the new file
    assert locked_elsewhere(path)


def test_a_forked_child_does_not_keep_its_parents_lock(tmp_path) -> None:
    path = tmp_path / "34.lock"
    lock = FlockLock(str(path), timeout=30, mode=0o600)
    lock.acquire()
    parent_end, child_end = multiprocessing.get_context("fork").Pipe()
    child = multiprocessing.get_context("fork").Process(target=hold_until_told, args=(child_end,))
    child.start()
    try:
        assert parent_end.poll(30) and parent_end.recv() == "up"
        lock.release()
        assert not locked_elsewhere(path)  # the child, still running, holds nothing
    finally:
        parent_end.send("stop")
        child.join(30)


# ---- FileCache ---------------------------------------------------------------------------


class TestFileCache(FileBackendTests):
    cache_class = FileCache

    def test_one_file_holds_head_and_body(self, cache, folder) -> None:
        entry = cache.save(make_entry(), b"the body")
        data = Path(cache.path_of(entry.key)).read_bytes()
        assert data.startswith(FileCache.MAGIC) and data.endswith(b"the body")
        assert dumps_entry(entry.with_changes(size=0)) in data
        assert [p for p in files_in(folder) if p.startswith("entries/")] == [
            os.path.relpath(cache.path_of(entry.key), folder)
        ]

    def test_update_head_rewrites_the_file_with_its_body(self, cache) -> None:
        entry = cache.save(make_entry(), OLD_BODY)
        before = os.stat(cache.path_of(entry.key)).st_ino
        fresher = entry.with_changes(expires=NOW + 999)
        cache.update_head(fresher)
        assert os.stat(cache.path_of(entry.key)).st_ino != before  # replaced, not edited
        assert cache.read_entry(entry.key) == fresher
        assert cache.read_body(entry.key) == OLD_BODY

    def test_body_stream_is_the_file_at_the_body(self, cache) -> None:
        body = b"0123456789" * (SMALL_BODY // 10 + 1)  # larger than what is read at once
        entry = cache.save(make_entry(), body)
        with cache.open_body(entry.key) as stream:
            assert stream.fileno() >= 0  # a real file, not a copy in memory
            assert stream.read(3) == b"012"
            assert stream.read() == body[3:]
