"""The stream stage through Zappa's real handler: poison, outages, re-delivery, dry run, throttling."""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import boto3
import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import OperationalError

import jobs.stream as stream
import models
import models.session
from jobs.local.lambda_context import LocalContext
from jobs.price_rank.demo_frame import market_frame
from models import pricing
from models.listing import Listing
from models.price_rank import PriceModel, PriceRank
from models.quarantine import QuarantinedRecord
from models.region import Notification, Region, RegionListing
from models.session import session_scope
from models.source import Source
from models.user import User, create_user, give_key
from tests import lambda_harness
from tests.conftest import blocking, load_event
from tests.factories import activate_artifact
from tests.lambda_harness import zappa_settings_source

ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/listing_events"


@pytest.fixture(scope="session")
def zappa_stream(tmp_path_factory):
    """Zappa's real LambdaHandler for the stream stage (one per process: it is a singleton)."""
    directory = tmp_path_factory.mktemp("zappa_stream")
    (directory / "zappa_settings.py").write_text(zappa_settings_source("stream"))
    sys.path.insert(0, str(directory))
    saved = dict(os.environ)
    try:
        from zappa.handler import LambdaHandler

        handler = LambdaHandler("zappa_settings")
    finally:
        os.environ.clear()
        os.environ.update(saved)  # the handler set the stage's variables; the tests keep theirs
        sys.path.remove(str(directory))
    assert handler.settings.AWS_EVENT_MAPPING == {ARN: ["jobs.stream.handle"]}
    return handler


@pytest.fixture
def aws(moto_endpoint):
    boto3.client("s3").create_bucket(Bucket="nook-test")
    for name in ("listing_events", "listing_scores"):
        boto3.client("kinesis").create_stream(StreamName=name, ShardCount=1)
    stream.CLIENTS.clear()
    return moto_endpoint


@pytest.fixture
def partner(committed, aws, artifact_dir):
    with session_scope() as session:
        session.add(Source(name="partner", kind="stream", config={}))
        activate_artifact(session, artifact_dir)
    return "partner"


def payloads(n: int, seed: int = 9) -> list[dict]:
    rows = market_frame(n, seed=seed)
    return [
        {
            "source": "partner",
            "source_ref": f"P-{r.listing_id}",
            "title": f"Flat {r.listing_id}",
            "price": int(r.price),
            "bedrooms": int(r.bedrooms),
            "bathrooms": r.bathrooms,
            "sqft": None if r.sqft != r.sqft else int(r.sqft),
            "furnished": bool(r.furnished),
            "unit_type": r.unit_type,
            "latitude": r.latitude,
            "longitude": r.longitude,
        }
        for r in rows.itertuples(index=False)
    ]


def kinesis_event(datas: list[bytes], first_sequence: int = 1000) -> dict:
    template = load_event("kinesis_listing_event.json")["Records"][0]
    records = []
    for n, data in enumerate(datas):
        record = json.loads(json.dumps(template))
        sequence = str(first_sequence + n)
        record["kinesis"].update(
            data=base64.b64encode(data).decode(), sequenceNumber=sequence, partitionKey=f"k{n}"
        )
        record["eventID"] = f"shardId-000000000000:{sequence}"
        records.append(record)
    return {"Records": records}


