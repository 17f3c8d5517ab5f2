"""The stream stage: records/s through the handler, and its cold start in a fresh process.

    .venv/bin/python -m bench.stream [--records 10000] [--market 100000] [--repeat 1]

Batches of 100 Lambda-shaped Kinesis records (2% poison) go through
jobs.stream.handle against local PostGIS and the moto S3/Kinesis emulator —
first delivery, then the same batches re-delivered — three times: into an empty
database, into an empty database without the poison (what the dead letters cost),
and into a market of --market listings with 1,000 regions (bench.api's: 100 users
x 10, analyzed), where each new listing lands in many regions and queues an alert
for each. Then the first delivery into an empty database in batches of 100, 250,
500 and 1,000 (what the stream mapping's batch_size buys). Cold start: a fresh
interpreter importing the handler module and loading a 100k-listing artifact from
a local directory (median of 9), beside the import of Zappa's handler module, which
Lambda makes before it.
Targets: >= 2,000 records/s per process; cold start <= 0.5 s.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.results import table, time_spent, write_section

ZAPPA = "import zappa.handler"
ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/listing_events"


def batches(records: int, size: int = 100, poison: float = 0.02) -> list[dict]:
    """Lambda-shaped events of partner listings (a share `poison` of them poison; the same listings
    whatever the share)."""
    from jobs.price_rank.demo_frame import market_frame

    rng = random.Random(5)
    frame = market_frame(records, seed=12)
    datas = []
    for r in frame.itertuples(index=False):
        if rng.random() < poison:
            datas.append(b"\x00 not a listing")
            continue
        datas.append(
            json.dumps(
                {
                    "source": "bench-partner",
                    "source_ref": f"B-{r.listing_id}",
                    "price": int(r.price),
                    "bedrooms": int(r.bedrooms),
                    "bathrooms": r.bathrooms,
                    "unit_type": r.unit_type,
                    "sqft": None if r.sqft != r.sqft else int(r.sqft),
                    "furnished": bool(r.furnished),
                    "latitude": r.latitude,
                    "longitude": r.longitude,
                }
            ).encode()
        )
    events = []
    for start in range(0, len(datas), size):
        events.append(
            {
                "Records": [
                    {
                        "kinesis": {
                            "sequenceNumber": str(10**20 + start + n),
                            "partitionKey": str(n),
                            "data": base64.b64encode(d).decode(),
                            "kinesisSchemaVersion": "1.0",
                        },
                        "eventSource": "aws:kinesis",
                        "eventID": f"shardId-000000000000:{10**20 + start + n}",
                        "eventSourceARN": ARN,
                        "awsRegion": "us-east-1",
                    }
                    for n, d in enumerate(datas[start : start + size])
                ]
            }
        )
    return events


# the steps of a batch timed on their way (module functions of jobs.stream, looked up when called); scoring
# and the dead letters run on threads alongside the database steps, PutRecords after the commit
STEPS = {
    "upsert_active": "listing upsert",
    "mark_duplicates": "duplicates",
    "match_regions": "placement + alerts",
    "store_ranks": "ranks",
    "quarantine": "quarantine",
    "score": "scoring (alongside)",
    "publish": "PutRecords (moto)",
}


# whose CPU a batch costs, in ms (cpu_seconds): the three share the host's cores
CPU = ("handler", "PostgreSQL", "moto")


def cpu_seconds(pids: dict[str, int] | None = None) -> dict[str, float]:
    """CPU seconds spent so far (user + system) by the handler (this process, all its threads), the local
    PostgreSQL (the postmaster, the backends it runs and those it has reaped) and the local moto server
    (`pids`: the services' "postgres" and "moto", by default), as /proc tells them."""
    from jobs.local.services import server_pids

    def times(pid: int) -> tuple[int, list[int]]:
        """(ppid, [utime, stime, cutime, cstime]) in clock ticks."""
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), [int(f) for f in fields[11:15]]

    tick = os.sysconf("SC_CLK_TCK")
    spent = {"handler": time.process_time()}
    pids = server_pids() if pids is None else pids
    if "moto" in pids:
        spent["moto"] = sum(times(pids["moto"])[1][:2]) / tick
    if "postgres" in pids:
        postmaster = pids["postgres"]
        ticks = sum(times(postmaster)[1])  # its own and its reaped children's
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid, used = times(int(entry.name))
                except (OSError, IndexError, ValueError):  # gone meanwhile
                    continue
                if ppid == postmaster:
                    ticks += sum(used[:2])
        spent["PostgreSQL"] = ticks / tick
    return spent


