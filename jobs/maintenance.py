"""Housekeeping: keep the operational tables from growing without bound."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, text, update
from sqlalchemy.orm import Session

from jobs.runtime import run_job
from models.client_asks import prune_client_asks
from models.export import KEEP, drop_exports
from models.ops import CheckResult, JobRun
from models.quarantine import QuarantinedRecord
from models.settings import get_settings
from models.sign_up import prune_sign_ups

# a run still "running" this long after it started has stopped without saying so: no Lambda runs longer
# than 15 minutes, nor a local run a day
ABANDONED_AFTER = timedelta(days=1)
ABANDONED = (
    "did not finish: the process running it stopped (a Lambda timeout or a crash) before it recorded an end"
)
# the market series of regions deleted since (the market job writes ~800 points a region and never
# visits a region that is gone)
GONE_REGIONS_POINTS = text("""
DELETE FROM market_points p
WHERE p.series_key LIKE 'region:%'
  AND NOT EXISTS (
      SELECT 1 FROM regions r WHERE r.id::text = substring(p.series_key FROM '^region:([0-9]+):')
  )
""")


# Alerts of listings no longer shown, queued more than keep_days ago: no alert list shows them any more
# (it lists shown listings' alerts) and none is posted (notify withdraws or expires it). Those of shown
# listings stay: they keep the listing from being alerted again to the same region.
OLD_ALERTS = text("""
DELETE FROM notifications n
WHERE n.created_at < :cutoff
  AND NOT EXISTS (
      SELECT 1 FROM listings l WHERE l.id = n.listing_id AND l.status = 'active' AND l.canonical_id IS NULL
  )
""")


def prune_history(session: Session, now: datetime, keep_days: int = 90) -> dict[str, int]:
    """Record the runs that stopped without saying so as failed, delete finished job runs, check
    results and quarantined records older than `keep_days` (a partner sending bad records all day filed
    them for good, up to 100,000 characters each; their dead letters in S3 keep every one whole for as
    long as the bucket keeps them), alerts older than that of listings no longer shown (a listing lands
    in every region drawn around it, so alerts outgrow listings many times over), and the market series
    of regions that are gone."""
    if keep_days < 1:
        raise ValueError("keep_days must be at least 1")
    cutoff = now - timedelta(days=keep_days)
    abandoned = session.execute(
        update(JobRun)
        .where(JobRun.status == "running", JobRun.started_at < now - ABANDONED_AFTER)
        .values(status="failed", error=ABANDONED)
    ).rowcount
    runs = session.execute(
        delete(JobRun).where(JobRun.started_at < cutoff, JobRun.status != "running")
    ).rowcount
    checks = session.execute(delete(CheckResult).where(CheckResult.run_at < cutoff)).rowcount
    refused = session.execute(delete(QuarantinedRecord).where(QuarantinedRecord.created_at < cutoff)).rowcount
    alerts = session.execute(OLD_ALERTS, {"cutoff": cutoff}).rowcount
    points = session.execute(GONE_REGIONS_POINTS).rowcount
    return {
        "job_runs_abandoned": abandoned,
        "job_runs_deleted": runs,
        "check_results_deleted": checks,
        "quarantined_deleted": refused,
        "alerts_deleted": alerts,
        "market_points_deleted": points,
    }


def housekeeping(session: Session, now: datetime, keep_days: int = 90) -> dict[str, int]:
    """Prune history, and delete the users' exports written more than a day ago (their links expired
    long before), the asks to sign up of days gone by and the counts of clients' asks of hours gone by."""
    counts = prune_history(session, now, keep_days)
    counts["exports_deleted"] = drop_exports(get_settings().bucket, older_than=now - KEEP)
    counts["sign_ups_deleted"] = prune_sign_ups(session, now)
    counts["client_asks_deleted"] = prune_client_asks(session, now)
    return counts


def run(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    """Batch-stage entry point: housekeeping (kwargs: keep_days)."""
    return run_job(
        "prune_history",
        lambda session, **kwargs: housekeeping(session, datetime.now(UTC), **kwargs),
        event,
        context,
    )


def migrate(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    """Apply schema migrations on AWS: `zappa invoke batch jobs.maintenance.migrate` (kwargs: revision)."""
    from models import migrate as alembic

    revision = str(((event or {}).get("kwargs") or {}).get("revision", "head"))
    alembic.upgrade(revision=revision)
    return {"migrated_to": revision}
