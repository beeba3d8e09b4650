"""The few ``cherrypy`` names CacheControl's test server uses, on werkzeug's server.

CacheControl's conftest grafts a WSGI app and starts cherrypy's server; this module
does the same with ``werkzeug.serving`` (HTTP/1.1, chunked bodies for generators),
so that its tests run without cherrypy installed. It is test harness, not a mapping.
"""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server


class _Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class _Tree:
    app: Any = None

    def graft(self, app: Any, script_name: str = "/") -> None:
        self.app = app


class _Config:
    settings: dict[str, Any] = {}

    def update(self, values: dict[str, Any]) -> None:
        self.settings.update(values)


class _Server:
    bind_addr: tuple[str, int] = ("127.0.0.1", 0)

    def start(self) -> None:
        host = config.settings.get("server.socket_host", "127.0.0.1")
        port = config.settings.get("server.socket_port", 0)
        self._server = make_server(host, port, tree.app, threaded=True, request_handler=_Handler)
        self.bind_addr = (host, self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()


class _Log:
    access_log = None


tree = _Tree()
config = _Config()
server = _Server()
log = _Log()
