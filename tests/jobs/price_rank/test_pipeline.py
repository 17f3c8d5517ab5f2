"""The three steps through S3 (moto) and PostGIS: run, re-run, missing inputs, cleanup."""

from __future__ import annotations

import boto3
import pytest
from sqlalchemy import func, select, update

from jobs.price_rank import storage, train, wrangle
from jobs.price_rank import update as update_step
from jobs.price_rank.demo_frame import market_frame
from jobs.runtime import JobFailed
from models import pricing
from models.listing import Listing
from models.price_rank import PriceModel, PriceRank
from models.session import session_scope
from tests.factories import insert_active_listings


@pytest.fixture
def bucket(moto_endpoint):
    boto3.client("s3").create_bucket(Bucket="nook-test")
    return "nook-test"


@pytest.fixture
def listings(committed, bucket):
    with session_scope() as session:
        return insert_active_listings(session, market_frame(3000, seed=3))


def run_all(context, run_id="20261123T120000Z"):
    event = {"kwargs": {"run_id": run_id}}
    return wrangle.run(event, context), train.run(event, context), update_step.run(event, context)


def counts():
    with session_scope() as session:
        ranks = session.scalar(select(func.count()).select_from(PriceRank))
        labels = dict(session.execute(select(PriceRank.label, func.count()).group_by(PriceRank.label)).all())
        models = session.scalar(select(func.count()).select_from(PriceModel))
    return ranks, labels, models


def test_three_steps_rank_every_active_listing(listings, bucket, lambda_context):
    wrangled, trained, updated = run_all(lambda_context)
    assert wrangled["rows"] == 3000 and trained["scored"] == 3000 and updated["ranked"] == 3000
    held_out = trained["held_out"]  # every listing held out once, bar outliers and a remainder of < 5
    assert held_out["folds"] == 5 and 2950 <= held_out["listings"] <= 3000
    keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]}
    prefix = "price_rank/20261123T120000Z/"
    assert {
        f"{prefix}features.parquet",
        f"{prefix}scores.parquet",
        f"{prefix}model/model.json",
        f"{prefix}model/index_1.ann",
        f"{prefix}model/prices_all.bin",
    } <= keys
    ranks, labels, models = counts()
    assert ranks == 3000 and models == 1
    assert 0.2 < labels["low"] / ranks < 0.3 and 0.2 < labels["high"] / ranks < 0.3
    with session_scope() as session:
        row = session.get(PriceModel, "20261123T120000Z")
        assert row.activated_at is not None and row.metrics["calibration"]["shifts"]
        current = pricing.current_model(session)
    assert current.version == "20261123T120000Z"


def test_rerunning_steps_changes_nothing(listings, bucket, lambda_context):
    run_all(lambda_context)
    before = counts()
    run_all(lambda_context)  # every step again, same run id
    assert counts() == before
    assert train.run({"kwargs": {"run_id": "20261123T120000Z"}}, lambda_context)["scored"] == 3000


def test_a_missing_input_says_which_step_to_run(listings, bucket, lambda_context):
    with pytest.raises(JobFailed, match="features.parquet does not exist: run the wrangle step for run nope"):
        train.run({"kwargs": {"run_id": "nope"}}, lambda_context)
    with pytest.raises(JobFailed, match="no trained model for run nope: run the train step first"):
        update_step.run({"kwargs": {"run_id": "nope"}}, lambda_context)


def test_steps_without_a_run_id_pick_up_the_waiting_run(listings, bucket, lambda_context):
    assert train.run({"kwargs": {}}, lambda_context)["skipped"]
    run_id = wrangle.run({"kwargs": {}}, lambda_context)["run_id"]
    assert train.run({"kwargs": {}}, lambda_context)["run_id"] == run_id
    assert update_step.run({"kwargs": {}}, lambda_context)["run_id"] == run_id
    assert update_step.run({"kwargs": {}}, lambda_context)["skipped"]


def test_ranks_of_listings_no_longer_active_are_removed(listings, bucket, lambda_context):
    run_all(lambda_context)
    gone = list(listings.values())[:25]
    with session_scope() as session:
        session.execute(update(Listing).where(Listing.id.in_(gone)).values(status="delisted"))
    result = update_step.run({"kwargs": {"run_id": "20261123T120000Z"}}, lambda_context)
    assert result["removed_inactive"] == 25 and counts()[0] == 2975


def test_old_runs_are_pruned_from_s3(listings, bucket, lambda_context):
    for run_id in ("20261101T000000Z", "20261102T000000Z", "20261103T000000Z"):
        storage.put_parquet(market_frame(10), bucket, storage.key(run_id, "features.parquet"))
    run_all(lambda_context)
    result = update_step.run({"kwargs": {"run_id": "20261123T120000Z", "keep_runs": 2}}, lambda_context)
    assert result["pruned_objects"] == 2
    assert storage.run_ids(bucket) == ["20261103T000000Z", "20261123T120000Z"]


def test_process_ranks_new_listings_with_the_current_model(listings, bucket, lambda_context):
    run_all(lambda_context)
    from datetime import UTC, datetime

    from jobs import process
    from models.source import Source

    with session_scope() as session:
        source = session.scalars(select(Source)).first()
        fresh = Listing(
            source_id=source.id,
            source_ref="fresh",
            status="pending",
            first_seen_at=datetime.now(UTC),
            last_seen_at=datetime.now(UTC),
            raw={
                "source_ref": "fresh",
                "price": 9999,
                "bedrooms": 1,
                "latitude": 43.6532,
                "longitude": -79.3832,
                "unit_type": "apartment",
            },
        )
        session.add(fresh)
        session.flush()
        process.process_pending(session, datetime.now(UTC))
        rank = session.get(PriceRank, fresh.id)
    assert rank is not None and rank.label == "high" and rank.model_version == "20261123T120000Z"
    assert rank.p25 <= rank.p50 <= rank.p75 < 9999


def test_a_listing_outside_the_market_loses_its_rank_and_gets_none(listings, bucket, lambda_context):
    """Listed in Montreal, 500 km from every other listing: its range would be Toronto's."""
    run_all(lambda_context)
    ids = list(listings.values())
    lone, pair = ids[0], ids[1:3]
    with session_scope() as session:
        for listing_id, (lat, lon) in zip(
            [lone, *pair], [(45.50, -73.57), (49.28, -123.12), (49.281, -123.121)], strict=True
        ):
            session.execute(
                update(Listing)
                .where(Listing.id == listing_id)
                .values(geom=func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326))
            )
    _, trained, updated = run_all(lambda_context, run_id="20261124T120000Z")
    # two neighbours in Vancouver are each other's market: thin, but a market
    assert trained["scored"] == 3000 and trained["outside_market"] == 1
    assert updated["ranked"] == 2999 and updated["removed_outside_market"] == 1
    with session_scope() as session:
        ranked = set(session.scalars(select(PriceRank.listing_id)))
        metrics = session.get(PriceModel, "20261124T120000Z").metrics
    assert lone not in ranked and set(pair) <= ranked and len(ranked) == 2999
    assert metrics["n_outside_market"] == 1
