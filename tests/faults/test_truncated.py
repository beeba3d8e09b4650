"""Case 5: truncated bodies. The caller sees what plain ``requests`` shows, nothing is
stored, and the next request goes to the origin again.

RFC 9111 §3.3: a cache must not store an incomplete response as if it were complete;
RFC 9112 §6.3: a message shorter than its Content-Length, or a chunked body without
its last chunk, is incomplete. A gzip stream without its end (RFC 9110 §8.4.1.3)
is incomplete too, even when the connection's closing ends the message.
"""

from __future__ import annotations

import gc
import gzip
import logging
import os
import socket
from collections.abc import Callable

import pytest
import requests

from tests.faults._backends import (  # noqa: F401 - fixtures
    RawOrigin,
    RawRequest,
    Store,
    raw_origin,
    reset,
    store,
)
from tests.support.origin import Origin, Reply

FRESH = b"Cache-Control: max-age=600\r\n"
BODY = b"0123456789abcdef" * 4096  # 64 KiB
GZIPPED = gzip.compress(os.urandom(96 * 1024))  # incompressible: the cut is mid-stream


def _head(*lines: bytes) -> bytes:
    # The raw origin closes every connection after one response: saying so keeps the
    # client from reusing it in the moment before it sees the close (a rare flake).
    close = b"" if b"Connection: close\r\n" in lines else b"Connection: close\r\n"
    return b"HTTP/1.1 200 OK\r\n" + FRESH + b"".join(lines) + close + b"\r\n"


def short_then_close(_seen: RawRequest, conn: socket.socket) -> None:
    conn.sendall(_head(b"Content-Length: %d\r\n" % len(BODY)) + BODY[: len(BODY) // 2])


def short_then_reset(_seen: RawRequest, conn: socket.socket) -> None:
    conn.sendall(_head(b"Content-Length: %d\r\n" % len(BODY)) + BODY[: len(BODY) // 2])
    reset(conn)


def chunked_without_last_chunk(_seen: RawRequest, conn: socket.socket) -> None:
    chunks = b"".join(b"%x\r\n%s\r\n" % (1000, BODY[i : i + 1000]) for i in range(0, 8000, 1000))
    conn.sendall(_head(b"Transfer-Encoding: chunked\r\n") + chunks)  # no "0\r\n\r\n"


def gzip_cut_with_length(_seen: RawRequest, conn: socket.socket) -> None:
    head = _head(b"Content-Encoding: gzip\r\n", b"Content-Length: %d\r\n" % len(GZIPPED))
    conn.sendall(head + GZIPPED[: len(GZIPPED) // 2])


def gzip_cut_at_close(_seen: RawRequest, conn: socket.socket) -> None:
    # Close-delimited: the message ends at the close, the gzip stream does not.
    conn.sendall(_head(b"Content-Encoding: gzip\r\n") + GZIPPED[: len(GZIPPED) // 2])


CUTS: dict[str, Callable[[RawRequest, socket.socket], None]] = {
    "short Content-Length, close": short_then_close,
    "short Content-Length, reset": short_then_reset,
    "chunked without its last chunk": chunked_without_last_chunk,
    "gzip cut, Content-Length": gzip_cut_with_length,
    "gzip cut, closed": gzip_cut_at_close,
}

Outcome = tuple[str, object]


def outcome(get: Callable[[], requests.Response], stream: bool) -> Outcome:
    """What the caller sees: ("body", bytes) or ("raises", the exception's type)."""
    try:
        response = get()
        body = b"".join(response.iter_content(4096)) if stream else response.content
    except requests.RequestException as exc:
        return "raises", type(exc)
    return "body", body


@pytest.mark.parametrize("stream", [False, True], ids=["read", "stream"])
@pytest.mark.parametrize("cut", list(CUTS))
def test_truncated_body_is_passed_on_and_never_stored(
    raw_origin: RawOrigin,  # noqa: F811
    store: Store,  # noqa: F811
    cut: str,
    stream: bool,
) -> None:
    url = raw_origin.route("/cut", CUTS[cut])
    plain = outcome(lambda: requests.get(url, stream=stream, timeout=10), stream)
    if cut == "gzip cut, closed":
        assert plain[0] == "body" and 0 < len(plain[1]) < 96 * 1024  # type: ignore[arg-type]
    else:
        assert plain[0] == "raises"

    session = store.session()
    assert outcome(lambda: session.get(url, stream=stream, timeout=10), stream) == plain
    assert len(session.cache) == 0
    assert session.cache.stats().entries == 0

    before = raw_origin.hits("/cut")
    again = outcome(lambda: session.get(url, stream=stream, timeout=10), stream)
    assert again == plain  # from the origin again, not a stored fragment
    assert raw_origin.hits("/cut") == before + 1
    assert len(session.cache) == 0


def test_a_cut_gzip_stream_is_logged_as_not_stored(
    raw_origin: RawOrigin,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    from httpcache import CachedSession

    url = raw_origin.route("/cut", gzip_cut_at_close)
    session = CachedSession(backend="memory")
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        session.get(url, timeout=10)
    assert any("cut short" in r.getMessage() for r in caplog.records)
    assert len(session.cache) == 0


def test_a_complete_gzip_body_is_stored(raw_origin: RawOrigin) -> None:  # noqa: F811
    """The other side of the check above: a whole gzip stream, framed or not, is kept."""
    from httpcache import CachedSession

    whole = gzip.compress(BODY)

    def at_close(_seen: RawRequest, conn: socket.socket) -> None:
        # Connection: close, so that the client never picks this connection from its
        # pool again in the moment before it sees the server close it.
        conn.sendall(_head(b"Content-Encoding: gzip\r\n", b"Connection: close\r\n") + whole)

    def with_length(_seen: RawRequest, conn: socket.socket) -> None:
        conn.sendall(_head(b"Content-Encoding: gzip\r\n", b"Content-Length: %d\r\n" % len(whole)))
        conn.sendall(whole)

    session = CachedSession(backend="memory")
    for path, responder in (("/closed", at_close), ("/length", with_length)):
        url = raw_origin.route(path, responder)
        for stream in (False, True):
            session.cache.clear()
            assert outcome(lambda u=url, s=stream: session.get(u, stream=s), stream) == (
                "body",
                BODY,
            )
            hit = session.get(url)
            assert hit.from_cache and hit.content == BODY


@pytest.mark.parametrize("ending", ["close", "drop"])
def test_stream_abandoned_after_1_kib_stores_nothing(
    origin: Origin,
    store: Store,  # noqa: F811
    ending: str,
) -> None:
    url = origin.route("/big", Reply(200, {"Cache-Control": "max-age=600"}, BODY * 4))
    plain = requests.get(url, stream=True, timeout=10)
    plain_first = next(plain.iter_content(1024))
    plain.close()

    session = store.session()
    response = session.get(url, stream=True, timeout=10)
    assert next(response.iter_content(1024)) == plain_first == BODY[:1024]
    if ending == "close":
        response.close()
    else:  # the caller just lets go of it
        del response
        gc.collect()
    assert len(session.cache) == 0

    again = session.get(url, timeout=10)
    assert not again.from_cache and again.content == BODY * 4
    assert origin.hits("/big") == 3  # plain, abandoned, again
    assert session.get(url, timeout=10).from_cache  # the whole body, read, was stored
