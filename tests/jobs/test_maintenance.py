"""Housekeeping: what it deletes, and what it keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from jobs.maintenance import prune_history
from models.market import MarketPoint, series_key
from models.ops import CheckResult, JobRun
from models.quarantine import BadRecord, QuarantinedRecord, quarantine
from models.region import Notification, Region
from models.source import Source
from models.user import create_user
from tests.factories import insert_listing
from tests.jobs.test_market import SQUARE

NOW = datetime(2026, 11, 30, 4, 30, tzinfo=UTC)


def test_history_and_refused_records_older_than_the_keep_days_go(db_session):
    old, recent = NOW - timedelta(days=91), NOW - timedelta(days=89)
    for started, status in ((old, "succeeded"), (recent, "failed")):
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
        "job_runs_abandoned": 0,
        "job_runs_deleted": 1,
        "check_results_deleted": 1,
        "quarantined_deleted": 1,
        "alerts_deleted": 0,
        "market_points_deleted": 0,
    }
    assert sorted(db_session.scalars(select(QuarantinedRecord.reason))) == ["bad 1", "bad 2"]
    with pytest.raises(ValueError, match="keep_days must be at least 1"):
        prune_history(db_session, NOW, keep_days=0)


def test_a_run_that_stopped_without_saying_so_is_recorded_failed(db_session):
    # a Lambda stopped at its timeout (or a crashed process) never records its run's end: the row said
    # "running" for good, and was never deleted (only finished runs are)
    starts = {"stopped": NOW - timedelta(days=2), "long gone": NOW - timedelta(days=91), "under way": NOW}
    for job, started in starts.items():
        db_session.add(JobRun(job=job, stage="test", status="running", started_at=started, counts={}))
    db_session.flush()
    counts = prune_history(db_session, NOW)
    assert (counts["job_runs_abandoned"], counts["job_runs_deleted"]) == (2, 1)
    runs = {run.job: run for run in db_session.scalars(select(JobRun))}
    assert set(runs) == {"stopped", "under way"}  # the one 91 days old went once it was recorded failed
    assert runs["stopped"].status == "failed" and runs["stopped"].error.startswith("did not finish")
    assert (runs["under way"].status, runs["under way"].error) == ("running", None)


def test_the_market_series_of_a_region_deleted_go_and_the_others_stay(db_session):
    # the market job writes ~800 points a region and never visits a region that is gone: a user who
    # redraws by deleting and drawing again left every deleted region's series for good
    user, _ = create_user(db_session, "drawer@example.com")
    kept, gone = (Region(user_id=user.id, name=name, geom=SQUARE) for name in ("kept", "gone"))
    db_session.add_all([kept, gone])
    db_session.flush()
    scopes = ["city", f"region:{kept.id}", f"region:{gone.id}"]
    for scope in scopes:
        for key in (series_key(scope, "new", "all"), series_key(scope, "new", "all", "next7")):
            db_session.add(
                MarketPoint(series_key=key, day=NOW.date(), kind="forecast", value=1.0, trained_at=NOW)
            )
    db_session.flush()
    db_session.delete(gone)
    db_session.flush()
    assert prune_history(db_session, NOW)["market_points_deleted"] == 2
    left = {key.rsplit(":new", 1)[0] for key in db_session.scalars(select(MarketPoint.series_key))}
    assert left == {"city", f"region:{kept.id}"}
    assert prune_history(db_session, NOW)["market_points_deleted"] == 0


def test_old_alerts_of_listings_no_longer_shown_go(db_session):
    # a listing lands in every region drawn around it: alerts outgrew every other table, kept for good
    # (with 1,000 regions a new listing queued 17 on average), though no alert list shows those of a
    # listing that went and none of them is posted
    user, _ = create_user(db_session, "alerted@example.com")
    region = Region(user_id=user.id, name="r", geom=SQUARE)
    source = Source(name="feed", kind="json_feed", config={"url": "http://unused"})
    db_session.add_all([region, source])
    db_session.flush()
    old, recent = NOW - timedelta(days=91), NOW - timedelta(days=89)
    shown = insert_listing(db_session, source.id, "shown", old, -79.38, 43.65)
    gone = insert_listing(db_session, source.id, "gone", old, -79.38, 43.65, status="delisted")
    original = insert_listing(db_session, source.id, "original", old, -79.38, 43.65)
    copy = insert_listing(db_session, source.id, "copy", old, -79.38, 43.65, canonical_id=original)
    gone_lately = insert_listing(
        db_session, source.id, "gone lately", recent, -79.38, 43.65, status="expired"
    )
    alerts = {
        "shown, sent long ago": (shown, "sent", old),
        "gone, sent long ago": (gone, "sent", old),
        "a copy's, expired long ago": (copy, "expired", old),
        "gone lately": (gone_lately, "sent", recent),
    }
    for listing_id, status, created in alerts.values():
        db_session.add(
            Notification(
                user_id=user.id,
                region_id=region.id,
                listing_id=listing_id,
                status=status,
                attempts=1,
                created_at=created,
            )
        )
    db_session.flush()
    assert prune_history(db_session, NOW)["alerts_deleted"] == 2
    left = {n.listing_id for n in db_session.scalars(select(Notification))}
    assert left == {shown, gone_lately}  # a shown listing's alert keeps it from being alerted again
    assert prune_history(db_session, NOW, keep_days=30)["alerts_deleted"] == 1
    assert {n.listing_id for n in db_session.scalars(select(Notification))} == {shown}
