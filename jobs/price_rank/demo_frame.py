"""A feature frame straight from the simulated market (for tests, benchmarks and evaluation)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from jobs.sources.demo_market import Market


def market_frame(n: int, seed: int = 7, moment: datetime | None = None) -> pd.DataFrame:
    """`n` clean listings of the demo market, in the wrangle step's columns."""
    moment = moment or datetime(2026, 11, 23, tzinfo=UTC)
    market = Market(seed=seed, per_day=max(50.0, n / 14))
    rows, index = [], 0
    while len(rows) < n:
        item = market.listing(index)
        index += 1
        if item.broken:
            continue
        rows.append(
            {
                "listing_id": index,
                "price": float(item.price),
                "bedrooms": item.bedrooms,
                "bathrooms": item.bathrooms,
                "sqft": float(item.sqft) if item.show_sqft else None,
                "furnished": item.furnished,
                "unit_type": item.unit_type,
                "latitude": item.latitude,
                "longitude": item.longitude,
                "neighbourhood": item.neighbourhood,
            }
        )
    frame = pd.DataFrame(rows)
    frame["sqft"] = frame["sqft"].astype("float64")
    return frame
