"""The whole price-rank pipeline (wrangle -> train -> update) at several market sizes, and the scorer.

    .venv/bin/python -m bench.price_rank [--sizes 10000,100000,1000000]

Each size runs in a fresh process (so its peak RSS is its own) against a scratch
database and the local S3 emulator. Then, for the 100k-listing artifact (or the
largest below it): artifact load time from a local directory in a fresh process,
and one estimate's latency, warm (p50/p99 over 2,000 listings).
Targets: 100k listings in <= 60 s and <= 1.5 GB; estimate p50 <= 5 ms; load <= 200 ms.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from datetime import UTC, datetime

from bench.results import table, write_section


def load_listings(n: int) -> None:
    """n demo-market listings as active canonical rows, with titles (COPY, not timed)."""
    from sqlalchemy import text

    from jobs.price_rank.demo_frame import market_frame
    from jobs.sources.demo_market import title_of
    from models.session import session_scope
    from models.source import Source

    frame = market_frame(n, seed=7)
    now = datetime.now(UTC).isoformat()
    buffer = io.StringIO()
    for r in frame.itertuples(index=False):
        fields = [
            str(r.listing_id),
            "{}",
            "active",
            title_of(r.listing_id, r.bedrooms, r.unit_type, r.neighbourhood),
            str(int(r.price)),
            str(r.bedrooms),
            "\\N" if r.bathrooms != r.bathrooms else str(r.bathrooms),
            "\\N" if r.sqft != r.sqft else str(int(r.sqft)),
            "t" if r.furnished else "f",
            r.unit_type,
            f"SRID=4326;POINT({r.longitude} {r.latitude})",
            now,
            now,
            now,
        ]
        buffer.write("\t".join(fields) + "\n")
    buffer.seek(0)
    with session_scope() as session:
        source = Source(name="bench", kind="demo", config={})
        session.add(source)
        session.flush()
        with session.connection().connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE listings ALTER COLUMN source_id SET DEFAULT {source.id}")
            cursor.copy_expert(
                "COPY listings (source_ref, raw, status, title, price, bedrooms, bathrooms, sqft, furnished, "
                "unit_type, geom, posted_at, first_seen_at, last_seen_at) FROM STDIN",
                buffer,
            )
            cursor.execute("ALTER TABLE listings ALTER COLUMN source_id DROP DEFAULT")
        session.execute(text("ANALYZE listings"))


def one_size(n: int) -> dict[str, object]:
    """Run the pipeline once for n listings (in this process); return timings and peak RSS."""
    import resource

    from bench.db import scratch_database
    from jobs.local.lambda_context import LocalContext
    from jobs.local.services import bootstrap_aws, local_environment
    from jobs.price_rank import train, update, wrangle

    scratch_database(f"nook_bench_rank_{n}")
    bootstrap_aws(local_environment())
    load_listings(n)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    run_id = f"bench{n}"
    timings = {}
    started = time.perf_counter()
    for name, step in (("wrangle", wrangle.run), ("train", train.run), ("update", update.run)):
        t = time.perf_counter()
        result = step({"kwargs": {"run_id": run_id}}, LocalContext(timeout_seconds=900))
        timings[name] = time.perf_counter() - t
        if name == "train":
            details = result
    total = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "n": n,
        "total": total,
        **timings,
        "peak_rss_mib": peak,
        "rss_before_mib": baseline,
        "train_detail": details.get("timings"),
        "tail_low": details["tail_low"],
        "tail_high": details["tail_high"],
        "artifact_bytes": details["artifact_bytes"],
        "run_id": run_id,
    }


def scorer_figures(run_id: str) -> dict[str, float]:
    """Download the run's artifact, then probe the scorer in a fresh process (bench.scorer_probe)."""
    import os
    import tempfile
    from pathlib import Path

    from jobs.local.services import local_environment

    env = {**os.environ, **local_environment()}
    os.environ.update(env)
    from jobs.price_rank import storage

    with tempfile.TemporaryDirectory() as tmp:
        listing = storage.s3().list_objects_v2(
            Bucket=env["NOOK_BUCKET"], Prefix=f"price_rank/{run_id}/model/"
        )
        for obj in listing["Contents"]:
            storage.s3().download_file(
                env["NOOK_BUCKET"], obj["Key"], str(Path(tmp) / obj["Key"].rsplit("/", 1)[-1])
            )
        out = subprocess.run(
            [sys.executable, "-m", "bench.scorer_probe", tmp],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run every size in its own process, then the scorer probe; record the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(one_size(args.one)))
        return
    rows, results = [], []
    for n in (int(s) for s in args.sizes.split(",")):
        print(f"pipeline for {n:,} listings ...", flush=True)
        done = subprocess.run(
            [sys.executable, "-m", "bench.price_rank", "--one", str(n)], capture_output=True, text=True
        )
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if done.returncode != 0 or line is None:
            print(f"  failed: {done.stderr[-1500:]}")
            rows.append(
                {
                    "listings": f"{n:,}",
                    "total s": "failed",
                    "wrangle s": "",
                    "train s": "",
                    "update s": "",
                    "peak RSS MiB": "",
                    "tails low/high": "",
                }
            )
            continue
        r = json.loads(line[len("RESULT ") :])
        results.append(r)
        print(
            f"  total {r['total']:.1f}s (wrangle {r['wrangle']:.1f}, train {r['train']:.1f}, update "
            f"{r['update']:.1f}), peak RSS {r['peak_rss_mib']:.0f} MiB, train detail {r['train_detail']}"
        )
        rows.append(
            {
                "listings": f"{n:,}",
                "total s": f"{r['total']:.1f}",
                "wrangle s": f"{r['wrangle']:.1f}",
                "train s": f"{r['train']:.1f}",
                "update s": f"{r['update']:.1f}",
                "peak RSS MiB": f"{r['peak_rss_mib']:.0f}",
                "tails low/high": f"{r['tail_low']:.1%} / {r['tail_high']:.1%}",
            }
        )
    probe_on = max((r for r in results if r["n"] <= 100_000), key=lambda r: r["n"], default=None)
    scorer = ""
    if probe_on:
        s = scorer_figures(probe_on["run_id"])
        print(
            f"scorer on the {probe_on['n']:,}-listing artifact: load {s['load_s'] * 1000:.0f} ms, "
            f"estimate p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms"
        )
        scorer = (
            f"\n\nScorer on the {probe_on['n']:,}-listing artifact "
            f"({probe_on['artifact_bytes'] / 2**20:.1f} MiB), fresh process: import of models.pricing "
            f"{s['import_s'] * 1000:.0f} ms, artifact load from a local directory "
            f"{s['load_s'] * 1000:.0f} ms; "
            f"one estimate warm p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms (2,000 random listings)."
        )
    write_section(
        "price_rank",
        "`python -m bench.price_rank` — demo-market listings, the three steps through "
        "the local S3 emulator; each size in a fresh process (peak RSS is that process's).\n\n"
        + table(rows)
        + "\n\nTails: shares of held-out listings below p25 / above p75, each fold's part judged with the "
        "other folds' calibration (at 10k every non-outlier listing, held out once over five folds; two "
        "folds of 20,000 at 100k and 1M)."
        + scorer
        + "\n\nTargets: 100k listings in ≤ 60 s and ≤ 1.5 GB; estimate p50 ≤ 5 ms; artifact load ≤ 200 ms.",
    )


if __name__ == "__main__":
    main()
