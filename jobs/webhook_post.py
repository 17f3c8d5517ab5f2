"""Posting an alert message to a user's webhook: one JSON POST, answered within a deadline.

A webhook is a URL a user typed, so the server behind it may be slow, broken or hostile, and the
notify job serves every user in turn: one webhook must not hold it. So a delivery

- connects to the addresses nook checked for the URL's host (a name that resolves to an inner address
  a moment later cannot take the POST inside), with TLS checked against the host's name;
- has a deadline for all of it (connecting, the TLS handshake, sending, the status line and headers,
  its retries): a server that drips its answer a byte at a time, each byte within any read timeout, is
  cut off at the deadline;
- reads only the status line and headers, never the body;
- follows no redirect (a redirect could lead to an address nook was never asked about);
- is retried within its deadline when nothing answered or the answer was a 429 or 5xx without
  Retry-After; a Retry-After is handed back to the notify job, which waits that long (never sleeping
  on it) before the next try.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import SplitResult

from requests.utils import requote_uri

from jobs.http import USER_AGENT
from models.settings import get_settings
from models.webhooks import webhook_target

DEADLINE_SECONDS = 15.0
CONNECT_TIMEOUT = 5.0


class NoAnswer(Exception):
    """The webhook gave no status line: refused, reset, TLS failed, or not within the deadline."""


@dataclass(frozen=True)
class Answer:
    """The webhook's status and the seconds its Retry-After asked for, if any."""

    status: int
    retry_after: float | None = None

    @property
    def retriable(self) -> bool:
        """A try again now may succeed (a Retry-After says when, instead)."""
        return (self.status == 429 or self.status >= 500) and self.retry_after is None


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header's wait in seconds (delay-seconds or an HTTP date), None if absent or unread."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value[:12]))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _Watchdog:
    """Shuts a socket at a deadline, which ends whatever read, write or handshake is blocked on it."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.fired = False
        self._sock: socket.socket | None = sock
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            _shut(self._sock)

    def follow(self, sock: socket.socket) -> None:
        """Watch `sock` instead (the TLS socket that took over the connection)."""
        with self._lock:
            self._sock = sock
            if self.fired:
                _shut(sock)

    def cancel(self) -> bool:
        """Stop watching; once this returns the socket is never touched again, so it may be closed.
        Whether it had fired."""
        with self._lock:
            self._timer.cancel()
            self._sock = None
            return self.fired


def _shut(sock: socket.socket | None) -> None:
    # the plain socket's shutdown, also for a TLS socket: its own would unwrap TLS under a blocked read
    if sock is not None:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


@dataclass
class WebhookPoster:
    """Posts to webhooks within `deadline` seconds a delivery, retrying `retries` times inside it."""

    deadline: float = DEADLINE_SECONDS
    retries: int = 2
    backoff: float = 0.5
    allow_private: bool | None = None  # None: as the settings say (NOOK_ALLOW_PRIVATE_WEBHOOKS)
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)

    def post(self, url: str, body: bytes, headers: dict[str, str], budget: float | None = None) -> Answer:
        """The webhook's answer to a JSON POST of `body`. WebhookNotAllowed if the URL may not be called,
        NoAnswer if no try got a status line; `budget` (seconds) shortens the deadline."""
        seconds = self.deadline if budget is None else max(0.0, min(self.deadline, budget))
        end = time.monotonic() + seconds
        attempt = 0
        while True:
            try:
                answer = self._post_once(url, body, headers, end, seconds)
            except NoAnswer:
                if not self._again(attempt, end):
                    raise
            else:
                if not answer.retriable or not self._again(attempt, end):
                    return answer
            attempt += 1

    def _again(self, attempt: int, end: float) -> bool:
        """Whether to try again (after the backoff), given the tries made and the time left."""
        pause = self.backoff * 2**attempt
        if attempt >= self.retries or time.monotonic() + pause >= end:
            return False
        time.sleep(pause)
        return True

    def _post_once(
        self, url: str, body: bytes, headers: dict[str, str], end: float, seconds: float
    ) -> Answer:
        allow_private = (
            get_settings().allow_private_webhooks if self.allow_private is None else self.allow_private
        )
        parts, addresses = webhook_target(url, allow_private)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        raw = _connect(addresses, port, end)
        watchdog = _Watchdog(raw, end - time.monotonic())
        sock: socket.socket = raw
        failure: str | None = None
        try:
            if parts.scheme == "https":
                context = self.ssl_context or _default_context()
                sock = context.wrap_socket(raw, server_hostname=parts.hostname, do_handshake_on_connect=False)
                watchdog.follow(sock)
                sock.do_handshake()
            answer = _exchange(sock, parts, port, body, headers)
        except (OSError, http.client.HTTPException, ValueError) as exc:  # ValueError: a URL it cannot send
            failure = f"{type(exc).__name__}: {exc}"
        finally:
            fired = watchdog.cancel()
            sock.close()
        if fired:  # also when an answer came: http.client takes headers cut short for the whole of them
            raise NoAnswer(f"no answer within {seconds:g} s")
        if failure is not None:
            raise NoAnswer(failure)
        return answer


def _exchange(
    sock: socket.socket, parts: SplitResult, port: int, body: bytes, headers: dict[str, str]
) -> Answer:
    """POST `body` on the connected socket; the answer's status line and headers (its body is never read)."""
    connection = http.client.HTTPConnection(parts.hostname or "", port)
    connection.sock = sock
    connection.request(
        "POST",
        requote_uri((parts.path or "/") + (f"?{parts.query}" if parts.query else "")),  # as requests sends it
        body=body,
        headers={
            "Host": _host_header(parts),
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "Connection": "close",
            **headers,
        },
    )
    response = connection.getresponse()
    return Answer(response.status, retry_after_seconds(response.getheader("Retry-After")))


def _host_header(parts: SplitResult) -> str:
    """The Host header: the URL's host (IDNA-encoded if it is not ASCII) and its port if it names one."""
    host = parts.hostname or ""
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return host if parts.port is None else f"{host}:{parts.port}"


def _connect(addresses: list, port: int, end: float) -> socket.socket:
    """A connection to the first of the checked addresses that takes one before the deadline."""
    error: OSError | None = None
    for address in addresses:
        left = end - time.monotonic()
        if left <= 0:
            break
        try:
            return socket.create_connection((str(address), port), timeout=min(CONNECT_TIMEOUT, left))
        except OSError as exc:
            error = exc
    if error is None:
        raise NoAnswer("no time left to connect")
    raise NoAnswer(f"cannot connect: {error}")


_CONTEXT: list[ssl.SSLContext] = []


def _default_context() -> ssl.SSLContext:
    """Certificates checked against certifi's authorities, as requests does (made once)."""
    if not _CONTEXT:
        import certifi

        _CONTEXT.append(ssl.create_default_context(cafile=certifi.where()))
    return _CONTEXT[0]
