"""Housekeeping: what it deletes, and what it keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from jobs.maintenance import prune_history
from models.listing import QuarantinedRecord
from models.ops import CheckResult, JobRun
from models.quarantine import BadRecord, quarantine

NOW = datetime(2026, 11, 30, 4, 30, tzinfo=UTC)


def test_history_and_refused_records_older_than_the_keep_days_go(db_session):
    old, recent = NOW - timedelta(days=91), NOW - timedelta(days=89)
    for started, status in ((old, "succeeded"), (old, "running"), (recent, "failed")):
        db_session.add(JobRun(job="ingest", stage="test", status=status, started_at=started, counts={}))
    for run_at in (old, recent):
        db_session.add(
            CheckResult(suite="freshness", success=True, statistics={}, failures=[], run_at=run_at)
        )
    quarantine(db_session, [BadRecord("stream", f"bad {n}", raw=f"x{n}") for n in range(3)])
    filed = db_session.scalars(select(QuarantinedRecord).order_by(QuarantinedRecord.id)).all()
    filed[0].created_at, filed[1].created_at, filed[2].created_at = old, recent, NOW
    db_session.flush()
    assert prune_history(db_session, NOW) == {
        "job_runs_deleted": 1,  # a run still marked running is kept, however old
        "check_results_deleted": 1,
        "quarantined_deleted": 1,
    }
    assert sorted(db_session.scalars(select(QuarantinedRecord.reason))) == ["bad 1", "bad 2"]
    assert db_session.scalar(select(JobRun.status).where(JobRun.started_at == old)) == "running"
    with pytest.raises(ValueError, match="keep_days must be at least 1"):
        prune_history(db_session, NOW, keep_days=0)
