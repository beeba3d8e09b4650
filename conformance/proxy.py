"""A small reverse proxy on 127.0.0.1 that answers through a ``CachedSession``.

Every request for the suite's test resources (``/test/...``) goes through the
session given, exactly as a caller of the library would send it: the client's own
header fields (less the hop-by-hop ones and ``Host``), its body, no redirects
followed. The suite's bookkeeping (``/config/...``, ``/state/...``) goes straight to
the origin, so that the harness itself is never cached.

The body the session hands back is already decoded: a content coding that urllib3
decodes is therefore not announced to the client again, any other one is passed on
as the origin sent it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from requests.adapters import HTTPAdapter

#: RFC 9110 §7.6.1: fields that concern one connection only.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Codings urllib3 decodes: the body the session returns is no longer in them.
DECODED_CODINGS = frozenset({"gzip", "x-gzip", "deflate", "br", "zstd"})
NO_BODY_STATUSES = frozenset({204, 304})


class CachingProxy(ThreadingHTTPServer):
    """Forwards to ``origin`` through ``session``; ``plain`` for the suite's own traffic."""

    daemon_threads = True

    def __init__(self, origin: str, session: requests.Session) -> None:
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.origin = origin.rstrip("/")
        self.session = session
        self.plain = requests.Session()
        for client in (self.session, self.plain):
            # A reverse proxy sends what its client sent, not requests' default fields.
            client.headers.clear()
            for prefix in ("http://", "https://"):
                client.mount(prefix, InterimGuard())

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (its own timeout) is reported by the client

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class InterimGuard(HTTPAdapter):
    """requests' transport (http.client) takes an interim response (102, 103) for the
    final one and leaves the real one unread on the connection, where the next request
    sent on it would find it. Such a connection is closed and the exchange failed."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = super().send(request, **kwargs)
        if response.status_code < 200:
            connection = getattr(response.raw, "connection", None)
            if connection is not None:
                connection.close()
            response.close()
            raise requests.ConnectionError(
                f"interim {response.status_code} taken for the final response", request=request
            )
        return response


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CachingProxy

    def log_message(self, format: str, *args: object) -> None:
        pass  # the suite's client reports what matters

    def __getattr__(self, name: str) -> object:
        # Every method is relayed (the suite sends M-SEARCH too): ``do_<METHOD>``.
        if name.startswith("do_"):
            return self._relay
        raise AttributeError(name)

    def _relay(self) -> None:
        body = self._request_body()
        headers = [
            (name, value)
            for name, value in self.headers.items()
            if name.lower() not in HOP_BY_HOP and name.lower() not in ("host", "content-length")
        ]
        through_cache = self.path.startswith("/test/")
        client = self.server.session if through_cache else self.server.plain
        try:
            response = client.request(
                self.command,
                self.server.origin + self.path,
                headers=dict(_joined(headers)),
                data=body if body else None,
                allow_redirects=False,
                timeout=30,
            )
            content = response.content
        except requests.RequestException as exc:
            self._send(502, "Bad Gateway", [("Content-Type", "text/plain")], str(exc).encode())
            return
        out = []
        for name, value in response.headers.items():
            lower = name.lower()
            if lower in HOP_BY_HOP or lower == "content-length":
                continue
            if lower == "content-encoding" and value.strip().lower() in DECODED_CODINGS:
                continue
            out.append((name, value))
        if self.command == "HEAD" and "content-length" in response.headers:
            out.append(("Content-Length", response.headers["content-length"]))
        self._send(response.status_code, response.reason or "", out, content)

    def _request_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            return b"".join(self._chunks())
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _chunks(self) -> Iterator[bytes]:
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():
                    pass  # trailer fields
                return
            yield self.rfile.read(size)
            self.rfile.readline()

    def _send(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        with suppress(BrokenPipeError, ConnectionResetError):  # the client gave up waiting
            self._write(status, reason, headers, body)

    def _write(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        has_body = status not in NO_BODY_STATUSES and self.command != "HEAD"
        if has_body:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if has_body:
            self.wfile.write(body)


def _joined(headers: list[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """Repeated request fields as one line each (RFC 9110 §5.3), first-seen order."""
    merged: dict[str, tuple[str, list[str]]] = {}
    for name, value in headers:
        merged.setdefault(name.lower(), (name, []))[1].append(value)
    for name, values in merged.values():
        yield name, ", ".join(values)


@contextmanager
def running(origin: str, session: requests.Session) -> Iterator[CachingProxy]:
    """The proxy serving in a thread until the block ends."""
    proxy = CachingProxy(origin, session)
    thread = threading.Thread(target=proxy.serve_forever, name="conformance-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join()