def throughput(events: list[dict]) -> tuple[float, dict[str, float], int, int, int]:
    """Seconds for all events through the handler, the seconds spent in each of STEPS, and the valid and
    poison records seen and the alerts queued."""
    from jobs import stream
    from jobs.local.lambda_context import LocalContext

    valid = poison = alerts = 0
    with time_spent(stream, list(STEPS)) as spent:
        started = time.perf_counter()
        for event in events:
            result = stream.handle(event, LocalContext())
            assert result["batchItemFailures"] == [], result
            valid, poison = valid + result["valid"], poison + result["poison"]
            alerts += result.get("alerts", 0)
        return time.perf_counter() - started, spent, valid, poison, alerts


def cold_start(artifact: Path, runs: int = 9) -> tuple[float, float]:
    """Median seconds: handler import + artifact load, and Zappa's handler module, each in a fresh process."""
    probe = (
        "import time; t = time.perf_counter(); import jobs.stream; from models.pricing import PriceModel; "
        f"PriceModel.load({str(artifact)!r}); print(time.perf_counter() - t)"
    )
    zappa = f"import time; t = time.perf_counter(); {ZAPPA}; print(time.perf_counter() - t)"

    def median(code: str) -> float:
        return statistics.median(
            float(
                subprocess.run(
                    [sys.executable, "-c", code], check=True, capture_output=True, text=True
                ).stdout
            )
            for _ in range(runs)
        )

    return median(probe), median(zappa)


