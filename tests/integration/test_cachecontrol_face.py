"""CacheControl's names outside the policy: module paths, cache options, closing."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests
from filelock import FileLock, SoftFileLock

from httpcache import CacheControl, CacheControlAdapter, CachedSession, ConfigurationError
from httpcache.caches import DictCache
from httpcache.caches.file_cache import FileCache, SeparateBodyFileCache
from tests.support.origin import Origin, Reply, Seen, counter_handler

FRESH = {"Cache-Control": "max-age=600"}
FILE_CACHES = [FileCache, SeparateBodyFileCache]


def test_module_paths_of_the_docs(origin: Origin, tmp_path: Path, redis_server: object) -> None:
    from httpcache.caches import redis_cache
    from httpcache.caches.redis import RedisCache

    assert redis_cache.RedisCache is RedisCache
    url = origin.route("/p", counter_handler(FRESH))
    sess = CacheControl(requests.Session(), cache=FileCache(str(tmp_path / "web_cache")))
    sess.get(url)
    assert sess.get(url).from_cache
    client = redis_server.client()  # type: ignore[attr-defined]
    redis_sess = CacheControl(requests.Session(), cache=redis_cache.RedisCache(client))
    try:
        redis_sess.get(url)
        assert redis_sess.get(url).from_cache
    finally:
        redis_sess.adapters["http://"].cache.clear()  # type: ignore[attr-defined]
    assert origin.hits("/p") == 2


@pytest.mark.parametrize("cls", FILE_CACHES)
def test_default_lock_class_is_filelock(tmp_path: Path, cls: type[FileCache]) -> None:
    cache = cls(str(tmp_path))
    assert issubclass(cache.lock_class, FileLock)  # type: ignore[arg-type]


class CountingLock(SoftFileLock):
    """A lock for file systems without flock, counting what it is asked for."""

    taken: list[str] = []
    lock = threading.Lock()

    def __enter__(self) -> CountingLock:
        with CountingLock.lock:
            CountingLock.taken.append(self.lock_file)
        super().__enter__()
        return self


@pytest.mark.parametrize("cls", FILE_CACHES)
def test_lock_class_makes_the_locks(origin: Origin, tmp_path: Path, cls: type[FileCache]) -> None:
    CountingLock.taken = []
    url = origin.route("/l", counter_handler({"Cache-Control": "max-age=0", "ETag": '"e"'}))
    cache = cls(str(tmp_path / "c"), lock_class=CountingLock)
    assert cache.lock_class is CountingLock
    sess = CacheControl(requests.Session(), cache=cache)
    sess.get(url)
    sess.get(url + "?other")
    sess.put(url)  # invalidation removes under the entry's lock
    assert CountingLock.taken
    assert all(path.endswith(".lock") for path in CountingLock.taken)
    assert not sess.get(url).from_cache


@pytest.mark.parametrize("cls", FILE_CACHES)
def test_forever_keeps_entries_through_invalidation(
    origin: Origin, tmp_path: Path, cls: type[FileCache]
) -> None:
    url = origin.route("/keep", counter_handler(FRESH))
    cache = cls(str(tmp_path / "forever"), forever=True)
    sess = CacheControl(requests.Session(), cache=cache)
    sess.get(url)
    sess.put(url, data=b"new")
    sess.post(url, data=b"new")
    assert sess.get(url).from_cache  # kept
    assert cache.delete(urls=[url]) == 1  # an explicit delete still deletes
    assert not sess.get(url).from_cache
    plain = cls(str(tmp_path / "plain"))
    plain_sess = CacheControl(requests.Session(), cache=plain)
    plain_sess.get(url)
    plain_sess.put(url)
    assert not plain_sess.get(url).from_cache


@pytest.mark.parametrize("cls", FILE_CACHES)
def test_bad_forever_names_the_option(tmp_path: Path, cls: type[FileCache]) -> None:
    with pytest.raises(ConfigurationError, match="forever"):
        cls(str(tmp_path), forever="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", FILE_CACHES)
def test_a_lock_class_that_cannot_lock_is_kept_warned_and_refused_at_use(
    origin: Origin, tmp_path: Path, cls: type[FileCache], caplog: pytest.LogCaptureFixture
) -> None:
    url = origin.route("/nolock", counter_handler(FRESH))
    lock_class = object()
    with caplog.at_level("WARNING", logger="httpcache"):
        cache = cls(str(tmp_path / "c"), lock_class=lock_class)  # type: ignore[arg-type]
    assert cache.lock_class is lock_class  # kept, as CacheControl keeps it
    assert "lock_class" in caplog.text and "not callable" in caplog.text
    sess = CacheControl(requests.Session(), cache=cache)
    assert sess.get(url).text == "body 1"  # the caller still gets answers
    assert sess.put(url).ok
    with pytest.raises(ConfigurationError, match="lock_class"):
        cache.clear()  # what needs a lock says why it cannot have one


@pytest.mark.parametrize("cls", FILE_CACHES)
def test_directory_assigned_after_the_cache_is_made(
    origin: Origin, tmp_path: Path, cls: type[FileCache]
) -> None:
    url = origin.route("/moved", counter_handler(FRESH))
    cache = cls(str(tmp_path / "first"))
    sess = CacheControl(requests.Session(), cache=cache)
    sess.get(url + "?a")
    cache.directory = str(tmp_path / "missing" / "folder")
    assert not (tmp_path / "missing").exists()
    sess.get(url)
    assert (tmp_path / "missing" / "folder" / "entries").is_dir()  # created, and used
    assert sess.get(url).from_cache
    assert not sess.get(url + "?a").from_cache  # the first folder is no longer read
    assert len(cls(str(tmp_path / "missing" / "folder"))) == 2
    assert origin.hits("/moved") == 3


def test_dict_cache_starts_with_init_dict(origin: Origin) -> None:
    url = origin.route("/d", counter_handler(FRESH))
    first = DictCache()
    CacheControl(requests.Session(), cache=first).get(url)
    copy = DictCache(dict(first.items()))
    answer = CacheControl(requests.Session(), cache=copy).get(url)
    assert answer.from_cache and answer.text == "body 1"
    assert origin.hits("/d") == 1
    assert len(DictCache({})) == 0


@pytest.mark.parametrize("bad", [[("k", 1)], {"k": "not an entry"}])
def test_bad_init_dict_names_the_option(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="init_dict"):
        DictCache(bad)  # type: ignore[arg-type]


class ClosingCache(DictCache):
    closed = 0

    def close(self) -> None:
        self.closed += 1


def test_adapter_and_session_close_close_the_cache(origin: Origin) -> None:
    cache = ClosingCache()
    adapter = CacheControlAdapter(cache)
    adapter.close()
    assert cache.closed == 1
    other = ClosingCache()
    sess = CacheControl(requests.Session(), cache=other)
    url = origin.route("/c", counter_handler(FRESH))
    sess.get(url)
    sess.close()
    assert other.closed >= 1


def test_a_closed_file_cache_still_serves(origin: Origin, tmp_path: Path) -> None:
    url = origin.route("/again", counter_handler(FRESH))
    cache = FileCache(str(tmp_path / "c"))
    sess = CacheControl(requests.Session(), cache=cache)
    sess.get(url)
    sess.close()
    assert CacheControl(requests.Session(), cache=cache).get(url).from_cache
    session = CachedSession(backend=cache, autoclose=True)
    session.close()
    assert session.get(url).from_cache


def etag_handler(seen: Seen) -> Reply:
    if seen.headers.get("if-none-match") == '"v1"':
        return Reply(304, {"ETag": '"v1"'})
    return Reply(200, {"ETag": '"v1"', "Cache-Control": "max-age=600"}, b"stored body")


def test_a_response_revalidated_with_a_304_carries_the_request_sent(origin: Origin) -> None:
    url = origin.route("/etag", etag_handler)
    sess = CacheControl(requests.Session())
    first = sess.get(url)
    assert "if-none-match" not in first.request.headers
    again = sess.get(url, headers={"Cache-Control": "no-cache"})
    assert again.status_code == 200 and again.text == "stored body"
    assert again.from_cache and again.revalidated  # type: ignore[attr-defined]
    assert again.request.headers["If-None-Match"] == '"v1"'  # as CacheControl's
    assert again.request.headers["Cache-Control"] == "no-cache"
    assert [s.headers.get("if-none-match") for s in origin.requests_to("/etag")] == [None, '"v1"']
    hit = sess.get(url)
    assert hit.from_cache and "if-none-match" not in hit.request.headers
