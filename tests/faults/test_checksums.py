"""Damaged bodies are never served as the origin's.

One bit flipped in a stored body, or the body replaced by other bytes of the same
length (a SQLite cell, an entry file, a body file, a Redis value): the next request
is a miss, logged as one warning, and the damaged entry is removed. A body read
whole (``stream=False``) is checked before it is handed out; a streamed hit that
finds the damage at its end raises ``DamagedBodyError``, a
``requests.exceptions.ChunkedEncodingError``, instead of ending quietly with the
wrong bytes. The memory backend keeps objects, not bytes: not applicable.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from httpcache import CachedSession, errors
from httpcache._glue import DamagedBodyError
from tests.faults._backends import Store, byte_store  # noqa: F401 - fixture
from tests.support.origin import Origin, Reply, Seen

SMALL = bytes(range(256)) * 4  # 1 KiB: inline in SQLite and Redis, read whole from files
LARGE = bytes(range(256)) * 800  # 200 KiB: several chunks, streamed from every backend
CHUNK = 64 * 1024  # SQLite's and Redis's chunk size in these tests


def _flip_a_bit(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x04]) + data[middle + 1 :]


def _same_length_other_bytes(data: bytes) -> bytes:
    return bytes(255 - b for b in data)


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "a flipped bit": _flip_a_bit,
    "other bytes of the same length": _same_length_other_bytes,
}


class Once:
    """An origin route: ``body`` cacheable the first time, then ``no-store`` (so
    that an entry removed is not simply stored again)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, _seen: Seen) -> Reply:
        with self._lock:
            self.calls += 1
            first = self.calls == 1
        cache_control = "max-age=600" if first else "no-store"
        return Reply(200, {"Cache-Control": cache_control}, self.body)


def _session(store: Store) -> CachedSession:
    options = {"chunk_size": CHUNK} if store.name in ("sqlite", "redis") else {}
    return CachedSession(store.cache_name, backend=store.cache(**options))


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "httpcache" and r.levelno >= logging.WARNING
    ]


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("size", ["small", "large"])
def test_a_damaged_body_is_a_miss_with_one_warning_and_is_removed(
    origin: Origin,
    byte_store: Store,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    damage: str,
    size: str,
) -> None:
    body = SMALL if size == "small" else LARGE
    route = Once(body)
    url = origin.route("/damaged", route)
    session = _session(byte_store)
    first = session.get(url)
    assert first.content == body and not first.from_cache
    hit = session.get(url)
    assert hit.from_cache and hit.content == body
    byte_store.plant_body(first.cache_key, DAMAGE[damage])

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        again = session.get(url)
    assert not again.from_cache and again.content == body  # the origin's, not the damage
    assert route.calls == 2
    [warning] = _warnings(caplog)
    assert "damaged" in warning
    # Removed (the origin's answer this time was no-store, so nothing took its place).
    assert len(session.cache) == 0
    assert list(session.cache.entries()) == []
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        assert session.get(url).content == body
    assert route.calls == 3 and len(_warnings(caplog)) == 1


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_streamed_hit_damaged_at_its_end_raises_a_chunked_encoding_error(
    origin: Origin,
    byte_store: Store,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    route = Once(LARGE)
    url = origin.route("/streamed", route)
    session = _session(byte_store)
    key = session.get(url).cache_key
    byte_store.plant_body(key, DAMAGE[damage])

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        streamed = session.get(url, stream=True)
        assert streamed.from_cache
        with pytest.raises(requests.exceptions.ChunkedEncodingError) as raised:
            for _ in streamed.iter_content(8192):
                pass
        streamed.close()
    assert isinstance(raised.value, DamagedBodyError)
    assert errors.DamagedBodyError is DamagedBodyError  # the documented name
    assert isinstance(raised.value, errors.HttpCacheError)
    assert len(_warnings(caplog)) == 1
    assert len(session.cache) == 0  # removed: the next request goes to the origin
    fetched = session.get(url)
    assert not fetched.from_cache and fetched.content == LARGE and route.calls == 2


def test_a_damaged_streamed_body_read_through_raw_raises_too(
    origin: Origin,
    byte_store: Store,  # noqa: F811
) -> None:
    url = origin.route("/raw", Once(LARGE))
    session = _session(byte_store)
    key = session.get(url).cache_key
    byte_store.plant_body(key, _flip_a_bit)
    streamed = session.get(url, stream=True)
    with pytest.raises(DamagedBodyError):
        while streamed.raw.read(4096):
            pass
    streamed.close()


def test_an_intact_body_streams_and_reads_whole(
    origin: Origin,
    byte_store: Store,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = origin.route("/intact", Once(LARGE))
    session = _session(byte_store)
    session.get(url)
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        streamed = session.get(url, stream=True)
        assert b"".join(streamed.iter_content(10_000)) == LARGE and streamed.from_cache
        whole = session.get(url)
        assert whole.content == LARGE and whole.from_cache
    assert _warnings(caplog) == []


def test_a_damaged_body_is_removed_from_a_cache_that_keeps_entries_forever(
    origin: Origin, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``FileCache(forever=True)`` keeps its entries through the driver's deletions,
    but not a damaged one."""
    from httpcache.caches.file import FileCache

    route = Once(SMALL)
    url = origin.route("/forever", route)
    cache = FileCache(str(tmp_path / "forever"), forever=True)
    session = CachedSession(backend=cache)
    key = session.get(url).cache_key
    path = Path(cache.path_of(key))
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        again = session.get(url)
    assert again.content == SMALL and not again.from_cache
    assert len(_warnings(caplog)) == 1
    assert len(cache) == 0
