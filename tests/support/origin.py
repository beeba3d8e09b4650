"""A small threaded origin server on 127.0.0.1 for integration tests.

Routes map a path to a function ``handler(seen) -> Reply``; every request is logged
(method, path, headers, body) so tests can count what reached the origin.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


Handler = Callable[[Seen], Reply]


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up early (abandoned streams, timeouts) are normal here."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass


class Origin:
    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.log: list[Seen] = []
        self._lock = threading.Lock()
        origin = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                seen = Seen(
                    self.command,
                    parts.path,
                    parts.query,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with origin._lock:
                    origin.log.append(seen)
                handler = origin.routes.get(parts.path)
                reply = handler(seen) if handler else Reply(404, {}, b"no route")
                self.send_response(reply.status)
                headers = {k.lower(): v for k, v in reply.headers.items()}
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                payload = b"" if self.command == "HEAD" or reply.status == 304 else reply.body
                if "content-length" not in headers and reply.status != 304:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self.server = _QuietServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, handler: Handler | Reply) -> str:
        """Serve ``path`` with a handler (or always the same reply); return its URL."""
        self.routes[path] = handler if callable(handler) else (lambda _seen, r=handler: r)
        return self.url(path)

    def hits(self, path: str | None = None, method: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for s in self.log
                if (path is None or s.path == path) and (method is None or s.method == method)
            )

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.log if s.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def counter_handler(headers: dict[str, str], status: int = 200) -> Handler:
    """Replies ``body <n>`` (n counts requests) with fixed headers."""
    count = {"n": 0}
    lock = threading.Lock()

    def handle(_seen: Seen) -> Reply:
        with lock:
            count["n"] += 1
            n = count["n"]
        return Reply(status, dict(headers), f"body {n}".encode())

    return handle


@pytest.fixture
def origin() -> Iterator[Origin]:
    server = Origin()
    yield server
    server.close()
