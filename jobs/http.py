"""A polite HTTP client: timeouts, retries with backoff on 429/5xx, a minimum interval."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

USER_AGENT = "nook/1.0 (+https://github.com/nook-rentals/nook)"
DEFAULT_TIMEOUT = (5.0, 30.0)  # connect, read


class PoliteSession(requests.Session):
    """A requests session that waits `min_interval` between requests and always times out."""

    def __init__(self, min_interval: float = 0.0, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.min_interval = min_interval
        self.timeout = timeout
        self._lock = threading.Lock()
        self._last = 0.0
        self.headers["User-Agent"] = USER_AGENT

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        with self._lock:
            wait = self._last + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()
        return super().request(method, url, *args, **kwargs)


def polite_session(
    retries: int = 4,
    backoff: float = 0.5,
    min_interval: float = 0.0,
    methods: frozenset[str] = frozenset({"GET", "HEAD"}),
) -> PoliteSession:
    """A session retrying idempotent requests on connection errors, 429 and 5xx (honouring Retry-After)."""
    session = PoliteSession(min_interval=min_interval)
    retry = Retry(
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
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=8)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