def scores_published() -> list[dict]:
    client = boto3.client("kinesis")
    shard = client.list_shards(StreamName="listing_scores")["Shards"][0]["ShardId"]
    iterator = client.get_shard_iterator(
        StreamName="listing_scores", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return [json.loads(r["Data"]) for r in client.get_records(ShardIterator=iterator, Limit=10000)["Records"]]


def counts() -> dict[str, int]:
    with session_scope() as session:
        return {
            "listings": session.scalar(select(func.count()).select_from(Listing)),
            "active": session.scalar(
                select(func.count()).select_from(Listing).where(Listing.status == "active")
            ),
            "quarantined": session.scalar(select(func.count()).select_from(QuarantinedRecord)),
            "ranks": session.scalar(select(func.count()).select_from(PriceRank)),
        }


POISON = [
    b"\xff\xfe not utf-8",
    b"{not json",
    json.dumps(
        {
            "source": "partner",
            "source_ref": "bad",
            "price": "call me",
            "bedrooms": 1,
            "latitude": 43.6,
            "longitude": -79.4,
        }
    ).encode(),
]


def batch_with_poison() -> tuple[dict, list[dict]]:
    good = payloads(97)
    datas = [json.dumps(p).encode() for p in good]
    for position, poison in zip((5, 50, 96), POISON, strict=True):
        datas.insert(position, poison)
    return kinesis_event(datas), good


def test_a_batch_with_poison_records_is_scored_published_and_quarantined(zappa_stream, partner):
    batch, good = batch_with_poison()
    result = zappa_stream.handler(batch, LocalContext())
    assert result["batchItemFailures"] == [] and result["valid"] == 97 and result["poison"] == 3
    assert counts() == {
        "listings": 97,
        "active": counts()["active"],
        "quarantined": 3,
        "ranks": counts()["ranks"],
    }
    published = scores_published()
    assert len(published) == 97 and {m["source_ref"] for m in published} == {p["source_ref"] for p in good}
    message = published[0]
    assert set(message) == {
        "listing_id",
        "source",
        "source_ref",
        "price",
        "p25",
        "p50",
        "p75",
        "label",
        "model_version",
    }
    assert message["model_version"] == "api-test-v1" and message["p25"] <= message["p50"] <= message["p75"]
    with session_scope() as session:
        reasons = sorted(session.scalars(select(QuarantinedRecord.reason)))
    assert any(r.startswith("data is not UTF-8 text (sequence 1005)") for r in reasons)
    assert any(r.startswith("data is not JSON") for r in reasons)
    assert any(r.startswith("price: not a number: 'call me'") for r in reasons)
    letters = boto3.client("s3").list_objects_v2(Bucket="nook-test", Prefix=stream.DEAD_LETTER_PREFIX)[
        "Contents"
    ]
    assert len(letters) == 3
    letter = json.loads(
        boto3.client("s3").get_object(Bucket="nook-test", Key=letters[0]["Key"])["Body"].read()
    )
    assert set(letter) == {"sequence_number", "shard", "reason", "data_base64"}
    assert base64.b64decode(letter["data_base64"]) in POISON


def test_data_a_producer_wrapped_is_poison_saying_what_to_send(zappa_stream, partner):
    """The Kinesis Producer Library aggregates records by default, and Lambda does not unpack them: a
    partner using it saw every listing refused as "not base64-encoded UTF-8"."""
    listing = json.dumps(payloads(1)[0]).encode()
    aggregated = b"\xf3\x89\x9a\xc2" + listing  # the KPL's magic, then (protobuf) the records
    event = kinesis_event([aggregated, gzip.compress(listing), listing])
    event["Records"][0]["kinesis"]["data"] += "%"  # not base64 at all
    event["Records"].insert(0, kinesis_event([aggregated], first_sequence=999)["Records"][0])
    result = zappa_stream.handler(event, LocalContext())
    assert result["batchItemFailures"] == [] and result["valid"] == 1 and result["poison"] == 3
    with session_scope() as session:
        reasons = sorted(session.scalars(select(QuarantinedRecord.reason)))
    assert reasons == [
        "data is a KPL aggregated record (several records in one): send one JSON listing a record (the "
        "Kinesis Producer Library's AggregationEnabled=false) (sequence 999)",
        "data is gzip-compressed: send the JSON listing as it is (sequence 1001)",
        "data is not base64-encoded (sequence 1000)",
    ]


def test_records_nook_cannot_read_or_store_are_poison_not_a_blocked_shard(zappa_stream, partner):
    # each of these stopped the whole batch (StreamFailed: Lambda retried it until it gave up on it): NaN
    # is not JSON but Python reads it and jsonb does not, \u0000 is JSON neither jsonb nor text stores, the
    # parser gives up on 1,000 levels or a 4,301-digit integer, and a float on an integer of 400 digits
    good = payloads(3)
    good[2]["title"] = "Flat \U0001f600"  # sent as an escaped surrogate pair: one character, stored
    listing = payloads(1, seed=4)[0]
    poison = {
        json.dumps({**listing, "extra": [1, float("nan")]}): "extra[1]: NaN is not a JSON number",
        json.dumps(
            {**listing, "title": "a\x00b"}
        ): "title: holds a NUL character (\\u0000), which cannot be stored",
        # JSON may escape half a UTF-16 pair; Python reads it, neither UTF-8 nor jsonb takes it
        json.dumps(
            {**listing, "title": "a\ud800"}
        ): "title: holds a lone surrogate (\\ud800), which is not text",
        json.dumps(
            {**listing, "source_ref": "\udfff"}
        ): "source_ref: holds a lone surrogate (\\udfff), which is not text",
        json.dumps({**listing, "x": json.loads("[" * 64 + "]" * 64)}): (
            f"x{'[0]' * 13}...{'[0]' * 10}: nested deeper than 64 levels"
        ),
        json.dumps({**listing, "price": 10**400}): "price: not a finite number",
        '{"source": "partner", "x": ' + "[" * 100_000 + "]" * 100_000 + "}": (
            "data is not JSON nook reads (nested too deeply)"
        ),
        json.dumps(listing).replace(f'"price": {listing["price"]}', '"price": 1' + "0" * 5000): (
            "data is not JSON nook reads (Exceeds the limit (4300 digits) for integer string conversion)"
        ),
    }
    datas = [json.dumps(p).encode() for p in good] + [data.encode() for data in poison]
    for _ in range(2):  # re-delivered: nothing twice
        result = zappa_stream.handler(kinesis_event(datas), LocalContext())
        assert result["batchItemFailures"] == [] and result["valid"] == 3 and result["poison"] == 8
        with session_scope() as session:
            filed = session.execute(
                select(QuarantinedRecord.reason, Source.name).outerjoin(Source).order_by(QuarantinedRecord.id)
            ).all()
            stored = sorted(session.scalars(select(Listing.source_ref)))
            emoji = session.scalars(select(Listing.title).where(Listing.title.like("%\U0001f600"))).all()
        assert stored == sorted(p["source_ref"] for p in good)
        assert emoji == ["Flat \U0001f600"]
        assert filed == [  # under the partner's name when it could be read
            (f"{reason} (sequence {1003 + n})", "partner" if n < 6 else None)
            for n, reason in enumerate(poison.values())
        ]
    assert sorted(m["source_ref"] for m in scores_published()) == sorted(2 * [p["source_ref"] for p in good])


def test_a_listing_is_written_exactly_as_sent(zappa_stream, partner):
    payload = {
        **payloads(1)[0],
        "title": 'Flat "A" \\ on two\nlines, café 🏠',
        "url": "https://partner.example/l/1?a=1&b='2'",
        "posted_at": "2026-11-01T10:00:00.123456-05:00",
        "available_from": "February 1, 2027",
        "latitude": 43.651234567891234,
        "nested": {"list": [1, 2.5, None, True, "x"], "empty": {}},
    }
    result = zappa_stream.handler(kinesis_event([json.dumps(payload).encode()]), LocalContext())
    assert result["batchItemFailures"] == [] and result["valid"] == 1
    with session_scope() as session:
        listing = session.scalars(select(Listing)).one()
        latitude = session.scalar(select(func.ST_Y(Listing.geom)))
    assert listing.raw == payload and listing.title == payload["title"] and listing.url == payload["url"]
    assert listing.posted_at == datetime(2026, 11, 1, 15, 0, 0, 123456, tzinfo=UTC)
    assert listing.available_from == date(2027, 2, 1)
    assert latitude == payload["latitude"] and listing.price == payload["price"]
    assert (listing.bedrooms, listing.bathrooms, listing.sqft, listing.unit_type) == (
        payload["bedrooms"],
        payload["bathrooms"],
        payload["sqft"],
        payload["unit_type"],
    )


def test_a_posting_time_far_from_utc_is_kept_not_a_failed_batch(zappa_stream, partner):
    # Python reads offsets up to 23:59, PostgreSQL only up to 15:59: the batch failed on every retry
    sent = [{**p, "posted_at": "2026-11-01T10:00:00-23:00"} for p in payloads(2)]
    result = zappa_stream.handler(kinesis_event([json.dumps(p).encode() for p in sent]), LocalContext())
    assert result["batchItemFailures"] == [] and result["valid"] == 2 and result["poison"] == 0
    with session_scope() as session:
        posted = set(session.scalars(select(Listing.posted_at)))
    assert posted == {datetime(2026, 11, 2, 9, tzinfo=UTC)}


def test_a_move_in_date_nook_cannot_read_is_poison_with_its_reason(zappa_stream, partner):
    sent = payloads(2)
    sent[0]["available_from"] = "immediately"
    sent[1]["available_from"] = "03/01/2027"
    result = zappa_stream.handler(kinesis_event([json.dumps(p).encode() for p in sent]), LocalContext())
    assert result["batchItemFailures"] == [] and result["valid"] == 1 and result["poison"] == 1
    with session_scope() as session:
        stored = session.execute(select(Listing.source_ref, Listing.available_from)).all()
        reasons = session.scalars(select(QuarantinedRecord.reason)).all()
    assert stored == [(sent[0]["source_ref"], datetime.now(UTC).date())]  # no posting time: free from today
    assert reasons == [
        "available_from: '03/01/2027' could be two dates; give it as 2027-03-01 (sequence 1001)"
    ]


def test_redelivery_changes_nothing(zappa_stream, partner):
    batch, _ = batch_with_poison()
    zappa_stream.handler(batch, LocalContext())
    before = counts()
    with session_scope() as session:
        snapshot = sorted(
            session.execute(
                select(Listing.source_ref, Listing.price, Listing.status, Listing.updated_at)
            ).all()
        )
    again = zappa_stream.handler(batch, LocalContext())
    assert again["batchItemFailures"] == [] and again["activated"] == 0
    assert counts() == before
    with session_scope() as session:
        assert (
            sorted(
                session.execute(
                    select(Listing.source_ref, Listing.price, Listing.status, Listing.updated_at)
                ).all()
            )
            == snapshot
        )


def test_a_partner_delivering_valid_records_is_marked_fresh_at_most_once_a_minute(partner):
    start = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def deliver(datas: list[bytes], at: datetime) -> None:
        assert stream.process(kinesis_event(datas)["Records"], at)["batchItemFailures"] == []

    def last_success() -> datetime | None:
        with session_scope() as session:
            return session.scalar(select(Source.last_success_at).where(Source.name == "partner"))

    touches: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().startswith("UPDATE sources"):
            touches.append(statement)

    listings = [json.dumps(p).encode() for p in payloads(4)]
    assert last_success() is None
    event.listen(models.session.get_engine(), "before_cursor_execute", seen)
    try:
        deliver(POISON, start)
        assert last_success() is None and touches == []  # garbage does not make a partner fresh
        deliver(listings[:2], start)
        assert last_success() == start and len(touches) == 1
        deliver(listings[2:], start + timedelta(seconds=59))
        # within the minute: the row is not written again, nor is the database asked to
        assert last_success() == start and len(touches) == 1
        deliver(listings[:1], start + timedelta(seconds=61))
        assert last_success() == start + timedelta(seconds=61) and len(touches) == 2
    finally:
        event.remove(models.session.get_engine(), "before_cursor_execute", seen)


@pytest.fixture
def database_fails_on_statement(monkeypatch):
    """Make the n-th statement of the stream's next transaction fail as if the database went away."""
    engine = models.session.get_engine()
    state = {"countdown": None}

    def before(conn, cursor, statement, parameters, context, executemany):
        if state["countdown"] is not None:
            state["countdown"] -= 1
            if state["countdown"] == 0:
                raise OperationalError(statement, parameters, Exception("server closed the connection"))

    event.listen(engine, "before_cursor_execute", before)
    yield state
    event.remove(engine, "before_cursor_execute", before)


def test_database_down_mid_batch_is_retried_from_the_first_record(
    zappa_stream, partner, database_fails_on_statement
):
    batch, _ = batch_with_poison()
    database_fails_on_statement["countdown"] = 6  # fails after the batch's first few statements
    failed = zappa_stream.handler(batch, LocalContext())
    first = batch["Records"][0]["kinesis"]["sequenceNumber"]
    assert failed == {"batchItemFailures": [{"itemIdentifier": first}]}
    assert counts()["listings"] == 0 and scores_published() == []  # the transaction rolled back whole
    database_fails_on_statement["countdown"] = None
    recovered = zappa_stream.handler(batch, LocalContext())
    assert recovered["batchItemFailures"] == [] and counts()["listings"] == 97
    assert len(scores_published()) == 97


class Throttling:
    """A Kinesis client that throttles every `throttle_every`-th entry of its first `throttled_calls`
    PutRecords calls, then behaves."""

    def __init__(self, real, throttle_every: int = 4, throttled_calls: int = 1):
        self.real, self.every, self.throttled_calls, self.calls = real, throttle_every, throttled_calls, []

    def put_records(self, StreamName, Records):  # noqa: N803 - boto3's names
        self.calls.append(len(Records))
        if len(self.calls) > self.throttled_calls:
            return self.real.put_records(StreamName=StreamName, Records=Records)
        keep = [r for n, r in enumerate(Records) if n % self.every]
        accepted = iter(self.real.put_records(StreamName=StreamName, Records=keep)["Records"] if keep else [])
        return {
            "FailedRecordCount": len(Records) - len(keep),
            "Records": [
                next(accepted)
                if n % self.every
                else {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"}
                for n in range(len(Records))
            ],
        }


def test_putrecords_partial_failure_retries_only_the_failed_entries(zappa_stream, partner, monkeypatch):
    throttled = Throttling(boto3.client("kinesis"))
    monkeypatch.setattr(stream, "kinesis", lambda: throttled)
    batch, _ = batch_with_poison()
    result = zappa_stream.handler(batch, LocalContext())
    assert result["batchItemFailures"] == [] and result["published"] == 97
    assert throttled.calls == [97, 25]  # the retry carries only the 25 throttled entries
    published = scores_published()
    assert len(published) == 97 and len({m["source_ref"] for m in published}) == 97


def test_kinesis_down_reports_failures_then_recovers(zappa_stream, partner, monkeypatch):
    class Down:
        def put_records(self, **_):
            raise ConnectionError("kinesis endpoint unreachable")

    monkeypatch.setattr(stream, "kinesis", lambda: Down())
    batch, _ = batch_with_poison()
    failed = zappa_stream.handler(batch, LocalContext())
    assert failed["batchItemFailures"] == [
        {"itemIdentifier": batch["Records"][0]["kinesis"]["sequenceNumber"]}
    ]
    stored = counts()
    assert stored["listings"] == 97  # the database work committed; the retry will not redo it
    monkeypatch.undo()
    stream.CLIENTS.clear()
    recovered = zappa_stream.handler(batch, LocalContext())
    assert recovered["batchItemFailures"] == [] and counts() == stored and len(scores_published()) == 97


def dead_letters() -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket="nook-test", Prefix=stream.DEAD_LETTER_PREFIX)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_a_burst_of_poison_gets_one_dead_letter_per_record(zappa_stream, partner):
    result = zappa_stream.handler(kinesis_event([b"not json %d" % n for n in range(40)]), LocalContext())
    assert result["batchItemFailures"] == [] and result["poison"] == 40
    assert [key.rsplit("/", 1)[1] for key in dead_letters()] == [f"{1000 + n}.json" for n in range(40)]
    assert counts()["quarantined"] == 40


def test_batches_reuse_the_containers_threads(zappa_stream, partner):
    """Scoring and dead letters run on threads kept for the container (stream.threads): a batch starts
    none once the pools have their threads (starting one made the handler's thread wait for it)."""

    def stage_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("stream ")}

    def batch(first: int) -> dict:
        datas = [json.dumps(p).encode() for p in payloads(10, seed=first)] + [
            b"not json %d" % (first + n) for n in range(8)
        ]
        return zappa_stream.handler(kinesis_event(datas, first), LocalContext())

    for first in (1000, 2000):  # enough for every pool to reach its size
        assert batch(first)["batchItemFailures"] == []
    kept = stage_threads()
    assert {t.name.rsplit("_", 1)[0] for t in kept} == {"stream background", "stream dead letters"}
    for first in (3000, 4000, 5000):
        result = batch(first)
        assert result["batchItemFailures"] == [] and result["valid"] == 10 and result["poison"] == 8
        assert stage_threads() == kept
    assert len(dead_letters()) == 5 * 8 and counts()["quarantined"] == 5 * 8


