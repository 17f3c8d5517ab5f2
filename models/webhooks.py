"""Which webhook URLs nook will deliver to (shared by the API and the notify job).

Only http(s) URLs whose host resolves to public addresses are allowed, so a
user cannot point nook at the cloud metadata service or an internal network.
NOOK_ALLOW_PRIVATE_WEBHOOKS=true lifts that for local use (the demo's
receiver listens on 127.0.0.1).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit


class WebhookNotAllowed(ValueError):
    """The URL is malformed or points somewhere nook must not call."""


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise WebhookNotAllowed(f"host {host!r} does not resolve") from None
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def _checked_parts(url: str) -> SplitResult:
    if not isinstance(url, str) or len(url) > 2000:
        raise WebhookNotAllowed("webhook URL must be a string of at most 2000 characters")
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


def check_webhook_url(url: str, allow_private: bool = False, resolve: bool = True) -> str:
    """Return the URL if nook may deliver to it, else raise WebhookNotAllowed saying why."""
    parts = _checked_parts(url)
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
