"""Streams the caller does not finish: they block no one and leave nothing behind.

``r1 = s.get(u, stream=True); r1.raw.read(1024); s.get(u)``: the second call does not
wait for the first response (checking a header and dropping the body is everyday
code). The leader's flight lands when its response is handed to the caller, so a
second request for the URL fetches for itself. A stream abandoned half-read —
closed, dropped, raised out of, left in a reference cycle — stores nothing partial,
and leaks no file descriptor, lock, temporary file, pending SQLite body or Redis
list. On every backend.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator

import pytest

from httpcache import CachedSession
from httpcache.engine import FLIGHTS
from tests.faults._backends import Store, store  # noqa: F401 - fixture
from tests.support.origin import Origin, Reply

#: Larger than what file backends keep in memory and several SQLite/Redis chunks.
BODY = bytes(range(256)) * 1200  # 300 KiB
CHUNK = 64 * 1024
#: The origin closes each connection: no pooled socket counts as a leak.
HEADERS = {"Cache-Control": "max-age=600", "Connection": "close"}
#: A follower that waited would wait this long: far past the join below.
FOREVER = 3600.0


def _session(store: Store) -> CachedSession:  # noqa: F811
    options = {"chunk_size": CHUNK} if store.name in ("sqlite", "redis") else {}
    return CachedSession(store.cache_name, backend=store.cache(**options), coalesce_timeout=FOREVER)


def _open_fds(origin: Origin) -> set[str]:
    """This process's open descriptors, named by what they are (a file's path, a
    socket's inode), but the origin server's own sockets (it runs in this process and
    closes its side of a connection when its handler thread gets to it)."""
    port = f":{int(origin.base.rsplit(':', 1)[1]):04X}"
    theirs = set()
    with open("/proc/net/tcp") as table:
        for line in table.read().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(port):  # the local address is the origin's
                theirs.add(f"socket:[{fields[9]}]")
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor, closed since
            continue
        if target not in theirs:
            found.add(f"{fd} {target}")
    return found


def leftovers(store: Store) -> list[str]:  # noqa: F811
    """What a write that did not complete may have left in storage."""
    if store.name in ("filesystem", "separate-body"):
        tmp = store.path / ".tmp"
        return sorted(os.listdir(tmp)) if tmp.exists() else []
    if store.name == "sqlite":
        conn = sqlite3.connect(store.path)
        try:
            writers = conn.execute("SELECT count(*) FROM writers").fetchone()[0]
            orphans = conn.execute(
                "SELECT count(*) FROM bodies WHERE body_id NOT IN"
                " (SELECT body_id FROM entries WHERE body_id IS NOT NULL)"
            ).fetchone()[0]
        finally:
            conn.close()
        return [f"{writers} writers"] * bool(writers) + [f"{orphans} orphan chunks"] * bool(orphans)
    if store.name == "redis":
        client = store.redis()
        try:
            heads = list(client.scan_iter(match=f"{store.cache_name}:*:h:*"))
            bodies = list(client.scan_iter(match=f"{store.cache_name}:*:b:*"))
        finally:
            client.close()
        return [] if heads else [b.decode() for b in bodies]
    return []


def _half_read_then(how: str, session: CachedSession, url: str) -> None:
    """Read a first KiB of a streamed miss, then abandon the response ``how``."""
    if how == "raised out of":
        with pytest.raises(KeyError), session.get(url, stream=True) as response:
            response.raw.read(1024)
            raise KeyError("the caller's own error")
        return
    response = session.get(url, stream=True)
    assert not response.from_cache
    assert response.raw.read(1024) == BODY[:1024]
    if how == "closed":
        response.close()
    elif how == "dropped":
        del response
    elif how == "in a reference cycle":
        response.cycle = [response]  # type: ignore[attr-defined]
        del response
    else:
        raise AssertionError(how)


HOW = ["closed", "dropped", "raised out of", "in a reference cycle"]


@pytest.fixture
def no_gc_during_test() -> Iterator[None]:
    """Collections only where the test asks (a cycle must not go by chance earlier)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("how", HOW)
def test_an_abandoned_stream_stores_nothing_and_leaks_nothing(
    origin: Origin,
    store: Store,  # noqa: F811
    how: str,
    no_gc_during_test: None,
) -> None:
    url = origin.route("/abandoned", Reply(200, HEADERS, BODY))
    warm = origin.route("/warm", Reply(200, HEADERS, b"warm"))
    session = _session(store)
    session.get(warm)  # connections to the store opened before counting descriptors
    assert session.get(warm).from_cache
    assert len(list(session.cache.entries())) == 1  # (a listing's pooled connection too)
    before = _open_fds(origin)

    _half_read_then(how, session, url)
    gc.collect()

    # (Descriptors first: SQLite keeps one of a connection closed beside others open
    # to the same file, which ``leftovers`` opens.)
    assert _open_fds(origin) - before == set(), "a file descriptor was left open"
    assert [e.url for e in session.cache.entries()] == [warm]  # nothing partial stored
    assert leftovers(store) == []
    assert not FLIGHTS._flights, "a flight is still held"
    # The URL works as if nothing happened: fetched whole, stored whole, then a hit.
    fetched = session.get(url)
    assert not fetched.from_cache and fetched.content == BODY
    hit = session.get(url)
    assert hit.from_cache and hit.content == BODY
    assert origin.hits("/abandoned") == 2


def _in_thread(call: Callable[[], bytes]) -> list[bytes | BaseException]:
    """``call()`` in another thread; what it returned or raised (empty if it hung)."""
    result: list[bytes | BaseException] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # handed to the test thread
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)  # a follower waiting for the open stream would wait an hour
    return result


def test_a_second_request_does_not_wait_for_a_stream_left_open(
    origin: Origin,
    store: Store,  # noqa: F811
) -> None:
    """The everyday case, in one thread: look at the head, leave the body."""
    url = origin.route("/open", Reply(200, HEADERS, BODY))
    session = _session(store)
    first = session.get(url, stream=True)
    assert first.raw.read(1024) == BODY[:1024]
    assert not FLIGHTS._flights  # handed to the caller: the flight has landed

    second = session.get(url)  # the same thread: it would wait forever on itself
    assert second.content == BODY and not second.from_cache
    assert session.get(url).from_cache  # the second response was stored whole
    # Another thread too.
    [third] = _in_thread(lambda: session.get(url).content)
    assert third == BODY

    # The first one, finished late, reads the rest of its own body; closing it
    # replaces nothing with a partial copy.
    assert first.raw.read() == BODY[1024:]
    first.close()
    stored = session.cache.read_body(session.get(url).cache_key)
    assert stored == BODY
    assert origin.hits("/open") == 2  # the first and the second; the rest were hits


def test_a_stream_left_open_stores_nothing_over_a_complete_entry(
    origin: Origin,
    store: Store,  # noqa: F811
    no_gc_during_test: None,
) -> None:
    url = origin.route("/late", Reply(200, HEADERS, BODY))
    session = _session(store)
    first = session.get(url, stream=True)
    first.raw.read(1024)
    assert session.get(url).content == BODY  # stored whole meanwhile
    del first
    gc.collect()
    hit = session.get(url)
    assert hit.from_cache and hit.content == BODY
    assert leftovers(store) == []