def test_a_dead_letter_is_sent_whole_without_waiting_for_a_go_ahead(zappa_stream, partner):
    """botocore sends `Expect: 100-continue` with every PutObject body and waits for S3's reply before
    sending it: a round trip more for each letter of a few hundred bytes."""
    sent = []
    stream.s3().meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers))
    )
    batch, _ = batch_with_poison()
    assert zappa_stream.handler(batch, LocalContext())["poison"] == 3
    assert len(sent) == 3 and all("Expect" not in headers for headers in sent)
    assert len(dead_letters()) == 3


class FlakyS3:
    """The real S3 client, except that the letters of some sequence numbers cannot be written."""

    def __init__(self, failing: set[str]) -> None:
        self.client, self.failing = boto3.client("s3"), failing

    def put_object(self, **kwargs):
        if kwargs["Key"].rsplit("/", 1)[1].removesuffix(".json") in self.failing:
            raise ConnectionError("s3 endpoint unreachable")
        return self.client.put_object(**kwargs)


def test_dead_letters_failing_retry_from_the_first_record_whose_letter_failed(
    zappa_stream, partner, monkeypatch
):
    batch, good = batch_with_poison()  # poison at 5, 50 and 96
    flaky = FlakyS3({"1096", "1050"})
    monkeypatch.setattr(stream, "s3", lambda: flaky)
    failed = zappa_stream.handler(batch, LocalContext())
    assert failed["batchItemFailures"] == [{"itemIdentifier": "1050"}]
    assert [key.rsplit("/", 1)[1] for key in dead_letters()] == ["1005.json"]
    # the retry starts at record 50: the 49 valid records before it are published now or never
    assert [m["source_ref"] for m in scores_published()] == [p["source_ref"] for p in good[:49]]
    stored = counts()
    assert stored["quarantined"] == 3
    monkeypatch.undo()
    stream.CLIENTS.clear()
    retried = {"Records": batch["Records"][50:]}  # Lambda retries from the reported record
    recovered = zappa_stream.handler(retried, LocalContext())
    assert recovered["batchItemFailures"] == []
    assert [key.rsplit("/", 1)[1] for key in dead_letters()] == ["1005.json", "1050.json", "1096.json"]
    assert counts() == stored
    assert [m["source_ref"] for m in scores_published()] == [p["source_ref"] for p in good]  # each once


