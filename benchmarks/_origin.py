"""A benchmark origin on 127.0.0.1, in its own process so its memory is not counted.

``python -m benchmarks._origin SIZE`` prints its port, then serves:
- ``/body/<name>``: SIZE deterministic bytes (see ``expected_digest``), cacheable
  for an hour, with an ETag; conditional requests get 304;
- ``/_count/<path>``: how many requests ``<path>`` received.
"""

from __future__ import annotations

import hashlib
import random
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BLOCK = random.Random(42).randbytes(1024 * 1024)


def body_chunks(size: int) -> list[memoryview]:
    """The body as views over one block (no copy of the whole body in memory)."""
    view = memoryview(BLOCK)
    full, rest = divmod(size, len(BLOCK))
    return [view] * full + ([view[:rest]] if rest else [])


def expected_digest(size: int) -> str:
    digest = hashlib.sha256()
    for chunk in body_chunks(size):
        digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    size = int(sys.argv[1])
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/_count/"):
                with lock:
                    payload = str(counts[self.path[len("/_count") :]]).encode()
                self._reply(200, {}, [memoryview(payload)])
                return
            with lock:
                counts[self.path] += 1
            headers = {"Cache-Control": "max-age=3600", "ETag": '"bench"'}
            if self.headers.get("If-None-Match") == '"bench"':
                self._reply(304, headers, [])
            else:
                self._reply(200, headers, body_chunks(size))

        def _reply(self, status: int, headers: dict[str, str], chunks: list[memoryview]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("Content-Length", str(sum(len(c) for c in chunks)))
            self.end_headers()
            for chunk in chunks:
                self.wfile.write(chunk)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
