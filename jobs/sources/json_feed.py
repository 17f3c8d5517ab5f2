"""A generic paginated JSON API (offset or cursor pagination), mapped by config.

Config keys:
  url             the endpoint (required)
  items_path      dotted path to the list of records ("" when the body is the list)
  pagination      "offset" (default), "cursor" or "none"
  page_size       records per page (default 100)
  limit_param / offset_param       query names for offset pagination
  cursor_param / next_cursor_path  query name and response path for cursor pagination
  total_path      optional response path of the total count (offset pagination)
  since_param     query name for incremental fetches (updated since the stored cursor)
  fields          canonical field -> record path; `updated_at` advances the cursor (never past the
                  run's time: one record dated 2099 would otherwise stop every later pull)
  link_base       the address relative listing links ("/listings/12") are read against (default: url)
  check_url_template  e.g. "https://host/listings/{ref}" (default: the listing's url)
  auth_env        name of an environment variable holding a bearer token (never the token)
  max_pages       safety stop (default 10000)
  consistency_param / consistency_path
                  echo a snapshot token from the first page (e.g. as_of) on later pages
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import requests

from jobs.sources.base import (
    CheckResult,
    FetchContext,
    Page,
    SourceError,
    check_url,
    flag,
    http_address,
    json_body,
    no_later_than,
    one_of,
    path_value,
    query_params,
    record_mapping,
    ref_template,
    require,
    text_value,
    whole_above_zero,
)
from models.normalize import Rejected, extract, parse_time, pluck

snapshot = False
REQUIRED_CONFIG = ("url",)
CONFIG_CHECKS = {
    "url": http_address,
    "items_path": path_value,
    "pagination": one_of("offset", "cursor", "none"),
    "page_size": whole_above_zero,
    "limit_param": text_value,
    "offset_param": text_value,
    "cursor_param": text_value,
    "next_cursor_path": path_value,
    "total_path": path_value,
    "since_param": text_value,
    "check_url_template": ref_template,
    "auth_env": text_value,
    "max_pages": whole_above_zero,
    "consistency_param": text_value,
    "consistency_path": path_value,
    "ordered_by_update": flag,
    "params": query_params,
}


def mapping(config: dict[str, Any]) -> dict[str, Any]:
    """The record mapping (jobs.sources.base.record_mapping): links are relative to the feed itself
    unless `link_base` says otherwise."""
    return {"link_base": config.get("url")} | record_mapping(config)


def _headers(config: dict[str, Any]) -> dict[str, str]:
    env_name = config.get("auth_env")
    if not env_name:
        return {}
    token = os.environ.get(env_name)
    if not token:
        raise SourceError(f"auth_env {env_name} is not set")
    return {"Authorization": f"Bearer {token}"}


def _items(body: Any, config: dict[str, Any]) -> list[Any]:
    path = config.get("items_path", "items")
    items = body if not path else pluck(body, path)
    if not isinstance(items, list):
        raise SourceError(f"response has no list at {path!r}: the feed changed shape")
    return items


def _latest_update(items: list[Any], config: dict[str, Any], current: datetime | None) -> datetime | None:
    latest = current
    for item in items:
        try:
            stamp = parse_time(extract(item, config).get("updated_at"), "updated_at")
        except Rejected:
            continue
        if stamp and (latest is None or stamp > latest):
            latest = stamp
    return latest


def _cursor(latest: datetime | None, previous: dict[str, Any] | None, now: datetime) -> dict[str, Any] | None:
    if latest is None:
        return previous
    return {"updated_since": no_later_than(latest, now).isoformat()}


def _page_query(
    config: dict[str, Any], params: dict[str, Any], offset: int, next_cursor: Any
) -> dict[str, Any]:
    query = dict(params)
    mode = config.get("pagination", "offset")
    if mode == "offset":
        query[config.get("limit_param", "limit")] = int(config.get("page_size", 100))
        query[config.get("offset_param", "offset")] = offset
    elif mode == "cursor" and next_cursor is not None:
        query[config.get("cursor_param", "cursor")] = next_cursor
    return query


def _finished(config: dict[str, Any], items: list[Any], offset: int, total: Any, next_cursor: Any) -> bool:
    """Whether this page was the last one (and whether the feed ended too early)."""
    mode = config.get("pagination", "offset")
    if mode == "cursor":
        return not next_cursor or not items
    if mode != "offset":
        return True
    if isinstance(total, int):
        if not items and offset < total:
            raise SourceError(f"feed ended early: got {offset} of {total} records")
        return offset >= total
    return len(items) < int(config.get("page_size", 100))


def _initial_params(config: dict[str, Any], cursor: dict[str, Any] | None) -> dict[str, Any]:
    params: dict[str, Any] = dict(config.get("params") or {})
    since = (cursor or {}).get("updated_since")
    if config.get("since_param") and since:
        params[config["since_param"]] = since
    return params


def pages(config: dict[str, Any], ctx: FetchContext) -> Iterator[Page]:
    """Fetch every page updated since the cursor."""
    require(config, "json_feed", REQUIRED_CONFIG)
    params = _initial_params(config, ctx.cursor)
    since = (ctx.cursor or {}).get("updated_since")
    latest = parse_time(since, "cursor") if since else None
    offset, next_cursor, seen_first = 0, None, set()
    for _ in range(int(config.get("max_pages", 10_000))):
        query = _page_query(config, params, offset, next_cursor)
        body = json_body(ctx.client.get(config["url"], params=query, headers=_headers(config)), "json_feed")
        if config.get("consistency_param") and config["consistency_param"] not in params:
            params[config["consistency_param"]] = pluck(body, config.get("consistency_path", "as_of"))
        items = _items(body, config)
        marker = repr(items[0])[:200] if items else None
        if marker is not None and marker in seen_first:
            raise SourceError(f"pagination is not advancing at offset {offset}")
        seen_first.add(marker)
        latest = _latest_update(items, config, latest)
        offset += len(items)
        total = pluck(body, config["total_path"]) if config.get("total_path") else None
        next_cursor = pluck(body, config.get("next_cursor_path", "next_cursor"))
        done = _finished(config, items, offset, total, next_cursor)
        checkpoint = done or config.get("ordered_by_update")
        yield Page(
            items,
            _cursor(latest, ctx.cursor, ctx.now) if checkpoint else None,
            total if isinstance(total, int) else None,
        )
        if done:
            return
    raise SourceError(f"stopped after max_pages={config.get('max_pages', 10_000)} pages")


def check(config: dict[str, Any], ref: str, url: str | None, client: requests.Session) -> CheckResult:
    """Is the listing still up? Its check URL (or its own URL) answering 404/410 means no."""
    template = config.get("check_url_template")
    if template:  # the operator's own address for it
        return check_url(template.format(ref=ref), client, trusted=True)
    return check_url(url, client)
