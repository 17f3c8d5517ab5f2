"""`flask stream put` and `flask stream tail`: the local stand-ins for the seeds'
`aws kinesis put-record` and `get-records | base64 --decode | jq`.

Put keeps to Kinesis's limits (a record's data and partition key within 1 MiB, a
PutRecords call within 500 records and 5 MiB), retries only the entries Kinesis
turned away (throttling) and says which lines never went. Tail reads every shard
until it has caught up with the newest record, and with --follow keeps reading.
"""

from __future__ import annotations

import heapq
import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from models.quarantine import RAW_KEPT, stream_bytes

MAX_RECORD_BYTES = 1024 * 1024  # data plus partition key
MAX_CALL_RECORDS = 500
MAX_CALL_BYTES = 5 * 1024 * 1024
PUT_ATTEMPTS = 6
PAGE = 1000


@dataclass
class PutOutcome:
    """What a put did; `problems` name every record that was not sent (by its line), and why."""

    lines: int = 0
    sent: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Entry:
    where: str  # "line 7" (or what the caller calls its records)
    record: dict[str, Any]

    @property
    def size(self) -> int:
        return len(self.record["Data"]) + len(self.record["PartitionKey"].encode())


def partition_key(line: bytes) -> str:
    """The listing's source and source_ref, so one listing's events stay in order on one shard."""
    try:
        payload = json.loads(line)
        return f"{payload.get('source')}:{payload.get('source_ref')}"[:256]
    except (ValueError, AttributeError):
        return "unparseable"


def at_line(number: int) -> str:
    return f"line {number}"


def entries(
    lines: Iterable[bytes], outcome: PutOutcome, where: Callable[[int], str] = at_line
) -> Iterator[Entry]:
    """One record per non-blank line, bytes as they are, read as they are sent (a file of any size); a
    line over Kinesis's record limit is refused."""
    for number, raw in enumerate(lines, start=1):
        data = raw.rstrip(b"\r\n")
        if not data.strip():
            continue
        outcome.lines += 1
        entry = Entry(where(number), {"Data": data, "PartitionKey": partition_key(data)})
        if entry.size > MAX_RECORD_BYTES:
            outcome.problems.append(f"{entry.where}: {entry.size:,} bytes, over Kinesis's 1 MiB record limit")
        else:
            yield entry


def calls(found: Iterable[Entry]) -> Iterator[list[Entry]]:
    """The entries cut into PutRecords calls of at most 500 records and 5 MiB."""
    call: list[Entry] = []
    size = 0
    for entry in found:
        if call and (len(call) == MAX_CALL_RECORDS or size + entry.size > MAX_CALL_BYTES):
            yield call
            call, size = [], 0
        call.append(entry)
        size += entry.size
    if call:
        yield call


def put(
    client: Any,
    stream: str,
    lines: Iterable[bytes],
    outcome: PutOutcome,
    sleep: Callable[[float], None] = time.sleep,
    where: Callable[[int], str] = at_line,
) -> PutOutcome:
    """Send the lines; entries Kinesis turns away are retried alone, with backoff, up to six times.

    `outcome` is filled as it goes, so a caller that catches an error still knows what was sent."""
    for call in calls(entries(lines, outcome, where)):
        pending = call
        errors: dict[str, str] = {}
        for attempt in range(PUT_ATTEMPTS):
            if attempt:
                sleep(min(2.0, 0.1 * 2 ** (attempt - 1)))
            response = client.put_records(StreamName=stream, Records=[e.record for e in pending])
            failed = []
            for entry, result in zip(pending, response["Records"], strict=True):
                if result.get("ErrorCode"):
                    failed.append(entry)
                    errors[entry.where] = f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}".strip()
            outcome.sent += len(pending) - len(failed)
            pending = failed
            if not pending:
                break
        outcome.problems.extend(
            f"{e.where}: not accepted after {PUT_ATTEMPTS} tries ({errors[e.where]})" for e in pending
        )
    return outcome


