"""A local webhook receiver for the demo: prints each message (alerts, saved flats' news, reminders of
viewings), keeps the last ones.

POST /hook   accepts a Slack-compatible message (what the notify job sends)
GET  /       the last 50 messages as JSON
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any

from jobs.local.json_http import JsonHandler, serve_in_thread


def _line(kind: str, item: dict[str, Any]) -> str:
    if kind == "viewings":  # a reminder: when the viewing is, on its clock
        return f"           viewing {item.get('local_time')} ({item.get('time_zone')})  {item.get('url')}"
    tag = item.get("label") or item.get("news")
    label = f" ({tag})" if tag else ""
    price = item.get("price")
    return f"           {f'${price:,}' if isinstance(price, int) else '?'}{label}  {item.get('url')}"


def _summary(message: dict[str, Any]) -> str:
    nook = message.get("nook") or {}
    lines = [f"webhook <- {message.get('text', '(no text)')}"]
    # reminders of viewings, region alerts (their price rank), saved flats' news (a price cut, gone)
    for kind in ("viewings", "notifications", "saved"):
        items = nook.get(kind) or []
        lines += [_line(kind, item) for item in items[:5]]
        if len(items) > 5:
            lines.append(f"           ... and {len(items) - 5} more")
    return "\n".join(lines)


def serve(port: int, echo: Callable[[str], None] = print) -> ThreadingHTTPServer:
    """Start the receiver in a daemon thread."""
    messages: deque[dict[str, Any]] = deque(maxlen=50)

    class Handler(JsonHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            try:
                message = json.loads(self.rfile.read(length))
            except ValueError:
                self.send_json(400, {"error": "not JSON"})
                return
            messages.append(message)
            echo(_summary(message))
            self.send_json(200, {"ok": True})

        def do_GET(self) -> None:  # noqa: N802
            self.send_json(200, list(messages))

    return serve_in_thread(Handler, "127.0.0.1", port, "webhook-receiver")
