"""Price changes per source: yesterday's were mostly plausible (the new price between half and twice
the old). A source that sends slips ($2,400 as $240, or as $24,000) moves many prices at once, and each
slip cut by more than half is recorded but alerts nobody (models.matching); this says which source."""

from __future__ import annotations

import great_expectations as gx

from expectations import Dataset, Params, stamp

NAME = "price_changes"
DESCRIPTION = (
    "yesterday's price changes per source mostly between half and twice the price before "
    "(judged from 20 changes a day)"
)
LOW, HIGH = 0.5, 2.0


def datasets(params: Params) -> list[Dataset]:
    """Per source, the ratio new / old price of each change written on the judged day; none (nothing to
    judge) when the source changed fewer than `price_changes_min` prices that day."""
    least = int(params.threshold("price_changes_min", 20))
    out = []
    for source in params.sources:
        changes = (
            "SELECT c.new_price::float8 / c.old_price AS ratio, count(*) OVER () AS changes "
            "FROM listing_price_changes c JOIN listings l ON l.id = c.listing_id "
            f"WHERE l.source_id = {int(source.id)} AND c.changed_at >= {stamp(params.day_start)} "
            f"AND c.changed_at < {stamp(params.day_end)}"
        )
        out.append(
            Dataset(
                name=f"price_changes:{source.name}",
                sql=f"SELECT ratio FROM ({changes}) AS day WHERE changes >= {least}",
                expectations=[
                    gx.expectations.ExpectColumnValuesToBeBetween(
                        column="ratio",
                        min_value=LOW,
                        max_value=HIGH,
                        mostly=params.threshold("price_changes_plausible", 0.95),
                        meta={
                            "about": f"price changes from {source.name} on {params.day_start:%Y-%m-%d}: "
                            "new price / old"
                        },
                    )
                ],
            )
        )
    return out
