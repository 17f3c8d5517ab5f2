"""Which webhook URLs nook will deliver to (shared by the API and the notify job).

Only http(s) URLs whose host resolves to public addresses are allowed, so a
user cannot point nook at the cloud metadata service or an internal network.
NOOK_ALLOW_PRIVATE_WEBHOOKS=true lifts that for local use (the demo's
receiver listens on 127.0.0.1).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


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


def check_webhook_url(url: str, allow_private: bool = False, resolve: bool = True) -> str:
    """Return the URL if nook may deliver to it, else raise WebhookNotAllowed saying why."""
    if not isinstance(url, str) or len(url) > 2000:
        raise WebhookNotAllowed("webhook URL must be a string of at most 2000 characters")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise WebhookNotAllowed("webhook URL must use http or https")
    if not parts.hostname:
        raise WebhookNotAllowed("webhook URL has no host")
    if parts.username or parts.password:
        raise WebhookNotAllowed("webhook URL must not carry credentials")
    if allow_private or not resolve:
        return url.strip()
    for address in _addresses(parts.hostname):
        if not address.is_global or address.is_multicast:
            raise WebhookNotAllowed(f"webhook host {parts.hostname} resolves to a non-public address")
    return url.strip()