def test_dry_run_writes_nothing(zappa_stream, partner, setting):
    setting("NOOK_STREAM_DRY_RUN", "true")
    batch, _ = batch_with_poison()
    result = zappa_stream.handler(batch, LocalContext())
    assert result["dry_run"] is True and result["valid"] == 97 and result["poison"] == 3
    assert counts() == {"listings": 0, "active": 0, "quarantined": 0, "ranks": 0}
    assert scores_published() == []
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket="nook-test")
    assert "kinesis" not in stream.CLIENTS and "s3" not in stream.CLIENTS  # a dry run makes no client


def test_threads_asking_for_a_client_at_once_share_one(aws):
    """process() starts making the Kinesis client on a thread while publish() may ask for it: one client."""
    ready = threading.Barrier(8)

    def ask(_):
        ready.wait()
        return stream.kinesis()

    with ThreadPoolExecutor(max_workers=8) as pool:
        clients = list(pool.map(ask, range(8)))
    assert len({id(c) for c in clients}) == 1 and "kinesis" in stream.CLIENTS
    assert clients[0].describe_stream_summary(StreamName="listing_scores")["StreamDescriptionSummary"]


def test_unknown_source_and_odd_payloads_are_poison(zappa_stream, partner):
    datas = [
        b"[1, 2]",
        json.dumps({"source_ref": "x", "price": 1}).encode(),
        json.dumps(payloads(1)[0] | {"source": "stranger"}).encode(),
        b"bm90IGJhc2U2NA",
    ]
    batch = kinesis_event(datas)
    batch["Records"][3]["kinesis"]["data"] = "%%% not base64 %%%"
    result = zappa_stream.handler(batch, LocalContext())
    assert result["poison"] == 4 and result["batchItemFailures"] == []
    with session_scope() as session:
        reasons = " | ".join(session.scalars(select(QuarantinedRecord.reason)))
    for expected in (
        "record is a list, not an object",
        "source: missing",
        "unknown source 'stranger'",
        "not base64",
    ):
        assert expected in reasons


