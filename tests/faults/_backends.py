"""Shared parts of the fault battery: every backend at a known place, the hc CLI on
it, raw access to what each backend stored, and an origin that writes raw bytes.

``store`` (a fixture, parametrized over the five backends) gives a ``Store``: a
session factory, ``cli(...)`` running ``hc`` in this process on the same cache, and,
for the backends that keep bytes, ``plant_head`` (replace an entry's stored head with
any bytes, in the backend's own framing) and ``dump`` (every stored byte, for greps).
Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import struct
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import typer.testing
from typer.main import get_command
from typer.testing import CliRunner, Result

from httpcache import CachedSession
from httpcache.caches import BaseCache, DictCache
from httpcache.caches._files import FRAME, name_of
from httpcache.caches.file import FileCache
from httpcache.caches.redis import RedisCache
from httpcache.caches.redis.heads import unpack_head, with_parts
from httpcache.caches.separate_body import SeparateBodyFileCache
from httpcache.caches.sqlite import SQLiteCache
from httpcache_cli import config as cli_config
from httpcache_cli.app import app

BACKENDS = ["memory", "sqlite", "filesystem", "separate-body", "redis"]
#: Backends that keep bytes somewhere a damaged or planted entry can be put.
BYTE_BACKENDS = ["sqlite", "filesystem", "separate-body", "redis"]
FILE_BACKENDS = ["filesystem", "separate-body"]

_COMMAND = get_command(app)


@dataclass
class Store:
    """One backend at the place ``hc --backend NAME --cache-dir ROOT`` opens."""

    name: str
    root: Path
    cache_name: str
    redis_url: str | None = None
    _memory: DictCache | None = None
    _opened: list[BaseCache] = field(default_factory=list)

    # ---- the library ---------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The SQLite file or the cache folder (what hc's --cache-dir leads to)."""
        suffix = {"sqlite": ".sqlite", "filesystem": ".filesystem"}.get(self.name)
        return self.root / f"{self.cache_name}{suffix or '.' + self.name}"

    def cache(self, **options: Any) -> BaseCache:
        """A new instance on the same storage (the memory one is shared)."""
        cache: BaseCache
        if self.name == "memory":
            if self._memory is None:
                self._memory = DictCache()
                cli_config._MEMORY[self.cache_name] = self._memory
            return self._memory
        if self.name == "sqlite":
            cache = SQLiteCache(self.path, **options)
        elif self.name == "filesystem":
            cache = FileCache(self.path, **options)
        elif self.name == "separate-body":
            cache = SeparateBodyFileCache(self.path, **options)
        else:
            cache = RedisCache(namespace=self.cache_name, url=self.redis_url, **options)
        self._opened.append(cache)
        return cache

    def session(self, **options: Any) -> CachedSession:
        return CachedSession(self.cache_name, backend=self.cache(), **options)

    def close(self) -> None:
        for cache in self._opened:
            cache.close()
        cli_config._MEMORY.pop(self.cache_name, None)

    # ---- the CLI ---------------------------------------------------------------------

    def cli(self, *args: str) -> Result:
        """``hc --backend NAME ... ARGS`` in this process, on this cache."""
        options = ["--backend", self.name, "--cache-dir", str(self.root)]
        options += ["--cache-name", self.cache_name]
        if self.redis_url:
            options += ["--redis-url", self.redis_url]
        clean: dict[str, str | None] = {v: None for v in cli_config.ENV.values()}
        clean["NO_COLOR"] = "1"
        clean["COLUMNS"] = "400"  # whole URLs and keys in tables
        return CliRunner().invoke(app, [*options, *args], env=clean)

    # ---- raw storage ------------------------------------------------------------------

    def head_bytes(self, key: str) -> bytes:
        """The stored head (``dumps_entry`` output) of entry ``key``."""
        if self.name == "sqlite":
            with _db(self.path) as db:
                (head,) = db.execute(
                    "SELECT head FROM heads WHERE id = (SELECT id FROM entries WHERE key = ?)",
                    (key,),
                ).fetchone()
            return bytes(head)
        if self.name in FILE_BACKENDS:
            data = self.entry_file(key).read_bytes()
            _, head_length, _, _ = FRAME.unpack(data[: FRAME.size])
            return data[FRAME.size : FRAME.size + head_length]
        client = self.redis()
        try:
            return unpack_head(client.get(self.redis_head_key(key))).entry
        finally:
            client.close()

    def plant_head(self, key: str, head: bytes) -> None:
        """Store ``head`` as entry ``key``'s head, framed so that only the head is wrong."""
        if self.name == "sqlite":
            with _db(self.path) as db:
                db.execute(
                    "UPDATE heads SET head = ? WHERE id = (SELECT id FROM entries WHERE key = ?)",
                    (head, key),
                )
        elif self.name in FILE_BACKENDS:
            path = self.entry_file(key)
            data = path.read_bytes()
            magic, head_length, crc, length = FRAME.unpack(data[: FRAME.size])
            payload = data[FRAME.size + head_length :]
            path.write_bytes(FRAME.pack(magic, len(head), crc, length) + head + payload)
        else:
            client = self.redis()
            try:
                name = self.redis_head_key(key)
                assert client.set(name, with_parts(client.get(name), entry=head), keepttl=True)
            finally:
                client.close()

    def plant_body(self, key: str, change: Callable[[bytes], bytes]) -> None:
        """Replace entry ``key``'s stored body (its last piece, where it is stored in
        several) by ``change(piece)``, in the backend's own place and framing."""
        if self.name == "sqlite":
            with _db(self.path) as db:
                entry_id, body_id, chunks = db.execute(
                    "SELECT id, body_id, chunks FROM entries WHERE key = ?", (key,)
                ).fetchone()
                if body_id is None:
                    (body,) = db.execute(
                        "SELECT body FROM heads WHERE id = ?", (entry_id,)
                    ).fetchone()
                    db.execute("UPDATE heads SET body = ? WHERE id = ?", (change(body), entry_id))
                else:
                    where = "body_id = ? AND seq = ?"
                    found = (body_id, chunks - 1)
                    (data,) = db.execute(f"SELECT data FROM bodies WHERE {where}", found).fetchone()
                    db.execute(f"UPDATE bodies SET data = ? WHERE {where}", (change(data), *found))
        elif self.name == "filesystem":
            path = self.entry_file(key)
            data = path.read_bytes()
            _, head_length, _, _ = FRAME.unpack(data[: FRAME.size])
            start = FRAME.size + head_length
            path.write_bytes(data[:start] + change(data[start:]))
        elif self.name == "separate-body":
            kd = name_of(key)
            [path] = (self.path / "bodies" / kd[:2]).glob(f"{kd}.*")
            path.write_bytes(change(path.read_bytes()))
        elif self.name == "redis":
            client = self.redis()
            try:
                head = self.redis_head_key(key)
                value = client.get(head)
                stored = unpack_head(value)
                if stored.chunks == 0:
                    planted = with_parts(value, body=change(stored.body))
                    client.set(head, planted, keepttl=True)
                else:
                    body = f"{self.cache_name}:{{{key}}}:b:{key}:{stored.gen}"
                    client.lset(body, -1, change(client.lindex(body, -1)))
            finally:
                client.close()
        else:
            raise AssertionError("the memory backend stores objects, not bytes")

    def entry_file(self, key: str) -> Path:
        kd = name_of(key)
        return self.path / "entries" / kd[:2] / kd

    def redis(self) -> redis.Redis:
        assert self.redis_url is not None
        return redis.Redis.from_url(self.redis_url)

    def redis_head_key(self, key: str) -> str:
        return f"{self.cache_name}:{{{key}}}:h:{key}"  # an entry without Vary

    def dump(self) -> bytes:
        """Every byte this backend stored: files (SQLite's -wal and -shm too) or every
        key of the Redis namespace with its values as stored (not ``DUMP``, which
        compresses long strings)."""
        if self.name == "memory":
            raise AssertionError("the memory backend stores objects, not bytes")
        if self.name == "redis":
            client = self.redis()
            try:
                names = sorted(client.scan_iter(match=f"{self.cache_name}:*", count=1000))
                assert names, "nothing stored in Redis"
                return b"\n".join(name + b"=" + _raw_value(client, name) for name in names)
            finally:
                client.close()
        parts = []
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                parts.append(str(path).encode() + b"\n" + path.read_bytes())
        return b"\n".join(parts)


