"""The checks stage's market job at scale: history and forecasts for the city and every region.

    .venv/bin/python -m bench.market [--n 100000] [--regions 1000]

Loads n demo-market listings posted over the last 150 days and --regions regions
(bench.api's: 10 a user, 0.5-2.5 km squares around the centre) into a scratch
database, then runs `jobs.market.refresh_market` once over every area and times
its steps. The job runs in one Lambda invocation of at most 15 minutes: the last
figure is how many regions one run refreshes at this pace (a run that reaches its
deadline commits what it did, and the next starts with the areas left).
Target: 1,000 regions well inside one run.
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from datetime import UTC, datetime

from bench.results import table, time_spent, write_section

LAMBDA_SECONDS = 900
MARGIN_SECONDS = 60  # jobs.runtime.budget_deadline's
STEPS = (
    "load_new_listings",
    "region_rows",
    "build_series",
    "forecast_counts",
    "forecast_price",
    "replace_points",
)


def load(n: int, regions: int, rng: random.Random) -> None:
    """n listings posted over 150 days, and `regions` regions of 10 a user."""
    from sqlalchemy import text

    from bench.api import CENTRE, square
    from bench.price_rank import load_listings
    from models.region import Region
    from models.session import session_scope
    from models.user import create_user

    load_listings(n)
    with session_scope() as session:
        session.execute(text("SELECT setseed(0.42)"))
        session.execute(
            text("""UPDATE listings SET posted_at = now() - random() * interval '150 days',
                    first_seen_at = now(), last_seen_at = now()""")
        )
        for u in range((regions + 9) // 10):
            user, _ = create_user(session, f"market{u}@example.com")
            for _ in range(min(10, regions - 10 * u)):
                lat = CENTRE[0] + rng.uniform(-0.05, 0.12)
                lon = CENTRE[1] + rng.uniform(-0.15, 0.15)
                session.add(Region(user_id=user.id, name="r", geom=square(lat, lon, rng.uniform(0.5, 2.5))))
        session.flush()
        session.execute(text("ANALYZE"))


def refresh() -> tuple[dict, float, dict[str, float]]:
    """One run over every area: its result, seconds, and seconds in each of STEPS."""
    import jobs.market as market
    from models.session import session_scope

    with time_spent(market, STEPS) as spent:
        began = time.perf_counter()
        with session_scope() as session:
            result = market.refresh_market(session, datetime.now(UTC))
        return result, time.perf_counter() - began, spent


def main() -> None:
    """Set up, measure, record."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--regions", type=int, default=1000)
    args = parser.parse_args()
    from bench.db import scratch_database

    scratch_database("nook_bench_market")
    print(f"loading {args.n:,} listings over 150 days and {args.regions:,} regions ...", flush=True)
    load(args.n, args.regions, random.Random(7))
    result, seconds, spent = refresh()
    areas = result["areas"]
    once = spent["load_new_listings"]  # the rest, reading each region's listings too, goes by area
    per_area = (seconds - once) / areas
    fits = int((LAMBDA_SECONDS - MARGIN_SECONDS - once) / per_area) - 1  # the city is an area too
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{areas:,} areas ({result['points']:,} points) in {seconds:.1f}s: {per_area * 1000:.0f} ms an area "
        f"after {once:.1f}s of loading; peak RSS {peak:.0f} MiB; one run refreshes ~{fits:,} regions"
    )
    print("seconds in each step:", {name: round(value, 1) for name, value in spent.items()})
    rows = [
        {
            "listings": f"{args.n:,}",
            "areas": f"{areas:,}",
            "points": f"{result['points']:,}",
            "seconds": f"{seconds:.1f}",
            "ms an area": f"{per_area * 1000:.0f}",
            **{f"{name} s": f"{value:.1f}" for name, value in spent.items()},
            "peak RSS MiB": f"{peak:.0f}",
        }
    ]
    write_section(
        "market",
        f"`python -m bench.market --n {args.n} --regions {args.regions}` — {args.n:,} demo-market listings "
        f"posted over the last 150 days and {args.regions:,} regions (10 a user, 0.5-2.5 km squares) in "
        "local PostGIS; one run of `jobs.market.refresh_market` over the city and every region (six "
        "bedroom series each: history, a negative-binomial count forecast with 4,000 simulated paths, an "
        "ETS price forecast), timed by step.\n\n"
        + table(rows)
        + f"\n\nThe job runs in one checks-stage invocation of at most {LAMBDA_SECONDS} s and stops "
        f"{MARGIN_SECONDS} s before it: at this pace one run refreshes about **{fits:,} regions** (a run "
        "that reaches its deadline commits the areas it did, and the next starts with those it left, "
        "stalest first).\n\nTarget: 1,000 regions well inside one run.",
    )


if __name__ == "__main__":
    main()