def test_a_record_naming_a_feeds_source_or_a_disabled_partner_is_poison(zappa_stream, partner):
    """A partner could name a feed's source and write over that feed's listings; a partner the operator
    disabled was still taken."""
    with session_scope() as session:
        session.add(Source(name="feed", kind="json_feed", config={"url": "https://feed.example/"}))
        session.add(Source(name="paused", kind="stream", config={}, enabled=False))
    listing = payloads(1)[0]
    datas = [json.dumps(listing | {"source": name}).encode() for name in ("feed", "paused", "partner")]
    result = zappa_stream.handler(kinesis_event(datas), LocalContext())
    assert result["batchItemFailures"] == [] and (result["valid"], result["poison"]) == (1, 2)
    with session_scope() as session:
        filed = dict(
            session.execute(
                select(QuarantinedRecord.reason, Source.name).outerjoin(
                    Source, Source.id == QuarantinedRecord.source_id
                )
            ).all()
        )
        owners = set(session.scalars(select(Source.name).join(Listing, Listing.source_id == Source.id)))
    disabled = "source: 'paused' is disabled (`flask sources enable` takes its records again)"
    assert filed == {
        "source: 'feed' is a json_feed source, not a stream partner (sequence 1000)": None,  # not the feed's
        f"{disabled} (sequence 1001)": "paused",
    }
    assert owners == {"partner"}


def test_a_source_ref_that_is_no_id_is_poison_not_a_failed_batch(zappa_stream, partner):
    """A record naming its listing with an object failed the quarantine's insert (the ref went to
    PostgreSQL as it came), so the whole batch was retried until Lambda gave up on the record."""
    good = payloads(3)
    datas = [json.dumps(p).encode() for p in good]
    datas.insert(1, json.dumps(good[0] | {"source_ref": {"id": 7}}).encode())
    datas.insert(2, json.dumps(good[0] | {"source_ref": "r" * 300}).encode())
    datas.insert(3, json.dumps(good[0] | {"source_ref": 17, "url": "javascript:alert(1)"}).encode())
    result = zappa_stream.handler(kinesis_event(datas), LocalContext())
    assert result["batchItemFailures"] == [] and result["valid"] == 3 and result["poison"] == 3
    with session_scope() as session:
        filed = session.execute(
            select(QuarantinedRecord.source_ref, QuarantinedRecord.reason).order_by(QuarantinedRecord.id)
        ).all()
    assert filed == [
        (None, "source_ref: expected text or a number, got dict (sequence 1001)"),
        ("r" * 255, "source_ref: 300 characters; at most 255 (sequence 1002)"),
        ("17", "url: 'javascript:alert(1)' is not an http(s) address (sequence 1003)"),
    ]


def test_the_synthetic_event_file_goes_through_zappa(zappa_stream, partner):
    result = zappa_stream.handler(load_event("kinesis_listing_event.json"), LocalContext())
    assert result["batchItemFailures"] == [] and result["valid"] == 1
    assert scores_published()[0]["source_ref"] == "P-1"


def test_a_missing_model_artifact_does_not_stall_the_stream(zappa_stream, partner, tmp_path):
    first, second = (json.dumps(p).encode() for p in payloads(2))
    zappa_stream.handler(kinesis_event([first]), LocalContext())  # the container's last model: v1
    with session_scope() as session:
        session.execute(update(PriceModel).values(version="api-test-v1", artifact_uri=str(tmp_path / "gone")))
    pricing._loaded.pop("api-test-v1", None)
    try:
        result = zappa_stream.handler(kinesis_event([second], first_sequence=2000), LocalContext())
    finally:
        pricing._loaded.pop("api-test-v1", None)
    assert result["batchItemFailures"] == [] and result["valid"] == 1
    scored, unscored = scores_published()
    assert scored["label"] is not None
    assert unscored["label"] is None and unscored["p50"] is None and unscored["listing_id"] is not None


def test_before_the_first_model_a_batch_is_published_unranked_and_asks_once_before_writing(committed, aws):
    with session_scope() as session:
        session.add(Source(name="partner", kind="stream", config={}))
    reads: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().startswith("SELECT"):
            reads.append(statement)

    event.listen(models.session.get_engine(), "before_cursor_execute", seen)
    try:
        records = kinesis_event([json.dumps(p).encode() for p in payloads(3)] + POISON[:1])["Records"]
        result = stream.process(records, datetime.now(UTC))
    finally:
        event.remove(models.session.get_engine(), "before_cursor_execute", seen)
    assert result["batchItemFailures"] == [] and (result["valid"], result["poison"]) == (3, 1)
    assert result["published"] == 3
    # the batch's one read: its sources and the current model (none yet) in one round trip
    assert len(reads) == 1 and "JOIN sources" in reads[0] and "FROM price_models" in reads[0]
    published = scores_published()
    assert len(published) == 3 and all(m["model_version"] is None and m["label"] is None for m in published)
    assert counts()["ranks"] == 0 and counts()["active"] == 3


def test_the_batch_after_a_model_is_activated_is_scored_with_it(
    zappa_stream, partner, artifact_dir, tmp_path
):
    # the container starts scoring a batch with its last batch's model before the database says which
    # is current: every listing of the batch after an activation must still carry the new model
    first, *rest = (json.dumps(p).encode() for p in payloads(31))
    zappa_stream.handler(kinesis_event([first]), LocalContext())  # the container's last model: v1
    newer = tmp_path / "v2"
    shutil.copytree(artifact_dir, newer)
    spec = json.loads((newer / "model.json").read_text())
    (newer / "model.json").write_text(json.dumps(spec | {"version": "api-test-v2"}))
    with session_scope() as session:
        activate_artifact(session, newer, version="api-test-v2")
    try:
        result = zappa_stream.handler(kinesis_event(rest, first_sequence=2000), LocalContext())
        again = zappa_stream.handler(kinesis_event(rest, first_sequence=2000), LocalContext())
    finally:
        pricing._loaded.pop("api-test-v2", None)
    assert result["batchItemFailures"] == [] == again["batchItemFailures"]
    assert [m["model_version"] for m in scores_published()] == ["api-test-v1"] + ["api-test-v2"] * 60
    with session_scope() as session:
        versions = dict(
            session.execute(
                select(Listing.source_ref, PriceRank.model_version).join(
                    PriceRank, PriceRank.listing_id == Listing.id
                )
            ).all()
        )
    refs = [p["source_ref"] for p in payloads(31)]
    assert versions == {refs[0]: "api-test-v1"} | dict.fromkeys(refs[1:], "api-test-v2")