def _raw_value(client: redis.Redis, name: bytes) -> bytes:
    """What a Redis key holds, its parts joined as they are stored."""
    kind = client.type(name)
    if kind == b"string":
        return client.get(name) or b""
    if kind == b"hash":
        return b"\n".join(k + b"=" + v for k, v in client.hgetall(name).items())
    if kind == b"list":
        return b"\n".join(client.lrange(name, 0, -1))
    if kind == b"set":
        return b"\n".join(sorted(client.smembers(name)))
    if kind == b"zset":
        pairs = client.zrange(name, 0, -1, withscores=True)
        return b"\n".join(member + b" " + repr(score).encode() for member, score in pairs)
    return b""  # gone since it was listed


class _db:
    """A plain sqlite3 connection to a cache file, committed and closed on exit."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path)

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.commit()
        self.conn.close()


def make_store(request: pytest.FixtureRequest, name: str, tmp_path: Path) -> Store:
    redis_url = None
    if name == "redis":
        server = request.getfixturevalue("redis_server")  # missing redis-server: a failure
        server.ensure_up()
        redis_url = server.url
    return Store(name, tmp_path / "cache", f"faults-{uuid.uuid4().hex[:10]}", redis_url)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each of the five backends in turn."""
    made = make_store(request, request.param, tmp_path)
    yield made
    made.close()