def fresh_scores_stream(name: str) -> None:
    """An empty listing_scores stream: every pass starts from the same stream. (moto itself numbered each
    record by listing every key of its shard, so its PutRecords slowed with every record the stream held;
    the services' moto reads the shard's ends instead: jobs/local/moto_server.py.)"""
    import boto3

    from jobs.local.services import SCORES_SHARDS

    kinesis = boto3.client("kinesis")
    kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    kinesis.get_waiter("stream_not_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    kinesis.create_stream(StreamName=name, ShardCount=SCORES_SHARDS)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})


def passes(events: list[dict], database: str, steps: list[dict]) -> list[dict]:
    """First delivery and re-delivery of every event; a table row each (and one onto `steps`: ms a
    batch in each step)."""
    from models.settings import get_settings

    rows = []
    for label in ("first delivery", "re-delivery (all unchanged)"):
        fresh_scores_stream(get_settings().listing_scores_stream)
        before = cpu_seconds()
        seconds, spent, valid, poison, alerts = throughput(events)
        after = cpu_seconds()
        used = {name: after[name] - start for name, start in before.items() if name in after}
        aws = spent["publish"]
        steps.append(
            {"database": database, "pass": label}
            | {STEPS[name]: f"{spent[name] / len(events) * 1000:.1f}" for name in STEPS}
            | {"whole batch": f"{seconds / len(events) * 1000:.1f}"}
            | {
                f"CPU: {name}": f"{used[name] / len(events) * 1000:.1f}" if name in used else "—"
                for name in CPU
            }
        )
        total = valid + poison
        rate, own = total / seconds, total / (seconds - aws)
        print(
            f"{database:34} {label:28} {total:,} records ({poison} poison, {alerts:,} alerts) in "
            f"{seconds:.2f}s = {rate:,.0f} records/s ({aws:.2f}s in PutRecords (moto); without it "
            f"{own:,.0f} records/s)\n    ms a batch: "
            + ", ".join(f"{key} {value}" for key, value in list(steps[-1].items())[2:])
        )
        rows.append(
            {
                "database": database,
                "pass": label,
                "records": f"{total:,}",
                "poison": poison,
                "alerts queued": f"{alerts:,}",
                "seconds": f"{seconds:.2f}",
                "records/s": f"{rate:,.0f}",
                "in PutRecords (moto) s": f"{aws:.2f}",
                "records/s without them": f"{own:,.0f}",
            }
        )
    return rows


def placement(batches: int = 20) -> tuple[float, float]:
    """Median ms and pairs of placing a batch of 100 of the streamed listings in their regions again, as
    new (their memberships and alerts removed first, all rolled back): the statement a market's first
    delivery spends most of its time in."""
    from datetime import UTC, datetime

    from sqlalchemy import select, text

    from models.listing import Listing
    from models.matching import match_regions
    from models.session import session_scope
    from models.source import Source

    times, pairs = [], []
    with session_scope() as session:
        ids = list(
            session.scalars(
                select(Listing.id)
                .join(Source, Source.id == Listing.source_id)
                .where(Source.name == "bench-partner", Listing.canonical_id.is_(None))
                .order_by(Listing.id)
                .limit(100 * batches)
            )
        )
        for start in range(0, len(ids), 100):
            batch = ids[start : start + 100]
            for table_name in ("region_listings", "notifications"):
                session.execute(
                    text(f"DELETE FROM {table_name} WHERE listing_id = ANY(:ids)"), {"ids": batch}
                )
            began = time.perf_counter()
            pairs.append(match_regions(session, batch, datetime.now(UTC)))
            times.append(time.perf_counter() - began)
        session.rollback()
    return statistics.median(times) * 1000, statistics.median(pairs)


def fresh_database(market: int, artifact: Path | None) -> Path | None:
    """A scratch database (holding `market` listings and bench.api's 1,000 regions, if any), the local
    AWS resources and the 100k-listing model activated; the artifact, made once."""
    from bench.api import load
    from bench.db import current_model, scratch_database
    from jobs.local.services import bootstrap_aws, local_environment

    scratch_database("nook_bench_stream")
    logs_aside()
    if market:
        print(f"loading {market:,} listings and 1,000 regions ...", flush=True)
        load(market, random.Random(7))
    bootstrap_aws(local_environment())
    return current_model(100_000, "bench-stream", sources=("bench-partner",), artifact=artifact)


# batch sizes measured beside the target's 100: the stream mapping's batch_size (zappa_settings.json)
SIZES = (100, 250, 500, 1000)


def by_batch_size(records: int, artifact: Path | None, rates: dict[int, list[float]]) -> Path | None:
    """Records/s of a first delivery into an empty database (about 2% poison) in batches of each of
    SIZES, onto `rates`; the artifact, made once."""
    from models.settings import get_settings

    for size in SIZES:
        events = batches(records, size=size, poison=0.02)
        artifact = fresh_database(0, artifact)
        fresh_scores_stream(get_settings().listing_scores_stream)
        seconds, _, valid, poison, _ = throughput(events)
        rates.setdefault(size, []).append((valid + poison) / seconds)
        print(f"batches of {size:5}: {(valid + poison) / seconds:,.0f} records/s", flush=True)
    return artifact


def over_rounds(rounds: list[list[dict]]) -> list[dict]:
    """The last round's rows, their rates the median of every round's with the range beside it."""
    rows = [dict(row) for row in rounds[-1]]
    if len(rounds) == 1:
        return rows
    for n, row in enumerate(rows):
        for column in ("records/s", "records/s without them"):
            rates = sorted(int(r[n][column].replace(",", "")) for r in rounds)
            row[column] = f"{statistics.median(rates):,.0f} ({rates[0]:,}-{rates[-1]:,})"
    return rows


def logs_aside() -> None:
    """The handler logs a JSON line a batch to stdout, as it does in Lambda; here the lines are still
    formatted and written, to /dev/null, so that 200 passes' worth do not bury the figures."""
    import logging

    from models.logs import configure_logging
    from models.settings import get_settings

    for handler in configure_logging(get_settings().log_level).handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream.name != os.devnull:
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - for the life of the process


def main() -> None:
    """Set up, measure, record."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--market", type=int, default=100_000)
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of every scenario: records/s as median and range"
    )
    args = parser.parse_args()
    market_label = f"{args.market:,} listings, 1,000 regions"
    rounds, artifact, size_rates = [], None, {}
    for round_ in range(1, args.repeat + 1):
        if args.repeat > 1:
            print(f"round {round_} of {args.repeat}", flush=True)
        rows, steps = [], []
        for database, market, poison in (
            ("empty", 0, 0.02),
            ("empty, no poison", 0, 0.0),
            (market_label, args.market, 0.02),
        ):
            events = batches(args.records, poison=poison)
            artifact = fresh_database(market, artifact)
            rows += passes(events, database, steps)
        rounds.append(rows)
    rows = over_rounds(rounds)
    place_ms, pairs = placement()  # in the last market loaded, before the batch sizes' databases
    for _ in range(args.repeat):
        artifact = by_batch_size(args.records, artifact, size_rates)
    print(f"placing 100 new listings in the market's regions: {place_ms:.1f} ms for {pairs:,.0f} alerts")
    market_first = next(row for row in rows if row["database"] == market_label)
    fan_out = int(market_first["alerts queued"].replace(",", "")) / (
        int(market_first["records"].replace(",", "")) - market_first["poison"]
    )
    handler, zappa = cold_start(artifact)
    print(f"cold start: import + 100k artifact load {handler:.3f}s (before it, {ZAPPA}: {zappa:.3f}s)")
    sizes = [
        {
            "batch size": f"{size:,}",
            "records/s": f"{statistics.median(rates):,.0f}"
            + (f" ({min(rates):,.0f}-{max(rates):,.0f})" if len(rates) > 1 else ""),
        }
        for size, rates in size_rates.items()
    ]
    write_section(
        "stream",
        "`python -m bench.stream` — batches of 100 Lambda-shaped Kinesis records (about 2% poison) "
        "through `jobs.stream.handle` in one process, against local PostGIS and moto (S3 dead letters, "
        "PutRecords to listing_scores), with a 100k-listing model loaded; into an empty database, the same "
        "listings without the poison into another, and into "
        f"a market of {args.market:,} listings with bench.api's 1,000 regions (100 users x 10, analyzed), "
        "where each new listing lands in many regions and queues an alert for each."
        + (
            f" {args.repeat} rounds of it all: records/s are the median of the rounds (their range beside"
            " it); the other columns and the second table are the last round's."
            if args.repeat > 1
            else ""
        )
        + "\n\n"
        + table(rows)
        + "\n\nWhere a batch goes, ms per batch of 100 (scoring runs on a thread alongside the database"
        " steps, so it counts only where it ends after them; PutRecords waits for the commit), and the CPU"
        " a batch cost each process, ms (/proc, user + system): the handler's (every thread: decoding,"
        " scoring, botocore), PostgreSQL's backends' and moto's. The three share the host's two cores: a"
        " batch cannot take less than half their sum:\n\n"
        + table(steps)
        + "\n\nBatch size: the first delivery into an empty database (about 2% poison) in batches of each"
        " size, one after the other, once a round"
        + (f" (median of {args.repeat}, range beside it)" if args.repeat > 1 else "")
        + ". A batch's statements, round trips and AWS calls cost the same whatever its size, so larger"
        " batches spread them over more records; from 500 on, scoring on its thread is what a batch"
        " waits for. The stream mapping (zappa_settings.json) takes batches of up to 500 (Lambda's"
        " default is 100): Lambda fills a batch only while records wait, so a quiet shard still sends"
        " each within the 1 s batching window, and a busy one catches up faster.\n\n"
        + table(sizes)
        + f"\n\nCold start in a fresh interpreter (median of 9): import of the handler module + loading the "
        f"100k-listing artifact from a local directory **{handler:.3f} s**. The stage loads no GeoAlchemy2 "
        "and none of the tables but the quarantine's and the sources' (models/__init__.py): 0.15-0.2 s "
        "less, measured. Lambda imports Zappa's handler module (boto3 with it, which the stage's first "
        f"batch needs anyway) before it, in every stage: {zappa:.3f} s."
        "\n\nScoring (annoy releases the GIL) starts on a thread as soon as a batch is decoded, with the "
        "model of the container's last batch (scored again if the database names another; the first batch"
        " of the first pass also loads the artifact), and the S3 dead letters are written on threads "
        "alongside the database work; PutRecords waits for the commit (a published listing_id must "
        "exist), so it is the one AWS call on the handler's path. listing_scores has two shards (Kinesis "
        "takes 1,000 records/s a shard). moto 5.2 numbers every record it is sent by listing all the keys "
        "of its shard, so its PutRecords slowed as the stream filled (100 records onto two shards: 13 ms of "
        "moto's CPU over the first 5,000 records, 28 ms at 15,000-20,000); the services run moto with that "
        "look-up reading the shard's ends (jobs/local/moto_server.py), flat at 7-9 ms, as real Kinesis "
        "does not slow with a full stream. Each pass still starts from an empty listing_scores stream. "
        "The first table's last column is the handler's own rate (decode, score, store, match, dead letters) "
        "without PutRecords. Each poison record costs an S3 PutObject (one object a record, so a retry "
        "writes no duplicate): the CPU columns of the first deliveries with and without the poison say "
        "what its letters cost the handler and moto, on the two cores that also run the scoring and "
        "PostgreSQL; hence the rows without poison."
        "\n\nIn the market a new listing lands in "
        + f"{fan_out:.1f}"
        + " of the 1,000 regions on average, and the placement statement writes a region_listings row and"
        " a queued notification for each (five index entries and two foreign-key checks for the"
        " membership, five and two for the alert): that statement is most of a first delivery there."
        f" Placing 100 of the streamed listings again as new (median of 20 batches, rolled back) takes"
        f" {place_ms:.1f} ms for {pairs:,.0f} alerts. A re-delivery changes no listing, so it matches"
        " nothing again."
        "\n\nTargets: ≥ 2,000 records/s per process; cold start ≤ 0.5 s.",
    )


if __name__ == "__main__":
    main()