def replayable(
    found: list[tuple[int, str | None]], asked: Iterable[int], outcome: PutOutcome
) -> tuple[list[bytes], list[str]]:
    """The bytes of each quarantined stream record (id, base64 data as Kinesis delivered it) that can be
    sent again, and their names; those that cannot, and ids asked for but not found, go to `problems`."""
    datas, names = [], []
    ids = {rid for rid, _ in found}
    for rid in dict.fromkeys(asked):
        if rid not in ids:
            outcome.lines += 1
            outcome.problems.append(f"record {rid}: no record of the stream's in quarantine")
    for rid, raw in found:
        data = stream_bytes(raw)
        if data is not None and data.strip():
            datas.append(data)
            names.append(f"record {rid}")
            continue
        outcome.lines += 1
        outcome.problems.append(
            f"record {rid}: nothing whole to send (the table keeps {RAW_KEPT:,} characters of the base64 "
            "data Kinesis delivered; its dead letter in the bucket keeps all of it)"
        )
    return datas, names


def decoded(data: bytes) -> str:
    """A record's data as one line of JSON, or as text when it is not JSON."""
    try:
        return json.dumps(json.loads(data))
    except ValueError:
        return data.decode("utf-8", "replace")


def shard_ids(client: Any, stream: str) -> list[str]:
    shards: list[str] = []
    request: dict[str, Any] = {"StreamName": stream}
    while True:
        page = client.list_shards(**request)
        shards += [s["ShardId"] for s in page["Shards"]]
        if not page.get("NextToken"):
            return shards
        request = {"NextToken": page["NextToken"]}


def read_shard(
    client: Any, iterator: str, found: list[Any] | deque[Any], sleep: Callable[[float], None] = time.sleep
) -> str | None:
    """Every record from `iterator` up to the newest, onto `found`; returns where to go on from (None:
    the shard is closed). A page can come back empty while records remain (Kinesis steps through empty
    stretches), so the shard counts as read only when a page is empty and nothing lies behind it. Kinesis
    serves five reads a second a shard: a read it turns away is tried again a second later."""
    while True:
        try:
            page = client.get_records(ShardIterator=iterator, Limit=PAGE)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ProvisionedThroughputExceededException":
                raise
            sleep(1.0)
            continue
        found.extend(page["Records"])
        following = page.get("NextShardIterator")
        if following is None or (not page["Records"] and page.get("MillisBehindLatest", 0) == 0):
            return following
        iterator = following


@dataclass
class Tail:
    """Reads a stream's shards the way `tail` reads a file: the last `lines` records (all of them with
    `from_start`), then, when followed, each record as it arrives. Records of different shards are
    put in their order of arrival."""

    client: Any
    stream: str
    lines: int = 10
    from_start: bool = False
    since: datetime | None = None  # how far back the last `lines` are looked for (default: an hour)
    iterators: dict[str, str | None] = field(default_factory=dict)

    def start(self) -> list[str]:
        """The records already there that the reader asked for, oldest first."""
        if self.from_start:
            position: dict[str, Any] = {"ShardIteratorType": "TRIM_HORIZON"}
        elif self.lines:
            since = self.since or datetime.now(UTC) - timedelta(hours=1)
            position = {"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": since}
        else:
            position = {"ShardIteratorType": "LATEST"}
        self.iterators = {
            shard: self.client.get_shard_iterator(StreamName=self.stream, ShardId=shard, **position)[
                "ShardIterator"
            ]
            for shard in shard_ids(self.client, self.stream)
        }
        if self.from_start:
            return self.read()
        return self.read(last=self.lines) if self.lines else []

    def read(self, last: int | None = None) -> list[str]:
        """What has arrived on the open shards since the last read (only the `last` newest of it), oldest
        first. The last n of the stream are among the last n of each shard: no more are kept or decoded."""
        shards: list[deque[dict[str, Any]]] = []
        for shard, iterator in self.iterators.items():
            if iterator is not None:
                shards.append(deque(maxlen=last))
                self.iterators[shard] = read_shard(self.client, iterator, shards[-1])
        # merged by arrival, each shard's records staying in their order
        merged = list(heapq.merge(*shards, key=lambda r: r["ApproximateArrivalTimestamp"]))
        return [decoded(r["Data"]) for r in (merged[-last:] if last else merged)]

    @property
    def closed(self) -> bool:
        return all(i is None for i in self.iterators.values())


def tail(
    reader: Tail,
    emit: Callable[[str], None],
    follow: bool = False,
    wait: Callable[[float], None] = time.sleep,
    interval: float = 1.0,
) -> None:
    """Print the records the reader starts with; with `follow`, go on printing what arrives, every
    `interval` seconds, until interrupted or every shard has closed."""
    for text in reader.start():
        emit(text)
    while follow and not reader.closed:
        wait(interval)
        for text in reader.read():
            emit(text)
