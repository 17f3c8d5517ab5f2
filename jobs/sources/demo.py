"""The demo source: the simulated market's paginated JSON feed on 127.0.0.1.

Config: {"base_url": "http://127.0.0.1:54331", "feed": "main" | "mirror",
"page_size": 500}. Everything else is the json_feed adapter with the feed's
known field names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from jobs.sources import json_feed
from jobs.sources.base import CheckResult, FetchContext, Page, http_address, one_of, whole_above_zero
from jobs.sources.demo_market import DEMO_FIELDS

snapshot = False
REQUIRED_CONFIG: tuple[str, ...] = ()  # each has a default
CONFIG_CHECKS = {"base_url": http_address, "feed": one_of("main", "mirror"), "page_size": whole_above_zero}
DEFAULT_BASE_URL = "http://127.0.0.1:54331"


def feed_config(config: dict[str, Any]) -> dict[str, Any]:
    """The json_feed config equivalent to a demo source config."""
    base = config.get("base_url", DEFAULT_BASE_URL).rstrip("/")
    return {
        "url": f"{base}/feeds/{config.get('feed', 'main')}/listings",
        "items_path": "listings",
        "pagination": "offset",
        "page_size": int(config.get("page_size", 500)),
        "total_path": "total",
        "since_param": "updated_since",
        "ordered_by_update": True,
        "consistency_param": "as_of",
        "consistency_path": "as_of",
        "fields": DEMO_FIELDS,
        "values": config.get("values", {}),
        "check_url_template": f"{base}/listings/{{ref}}",
    }


def mapping(config: dict[str, Any]) -> dict[str, Any]:
    """The field mapping process applies to this source's records."""
    return {"fields": DEMO_FIELDS, "values": config.get("values", {})}


def pages(config: dict[str, Any], ctx: FetchContext) -> Iterator[Page]:
    """Fetch the feed's pages updated since the cursor."""
    return json_feed.pages(feed_config(config), ctx)


def check(config: dict[str, Any], ref: str, url: str | None, client: requests.Session) -> CheckResult:
    """The feed's listing page answers 410 once a listing is gone."""
    return json_feed.check(feed_config(config), ref, url, client)
