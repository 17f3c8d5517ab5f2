"""`flask quarantine list` and `show`: what nook refused, and why, without SQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
from sqlalchemy import func, select, update

from jobs import stream
from jobs.cli import quarantine_group
from jobs.local import stream_poller
from jobs.local.lambda_context import LocalContext
from models.listing import Listing
from models.quarantine import BadRecord, QuarantinedRecord, quarantine
from models.session import session_scope
from models.source import Source
from tests.jobs.test_stream import aws, kinesis_event, partner, payloads  # noqa: F401 - fixtures


def file_some() -> dict[str, int]:
    """Two feed records filed by ingest and process, and two poison records from a stream batch through
    the stage's handler (one names the partner, one is not even base64), that one three days old."""
    with session_scope() as session:
        feed = Source(name="feed", kind="json_feed", config={"url": "http://unused"})
        session.add(feed)
        session.flush()
        quarantine(
            session,
            [
                BadRecord("ingest", "price: not a number", feed.id, "F-1", {"price": "lots"}),
                BadRecord("process", "latitude outside the city", feed.id, "F-2", {"latitude": 12.0}),
            ],
        )
    listing = payloads(1)[0]
    event = kinesis_event([json.dumps(dict(listing, source_ref="P-bad", bedrooms=99)).encode(), b""])
    event["Records"][1]["kinesis"]["data"] = "%%% not base64"
    result = stream.handle(event, LocalContext())
    assert result["batchItemFailures"] == [] and result["poison"] == 2
    with session_scope() as session:
        session.execute(
            update(QuarantinedRecord)
            .where(QuarantinedRecord.reason.startswith("data"))
            .values(created_at=datetime.now(UTC) - timedelta(days=3))
        )
        return {r.source_ref or r.reason[:4]: r.id for r in session.scalars(select(QuarantinedRecord))}


def test_list_counts_by_stage_and_shows_the_newest_with_reasons(runner, partner):  # noqa: F811
    file_some()
    result = runner.invoke(quarantine_group, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "4 quarantined (ingest 1, process 1, stream 2); the newest 4:"
    assert "data is not base64-encoded" in lines[-1]  # three days old: last
    (refused,) = [line for line in lines if "P-bad" in line]
    assert " stream " in refused and " partner " in refused and "bedrooms" in refused
    assert refused.endswith("(sequence 1000)")

    result = runner.invoke(quarantine_group, ["list", "--stage", "stream", "--limit", "1"])
    assert result.output.splitlines()[0] == "2 quarantined (stream 2); the newest 1:"
    assert len(result.output.splitlines()) == 2
    assert runner.invoke(quarantine_group, ["list", "--source", "feed"]).output.startswith(
        "2 quarantined (ingest 1, process 1)"
    )
    assert runner.invoke(quarantine_group, ["list", "--source", "partner"]).output.startswith(
        "1 quarantined (stream 1)"
    )
    assert runner.invoke(quarantine_group, ["list", "--since", "24h"]).output.startswith("3 quarantined")
    since = (datetime.now(UTC) - timedelta(days=4)).date().isoformat()
    assert runner.invoke(quarantine_group, ["list", "--since", since]).output.startswith("4 quarantined")
    assert runner.invoke(quarantine_group, ["list", "--source", "nobody"]).output == "0 quarantined\n"


def test_list_refuses_a_since_it_cannot_read(runner, committed):
    result = runner.invoke(quarantine_group, ["list", "--since", "yesterday"])
    assert result.exit_code == 2 and "give 90m, 24h, 7d, or a date" in result.output
    assert runner.invoke(quarantine_group, ["list", "--limit", "0"]).exit_code == 2


def test_show_gives_everything_kept_and_decodes_stream_bytes(runner, partner):  # noqa: F811
    ids = file_some()
    shown = json.loads(runner.invoke(quarantine_group, ["show", str(ids["P-bad"])]).output)
    assert shown["stage"] == "stream" and shown["source"] == "partner" and "bedrooms" in shown["reason"]
    assert json.loads(shown["data"])["bedrooms"] == 99  # the bytes the partner sent, readable
    garbage = json.loads(runner.invoke(quarantine_group, ["show", str(ids["data"])]).output)
    assert garbage["data"] is None and garbage["raw"] == "%%% not base64"
    feed = json.loads(runner.invoke(quarantine_group, ["show", str(ids["F-1"])]).output)
    assert feed["source"] == "feed" and feed["payload"] == {"price": "lots"} and "data" not in feed

    missing = runner.invoke(quarantine_group, ["show", "999999"])
    assert missing.exit_code == 1 and "no quarantined record 999999" in missing.output


def test_replay_sends_the_partners_bytes_again_after_a_fix(runner, partner):  # noqa: F811
    """A partner nook did not know yet: its records are refused; once it is registered, a replay brings
    them in, and a record that still fails stays filed once."""
    late, still_bad = payloads(2, seed=4)
    late = dict(late, source="late-partner")
    still_bad = dict(still_bad, bedrooms=99)
    event = kinesis_event([json.dumps(late).encode(), json.dumps(still_bad).encode(), b""])
    event["Records"][2]["kinesis"]["data"] = "%%% not base64"
    assert stream.handle(event, LocalContext())["poison"] == 3
    with session_scope() as session:
        ids = {r.source_ref or "garbage": r.id for r in session.scalars(select(QuarantinedRecord))}
        assert (
            "unknown source 'late-partner'" in session.get(QuarantinedRecord, ids[late["source_ref"]]).reason
        )
        session.add(Source(name="late-partner", kind="stream", config={}))

    assert runner.invoke(quarantine_group, ["replay"]).exit_code == 2  # which records?
    wanted = [ids[late["source_ref"]], ids[still_bad["source_ref"]], ids["garbage"], 999999]
    result = runner.invoke(quarantine_group, ["replay", *map(str, wanted)])
    assert result.exit_code == 1, result.output
    assert result.stdout == "replayed 2 of 4 records to listing_events\n"
    assert "record 999999: no record of the stream's in quarantine" in result.stderr
    assert f"record {ids['garbage']}: nothing whole to send" in result.stderr

    assert stream_poller.local_poller(boto3.client("kinesis")).drain() == {"records": 2, "failed": 0}
    with session_scope() as session:
        arrived = session.scalars(select(Listing).where(Listing.source_ref == late["source_ref"])).one()
        assert arrived.status == "active" and arrived.price == late["price"]
        assert session.scalar(select(func.count()).select_from(QuarantinedRecord)) == 3  # nothing filed twice
    assert runner.invoke(quarantine_group, ["replay", "--source", "partner"]).stdout.startswith(
        "replayed 1 of 1 records"
    )
