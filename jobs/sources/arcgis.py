"""An ArcGIS FeatureServer layer (the API style of seed 000).

Config keys:
  url            the layer, e.g. https://host/arcgis/rest/services/Rentals/FeatureServer/0 (required)
  updated_field  an esriFieldTypeDate field used for incremental pulls (required)
  where          base filter (default "1=1")
  out_fields     default "*"
  page_size      resultRecordCount (default 1000; servers cap it with maxRecordCount)
  id_field       default "OBJECTID"
  fields         canonical field -> feature path, e.g. {"price": "attributes.RENT", "latitude": "geometry.y"}
  link_base      the site relative listing links ("/listings/12") are read against (none: refused)

ArcGIS reports errors as `{"error": {...}}` in HTTP 200 responses and marks a
truncated page with `exceededTransferLimit`; both are handled. The count
from `returnCountOnly` is compared with what the pages delivered.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import requests

from jobs.sources.base import (
    CheckResult,
    FetchContext,
    Page,
    SourceError,
    Unanswered,
    http_address,
    json_body,
    no_later_than,
    require,
    text_value,
    whole_above_zero,
)

snapshot = False
REQUIRED_CONFIG = ("url", "updated_field")
CONFIG_CHECKS = {
    "url": http_address,
    "updated_field": text_value,
    "where": text_value,
    "out_fields": text_value,
    "page_size": whole_above_zero,
    "id_field": text_value,
}


def _query(client: requests.Session, config: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    body = json_body(
        client.get(f"{config['url'].rstrip('/')}/query", params={**params, "f": "json"}), "arcgis"
    )
    if not isinstance(body, dict):
        raise SourceError("arcgis: response is not a JSON object")
    if "error" in body:
        error = body["error"] or {}
        details = "; ".join(str(d) for d in error.get("details") or [])
        suffix = f" ({details})" if details else ""
        raise SourceError(f"arcgis error {error.get('code')}: {error.get('message')}{suffix}")
    return body


def _where(config: dict[str, Any], since_ms: int | None) -> str:
    base = config.get("where", "1=1")
    if since_ms is None:
        return base
    stamp = datetime.fromtimestamp(since_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"({base}) AND {config['updated_field']} >= TIMESTAMP '{stamp}'"


def pages(config: dict[str, Any], ctx: FetchContext) -> Iterator[Page]:
    """Count, then page through features updated since the cursor, oldest update first."""
    require(config, "arcgis", REQUIRED_CONFIG)
    since_ms = (ctx.cursor or {}).get("updated_since_ms")
    where = _where(config, since_ms)
    expected = _query(ctx.client, config, {"where": where, "returnCountOnly": "true"}).get("count")
    if not isinstance(expected, int):
        raise SourceError("arcgis: returnCountOnly gave no count")
    size, offset, latest = int(config.get("page_size", 1000)), 0, since_ms
    now_ms = int(ctx.now.timestamp() * 1000)
    id_field = config.get("id_field", "OBJECTID")
    firsts: set[str] = set()
    while True:
        body = _query(
            ctx.client,
            config,
            {
                "where": where,
                "outFields": config.get("out_fields", "*"),
                "outSR": 4326,
                "orderByFields": f"{config['updated_field']} ASC,{id_field} ASC",
                "resultOffset": offset,
                "resultRecordCount": size,
                "returnGeometry": "true",
            },
        )
        features = body.get("features")
        if not isinstance(features, list):
            raise SourceError("arcgis: response has no features list: the layer changed shape")
        # a layer that ignores resultOffset gives its first page again and again, each saying there is
        # more: the pull went round until the run's deadline, every run
        first = repr(features[0])[:500] if features else None
        if first is not None and first in firsts:
            raise SourceError(
                f"arcgis: pagination is not advancing at offset {offset} (is resultOffset supported?)"
            )
        firsts.add(first or "")
        for feature in features:
            stamp = (
                (feature.get("attributes") or {}).get(config["updated_field"])
                if isinstance(feature, dict)
                else None
            )
            if isinstance(stamp, int | float) and math.isfinite(stamp) and (latest is None or stamp > latest):
                latest = no_later_than(int(stamp), now_ms)
        offset += len(features)
        more = bool(body.get("exceededTransferLimit")) and bool(features)
        cursor = {"updated_since_ms": latest} if latest is not None else ctx.cursor
        if not more and offset < expected:
            raise SourceError(f"arcgis: got {offset} of {expected} features (pagination stopped early)")
        yield Page(features, cursor, expected)
        if not more:
            return


def check(config: dict[str, Any], ref: str, url: str | None, client: requests.Session) -> CheckResult:
    """Ask the layer whether the feature's id still exists."""
    id_field = config.get("id_field", "OBJECTID")
    try:
        # an id as the layer's SQL reads it: digits as a number (only ASCII ones: "²" is a digit to
        # Python and int() refuses it), anything else as a string literal with its quotes doubled
        ref_value = ref if ref.isascii() and ref.isdigit() else "'" + ref.replace("'", "''") + "'"
        body = _query(client, config, {"where": f"{id_field} = {ref_value}", "returnCountOnly": "true"})
    except (SourceError, requests.RequestException) as exc:
        return Unanswered(f"the layer: {str(exc)[:120] or type(exc).__name__}")
    return "gone" if body.get("count") == 0 else "active"
