"""Real HTTP servers on 127.0.0.1 for tests: scripted sources, a webhook receiver (over TLS too), a
webhook whose answer never ends and one that drips its answer."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
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
        self.scheme = "http"

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def route(self, path: str, handler: Route) -> None:
        self.routes[path] = handler

    def _handle(self, request: Request) -> Reply:
        self.requests.append(request)
        handler = self.routes.get(request.path)
        return handler(request) if handler else Reply(404, {"error": "no route"})

    def start(self, tls: ssl.SSLContext | None = None) -> ScriptedServer:
        """Serve on 127.0.0.1, over TLS with `tls` (a server context) if given."""
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
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
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
        self.fail_headers: dict[str, str] = {}
        self.delivered: list[Request] = []
        self.route("/hook", self._hook)

    @property
    def hook_url(self) -> str:
        return f"{self.url}/hook"

    def _hook(self, request: Request) -> Reply:
        if self.fail_next > 0:
            self.fail_next -= 1
            return Reply(self.fail_status, {"error": "receiver is down"}, dict(self.fail_headers))
        self.delivered.append(request)
        return Reply(200, {"ok": True})


class RawWebhook:
    """A webhook on 127.0.0.1 answering each connection with `_answer` (on its own thread), bytes as
    written: for answers no well-behaved server gives."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.stopped, self.requests = threading.Event(), 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.requests += 1
            threading.Thread(target=self._reply, args=(connection,), daemon=True).start()

    def _reply(self, connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            try:
                self._answer(connection)
            except OSError:  # the client hung up
                pass

    def _answer(self, connection: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()


class EndlessAnswer(RawWebhook):
    """Answers 200 and then never finishes its body (until stopped)."""

    def _answer(self, connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\nnot all")
        self.stopped.wait()


class DrippingAnswer(RawWebhook):
    """Answers 200 a byte at a time, one every `interval` seconds, so its headers take `seconds` to
    arrive (every byte well within any read timeout)."""

    def __init__(self, seconds: float, interval: float = 0.05) -> None:
        self.seconds, self.interval = seconds, interval
        super().__init__()

    def _answer(self, connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        end = time.monotonic() + self.seconds
        while time.monotonic() < end and not self.stopped.is_set():
            connection.sendall(b"a")
            time.sleep(self.interval)
        connection.sendall(b"\r\nContent-Length: 0\r\n\r\n")


def localhost_certificate(directory: str) -> tuple[str, str]:
    """A self-signed certificate for the name localhost, valid for a day: (certificate, key) paths."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = f"{directory}/localhost.pem", f"{directory}/localhost.key"
    with open(cert_path, "wb") as out:
        out.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path
