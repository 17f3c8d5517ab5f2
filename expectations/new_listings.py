"""New listings per source per day: yesterday's count within the source's bounds."""

from __future__ import annotations

import great_expectations as gx

from expectations import Dataset, Params, stamp

NAME = "new_listings"
DESCRIPTION = (
    "yesterday's new listings per source between the source's bounds (seed: >= 300/day from the main source)"
)


def datasets(params: Params) -> list[Dataset]:
    """One count per pulled source; stream partners are judged by freshness instead."""
    out = []
    for source in params.sources:
        if source.kind == "stream":
            continue
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
