"""Partners who push listings onto Kinesis (the stream stage ingests them; nothing to pull)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from jobs.sources.base import CheckResult, FetchContext, Page, check_url

snapshot = False
REQUIRED_CONFIG: tuple[str, ...] = ()  # partners push; nothing to pull
CONFIG_CHECKS: dict[str, Any] = {}
MAPS_RECORDS = False  # partners send listings in nook's own field names: no mapping is read


def pages(config: dict[str, Any], ctx: FetchContext) -> Iterator[Page]:
    """Nothing to pull: records arrive through the stream stage."""
    return iter(())


def check(config: dict[str, Any], ref: str, url: str | None, client: requests.Session) -> CheckResult:
    """A pushed listing's own URL answering 404/410 means it is gone."""
    return check_url(url, client)