def test_a_listing_outside_the_models_market_is_stored_and_published_without_a_rank(zappa_stream, partner):
    """The model learned Toronto: a flat in Montreal was published as "low" from Toronto's rents."""
    here, there = payloads(2)
    there |= {"latitude": 45.50, "longitude": -73.57}
    result = zappa_stream.handler(
        kinesis_event([json.dumps(p).encode() for p in (here, there)]), LocalContext()
    )
    assert result["batchItemFailures"] == [] and result["valid"] == 2 and result["poison"] == 0
    published = {m["source_ref"]: m for m in scores_published()}
    assert published[here["source_ref"]]["label"] in ("low", "typical", "high")
    assert {
        k: published[there["source_ref"]][k] for k in ("p25", "p50", "p75", "label", "model_version")
    } == {
        "p25": None,
        "p50": None,
        "p75": None,
        "label": None,
        "model_version": "api-test-v1",
    }
    assert counts() == {"listings": 2, "active": 2, "quarantined": 0, "ranks": 1}
    # the Toronto flat moves to Montreal: its rank goes
    moved = here | {"latitude": 45.51, "longitude": -73.56}
    assert (
        zappa_stream.handler(kinesis_event([json.dumps(moved).encode()], 2000), LocalContext())["valid"] == 1
    )
    assert counts()["ranks"] == 0 and scores_published()[-1]["label"] is None


CITY = "SRID=4326;MULTIPOLYGON(((-80 43,-78 43,-78 45,-80 45,-80 43)))"


def removal(ref: str, source: str = "partner") -> bytes:
    return json.dumps({"source": source, "source_ref": ref, "status": "delisted"}).encode()


def states() -> dict[str, str]:
    with session_scope() as session:
        return dict(session.execute(select(Listing.source_ref, Listing.status)).all())


def city_region() -> int:
    with session_scope() as session:
        user, _ = create_user(session, "renter@example.com")
        region = Region(user_id=user.id, name="city", geom=CITY)
        session.add(region)
        session.flush()
        return region.id


def region_members(region_id: int) -> set[str]:
    with session_scope() as session:
        return set(
            session.scalars(
                select(Listing.source_ref)
                .join(RegionListing, RegionListing.listing_id == Listing.id)
                .where(RegionListing.region_id == region_id)
            )
        )


def alerts_queued() -> list[tuple[int, int]]:
    with session_scope() as session:
        return sorted(session.execute(select(Notification.region_id, Notification.listing_id)).all())


def test_a_removal_takes_the_listing_down_and_out_of_its_regions(zappa_stream, partner):
    region = city_region()
    listed = payloads(20)
    refs = [p["source_ref"] for p in listed]
    zappa_stream.handler(kinesis_event([json.dumps(p).encode() for p in listed]), LocalContext())
    assert region_members(region) == set(refs) and len(alerts_queued()) == 20
    alerts = alerts_queued()

    gone = refs[:3]
    batch = kinesis_event([removal(r) for r in gone] + [removal("never-sent")], first_sequence=2000)
    result = zappa_stream.handler(batch, LocalContext())
    assert result["batchItemFailures"] == [] and result["valid"] == 4 and result["poison"] == 0
    assert result["delisted"] == 3 and result["activated"] == 0 and result["published"] == 0
    assert states() == {r: "delisted" if r in gone else "active" for r in refs}  # "never-sent" not made
    assert region_members(region) == set(refs[3:])
    assert len(scores_published()) == 20  # a removal publishes no score

    again = zappa_stream.handler(batch, LocalContext())  # re-delivered: nothing left to take down
    assert again["batchItemFailures"] == [] and again["delisted"] == 0
    assert states() == {r: "delisted" if r in gone else "active" for r in refs}

    back = zappa_stream.handler(kinesis_event([json.dumps(listed[0]).encode()], 3000), LocalContext())
    assert back["activated"] == 1 and states()[gone[0]] == "active"
    assert region_members(region) == set(refs[3:]) | {gone[0]}
    assert alerts_queued() == alerts  # one alert per (region, listing), ever: no second one on its return


# what the stage never loads (models/__init__.py): GeoAlchemy2 and every table module but those of the
# tables it files poison into, blocked in its process so that importing any of them fails
NOT_LOADED = (
    "geoalchemy2",
    *sorted(set(models.TABLES.values()) - {"models.base", "models.source", "models.quarantine"}),
)


def test_the_stage_runs_without_geoalchemy2_and_the_listing_tables(zappa_stream, partner):
    """What its cold start leaves out (bench.stream) it never needs: a fresh process in which their
    import fails lists, ranks, files poison, takes down and queues alerts through Zappa's handler."""
    region = city_region()
    listed = payloads(12)
    refs = [p["source_ref"] for p in listed]
    zappa_stream.handler(kinesis_event([json.dumps(p).encode() for p in listed[:2]]), LocalContext())
    boto3.client("s3").create_bucket(Bucket="nook-data")  # the stage's own bucket (zappa_settings.json)
    datas = [json.dumps(p).encode() for p in listed[2:]] + [b"not json", removal(refs[0])]
    invoked = lambda_harness.invoke("stream", kinesis_event(datas, 2000), prelude=blocking(NOT_LOADED))
    result = invoked["result"]
    assert result["batchItemFailures"] == [] and result["valid"] == 11 and result["poison"] == 1
    assert result["activated"] == 10 and result["delisted"] == 1 and result["published"] == 10
    assert states() == {r: "delisted" if r == refs[0] else "active" for r in refs}
    assert region_members(region) == set(refs[1:]) and len(alerts_queued()) == 12
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(PriceRank)) == 12  # each one sent, ranked
        assert session.scalar(select(func.count()).select_from(QuarantinedRecord)) == 1
    letters = boto3.client("s3").list_objects_v2(Bucket="nook-data", Prefix=stream.DEAD_LETTER_PREFIX)
    assert letters["KeyCount"] == 1

    # the block holds: a stage that needed a blocked module would crash
    with pytest.raises(AssertionError, match="handler crashed"):
        lambda_harness.invoke(
            "stream", kinesis_event(datas, 3000), prelude="import sys; sys.modules['jobs.stream'] = None"
        )


