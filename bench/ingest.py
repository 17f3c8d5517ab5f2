"""Ingest + process N demo listings into PostGIS, against a naive row-by-row ORM loop.

    .venv/bin/python -m bench.ingest [--n 100000] [--page 1000] [--no-baseline]

Prints listings/s and peak memory for: the bulk ingest (INSERT ... ON CONFLICT per
page), a second ingest of the same records (all unchanged), process (normalise,
geometry, dedupe, region matching), and the naive loop (one SELECT + INSERT/UPDATE
per record through the ORM). Writes the figures to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bench.db import scratch_database
from bench.results import table, write_section


def demo_records(n: int) -> list[tuple[str, object]]:
    """N records of the demo market's main feed (refs unique)."""
    from jobs.sources.demo_market import Market, feed_record

    market = Market(seed=7, per_day=max(1000, n / 60))
    records = []
    for index in range(n):
        item = market.listing(index)
        records.append(
            (f"A-{index}", feed_record(item, item.appears_at + timedelta(hours=1), "http://bench"))
        )
    return records


def peak_rss_mib() -> float:
    """The process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, n: int, work) -> dict[str, object]:
    """Run work(), measuring wall time and the peak RSS reached by the end of it.

    (tracemalloc is not used: it slows allocation-heavy code several-fold and would
    distort the very figure being measured.)
    """
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    peak = peak_rss_mib()
    rate = n / seconds
    print(f"{label:<34} {n:>8,} in {seconds:7.2f}s = {rate:>9,.0f}/s   peak RSS {peak:6.0f} MiB   {result}")
    return {
        "step": label,
        "listings": f"{n:,}",
        "seconds": f"{seconds:.2f}",
        "listings/s": f"{n / seconds:,.0f}",
        "peak RSS MiB": f"{peak:.0f}",
    }


def bulk_ingest(source_id: int, records, page: int, now: datetime) -> str:
    """The ingest write path: pages encoded one ahead in a worker thread, written with COPY + upsert."""
    from jobs.pipeline import prefetched
    from models.session import session_scope
    from models.upsert import encode_page, write_page

    pages = (records[start : start + page] for start in range(0, len(records), page))
    inserted = updated = unchanged = 0
    with session_scope() as session:
        for encoded in prefetched(pages, encode_page):
            i, u, same = write_page(session, source_id, encoded, now)
            inserted, updated, unchanged = inserted + i, updated + u, unchanged + same
    return f"inserted={inserted} updated={updated} unchanged={unchanged}"


def naive_ingest(source_id: int, records, now: datetime) -> str:
    """What ingest looks like without bulk SQL: one lookup and one write per record."""
    from models.listing import Listing
    from models.session import session_scope

    inserted = 0
    with session_scope() as session:
        for ref, payload in records:
            listing = session.scalar(
                select(Listing).where(Listing.source_id == source_id, Listing.source_ref == ref)
            )
            if listing is None:
                session.add(
                    Listing(
                        source_id=source_id,
                        source_ref=ref,
                        raw=payload,
                        status="pending",
                        first_seen_at=now,
                        last_seen_at=now,
                    )
                )
                inserted += 1
            else:
                listing.raw, listing.last_seen_at = payload, now
            session.flush()
    return f"inserted={inserted}"


def process_all(now: datetime) -> str:
    from jobs.process import process_pending
    from models.session import session_scope

    with session_scope() as session:
        return str(process_pending(session, now, batch_size=5000))


def _truncate() -> None:
    from sqlalchemy import text

    from models.session import session_scope

    with session_scope() as session:
        session.execute(text("TRUNCATE listings, quarantined_records RESTART IDENTITY CASCADE"))


def _median_row(label: str, n: int, runs: list[dict[str, object]]) -> dict[str, object]:
    seconds = sorted(float(r["seconds"]) for r in runs)
    mid = seconds[len(seconds) // 2]
    rates = sorted(n / s for s in seconds)
    return {
        "step": f"{label} (median of {len(runs)})",
        "listings": f"{n:,}",
        "seconds": f"{mid:.2f}",
        "listings/s": f"{n / mid:,.0f} (min {rates[0]:,.0f}, max {rates[-1]:,.0f})",
        "peak RSS MiB": runs[-1]["peak RSS MiB"],
    }


def main() -> None:
    """Run the benchmark and record the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=2500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()

    scratch_database("nook_bench_ingest")
    from models.session import session_scope
    from models.source import Source

    print(f"generating {args.n:,} demo records ...")
    records = demo_records(args.n)
    with session_scope() as session:
        bulk = Source(name="bench-bulk", kind="demo", config={})
        naive = Source(name="bench-naive", kind="demo", config={})
        session.add_all([bulk, naive])
        session.flush()
        bulk_id, naive_id = bulk.id, naive.id
    now = datetime.now(UTC)
    new_runs, again_runs = [], []
    for _ in range(args.repeat):
        _truncate()
        new_runs.append(
            timed("ingest (bulk upsert, new)", args.n, lambda: bulk_ingest(bulk_id, records, args.page, now))
        )
        again_runs.append(
            timed(
                "ingest again (all unchanged)", args.n, lambda: bulk_ingest(bulk_id, records, args.page, now)
            )
        )
    rows = [
        _median_row("ingest (bulk upsert, new)", args.n, new_runs),
        _median_row("ingest again (all unchanged)", args.n, again_runs),
        timed("process (normalise, dedupe, match)", args.n, lambda: process_all(now)),
    ]
    if not args.no_baseline:
        rows.append(
            timed("baseline: naive row-by-row ORM", args.n, lambda: naive_ingest(naive_id, records, now))
        )
    peak_rss = peak_rss_mib()
    print(f"peak RSS of the whole run: {peak_rss:,.0f} MiB")
    write_section(
        "ingest",
        f"`python -m bench.ingest --n {args.n} --page {args.page} --repeat {args.repeat}` — "
        f"demo-market records, pages of {args.page} (COPY into a staging table + one "
        "INSERT ... ON CONFLICT per page), local PostgreSQL 15 + PostGIS 3.3.\n\n"
        f"{table(rows)}\n\nPeak RSS of the whole run (including generating the records): "
        f"{peak_rss:,.0f} MiB. Target: ≥ 20,000 listings/s for ingest upserts.",
    )


if __name__ == "__main__":
    main()
