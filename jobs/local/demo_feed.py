"""The demo market served as a paginated JSON feed on 127.0.0.1.

  GET /feeds/<main|mirror>/listings?updated_since=ISO&offset=N&limit=M&as_of=ISO
  GET /listings/<ref>     200 while on the market, 410 once gone, 404 if unknown
  GET /health

Records are ordered by (updated, id). The first page's `as_of` can be passed
back so every page of one pull sees the same moment of the market.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from jobs.local.json_http import JsonHandler, serve_in_thread
from jobs.sources.demo_market import Market, feed_record, mirror_record

MAX_LIMIT = 1000
Clock = Callable[[], datetime]


class DemoFeed:
    """The feed's logic, separate from HTTP."""

    def __init__(self, market: Market, clock: Clock, base_url: str) -> None:
        self.market = market
        self.clock = clock
        self.base_url = base_url

    def records(self, feed: str, moment: datetime) -> list[tuple[datetime, str, Any]]:
        """(updated, id, record) of every record of a feed at a moment, in that order."""
        rows = []
        for item in self.market.active(moment):
            if feed == "main":
                record = feed_record(item, moment, self.base_url)
                ref = f"A-{item.index}"
            elif feed == "mirror":
                record = mirror_record(item, moment, self.base_url)
                ref = f"M-{item.index}"
            else:
                raise KeyError(feed)
            if record is not None:
                updated = (
                    _parse_moment(record["updated"]) if isinstance(record, dict) else item.updated_at(moment)
                )
                rows.append((updated, ref, record))
        return sorted(rows, key=lambda row: row[:2])

    def page(self, feed: str, params: dict[str, str]) -> dict[str, Any]:
        """One page of a feed."""
        moment = _parse_moment(params.get("as_of")) or self.clock()
        rows = self.records(feed, moment)
        since = _parse_moment(params.get("updated_since"))
        if since is not None:
            rows = [row for row in rows if row[0] >= since]
        offset = max(0, int(params.get("offset", 0)))
        limit = min(MAX_LIMIT, max(1, int(params.get("limit", 100))))
        return {
            "as_of": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "total": len(rows),
            "offset": offset,
            "listings": [row[2] for row in rows[offset : offset + limit]],
        }

    def listing_status(self, ref: str) -> int:
        """HTTP status of a listing's page: 200 on the market, 410 gone, 404 unknown."""
        prefix, _, number = ref.partition("-")
        if prefix not in ("A", "M") or not number.isdigit():
            return 404
        item = self.market.listing(int(number))
        moment = self.clock()
        if item.appears_at > moment:
            return 404
        if prefix == "M" and not item.mirrored:
            return 404
        return 200 if item.active_at(moment) else 410


def _parse_moment(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _handler(feed: DemoFeed) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlparse(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            parts = [p for p in url.path.split("/") if p]
            try:
                if parts == ["health"]:
                    self.send_json(200, {"status": "ok"})
                elif len(parts) == 3 and parts[0] == "feeds" and parts[2] == "listings":
                    self.send_json(200, feed.page(parts[1], params))
                elif len(parts) == 2 and parts[0] == "listings":
                    status = feed.listing_status(parts[1])
                    self.send_json(
                        status,
                        {"id": parts[1], "status": {200: "active", 410: "gone"}.get(status, "unknown")},
                    )
                else:
                    self.send_json(404, {"error": "not found"})
            except (KeyError, ValueError) as exc:
                self.send_json(400, {"error": f"bad request: {exc}"})

    return Handler


def serve(feed: DemoFeed, host: str = "127.0.0.1", port: int = 54331) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; call .shutdown() and .server_close() to stop."""
    return serve_in_thread(_handler(feed), host, port, "demo-feed")
