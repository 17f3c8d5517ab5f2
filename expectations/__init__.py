"""Data-check suites (Great Expectations 1.x), one per dataset — definitions only.

Each suite module exposes `NAME`, a one-line `DESCRIPTION` and
`datasets(params) -> list[Dataset]`: the SQL that selects the data and the
expectations it must meet; optionally `not_judged(params) -> list[str]`, what it
leaves out of this run and why (shown in the report). The runner (jobs/checks.py) turns them into GX
query assets, suites and validation definitions, runs them and reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class SourceInfo:
    """What the suites need to know about a source."""

    id: int
    name: str
    kind: str
    fields: dict[str, str]
    checks: dict[str, Any]
    watched_since: datetime | None = None  # when the source was added to nook


@dataclass(frozen=True)
class Params:
    """One run's parameters: the day being judged, the sources, the market's area, thresholds."""

    day_start: datetime
    day_end: datetime
    now: datetime
    sources: list[SourceInfo]
    market_bbox: tuple[float, float, float, float]
    thresholds: dict[str, float] = field(default_factory=dict)

    def threshold(self, name: str, default: float) -> float:
        """A threshold from settings, or its default."""
        return float(self.thresholds.get(name, default))


@dataclass(frozen=True)
class Dataset:
    """A query asset and the expectations its rows must meet."""

    name: str
    sql: str
    expectations: list[Any]


def stamp(moment: datetime) -> str:
    """A timestamp literal for SQL (from trusted run parameters, never user input)."""
    return f"TIMESTAMPTZ '{moment.isoformat()}'"


def suites() -> dict[str, Any]:
    """Suite name -> module, in the order they run."""
    from expectations import (
        completeness,
        distributions,
        freshness,
        model,
        new_listings,
        price_changes,
        schema_drift,
    )

    return {
        m.NAME: m
        for m in (new_listings, freshness, schema_drift, completeness, price_changes, distributions, model)
    }
