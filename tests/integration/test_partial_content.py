"""Stored parts (206) end to end on every backend (RFC 9111 §3.3, §3.4; RFC 9110 §14):
a range within a stored part is served from it, a plain GET asks for the rest only
and gets the joined 200, and a part is never served as the whole response."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from httpcache import CachedSession, CacheStatus
from tests.support.origin import Origin, Reply, Seen

BODY = b"0123456789"
BACKENDS = ["memory", "sqlite", "filesystem", "separate-body", "redis"]


@pytest.fixture(params=BACKENDS)
def session(request: pytest.FixtureRequest, tmp_path: Path) -> CachedSession:
    name = request.param
    if name == "redis":
        server = request.getfixturevalue("redis_server")
        namespace = request.getfixturevalue("redis_namespace")
        return CachedSession(namespace, backend="redis", url=server.url)
    if name == "memory":
        return CachedSession(backend="memory")
    return CachedSession(str(tmp_path / "cache"), backend=name)


def ranges_of(body: bytes, etag: str | None = '"v1"') -> Callable[[Seen], Reply]:
    """An origin that honours one byte range (and If-Range) of ``body``."""

    def handler(seen: Seen) -> Reply:
        fields = {"Cache-Control": "max-age=3600"}
        if etag:
            fields["ETag"] = etag
        wanted = seen.headers.get("range", "")
        condition = seen.headers.get("if-range")
        if not wanted.startswith("bytes=") or (condition is not None and condition != etag):
            return Reply(200, fields, body)
        first_text, _, last_text = wanted[len("bytes=") :].partition("-")
        if not first_text:
            first, last = len(body) - int(last_text), len(body) - 1
        else:
            first = int(first_text)
            last = min(int(last_text), len(body) - 1) if last_text else len(body) - 1
        fields["Content-Range"] = f"bytes {first}-{last}/{len(body)}"
        return Reply(206, fields, body[first : last + 1])

    return handler


def sent_ranges(origin: Origin, path: str) -> list[tuple[str | None, str | None]]:
    return [(s.headers.get("range"), s.headers.get("if-range")) for s in origin.requests_to(path)]


def test_a_range_within_a_stored_part_is_served_from_it(
    origin: Origin, session: CachedSession
) -> None:
    url = origin.route("/part", ranges_of(BODY))
    first = session.get(url, headers={"Range": "bytes=4-9"})
    assert first.status_code == 206 and first.content == b"456789" and not first.from_cache
    for wanted, content, content_range in [
        ("bytes=4-9", b"456789", "bytes 4-9/10"),
        ("bytes=6-8", b"678", "bytes 6-8/10"),
        ("bytes=6-", b"6789", "bytes 6-9/10"),
        ("bytes=-1", b"9", "bytes 9-9/10"),
    ]:
        for stream in (False, True):
            again = session.get(url, headers={"Range": wanted}, stream=stream)
            assert again.status_code == 206 and again.from_cache, wanted
            assert again.content == content
            assert again.headers["Content-Range"] == content_range
            assert again.headers["Content-Length"] == str(len(content))
            assert again.headers["ETag"] == '"v1"' and "Age" in again.headers
    assert origin.hits("/part") == 1
    beyond = session.get(url, headers={"Range": "bytes=0-5"})  # not all stored: the origin
    assert beyond.content == b"012345" and not beyond.from_cache
    assert sent_ranges(origin, "/part")[-1] == ("bytes=0-5", None)


def test_a_plain_get_asks_for_the_rest_and_gets_the_joined_response(
    origin: Origin, session: CachedSession
) -> None:
    url = origin.route("/join", ranges_of(BODY))
    session.get(url, headers={"Range": "bytes=0-4"})
    whole = session.get(url)
    assert whole.status_code == 200 and whole.content == BODY and not whole.from_cache
    assert whole.headers["Content-Length"] == "10" and "Content-Range" not in whole.headers
    assert sent_ranges(origin, "/join") == [("bytes=0-4", None), ("bytes=5-", '"v1"')]
    hit = session.get(url)  # the joined response was stored whole, in place of the part
    assert hit.cache_status is CacheStatus.HIT and hit.content == BODY
    assert hit.status_code == 200
    assert len(session.cache) == 1
    assert session.get(url, headers={"Range": "bytes=2-3"}).content == b"23"
    assert origin.hits("/join") == 2


def test_two_ranges_join_into_the_complete_response(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/two", ranges_of(BODY))
    session.get(url, headers={"Range": "bytes=0-3"})
    larger = session.get(url, headers={"Range": "bytes=2-6"})  # joined: one part, 0-6
    assert larger.status_code == 206 and larger.content == b"23456"
    assert larger.headers["Content-Range"] == "bytes 2-6/10"
    inside = session.get(url, headers={"Range": "bytes=1-5"})
    assert inside.from_cache and inside.content == b"12345"
    session.get(url, headers={"Range": "bytes=7-"})  # the rest: the complete response
    whole = session.get(url)
    assert whole.cache_status is CacheStatus.HIT and whole.status_code == 200
    assert whole.content == BODY and whole.headers["Content-Length"] == "10"
    assert len(session.cache) == 1
    assert [r for r, _ in sent_ranges(origin, "/two")] == ["bytes=0-3", "bytes=2-6", "bytes=7-"]


def test_a_206_with_every_byte_answers_a_plain_get(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/all", ranges_of(BODY))
    first = session.get(url, headers={"Range": "bytes=0-"})
    assert first.status_code == 206 and first.content == BODY
    whole = session.get(url)
    assert whole.status_code == 200 and whole.from_cache and whole.content == BODY
    assert "Content-Range" not in whole.headers
    assert origin.hits("/all") == 1


def test_a_streamed_get_is_not_joined_in_memory(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/streamed", ranges_of(BODY))
    session.get(url, headers={"Range": "bytes=0-4"})
    with session.get(url, stream=True) as whole:  # the whole, streamed as it comes
        assert whole.status_code == 200 and b"".join(whole.iter_content(3)) == BODY
    assert sent_ranges(origin, "/streamed") == [("bytes=0-4", None), (None, None)]
    assert session.get(url).from_cache


def test_a_last_part_is_completed_from_the_front(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/tail", ranges_of(BODY))
    session.get(url, headers={"Range": "bytes=-4"})
    assert session.get(url).content == BODY
    assert sent_ranges(origin, "/tail") == [("bytes=-4", None), ("bytes=0-5", '"v1"')]
    assert session.get(url).from_cache


def test_a_changed_representation_is_fetched_whole(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/changed", ranges_of(BODY))
    session.get(url, headers={"Range": "bytes=0-4"})
    origin.route("/changed", ranges_of(b"abcdefghij", etag='"v2"'))
    whole = session.get(url)  # If-Range fails at the origin: it sends the new 200
    assert whole.status_code == 200 and whole.content == b"abcdefghij"
    assert session.get(url).content == b"abcdefghij"
    assert origin.hits("/changed") == 2


def test_parts_without_a_validator_are_never_joined(origin: Origin, session: CachedSession) -> None:
    url = origin.route("/no-etag", ranges_of(BODY, etag=None))
    session.get(url, headers={"Range": "bytes=0-4"})
    whole = session.get(url)  # the rest came as a 206 that cannot be joined: the whole
    assert whole.status_code == 200 and whole.content == BODY
    assert sent_ranges(origin, "/no-etag") == [
        ("bytes=0-4", None),
        ("bytes=5-", None),
        (None, None),
    ]
    assert session.get(url).from_cache


def test_a_206_that_contradicts_its_content_range_is_not_kept(
    origin: Origin, session: CachedSession
) -> None:
    # Content-Range says six bytes, five come: which five is anyone's guess.
    fields = {"Cache-Control": "max-age=3600", "Content-Range": "bytes 4-9/10"}
    url = origin.route("/odd", Reply(206, fields, b"01234"))
    session.get(url, headers={"Range": "bytes=-5"})
    assert not session.get(url, headers={"Range": "bytes=-5"}).from_cache
    assert len(session.cache) == 0
