"""Step 1 — wrangle: active canonical listings -> cleaned feature table -> Parquet in S3."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from jobs.price_rank import storage
from jobs.runtime import run_job
from models.settings import get_settings

FEATURES_SQL = text("""
SELECT l.id AS listing_id, l.price, l.bedrooms, l.bathrooms, l.sqft, l.furnished, l.unit_type,
       ST_Y(l.geom) AS latitude, ST_X(l.geom) AS longitude
FROM listings l
WHERE l.status = 'active' AND l.canonical_id IS NULL
  AND l.price > 0 AND l.bedrooms IS NOT NULL AND l.geom IS NOT NULL
ORDER BY l.id
""")
DTYPES = {
    "listing_id": "int64",
    "price": "float64",
    "bedrooms": "int64",
    "bathrooms": "float64",
    "sqft": "float64",
    "furnished": "boolean",
    "unit_type": "string",
    "latitude": "float64",
    "longitude": "float64",
}


def feature_table(session: Session) -> pd.DataFrame:
    """One row per active canonical listing, typed; `outlier` marks rents the model must not learn from."""
    frame = pd.read_sql_query(FEATURES_SQL, session.connection()).astype(DTYPES)
    frame["unit_type"] = frame["unit_type"].astype(object).where(frame["unit_type"].notna(), None)
    frame["furnished"] = frame["furnished"].astype(object).where(frame["furnished"].notna(), None)
    frame["outlier"] = False
    if len(frame) >= 200:  # rents beyond the 0.1% / 99.9% tails are typos or unicorns, not the market
        low, high = frame["price"].quantile([0.001, 0.999])
        frame["outlier"] = ~frame["price"].between(low, high)
    return frame


def wrangle(session: Session, bucket: str, run_id: str) -> dict[str, Any]:
    """Write the run's features.parquet; return what was written."""
    frame = feature_table(session)
    if frame.empty:
        raise ValueError("no active listings to train on: run ingest and process first")
    size = storage.put_parquet(frame, bucket, storage.key(run_id, "features.parquet"))
    return {
        "run_id": run_id,
        "rows": len(frame),
        "bytes": size,
        "features": f"s3://{bucket}/{storage.key(run_id, 'features.parquet')}",
    }


def run(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    """price_rank-stage entry point (kwargs: run_id; default a new one)."""

    def body(session: Session, run_id: str | None = None) -> dict[str, Any]:
        return wrangle(session, get_settings().bucket, run_id or storage.new_run_id(datetime.now(UTC)))

    return run_job("price_rank.wrangle", body, event, context)
