"""A polite HTTP client: timeouts, retries with backoff on 429/5xx, a minimum interval.

A Retry-After is honoured when it asks for at most LONGEST_WAIT seconds; a longer one is not waited
for: the 429/503 is the answer (the page fails, the listing's check is "unknown") and the job's next
run asks again. urllib3 would sleep up to six hours, twice, in a job Lambda stops after fifteen
minutes: a rate-limited site held the recheck job at the same listings on every run.

A job may set a session's `stop_at` (a time.monotonic()): no request or retry starts after it, and a
request's timeouts are cut to the time left, so a job ends in the time Lambda gives it, whatever the
sites it calls do (a killed job commits nothing).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import BaseHTTPResponse, HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    InvalidHeader,
    MaxRetryError,
    NewConnectionError,
    ResponseError,
)
from urllib3.util.retry import Retry

from models.webhooks import WebhookNotAllowed, public_addresses

USER_AGENT = "nook/1.0 (+https://github.com/nook-rentals/nook)"
DEFAULT_TIMEOUT = (5.0, 30.0)  # connect, read
LONGEST_WAIT = 30.0  # seconds a Retry-After may ask us to wait
# how long after its deadline (when no new page or check starts) a job's requests may still run: the
# deadline leaves Lambda's last minute (runtime.budget_deadline), and the rest is for the database
OVERRUN = 30.0


_PUBLIC_ONLY: ContextVar[bool] = ContextVar("nook_public_only", default=False)


@contextmanager
def public_addresses_only() -> Iterator[None]:
    """Requests made within connect only to public addresses of their host, resolved and checked as they
    connect. A check of the name before the request is not enough: requests resolves it again, and a
    name that answers a public address first and 127.0.0.1 a moment later (DNS rebinding) took the
    recheck inside. (A pooled connection was checked when it was made.)"""
    token = _PUBLIC_ONLY.set(True)
    try:
        yield
    finally:
        _PUBLIC_ONLY.reset(token)


class _PublicOnly(HTTPConnection):
    """Within public_addresses_only(), connects to the host's checked public addresses themselves."""

    def _new_conn(self) -> socket.socket:
        if not _PUBLIC_ONLY.get():
            return super()._new_conn()
        host = self._dns_host
        try:
            addresses = public_addresses(host)
        except WebhookNotAllowed as exc:
            raise NewConnectionError(self, f"not asked: {exc}") from None
        failure: Exception | None = None
        for address in addresses:
            self._dns_host = str(address)  # the socket's peer; TLS still names and verifies `host`
            try:
                return super()._new_conn()
            except (NewConnectionError, ConnectTimeoutError) as exc:
                failure = exc
            finally:
                self._dns_host = host
        raise failure or NewConnectionError(self, f"{host} has no address")


class _PublicOnlyHTTPS(_PublicOnly, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicOnly


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicOnlyHTTPS


class PoliteAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections honour public_addresses_only()."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def stop_requests(client: requests.Session, deadline: float | None, overrun: float = OVERRUN) -> None:
    """No request of `client` starts, or goes on, later than `overrun` seconds after `deadline`."""
    if deadline is not None and isinstance(client, PoliteSession):
        client.stop_at = deadline + overrun


class PoliteRetry(Retry):
    """Retry, except that an answer asking for a wait over LONGEST_WAIT is handed back, not waited for,
    an unreadable Retry-After counts as none (urllib3 raised InvalidHeader on it), and nothing is retried
    after `stop_at` (time.monotonic())."""

    stop_at: float | None = None

    def new(self, **kw: Any) -> PoliteRetry:
        retry = super().new(**kw)
        retry.stop_at = self.stop_at
        return retry

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        try:
            return super().get_retry_after(response)
        except InvalidHeader:
            return None

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):  # type: ignore[no-untyped-def, override]
        if self.stop_at is not None and time.monotonic() >= self.stop_at:
            raise MaxRetryError(_pool, url, error or ResponseError("out of time to try again"))
        if response is not None and self.respect_retry_after_header:
            wait = self.get_retry_after(response)
            late = self.stop_at is not None and wait is not None and time.monotonic() + wait >= self.stop_at
            if wait is not None and (wait > LONGEST_WAIT or late):
                raise MaxRetryError(_pool, url, ResponseError(f"Retry-After asks for {wait:g} s"))
        return super().increment(method, url, response, error, _pool, _stacktrace)


class PoliteSession(requests.Session):
    """A requests session that waits `min_interval` between requests and always times out."""

    def __init__(self, min_interval: float = 0.0, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.min_interval = min_interval
        self.timeout = timeout
        self._lock = threading.Lock()
        self._last = 0.0
        self._stop_at: float | None = None
        self.headers["User-Agent"] = USER_AGENT

    @property
    def stop_at(self) -> float | None:
        """The time.monotonic() after which no request or retry starts (None: no limit)."""
        return self._stop_at

    @stop_at.setter
    def stop_at(self, value: float | None) -> None:
        self._stop_at = value
        for adapter in self.adapters.values():
            if isinstance(getattr(adapter, "max_retries", None), PoliteRetry):
                adapter.max_retries.stop_at = value  # type: ignore[attr-defined]

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        with self._lock:
            wait = self._last + self.min_interval - time.monotonic()
            if self._stop_at is not None:
                left = self._stop_at - time.monotonic() - max(0.0, wait)
                if left <= 0:
                    raise requests.Timeout("out of time: the job's deadline has passed")
                given = kwargs["timeout"]
                connect, read = given if isinstance(given, tuple) else (given, given)
                kwargs["timeout"] = (min(connect or left, left), min(read or left, left))
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()
        return super().request(method, url, *args, **kwargs)


def polite_session(
    retries: int = 4,
    backoff: float = 0.5,
    min_interval: float = 0.0,
    methods: frozenset[str] = frozenset({"GET", "HEAD"}),
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> PoliteSession:
    """A session retrying idempotent requests on connection errors, 429 and 5xx (honouring Retry-After)."""
    session = PoliteSession(min_interval=min_interval, timeout=timeout)
    retry = PoliteRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff,
        backoff_max=30,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=methods,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    adapter = PoliteAdapter(max_retries=retry, pool_maxsize=8)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
