"""The local poller plays Lambda: shard iterators, Lambda-shaped events, retry from batchItemFailures."""

from __future__ import annotations

import json

import boto3
from sqlalchemy import func, select

from jobs.local import stream_poller
from jobs.local.stream_poller import Poller, lambda_event
from models.listing import Listing
from models.session import session_scope
from tests.jobs.test_stream import ARN, aws, partner, payloads, scores_published  # noqa: F401 - fixtures


def put(datas):
    client = boto3.client("kinesis")
    for n, data in enumerate(datas):
        client.put_record(StreamName="listing_events", Data=data, PartitionKey=f"p{n}")


def test_events_look_like_lambdas(aws):  # noqa: F811
    put([b'{"a": 1}'])
    client = boto3.client("kinesis")
    shard = client.list_shards(StreamName="listing_events")["Shards"][0]["ShardId"]
    iterator = client.get_shard_iterator(
        StreamName="listing_events", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = client.get_records(ShardIterator=iterator)["Records"]
    (record,) = lambda_event(records, shard, ARN, "us-east-1")["Records"]
    assert record["eventSourceARN"] == ARN and record["eventSource"] == "aws:kinesis"
    assert record["kinesis"]["data"] == "eyJhIjogMX0=" and record["eventID"].startswith(shard)


def test_poller_drives_the_stage_function(partner):  # noqa: F811
    put([json.dumps(p).encode() for p in payloads(30)] + [b"garbage"])
    poller = stream_poller.local_poller(boto3.client("kinesis"))
    assert poller.arn == ARN and poller.batch_size == 500
    assert poller.drain() == {"records": 31, "failed": 0}
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Listing)) == 30
    assert len(scores_published()) == 30
    assert poller.drain() == {"records": 0, "failed": 0}  # checkpointed: nothing read twice


def test_batch_item_failures_are_retried_from_the_failed_record(aws):  # noqa: F811
    put([f"r{n}".encode() for n in range(10)])
    seen, fail_once = [], {"armed": True}

    def handler(event, context):
        datas = [r["kinesis"]["data"] for r in event["Records"]]
        seen.append(len(datas))
        if fail_once["armed"]:
            fail_once["armed"] = False
            return {
                "batchItemFailures": [{"itemIdentifier": event["Records"][6]["kinesis"]["sequenceNumber"]}]
            }
        return {"batchItemFailures": []}

    poller = Poller(boto3.client("kinesis"), "listing_events", ARN, handler, batch_size=100)
    assert poller.poll_once() == {"records": 6, "failed": 4}
    assert poller.poll_once() == {"records": 4, "failed": 0}  # re-read from record 6 on
    assert seen == [10, 4] and poller.poll_once() == {"records": 0, "failed": 0}