def flat_and_its_copy(zappa_stream) -> tuple[int, dict]:
    """A renter's region, and a flat streamed in by the partner then by "mirror" (M-1, its copy)."""
    with session_scope() as session:
        session.add(Source(name="mirror", kind="stream", config={}))
    region = city_region()
    flat = payloads(1)[0]
    zappa_stream.handler(kinesis_event([json.dumps(flat).encode()]), LocalContext())
    copy = flat | {"source": "mirror", "source_ref": "M-1"}
    result = zappa_stream.handler(kinesis_event([json.dumps(copy).encode()], 2000), LocalContext())
    assert result["duplicates"] == 1 and region_members(region) == {flat["source_ref"]}
    return region, flat


@pytest.mark.parametrize("told", [True, False], ids=["alert-sent", "alert-not-sent-yet"])
def test_a_removed_listing_hands_its_place_to_its_duplicate(zappa_stream, partner, told):
    region, flat = flat_and_its_copy(zappa_stream)
    if told:  # the notify job ran before the flat's first listing was taken down
        with session_scope() as session:
            session.execute(update(Notification).values(status="sent"))

    result = zappa_stream.handler(kinesis_event([removal(flat["source_ref"])], 3000), LocalContext())
    assert result["delisted"] == 1 and result["promoted"] == 1
    with session_scope() as session:
        heir = session.scalars(select(Listing).where(Listing.source_ref == "M-1")).one()
        assert heir.canonical_id is None and heir.status == "active"
    assert region_members(region) == {"M-1"}
    # one alert of this flat, ever: told, the renter is not told again; not yet, the alert goes with the
    # flat to the copy still listed (the notify job would withdraw it with the listing that went)
    assert alerted() == ({flat["source_ref"]} if told else {"M-1"})


@pytest.mark.parametrize("post", ["failed", "answered"])
def test_a_removal_does_not_wait_for_an_alert_being_sent(
    zappa_stream, partner, receiver, poster, private_webhooks_allowed, post
):
    # the notify job holds the flat's alert while it posts it to a slow webhook: the removal hands the flat
    # to its copy without waiting; the copy gets an alert that waits for that post. Answered, the region
    # was told and the copy's alert is withdrawn; failed, the alert of the listing that went is withdrawn
    # when it is tried again, and the copy's goes in its place: the region hears of the flat once.
    from jobs import notify

    region, flat = flat_and_its_copy(zappa_stream)
    with session_scope() as session:
        session.scalars(select(User)).one().webhook_url = receiver.hook_url
    now = datetime.now(UTC)
    sending = models.session.get_sessionmaker()()
    try:
        (alert,) = sending.scalars(select(Notification).with_for_update()).all()  # as notify locks it
        with ThreadPoolExecutor(1) as pool:
            batch = kinesis_event([removal(flat["source_ref"])], 3000)
            removed = pool.submit(zappa_stream.handler, batch, LocalContext())
            try:
                result = removed.result(timeout=10)
            finally:  # the webhook answered, or not, as notify records it
                alert.attempts += 1
                if post == "answered":
                    alert.status, alert.sent_at = "sent", now
                else:
                    alert.next_attempt_at = now + notify.backoff(alert.attempts)
                sending.commit()
    finally:
        sending.close()
    assert result["batchItemFailures"] == [] and result["promoted"] == 1
    assert region_members(region) == {"M-1"} and alerted() == {flat["source_ref"], "M-1"}

    first = notify.notify_all(now, poster)  # the copy's alert waits while the flat's is queued
    assert first["sent"] == 0 and first["withdrawn"] == (1 if post == "answered" else 0)
    later = notify.notify_all(now + timedelta(minutes=2), poster)
    if post == "answered":
        assert later["sent"] == 0 and later["withdrawn"] == 0 and receiver.delivered == []
        assert alerted() == {flat["source_ref"]}  # the one sent stays in the renter's history
    else:
        assert later["sent"] == 1 and later["withdrawn"] == 1 and alerted() == {"M-1"}
        (request,) = receiver.delivered
        with session_scope() as session:
            heir = session.scalars(select(Listing.id).where(Listing.source_ref == "M-1")).one()
        assert [a["listing_id"] for a in request.json()["nook"]["notifications"]] == [heir]


def test_the_last_event_of_a_listing_in_a_batch_wins(zappa_stream, partner):
    up, down = payloads(2)
    zappa_stream.handler(kinesis_event([json.dumps(up).encode()]), LocalContext())
    batch = kinesis_event(
        [
            json.dumps(down).encode(),  # new, then taken back within the batch: never written
            removal(down["source_ref"]),
            removal(up["source_ref"]),  # taken down, then listed again: stays up
            json.dumps(up | {"price": up["price"] + 50}).encode(),
        ],
        first_sequence=2000,
    )
    result = zappa_stream.handler(batch, LocalContext())
    assert result["batchItemFailures"] == [] and result["valid"] == 4 and result["delisted"] == 0
    assert states() == {up["source_ref"]: "active"}
    published = scores_published()
    assert [m["source_ref"] for m in published] == [up["source_ref"]] * 2
    assert published[-1]["price"] == up["price"] + 50


def test_removals_that_cannot_be_applied_are_poison(zappa_stream, partner):
    datas = [
        json.dumps({"source": "partner", "status": "delisted"}).encode(),
        json.dumps(payloads(1)[0] | {"status": "rented"}).encode(),
        json.dumps({"source": "partner", "source_ref": "x", "status": 0}).encode(),
        json.dumps(payloads(1)[0] | {"status": " Active "}).encode(),  # a listing, however it is spelt
    ]
    result = zappa_stream.handler(kinesis_event(datas), LocalContext())
    assert result["poison"] == 3 and result["valid"] == 1 and result["activated"] == 1
    with session_scope() as session:
        reasons = sorted(session.scalars(select(QuarantinedRecord.reason)))
    assert reasons[0].startswith("source_ref: missing (sequence 1000)")
    assert reasons[1].startswith("status: '0' is neither 'active' nor 'delisted' (sequence 1002)")
    assert reasons[2].startswith("status: 'rented' is neither 'active' nor 'delisted' (sequence 1001)")


def test_a_dry_run_takes_nothing_down(zappa_stream, partner, setting):
    flat = payloads(1)[0]
    zappa_stream.handler(kinesis_event([json.dumps(flat).encode()]), LocalContext())
    setting("NOOK_STREAM_DRY_RUN", "true")
    result = zappa_stream.handler(kinesis_event([removal(flat["source_ref"])], 2000), LocalContext())
    assert result["dry_run"] is True and result["removals"] == 1
    assert states() == {flat["source_ref"]: "active"}


