"""Step 3 — update: scores -> price_ranks (bulk), ranks of inactive listings removed, model activated.

A listing outside the model's market (no listing it learned from within REACH_M but itself) was scored
without a range: it is not ranked, and loses a rank an earlier model gave it.

Labels are recomputed against each listing's current price, so a price that
changed between training and now is judged as it stands. Old runs are pruned
from S3 (the newest `keep_runs` and every activated model's files stay).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from jobs.price_rank import storage
from jobs.runtime import run_job
from models.price_rank import PriceModel
from models.settings import get_settings

STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS rank_stage (listing_id bigint, p25 float8, p50 float8, p75 float8) "
    "ON COMMIT DELETE ROWS"
)
UPSERT = text("""
INSERT INTO price_ranks (listing_id, model_version, p25, p50, p75, label, scored_at)
SELECT s.listing_id, :version, s.p25, s.p50, s.p75,
       CASE WHEN l.price < s.p25 THEN 'low' WHEN l.price > s.p75 THEN 'high' ELSE 'typical' END, :now
FROM rank_stage s
JOIN listings l ON l.id = s.listing_id AND l.status = 'active' AND l.canonical_id IS NULL
WHERE s.p25 IS NOT NULL
ON CONFLICT (listing_id) DO UPDATE SET
    model_version = EXCLUDED.model_version, p25 = EXCLUDED.p25, p50 = EXCLUDED.p50, p75 = EXCLUDED.p75,
    label = EXCLUDED.label, scored_at = EXCLUDED.scored_at
""")
REMOVE_INACTIVE = text("""
DELETE FROM price_ranks r USING listings l
WHERE r.listing_id = l.id AND (l.status <> 'active' OR l.canonical_id IS NOT NULL)
""")
# listings the model does not rank: outside its market (scored without a range)
REMOVE_OUTSIDE = text("""
DELETE FROM price_ranks r USING rank_stage s WHERE r.listing_id = s.listing_id AND s.p25 IS NULL
""")


def _stage_scores(session: Session, scores: Any) -> None:
    buffer = io.StringIO()
    scores[["listing_id", "p25", "p50", "p75"]].to_csv(buffer, index=False, header=False)
    buffer.seek(0)
    with session.connection().connection.cursor() as cursor:
        cursor.execute(STAGE)
        cursor.execute("TRUNCATE rank_stage")
        cursor.copy_expert("COPY rank_stage FROM STDIN WITH (FORMAT csv)", buffer)


def prune_runs(session: Session, bucket: str, keep_runs: int) -> int:
    """Delete S3 files of old runs, keeping the newest `keep_runs` and every activated model."""
    active = set(session.scalars(select(PriceModel.run_id).where(PriceModel.activated_at.is_not(None))))
    old = [r for r in storage.run_ids(bucket)[:-keep_runs] if r not in active] if keep_runs > 0 else []
    return sum(storage.delete_run(bucket, run_id) for run_id in old)


def update_run(
    session: Session, bucket: str, run_id: str, now: datetime, keep_runs: int = 12
) -> dict[str, Any]:
    """Apply a trained run's scores and make its model the current one."""
    model = session.get(PriceModel, run_id)
    if model is None:
        raise storage.MissingInput(f"no trained model for run {run_id}: run the train step first")
    scores = storage.get_parquet(
        bucket, storage.key(run_id, "scores.parquet"), hint=f"run the train step for run {run_id} first"
    )
    _stage_scores(session, scores)
    written = session.execute(UPSERT, {"version": run_id, "now": now}).rowcount
    removed = session.execute(REMOVE_INACTIVE).rowcount
    outside = session.execute(REMOVE_OUTSIDE).rowcount
    session.execute(update(PriceModel).where(PriceModel.version == run_id).values(activated_at=now))
    labels = dict(
        session.execute(
            text("SELECT label, count(*) FROM price_ranks WHERE model_version = :v GROUP BY label"),
            {"v": run_id},
        ).all()
    )
    return {
        "run_id": run_id,
        "ranked": written,
        "removed_inactive": removed,
        "removed_outside_market": outside,
        "labels": labels,
        "pruned_objects": prune_runs(session, bucket, keep_runs),
    }


def run(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    """price_rank-stage entry point (kwargs: run_id; default the newest trained, unapplied run)."""

    def body(session: Session, run_id: str | None = None, keep_runs: int = 12) -> dict[str, Any]:
        bucket = get_settings().bucket
        if run_id is None:
            pending = session.scalars(
                select(PriceModel.run_id)
                .where(PriceModel.activated_at.is_(None))
                .order_by(PriceModel.run_id.desc())
                .limit(1)
            ).first()
            if pending is None:
                return {"run_id": None, "skipped": "no trained run waiting to be applied"}
            run_id = pending
        return update_run(session, bucket, run_id, datetime.now(UTC), keep_runs)

    return run_job("price_rank.update", body, event, context)
