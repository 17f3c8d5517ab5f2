"""Completeness and ranges of active listings: missing shares within bounds, sane values,
coordinates inside the market's area."""

from __future__ import annotations

import great_expectations as gx

from expectations import Dataset, Params

NAME = "completeness"
DESCRIPTION = (
    "missing shares per column within bounds; price, rooms and size in sane ranges; inside the market"
)


def datasets(params: Params) -> list[Dataset]:
    """One dataset: every active canonical listing."""
    west, south, east, north = params.market_bbox
    e = gx.expectations
    sql = """
        SELECT price, bedrooms, bathrooms, sqft, unit_type, ST_Y(geom) AS latitude, ST_X(geom) AS longitude
        FROM listings WHERE status = 'active' AND canonical_id IS NULL
    """
    return [
        Dataset(
            name="active_listings",
            sql=sql,
            expectations=[
                e.ExpectColumnValuesToNotBeNull(column="price"),
                e.ExpectColumnValuesToNotBeNull(column="bedrooms"),
                e.ExpectColumnValuesToNotBeNull(
                    column="bathrooms", mostly=params.threshold("bathrooms_present", 0.8)
                ),
                e.ExpectColumnValuesToNotBeNull(column="sqft", mostly=params.threshold("sqft_present", 0.6)),
                e.ExpectColumnValuesToNotBeNull(
                    column="unit_type", mostly=params.threshold("unit_type_present", 0.8)
                ),
                e.ExpectColumnValuesToBeBetween(
                    column="price", min_value=200, max_value=25_000, mostly=0.995
                ),
                e.ExpectColumnValuesToBeBetween(column="bedrooms", min_value=0, max_value=10, mostly=0.999),
                e.ExpectColumnValuesToBeBetween(
                    column="bathrooms", min_value=0.5, max_value=10, mostly=0.999
                ),
                e.ExpectColumnValuesToBeBetween(column="sqft", min_value=100, max_value=10_000, mostly=0.99),
                e.ExpectColumnValuesToBeBetween(
                    column="latitude", min_value=south, max_value=north, mostly=0.999
                ),
                e.ExpectColumnValuesToBeBetween(
                    column="longitude", min_value=west, max_value=east, mostly=0.999
                ),
            ],
        )
    ]