@pytest.mark.parametrize("copy_told", [False, True], ids=["neither-sent", "copy-sent-first"])
def test_copies_two_shards_write_at_the_same_time_count_once_after_the_next_recheck(
    zappa_stream, partner, receiver, poster, private_webhooks_allowed, copy_told
):
    # two partners send the same flat at once, on different shards (a Lambda each): neither transaction
    # sees the other's uncommitted copy, so both go live; the hourly recheck dedupes what went live lately
    from jobs import notify, recheck

    with session_scope() as session:
        session.add(Source(name="other", kind="stream", config={}))
    region = city_region()
    flat = payloads(1)[0]
    other_shard = models.session.get_sessionmaker()()  # its batch stored, not yet committed
    try:
        record = kinesis_event([json.dumps(flat | {"source": "other", "source_ref": "O-1"}).encode()])
        items = [stream.decode(0, record["Records"][0])]
        stream.resolve_sources(other_shard, items)
        stream.store(other_shard, items, datetime.now(UTC))
        result = zappa_stream.handler(kinesis_event([json.dumps(flat).encode()]), LocalContext())
        other_shard.commit()
    finally:
        other_shard.close()
    assert result["batchItemFailures"] == [] and result["duplicates"] == 0
    assert region_members(region) == {"O-1", flat["source_ref"]}
    assert alerted() == {"O-1", flat["source_ref"]}  # queued: the notify job has not run yet
    if copy_told:  # the alert of the copy (the newer listing) went out before the recheck
        with session_scope() as session:
            session.execute(
                update(Notification)
                .where(Notification.listing_id != items[0].listing_id)
                .values(status="sent", sent_at=datetime.now(UTC))
            )
    with session_scope() as session:
        swept = recheck.recheck(session, datetime.now(UTC), deadline=time.monotonic() - 1)  # no page checks
    with session_scope() as session:
        canonical = dict(session.execute(select(Listing.source_ref, Listing.canonical_id)).all())
    assert swept["copies_marked"] == 1
    assert canonical == {"O-1": None, flat["source_ref"]: items[0].listing_id}
    assert region_members(region) == {"O-1"}
    # the renter hears of the flat once: the notify job withdraws the copy's alert, or, if that one was
    # sent, the alert of the listing shown
    with session_scope() as session:
        session.scalars(select(User)).one().webhook_url = receiver.hook_url
    sent = notify.notify_all(datetime.now(UTC), poster)
    if copy_told:
        assert sent["sent"] == 0 and sent["withdrawn"] == 1 and receiver.delivered == []
        assert alerted() == {flat["source_ref"]}  # the one sent stays in the renter's history
    else:
        assert sent["sent"] == 1 and sent["withdrawn"] == 1 and alerted() == {"O-1"}
        (request,) = receiver.delivered
        assert [a["listing_id"] for a in request.json()["nook"]["notifications"]] == [items[0].listing_id]


def alerted() -> set[str]:
    with session_scope() as session:
        return set(
            session.scalars(
                select(Listing.source_ref).join(Notification, Notification.listing_id == Listing.id)
            )
        )


def test_a_price_cut_on_the_stream_alerts_the_regions_told_of_the_flat_again(zappa_stream, partner):
    city_region()
    flat, other = payloads(2)
    zappa_stream.handler(kinesis_event([json.dumps(p).encode() for p in (flat, other)]), LocalContext())
    with session_scope() as session:  # the notify job sent both
        session.execute(
            update(Notification).values(status="sent", sent_at=datetime(2026, 11, 30, tzinfo=UTC))
        )
    cut = flat | {"price": round(flat["price"] * 0.9)}
    nudged = other | {"price": other["price"] - 1}
    result = zappa_stream.handler(
        kinesis_event([json.dumps(p).encode() for p in (cut, nudged)], 2000), LocalContext()
    )
    assert result["batchItemFailures"] == [] and result["alerts"] == 1
    again = zappa_stream.handler(kinesis_event([json.dumps(cut).encode()], 3000), LocalContext())
    assert again["alerts"] == 0  # re-delivered: the price is what it was, nothing to tell
    with session_scope() as session:
        told = dict(
            session.execute(
                select(Listing.source_ref, Notification.reason + ":" + Notification.status).join(
                    Notification, Notification.listing_id == Listing.id
                )
            ).all()
        )
        assert told == {flat["source_ref"]: "price_cut:queued", other["source_ref"]: "new:sent"}
        assert (
            session.scalar(select(Listing.previous_price).where(Listing.source_ref == flat["source_ref"]))
            == flat["price"]
        )


def test_a_region_asking_for_low_prices_hears_only_of_the_flats_ranked_low(
    zappa_stream, partner, receiver, poster, private_webhooks_allowed
):
    # the stream places a listing before it stores its rank (the scoring runs alongside): the region's
    # alerts are queued as ever, and the notify job sends only those of flats ranked as the region asks
    from jobs import notify

    region_id = city_region()
    with session_scope() as session:
        session.get_one(Region, region_id).labels = ["low"]
        session.scalars(select(User)).one().webhook_url = receiver.hook_url
    result = zappa_stream.handler(
        kinesis_event([json.dumps(p).encode() for p in payloads(40, seed=4)]), LocalContext()
    )
    assert result["batchItemFailures"] == [] and result["alerts"] > 0
    with session_scope() as session:
        ranked = dict(
            session.execute(
                select(Notification.listing_id, PriceRank.label).outerjoin(
                    PriceRank, PriceRank.listing_id == Notification.listing_id
                )
            ).all()
        )
    low = {listing_id for listing_id, label in ranked.items() if label == "low"}
    assert low and len(low) < len(ranked) == result["alerts"]  # some ranked otherwise
    # the alert list shows only what will be sent
    with session_scope() as session:
        key = give_key(session.scalars(select(User)).one())
    from app import create_app

    listed = (
        create_app().test_client().get("/v1/alerts?limit=100", headers={"Authorization": f"Bearer {key}"})
    )
    assert {a["listing"]["id"] for a in listed.get_json()["items"]} == low
    sent = notify.notify_all(datetime.now(UTC), poster)
    assert (sent["sent"], sent["withdrawn"]) == (len(low), len(ranked) - len(low))
    told = {
        n["listing_id"] for request in receiver.delivered for n in request.json()["nook"]["notifications"]
    }
    assert told == low
