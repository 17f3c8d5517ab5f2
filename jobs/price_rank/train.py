"""Step 2 — train + score: features -> versioned artifact + scores.parquet in S3, model row in the DB."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from jobs.price_rank import storage
from jobs.price_rank.model import Settings, train
from jobs.runtime import run_job
from models.price_rank import PriceModel
from models.settings import get_settings


def train_run(session: Session, bucket: str, run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """Train on a run's features; upload the artifact and scores; record the model (not yet active)."""
    frame = storage.get_parquet(
        bucket, storage.key(run_id, "features.parquet"), hint=f"run the wrangle step for run {run_id} first"
    )
    with tempfile.TemporaryDirectory(prefix="nook-train-") as tmp:
        trained = train(
            frame,
            Path(tmp),
            version=run_id,
            settings=settings or Settings(decay_m=get_settings().neighbour_decay_m),
        )
        uri = storage.artifact_uri(bucket, run_id)
        artifact_bytes = storage.upload_directory(Path(tmp), bucket, storage.key(run_id, "model"))
    storage.put_parquet(trained.scores, bucket, storage.key(run_id, "scores.parquet"))
    values = {
        "version": run_id,
        "run_id": run_id,
        "artifact_uri": uri,
        "metrics": trained.metrics,
        "n_train": int(trained.metrics["n_fit"]),
    }
    session.execute(
        insert(PriceModel)
        .values(values)
        .on_conflict_do_update(
            index_elements=["version"],
            set_={k: v for k, v in values.items() if k != "version"} | {"activated_at": None},
        )
    )
    m = trained.metrics
    return {
        "run_id": run_id,
        "scored": len(trained.scores),
        "outside_market": m["n_outside_market"],
        "artifact": uri,
        "artifact_bytes": artifact_bytes,
        "tail_low": round(m["tail_low"], 4),
        "tail_high": round(m["tail_high"], 4),
        "pinball_p50": round(m["pinball"]["p50"], 2),
        "held_out": {"listings": m["n_test"], "folds": m["folds"]},
        "timings": {k: round(v, 2) for k, v in trained.timings.items()},
    }


def run(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    """price_rank-stage entry point (kwargs: run_id; default the newest wrangled, untrained run)."""

    def body(session: Session, run_id: str | None = None) -> dict[str, Any]:
        bucket = get_settings().bucket
        run_id = run_id or storage.latest_run_with(bucket, "features.parquet", without="scores.parquet")
        if run_id is None:
            return {"run_id": None, "skipped": "no wrangled run waiting to be trained"}
        return train_run(session, bucket, run_id)

    return run_job("price_rank.train", body, event, context)
