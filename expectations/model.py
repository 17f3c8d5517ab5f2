"""The price model: labels split about 25/50/25 among active ranked listings, and the
latest model's metrics are within bounds."""

from __future__ import annotations

import great_expectations as gx

from expectations import Dataset, Params

NAME = "model"
DESCRIPTION = (
    "low/typical/high shares 25/50/25 within a tolerance; latest model's tail shares and loss in bounds"
)


def datasets(params: Params) -> list[Dataset]:
    """The label shares, and the newest activated model's metrics."""
    tolerance = params.threshold("label_tolerance", 0.05)
    e = gx.expectations
    labels = Dataset(
        name="label_shares",
        sql="""
            SELECT avg((r.label = 'low')::int)::float8 AS low_share,
                   avg((r.label = 'typical')::int)::float8 AS typical_share,
                   avg((r.label = 'high')::int)::float8 AS high_share, count(*) AS ranked
            FROM price_ranks r JOIN listings l ON l.id = r.listing_id
            WHERE l.status = 'active' AND l.canonical_id IS NULL
            HAVING count(*) > 0
        """,
        expectations=[
            e.ExpectTableRowCountToBeBetween(min_value=1, meta={"about": "there are ranked listings at all"}),
            e.ExpectColumnValuesToBeBetween(
                column="low_share", min_value=0.25 - tolerance, max_value=0.25 + tolerance
            ),
            e.ExpectColumnValuesToBeBetween(
                column="typical_share", min_value=0.5 - 2 * tolerance, max_value=0.5 + 2 * tolerance
            ),
            e.ExpectColumnValuesToBeBetween(
                column="high_share", min_value=0.25 - tolerance, max_value=0.25 + tolerance
            ),
        ],
    )
    tail = params.threshold("model_tail_tolerance", 0.03)
    metrics = Dataset(
        name="latest_model",
        sql="""
            SELECT (metrics->>'tail_low')::float8 AS tail_low, (metrics->>'tail_high')::float8 AS tail_high,
                   (metrics->'pinball'->>'p50')::float8 / NULLIF((metrics->>'median_band_width')::float8, 0)
                       AS pinball_p50_per_band
            FROM price_models WHERE activated_at IS NOT NULL AND metrics ? 'tail_low'
            ORDER BY activated_at DESC LIMIT 1
        """,
        expectations=[
            e.ExpectTableRowCountToEqual(value=1, meta={"about": "an activated model with metrics exists"}),
            e.ExpectColumnValuesToBeBetween(column="tail_low", min_value=0.25 - tail, max_value=0.25 + tail),
            e.ExpectColumnValuesToBeBetween(column="tail_high", min_value=0.25 - tail, max_value=0.25 + tail),
            e.ExpectColumnValuesToBeBetween(
                column="pinball_p50_per_band",
                min_value=0,
                max_value=params.threshold("max_pinball_per_band", 0.6),
            ),
        ],
    )
    return [labels, metrics]
