"""New listings per source per day: yesterday's count within the source's bounds."""

from __future__ import annotations

from datetime import UTC

import great_expectations as gx

from expectations import Dataset, Params, SourceInfo, stamp

NAME = "new_listings"
DESCRIPTION = (
    "yesterday's new listings per source between the source's bounds (seed: >= 300/day from the main source)"
)


def _pulled(params: Params) -> list[SourceInfo]:
    """Stream partners are judged by freshness instead."""
    return [s for s in params.sources if s.kind != "stream"]


def _added_after_day_began(source: SourceInfo, params: Params) -> bool:
    return source.watched_since is not None and source.watched_since > params.day_start


def not_judged(params: Params) -> list[str]:
    """Sources added after the day began: nook saw part of that day or none of it, so no count."""
    return [
        f"{s.name}: watched since {s.watched_since.astimezone(UTC):%Y-%m-%d %H:%M} UTC, after "  # type: ignore[union-attr]
        f"{params.day_start:%Y-%m-%d} began"
        for s in _pulled(params)
        if _added_after_day_began(s, params)
    ]


def datasets(params: Params) -> list[Dataset]:
    """One count per source nook watched the whole day."""
    out = []
    for source in (s for s in _pulled(params) if not _added_after_day_began(s, params)):
        low = int(source.checks.get("min_daily", params.threshold("min_daily", 1)))
        high = source.checks.get("max_daily")
        out.append(
            Dataset(
                name=f"new_listings:{source.name}",
                sql=(
                    f"SELECT id FROM listings WHERE source_id = {int(source.id)} "
                    f"AND first_seen_at >= {stamp(params.day_start)} "
                    f"AND first_seen_at < {stamp(params.day_end)}"
                ),
                expectations=[
                    gx.expectations.ExpectTableRowCountToBeBetween(
                        min_value=low,
                        max_value=int(high) if high is not None else None,
                        meta={"about": f"new listings from {source.name} on {params.day_start:%Y-%m-%d}"},
                    )
                ],
            )
        )
    return out
