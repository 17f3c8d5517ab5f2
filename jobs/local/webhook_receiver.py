"""A local webhook receiver for the demo: prints each alert message, keeps the last ones.

POST /hook   accepts a Slack-compatible message (what the notify job sends)
GET  /       the last 50 messages as JSON
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _summary(message: dict[str, Any]) -> str:
    alerts = (message.get("nook") or {}).get("notifications") or []
    lines = [f"webhook <- {message.get('text', '(no text)')}"]
    for alert in alerts[:5]:
        label = f" ({alert['label']})" if alert.get("label") else ""
        lines.append(f"           ${alert.get('price'):,}{label}  {alert.get('url')}")
    if len(alerts) > 5:
        lines.append(f"           ... and {len(alerts) - 5} more")
    return "\n".join(lines)


def serve(port: int, echo: Callable[[str], None] = print) -> ThreadingHTTPServer:
    """Start the receiver in a daemon thread."""
    messages: deque[dict[str, Any]] = deque(maxlen=50)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            try:
                message = json.loads(self.rfile.read(length))
            except ValueError:
                self._reply(400, {"error": "not JSON"})
                return
            messages.append(message)
            echo(_summary(message))
            self._reply(200, {"ok": True})

        def do_GET(self) -> None:  # noqa: N802
            self._reply(200, list(messages))

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    return server
