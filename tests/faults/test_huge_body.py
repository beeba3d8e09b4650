"""A 2 GiB body streamed through the cache in flat memory: stored as the caller reads
it (``stream=True``), then served from the cache as a stream, checked against its
CRC-32 at its end, every byte the origin's. Python's allocations stay under 32 MiB
all along (``tracemalloc``), so nothing holds the body whole.

The backends that keep bodies on disk (Redis would hold 2 GiB of memory, and the
memory backend is memory).
"""

from __future__ import annotations

import hashlib
import socket
import tracemalloc
from pathlib import Path

import pytest

from httpcache import CachedSession
from tests.faults._backends import RawOrigin, RawRequest, raw_origin  # noqa: F401 - fixture

from ._proc import Store

SIZE = 2 << 30
PIECE = 1 << 20
PEAK = 32 << 20


def _piece(n: int) -> bytes:
    """The ``n``-th MiB of the body: different from every other."""
    return n.to_bytes(8, "big") * (PIECE // 8)


def _expected_digest() -> str:
    digest = hashlib.blake2b(digest_size=16)
    for n in range(SIZE // PIECE):
        digest.update(_piece(n))
    return digest.hexdigest()


def huge(_seen: RawRequest, conn: socket.socket) -> None:
    head = (
        "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {SIZE}\r\n"
        "Connection: close\r\n\r\n"
    )
    conn.sendall(head.encode())
    for n in range(SIZE // PIECE):
        conn.sendall(_piece(n))


def _read(session: CachedSession, url: str) -> tuple[str, bool]:
    """The body's digest, read as a stream, and whether it came from the cache."""
    digest = hashlib.blake2b(digest_size=16)
    with session.get(url, stream=True) as response:
        assert response.status_code == 200
        for chunk in response.iter_content(PIECE):
            digest.update(chunk)
        return digest.hexdigest(), bool(response.from_cache)


@pytest.mark.parametrize("backend", ["sqlite", "filesystem", "separate-body"])
def test_a_2_gib_body_streams_in_and_out_in_flat_memory(
    raw_origin: RawOrigin,  # noqa: F811
    tmp_path: Path,
    backend: str,
) -> None:
    url = raw_origin.route("/huge", huge)
    location = tmp_path / ("cache.sqlite" if backend == "sqlite" else "cache")
    session = CachedSession(backend=Store(backend, str(location)).open())
    expected = _expected_digest()
    tracemalloc.start()
    try:
        stored, from_cache = _read(session, url)
        assert (stored, from_cache) == (expected, False)
        served, from_cache = _read(session, url)
        assert (served, from_cache) == (expected, True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK, f"{peak / 2**20:.1f} MiB at the peak"
    assert raw_origin.hits("/huge") == 1
    session.cache.clear()
    session.close()
