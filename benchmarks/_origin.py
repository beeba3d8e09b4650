"""A benchmark origin on 127.0.0.1, in its own process so its memory is not counted.

``python -m benchmarks._origin SIZE`` prints its port, then serves:
- ``/body/<name>``: SIZE deterministic bytes (see ``expected_digest``), cacheable
  for an hour, with an ETag; conditional requests get 304;
- ``/stale/<name>``: the same body, ``max-age=0`` with an ETag, so every later
  request revalidates; a matching ``If-None-Match`` gets 304;
- ``/_count/<path>``: how many requests ``<path>`` received;
- ``/_sum/<prefix>``: how many requests all paths starting with ``<prefix>`` received;
- ``/_304/<prefix>``: how many of those were answered 304.
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


def expected_body(size: int) -> bytes:
    return b"".join(body_chunks(size))


def expected_digest(size: int) -> str:
    digest = hashlib.sha256()
    for chunk in body_chunks(size):
        digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    size = int(sys.argv[1])
    counts: Counter[str] = Counter()
    not_modified: Counter[str] = Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls between writes

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            for prefix, table in (("/_count", None), ("/_sum", counts), ("/_304", not_modified)):
                if self.path.startswith(prefix + "/"):
                    wanted = self.path[len(prefix) :]
                    with lock:
                        if table is None:
                            value = counts[wanted]
                        else:
                            value = sum(n for p, n in table.items() if p.startswith(wanted))
                    self._reply(200, {}, [memoryview(str(value).encode())])
                    return
            max_age = 0 if self.path.startswith("/stale/") else 3600
            headers = {"Cache-Control": f"max-age={max_age}", "ETag": '"bench"'}
            revalidating = self.headers.get("If-None-Match") == '"bench"'
            with lock:
                counts[self.path] += 1
                if revalidating:
                    not_modified[self.path] += 1
            if revalidating:
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
    server.request_queue_size = 128
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
