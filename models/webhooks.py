"""Which URLs nook will call on someone else's word: a user's webhook (the API and the notify job)
and a listing page a source gave (the recheck).

Only http(s) URLs whose host resolves to public addresses are allowed, so a
user or a source cannot point nook at the cloud metadata service or an internal
network. NOOK_ALLOW_PRIVATE_WEBHOOKS=true (and NOOK_ALLOW_PRIVATE_PAGES=true for
listing pages) lifts that for local use (the demo's receiver and market listen
on 127.0.0.1).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from typing import Any
from urllib.parse import SplitResult, urlsplit

from models.normalize import MAX_URL

RESOLVE_TIMEOUT_S = 5.0


class WebhookNotAllowed(ValueError):
    """The URL is malformed or points somewhere nook must not call."""


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = _getaddrinfo(host)
    except (socket.gaierror, UnicodeError):
        raise WebhookNotAllowed(f"host {host!r} does not resolve") from None
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def _getaddrinfo(host: str) -> list[Any]:
    """socket.getaddrinfo within RESOLVE_TIMEOUT_S. It has no timeout of its own: a host whose name
    servers never answer held the notify job, an API request or the recheck for as long as the
    resolver retried. The look-up runs on a thread of its own, left to finish (or fail) alone."""
    box: dict[str, Any] = {}

    def look_up() -> None:
        try:
            box["infos"] = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except Exception as exc:  # handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=look_up, name="resolve", daemon=True)
    thread.start()
    thread.join(RESOLVE_TIMEOUT_S)
    if thread.is_alive():
        raise WebhookNotAllowed(f"host {host!r} did not resolve within {RESOLVE_TIMEOUT_S:g} s")
    if "error" in box:
        raise box["error"]
    return box["infos"]


def _checked_parts(url: str, limit: int = 2000) -> SplitResult:
    if not isinstance(url, str) or len(url) > limit:
        raise WebhookNotAllowed(f"webhook URL must be a string of at most {limit} characters")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise WebhookNotAllowed("webhook URL must use http or https")
    if not parts.hostname:
        raise WebhookNotAllowed("webhook URL has no host")
    if parts.username or parts.password:
        raise WebhookNotAllowed("webhook URL must not carry credentials")
    try:
        port = parts.port  # raises on a port that is not a number from 0 to 65535
    except ValueError:
        port = 0
    if port == 0:
        raise WebhookNotAllowed("webhook URL has a port that is not a number from 1 to 65535")
    return parts


def _allowed(host: str, allow_private: bool) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    addresses = _addresses(host)
    if not allow_private:
        for address in addresses:
            if not address.is_global or address.is_multicast:
                raise WebhookNotAllowed(f"webhook host {host} resolves to a non-public address")
    return addresses


def public_addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses `host` resolves to now, if all are public; else WebhookNotAllowed."""
    return _allowed(host, allow_private=False)


def check_webhook_url(url: str, allow_private: bool = False, resolve: bool = True, limit: int = 2000) -> str:
    """Return the URL if nook may deliver to it, else raise WebhookNotAllowed saying why."""
    parts = _checked_parts(url, limit)
    if not allow_private and resolve:
        _allowed(parts.hostname or "", allow_private)
    return url.strip()


def webhook_target(
    url: str, allow_private: bool = False
) -> tuple[SplitResult, list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    """The URL's parts and the addresses its host resolved to, all checked: a delivery connects to these
    addresses, so a name that resolves elsewhere a moment later (DNS rebinding) cannot take it inside."""
    parts = _checked_parts(url)
    return parts, _allowed(parts.hostname or "", allow_private)


def page_allowed(url: str, allow_private: bool) -> bool:
    """Whether nook may ask for this listing page on a source's word: the webhook rules (http(s), no
    credentials, a port from 1 to 65535, public addresses unless `allow_private`), at the length a
    listing's url may have."""
    try:
        check_webhook_url(url, allow_private, limit=MAX_URL)
    except WebhookNotAllowed:
        return False
    return True
