"""Plumbing of the local JSON services (demo feed, webhook receiver): a quiet handler, a daemon server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler that answers JSON and logs nothing (the services print what matters)."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        pass

    def send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve_in_thread(
    handler: type[BaseHTTPRequestHandler], host: str, port: int, name: str
) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; call .shutdown() and .server_close() to stop."""
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name)
    thread.daemon = True
    thread.start()
    return server
