"""SeparateBodyFileCache: the file backend tests, plus what separate bodies add."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from httpcache.caches._files import name_of
from httpcache.caches.separate_body import SeparateBodyFileCache

from .contract import NOW, make_entry
from .test_file import FileBackendTests, files_in


def body_files(folder: Path) -> list[str]:
    return [p for p in files_in(folder) if p.startswith("bodies/")]


class TestSeparateBodyFileCache(FileBackendTests):
    cache_class = SeparateBodyFileCache

    def assert_no_orphans(self, cache: SeparateBodyFileCache, folder: Path) -> None:
        heads = {name_of(e.key) for e in cache.entries()}
        assert sorted(Path(p).name.split(".")[0] for p in body_files(folder)) == sorted(heads)

    def test_head_and_body_are_separate_files(self, cache, folder) -> None:
        entry = cache.save(make_entry(), b"the body")
        [body] = body_files(folder)
        assert Path(body).name.startswith(name_of(entry.key) + ".")
        assert (folder / body).read_bytes() == b"the body"
        assert b"the body" not in Path(cache.path_of(entry.key)).read_bytes()

    def test_listing_never_opens_bodies(self, cache, folder) -> None:
        stored = [cache.save(make_entry(f"http://h.test/{i}"), b"x" * i) for i in range(5)]
        shutil.rmtree(folder / "bodies")
        assert {e.key: e.size for e in cache.entries()} == {e.key: e.size for e in stored}
        assert cache.stats().bytes == sum(range(5))
        assert cache.find(stored[3].primary_key) == [stored[3]]

    def test_missing_body_is_a_logged_miss(self, cache, folder, caplog) -> None:
        entry = cache.save(make_entry(), b"body")
        os.unlink(folder / body_files(folder)[0])
        with caplog.at_level(logging.WARNING, logger="httpcache"):
            assert cache.open_body(entry.key) is None
        assert "missing" in caplog.text

    def test_body_of_the_wrong_size_is_a_miss(self, cache, folder) -> None:
        entry = cache.save(make_entry(), b"body")
        (folder / body_files(folder)[0]).write_bytes(b"bod")
        assert cache.open_body(entry.key) is None

    def test_symlinked_body_is_not_followed(self, cache, folder, tmp_path) -> None:
        entry = cache.save(make_entry(), b"body")
        body = folder / body_files(folder)[0]
        (tmp_path / "outside").write_bytes(b"body")
        body.unlink()
        body.symlink_to(tmp_path / "outside")
        assert cache.open_body(entry.key) is None

    def test_update_head_leaves_the_body_file_alone(self, cache, folder) -> None:
        entry = cache.save(make_entry(), b"body")
        [body] = body_files(folder)
        inode = os.stat(folder / body).st_ino
        fresher = entry.with_changes(expires=NOW + 999)
        cache.update_head(fresher)
        assert body_files(folder) == [body]
        assert os.stat(folder / body).st_ino == inode
        assert cache.read_entry(entry.key) == fresher
        assert cache.read_body(entry.key) == b"body"

    def test_old_and_orphaned_bodies_go_with_the_next_write(self, cache, folder) -> None:
        entry = cache.save(make_entry(), b"first")
        kd = name_of(entry.key)
        # A process died between moves: its body is there, and its marker.
        orphan = folder / "bodies" / kd[:2] / f"{kd}.{'0' * 16}"
        pending = folder / "bodies" / kd[:2] / f"{kd}.pending"
        orphan.write_bytes(b"orphan")
        pending.touch()
        cache.save(make_entry(created_at=NOW + 5), b"second")
        [body] = body_files(folder)
        assert (folder / body).read_bytes() == b"second"
        orphan.write_bytes(b"orphan")
        pending.touch()
        cache.delete_keys([entry.key])
        assert body_files(folder) == []

    def test_every_write_and_removal_leaves_one_body_per_head(self, cache, folder) -> None:
        entries = [make_entry(f"http://example.test/{i}") for i in range(20)]
        for round_ in range(3):
            for i, entry in enumerate(entries):
                cache.save(entry.with_changes(created_at=NOW + round_), b"%d.%d" % (i, round_))
        assert len(body_files(folder)) == 20
        assert [cache.read_body(e.key) for e in entries] == [b"%d.2" % i for i in range(20)]
        assert cache.delete(*(e.key for e in entries[:5])) == 5
        assert cache.remove_expired(now=NOW + 61) == 15
        assert body_files(folder) == [] and files_in(folder / "entries") == []

    def test_an_unreadable_head_takes_its_body_with_it(self, cache, folder) -> None:
        entry = cache.save(make_entry(), b"body")
        (folder / "entries" / name_of(entry.key)[:2] / name_of(entry.key)).write_bytes(b"junk")
        assert cache.delete(entry.key) == 1
        assert body_files(folder) == []
