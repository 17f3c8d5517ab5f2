"""Playing Lambda's part for the stream stage, locally.

Reads the stream's shards with shard iterators, hands each batch to the stage's
function (resolved from the event source mappings in zappa_settings.json, and
dispatched through Zappa's handler functions) as a Lambda-shaped Kinesis
event, and honours `batchItemFailures` by re-reading from the failed sequence
number — just as Lambda's event source mapping does.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jobs.local.lambda_context import LocalContext
from jobs.local.stream_io import shard_ids
from jobs.local.zappa_config import load_all, resolve_stage

log = logging.getLogger("nook.stream.poller")
Handler = Callable[[dict[str, Any], Any], Any]


def stream_source(stage: str = "stream") -> tuple[str, str, dict[str, Any]]:
    """(function, arn, event_source) of the stage's Kinesis event source."""
    settings = resolve_stage(stage, load_all())
    for event in settings.get("events", []):
        source = event.get("event_source") or {}
        if ":kinesis:" in source.get("arn", ""):
            return event["function"], source["arn"], source
    raise LookupError(f"stage {stage} has no Kinesis event source")


def zappa_handler(function: str) -> Handler:
    """Call `function` the way Zappa's handler does for a Records event."""
    from zappa.handler import LambdaHandler  # type: ignore[import-untyped]

    target = LambdaHandler.import_module_and_get_function(function)
    return lambda event, context: LambdaHandler.run_function(target, event, context)


def lambda_event(records: list[dict[str, Any]], shard: str, arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's Kinesis event source mapping delivers."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r["PartitionKey"],
                    "sequenceNumber": r["SequenceNumber"],
                    "data": base64.b64encode(r["Data"]).decode(),
                    "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard}:{r['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/nook-stream",
                "awsRegion": region,
                "eventSourceARN": arn,
            }
            for r in records
        ]
    }


@dataclass
class Poller:
    """A shard-iterator reader that invokes the handler like Lambda."""

    kinesis: Any
    stream: str
    arn: str
    handler: Handler
    batch_size: int = 100
    starting_position: str = "TRIM_HORIZON"
    region: str = "us-east-1"
    positions: dict[str, tuple[str, str]] = field(default_factory=dict)  # shard -> (iterator type, sequence)
    invocations: int = 0

    def _iterator(self, shard: str) -> str:
        kind, sequence = self.positions.get(shard, (self.starting_position, ""))
        kwargs = {"StartingSequenceNumber": sequence} if sequence else {}
        return self.kinesis.get_shard_iterator(
            StreamName=self.stream, ShardId=shard, ShardIteratorType=kind, **kwargs
        )["ShardIterator"]

    def poll_shard(self, shard: str) -> dict[str, int]:
        """One batch from one shard; returns what happened."""
        records = self.kinesis.get_records(ShardIterator=self._iterator(shard), Limit=self.batch_size)[
            "Records"
        ]
        if not records:
            return {"records": 0, "failed": 0}
        context = LocalContext(function_name="nook-stream", timeout_seconds=60)
        result = self.handler(lambda_event(records, shard, self.arn, self.region), context) or {}
        self.invocations += 1
        failures = [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]
        if failures:
            first = min(failures, key=int)
            self.positions[shard] = ("AT_SEQUENCE_NUMBER", first)  # Lambda retries from the failed record
            done = sum(1 for r in records if int(r["SequenceNumber"]) < int(first))
            return {"records": done, "failed": len(records) - done}
        self.positions[shard] = ("AFTER_SEQUENCE_NUMBER", records[-1]["SequenceNumber"])
        return {"records": len(records), "failed": 0}

    def poll_once(self) -> dict[str, int]:
        """One round over every shard."""
        totals = {"records": 0, "failed": 0}
        for shard in shard_ids(self.kinesis, self.stream):
            for key, value in self.poll_shard(shard).items():
                totals[key] += value
        return totals

    def drain(self, max_rounds: int = 100) -> dict[str, int]:
        """Poll until a round reads nothing new (or fails) — for tests and --once."""
        totals = {"records": 0, "failed": 0}
        for _ in range(max_rounds):
            result = self.poll_once()
            totals = {k: totals[k] + result[k] for k in totals}
            if result["records"] == 0 or result["failed"]:
                break
        return totals

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Poll until stopped; a failing round is logged and retried."""
        while not stop.is_set():
            try:
                result = self.poll_once()
            except Exception:
                log.exception("stream poll failed")
                result = {"records": 0, "failed": 1}
            if not result["records"]:
                stop.wait(interval)


def local_poller(kinesis: Any, stream: str | None = None) -> Poller:
    """A poller wired like the deployed stage: its function, its ARN, its batch size."""
    import os

    function, arn, source = stream_source()
    name = stream or os.environ.get("NOOK_LISTING_EVENTS_STREAM", "listing_events")
    return Poller(
        kinesis,
        name,
        arn,
        zappa_handler(function),
        batch_size=int(source.get("batch_size", 100)),
        starting_position=source.get("starting_position", "TRIM_HORIZON"),
    )
