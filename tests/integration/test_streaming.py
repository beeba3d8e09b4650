"""stream=True: bodies go to storage as the caller reads them, committed only when complete."""

from __future__ import annotations

import gzip
import os

import pytest

from httpcache import CachedSession, CacheStatus
from tests.support.origin import Origin, Reply

BODY = os.urandom(300_000)


@pytest.fixture
def session() -> CachedSession:
    return CachedSession(backend="memory")


def test_streamed_body_stored_once_consumed(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/big", Reply(200, {"Cache-Control": "max-age=60"}, BODY))
    with session.get(url, stream=True) as first:
        assert len(session.cache) == 0  # nothing committed before the body is read
        assert b"".join(first.iter_content(8192)) == BODY
    assert len(session.cache) == 1
    with session.get(url, stream=True) as hit:
        assert hit.from_cache and hit.cache_status is CacheStatus.HIT
        assert b"".join(hit.iter_content(10_000)) == BODY
    assert origin.hits("/big") == 1


def test_abandoned_stream_stores_nothing(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/abandon", Reply(200, {"Cache-Control": "max-age=60"}, BODY))
    response = session.get(url, stream=True)
    next(response.iter_content(1024))
    response.close()
    assert len(session.cache) == 0
    assert session.get(url).content == BODY
    assert origin.hits("/abandon") == 2


def test_raw_read_of_encoded_bytes_is_not_stored(origin: Origin, session: CachedSession) -> None:
    payload = gzip.compress(BODY)
    url = origin.route(
        "/gz", Reply(200, {"Cache-Control": "max-age=60", "Content-Encoding": "gzip"}, payload)
    )
    raw = session.get(url, stream=True).raw.read()  # undecoded bytes, as with plain requests
    assert raw == payload
    assert len(session.cache) == 0
    decoded = session.get(url)
    assert decoded.content == BODY
    hit = session.get(url)
    assert hit.from_cache and hit.content == BODY
    assert hit.headers["Content-Encoding"] == "gzip"  # the headers as the origin sent them


def test_streamed_hit_can_be_read_raw(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/rawhit", Reply(200, {"Cache-Control": "max-age=60"}, BODY))
    session.get(url)
    hit = session.get(url, stream=True)
    assert hit.from_cache and hit.raw.read() == BODY


def test_head_and_empty_bodies(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/head", Reply(200, {"Cache-Control": "max-age=60"}, b"content"))
    assert session.head(url).content == b""
    head = session.head(url)
    assert head.from_cache and head.content == b""
    assert session.get(url).content == b"content"  # GET is a different entry from HEAD