@pytest.fixture(params=BYTE_BACKENDS)
def byte_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each backend that keeps bytes (all but memory)."""
    made = make_store(request, request.param, tmp_path)
    yield made
    made.close()


@pytest.fixture(autouse=True, scope="session")
def _one_command_tree() -> Iterator[None]:
    """Build hc's click tree once (typer rebuilds it at every CliRunner call)."""
    original = typer.testing._get_command
    typer.testing._get_command = lambda typer_app: (
        _COMMAND if typer_app is app else original(typer_app)
    )
    yield
    typer.testing._get_command = original


# ---- an origin that writes raw bytes ------------------------------------------------------


@dataclass
class RawRequest:
    method: str
    target: str
    headers: dict[str, str]  # names lower-cased


Responder = Callable[[RawRequest, socket.socket], None]


class RawOrigin:
    """A threaded TCP server on 127.0.0.1: each connection reads one request head and
    hands the socket to ``responder``, which writes whatever bytes it likes; the
    connection is then closed (unless the responder reset it)."""

    def __init__(self) -> None:
        self.responders: dict[str, Responder] = {}
        self.log: list[RawRequest] = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def route(self, path: str, responder: Responder) -> str:
        self.responders[path] = responder
        return self.base + path

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.log if r.target.split("?")[0] == path)

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                part = conn.recv(65536)
                if not part:
                    return
                data += part
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            method, target, _ = head[0].split(" ", 2)
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            seen = RawRequest(method, target, headers)
            with self._lock:
                self.log.append(seen)
            responder = self.responders.get(target.split("?")[0])
            if responder is None:
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            else:
                responder(seen, conn)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        self._closed = True
        self._sock.close()


def reply(
    status: str = "200 OK",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    length: bool = True,
) -> Responder:
    """A responder sending a complete response (Content-Length unless ``length=False``)."""

    def respond(_seen: RawRequest, conn: socket.socket) -> None:
        lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers or [])]
        if length:
            lines.append(f"Content-Length: {len(body)}")
        lines.append("Connection: close")
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    return respond


def reset(conn: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN (SO_LINGER 0)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


@pytest.fixture
def raw_origin() -> Iterator[RawOrigin]:
    server = RawOrigin()
    yield server
    server.close()


def all_files(root: Path) -> Iterator[Path]:
    """Every file and folder under ``root`` (``root`` included), symlinks not followed."""
    yield root
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            yield Path(folder) / name
