"""`flask stream put` and `flask stream tail` against moto's Kinesis: the local stand-ins for
`aws kinesis put-records` and `get-records | base64 --decode | jq`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from sqlalchemy import func, select

from jobs import cli
from jobs.cli import stream_group
from jobs.local import stream_io
from jobs.local.stream_io import MAX_CALL_BYTES, PutOutcome, Tail, calls, entries, put, read_shard, tail
from models.quarantine import QuarantinedRecord
from models.session import session_scope
from tests.jobs.test_stream import Throttling, aws, partner, payloads  # noqa: F401 - fixtures


@pytest.fixture
def kinesis(moto_endpoint):
    client = boto3.client("kinesis")
    client.create_stream(StreamName="listing_events", ShardCount=2)
    client.create_stream(StreamName="listing_scores", ShardCount=2)
    return client


def stream_records(client, name: str, only: int | None = None) -> list[dict]:
    """Everything on the stream (or on its `only`-th shard), each shard from its oldest record."""
    found = []
    shards = client.list_shards(StreamName=name)["Shards"]
    for shard in shards if only is None else shards[only : only + 1]:
        iterator = client.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        found += client.get_records(ShardIterator=iterator, Limit=10000)["Records"]
    return found


def event(n: int) -> bytes:
    return json.dumps({"source": "partner", "source_ref": f"P-{n}", "price": 1500 + n}).encode()


def publish(client, texts: list[bytes], stream: str = "listing_scores") -> None:
    """One record at a time, alternating partition keys so both shards take some, in this order."""
    for n, data in enumerate(texts):
        client.put_record(StreamName=stream, Data=data, PartitionKey=f"key-{n % 7}")


def test_put_sends_each_line_as_it_is(runner, kinesis, tmp_path):
    lines = [event(1), b"", event(2), b"{not json", event(3)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = runner.invoke(stream_group, ["put", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output == "sent 4 of 4 records to listing_events\n"
    sent = stream_records(kinesis, "listing_events")
    assert sorted(r["Data"] for r in sent) == sorted([event(1), event(2), b"{not json", event(3)])
    keys = {r["Data"]: r["PartitionKey"] for r in sent}
    assert keys[event(2)] == "partner:P-2"  # a listing's events stay on one shard, in order
    assert keys[b"{not json"] == "unparseable"  # sent anyway: the stage quarantines it with a reason


def test_put_reads_stdin_and_names_another_stream(runner, kinesis):
    result = runner.invoke(
        stream_group, ["put", "-", "--stream", "listing_scores"], input=event(7) + b"\r\n" + event(8)
    )
    assert result.exit_code == 0, result.output
    assert result.output == "sent 2 of 2 records to listing_scores\n"
    assert sorted(r["Data"] for r in stream_records(kinesis, "listing_scores")) == [event(7), event(8)]


def test_put_retries_only_the_entries_kinesis_turned_away(runner, kinesis, tmp_path, monkeypatch):
    throttled = Throttling(kinesis, throttle_every=3)
    monkeypatch.setattr(cli, "_kinesis", lambda: throttled)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(event(n) for n in range(10)))
    result = runner.invoke(stream_group, ["put", str(path)])
    assert result.exit_code == 0, result.output
    assert throttled.calls == [10, 4]  # entries 0, 3, 6 and 9 were throttled, then sent alone
    assert sorted(r["Data"] for r in stream_records(kinesis, "listing_events")) == sorted(
        event(n) for n in range(10)
    )


def test_put_names_the_lines_that_never_went_and_fails(runner, kinesis, tmp_path, monkeypatch):
    big = json.dumps({"source": "partner", "source_ref": "huge", "title": "x" * (1024 * 1024)}).encode()
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([event(1), big, event(3)]))
    result = runner.invoke(stream_group, ["put", str(path)])
    assert result.exit_code == 1
    assert "sent 2 of 3 records to listing_events" in result.stdout
    assert "line 2: 1,048,6" in result.stderr and "over Kinesis's 1 MiB record limit" in result.stderr
    assert sorted(r["Data"] for r in stream_records(kinesis, "listing_events")) == [event(1), event(3)]

    always = Throttling(kinesis, throttle_every=4, throttled_calls=100)
    waits: list[float] = []
    outcome = put(always, "listing_events", [event(n) for n in range(8)], PutOutcome(), sleep=waits.append)
    assert outcome.sent == 7 and outcome.lines == 8
    assert outcome.problems == [
        "line 1: not accepted after 6 tries (ProvisionedThroughputExceededException: slow down)"
    ]
    assert waits == [0.1, 0.2, 0.4, 0.8, 1.6]  # backoff between the six tries


def test_put_to_a_missing_stream_says_so(runner, kinesis, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(event(1))
    result = runner.invoke(stream_group, ["put", str(path), "--stream", "nowhere"])
    assert result.exit_code == 1
    assert "ResourceNotFoundException" in result.output and "0 records were sent before it" in result.output


def test_puts_keep_to_kinesis_call_limits():
    outcome = PutOutcome()
    many = entries((event(n) for n in range(1201)), outcome)
    assert [len(c) for c in calls(many)] == [500, 500, 201]
    large = entries([b"y" * (900 * 1024)] * 12, outcome)
    cut = list(calls(large))
    assert [len(c) for c in cut] == [5, 5, 2]
    assert all(sum(e.size for e in c) <= MAX_CALL_BYTES for c in cut)
    assert outcome.lines == 1213 and outcome.problems == []


def test_tail_prints_the_last_records_in_arrival_order(runner, kinesis):
    texts = [json.dumps({"n": n, "label": "typical"}).encode() for n in range(1, 15)] + [b"plain text"]
    publish(kinesis, texts)
    assert all(
        stream_records(kinesis, "listing_scores", shard) for shard in (0, 1)
    )  # the order to keep spans shards

    result = runner.invoke(stream_group, ["tail"])
    assert result.exit_code == 0, result.output
    expected = [json.dumps({"n": n, "label": "typical"}) for n in range(6, 15)] + ["plain text"]
    assert result.output.splitlines() == expected

    result = runner.invoke(stream_group, ["tail", "-n", "3"])
    assert result.output.splitlines() == expected[-3:]
    assert (
        runner.invoke(stream_group, ["tail", "--since", "5m", "-n", "2"]).output.splitlines() == expected[-2:]
    )
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert runner.invoke(stream_group, ["tail", "--since", later]).output == ""  # nothing arrived since
    assert runner.invoke(stream_group, ["tail", "-n", "0"]).output == ""
    result = runner.invoke(stream_group, ["tail", "--from-start"])
    assert (
        len(result.output.splitlines()) == 15
        and result.output.splitlines()[0] == '{"n": 1, "label": "typical"}'
    )
    assert runner.invoke(stream_group, ["tail", "-n", "-1"]).exit_code == 2


def test_tail_reads_past_a_page(runner, kinesis, monkeypatch):
    monkeypatch.setattr(stream_io, "PAGE", 50)
    records = [{"Data": json.dumps({"n": n}).encode(), "PartitionKey": "one"} for n in range(180)]
    kinesis.put_records(StreamName="listing_scores", Records=records)
    result = runner.invoke(stream_group, ["tail", "--from-start"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["n"] for line in result.output.splitlines()] == list(range(180))


class ReadThrottling:
    """A Kinesis client whose first GetRecords is turned away (five reads a second a shard)."""

    def __init__(self, real, code: str = "ProvisionedThroughputExceededException"):
        self.real, self.code, self.refused = real, code, 0

    def get_records(self, **kwargs):
        if not self.refused:
            self.refused += 1
            raise ClientError({"Error": {"Code": self.code, "Message": "Rate exceeded"}}, "GetRecords")
        return self.real.get_records(**kwargs)


def test_tail_waits_out_a_read_kinesis_turned_away(kinesis):
    publish(kinesis, [b'{"n": 1}', b'{"n": 2}'], stream="listing_events")
    iterators = [
        kinesis.get_shard_iterator(
            StreamName="listing_events", ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for s in kinesis.list_shards(StreamName="listing_events")["Shards"]
    ]
    found, waits = [], []
    for iterator in iterators:
        assert read_shard(ReadThrottling(kinesis), iterator, found, sleep=waits.append) is not None
    assert sorted(r["Data"] for r in found) == [b'{"n": 1}', b'{"n": 2}'] and waits == [1.0, 1.0]
    with pytest.raises(ClientError, match="ExpiredIteratorException"):
        read_shard(ReadThrottling(kinesis, "ExpiredIteratorException"), iterators[0], [], sleep=waits.append)


class Stop(Exception):
    pass


def test_tail_follows_what_arrives(kinesis):
    publish(kinesis, [b'{"n": 1}', b'{"n": 2}'])
    printed: list[str] = []
    arrivals = iter([[b'{"n": 3}', b'{"n": 4}', b'{"n": 5}'], [], [b'{"n": 6}']])

    def wait(seconds: float) -> None:
        assert seconds == 1.0
        more = next(arrivals, None)
        if more is None:
            raise Stop
        publish(kinesis, more)

    with pytest.raises(Stop):
        tail(Tail(kinesis, "listing_scores", lines=1), printed.append, follow=True, wait=wait)
    assert printed == ['{"n": 2}', '{"n": 3}', '{"n": 4}', '{"n": 5}', '{"n": 6}']

    printed.clear()
    arrivals = iter([[b'{"n": 7}']])
    with pytest.raises(Stop):
        tail(Tail(kinesis, "listing_scores", lines=0), printed.append, follow=True, wait=wait)
    assert printed == ['{"n": 7}']  # -n 0 -f: only what arrives from now on


def test_the_seeds_workflow_put_poll_tail(runner, partner, tmp_path):  # noqa: F811
    """`aws kinesis put-record`, Lambda, `get-records | base64 --decode | jq`: here three commands."""
    sent = payloads(12)
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([*(json.dumps(p) for p in sent), "garbage"]) + "\n")
    assert (
        runner.invoke(stream_group, ["put", str(path)]).stdout == "sent 13 of 13 records to listing_events\n"
    )
    polled = runner.invoke(stream_group, ["poll", "--once"])
    assert polled.exit_code == 0, polled.output
    assert json.loads(polled.stdout.splitlines()[-1]) == {"records": 13, "failed": 0}
    tailed = runner.invoke(stream_group, ["tail", "--from-start"])
    assert tailed.exit_code == 0, tailed.output
    scores = [json.loads(line) for line in tailed.stdout.splitlines()]
    assert sorted(s["source_ref"] for s in scores) == sorted(p["source_ref"] for p in sent)
    assert all(s["label"] in {"low", "typical", "high"} and s["p25"] <= s["p50"] <= s["p75"] for s in scores)
    with session_scope() as session:  # the garbage line is quarantined, not lost
        assert session.scalar(select(func.count()).select_from(QuarantinedRecord)) == 1
