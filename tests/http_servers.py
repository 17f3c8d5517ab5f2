"""Real HTTP servers on 127.0.0.1 for tests: scripted sources, a webhook receiver, and a webhook whose
answer never ends."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Request:
    """What the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    """What to answer: status, body (JSON-encoded unless bytes/str) and headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[Request], Reply]


class ScriptedServer:
    """Answers each request with the route registered for its path (or 404), and records it."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, path: str, handler: Route) -> None:
        self.routes[path] = handler

    def _handle(self, request: Request) -> Reply:
        self.requests.append(request)
        handler = self.routes.get(request.path)
        return handler(request) if handler else Reply(404, {"error": "no route"})

    def start(self) -> ScriptedServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _serve(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    url.path,
                    {k: v[-1] for k, v in parse_qs(url.query).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                reply = owner._handle(request)
                body = reply.body
                if not isinstance(body, bytes | str):
                    body = json.dumps(body)
                data = body.encode() if isinstance(body, str) else body
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if "Content-Type" not in reply.headers:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_HEAD = _serve  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@contextmanager
def scripted_server() -> Iterator[ScriptedServer]:
    """A started ScriptedServer, stopped afterwards."""
    server = ScriptedServer().start()
    try:
        yield server
    finally:
        server.stop()


class WebhookReceiver(ScriptedServer):
    """Accepts POSTs on /hook; can be told to fail the next N deliveries."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next = 0
        self.fail_status = 500
        self.delivered: list[Request] = []
        self.route("/hook", self._hook)

    @property
    def hook_url(self) -> str:
        return f"{self.url}/hook"

    def _hook(self, request: Request) -> Reply:
        if self.fail_next > 0:
            self.fail_next -= 1
            return Reply(self.fail_status, {"error": "receiver is down"})
        self.delivered.append(request)
        return Reply(200, {"ok": True})


class EndlessAnswer:
    """A webhook on 127.0.0.1 that answers 200 and then never finishes its body (until stopped)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.released, self.requests = threading.Event(), 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.released.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                self.requests += 1
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\nnot all")
                self.released.wait()

    def stop(self) -> None:
        self.released.set()
        self.listener.close()
