"""A user's export at its heaviest: POST /v1/me/export for a user with the most regions, saved and hidden
listings nook keeps and many alerts, in a scratch database, written to the local moto's S3; and that
document brought back, POST /v1/me/import into a new account (without its alerts, as the map page sends it).

`python -m bench.export [--listings 100000] [--alerts 100000] [--rounds 5]` (services up: `make -s env`):
the user has 50 regions, 500 saved listings, 5,000 hidden and `--alerts` alerts spread over the regions.
Prints each answer's time, the document's size and the most memory Python held during one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc

from bench.db import scratch_database
from bench.results import table, write_section


def load(listings: int, alerts: int) -> str:
    """Listings and the heavy user; return the user's key."""
    from sqlalchemy import text

    from bench.price_rank import load_listings
    from models.session import session_scope
    from models.user import create_user

    load_listings(listings)
    with session_scope() as session:
        user, key = create_user(session, "heavy@example.com")
        session.execute(
            text("""INSERT INTO regions (user_id, name, geom, max_price, labels)
                    SELECT :u, 'area ' || r, ST_Multi(ST_Buffer(l.geom, 0.01, 8)), 3000 + r, ARRAY['low']
                    FROM generate_series(1, 50) r JOIN listings l ON l.id = r * 97"""),
            {"u": user.id},
        )
        session.execute(
            text("""INSERT INTO saved_listings (user_id, listing_id, price, told_price, note)
                    SELECT :u, id, price, price, 'ask about the balcony, #' || id FROM listings
                    WHERE id % 7 = 0 ORDER BY id LIMIT 500"""),
            {"u": user.id},
        )
        session.execute(
            text("""INSERT INTO hidden_listings (user_id, listing_id)
                    SELECT :u, id FROM listings WHERE id % 7 = 1 ORDER BY id LIMIT 5000"""),
            {"u": user.id},
        )
        session.execute(
            text("""INSERT INTO notifications (user_id, region_id, listing_id, status, attempts, created_at,
                                               sent_at, sent_via, reason)
                    SELECT :u, r.id, 1 + (n * 7919) % :listings, 'sent', 1,
                           now() - (n || ' minutes')::interval, now() - (n || ' minutes')::interval,
                           'webhook', 'new'
                    FROM generate_series(1, :alerts) n
                    JOIN regions r ON r.user_id = :u AND r.name = 'area ' || (1 + n % 50)"""),
            {"u": user.id, "alerts": alerts, "listings": listings},
        )
        session.execute(text("ANALYZE"))
    return key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listings", type=int, default=100_000)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    scratch_database("nook_bench_export")
    started = time.perf_counter()
    key = load(args.listings, args.alerts)
    print(f"loaded in {time.perf_counter() - started:.0f} s", flush=True)

    import urllib.request

    from app import create_app

    client = create_app().test_client()
    headers = {"Authorization": f"Bearer {key}"}

    def export() -> dict:
        response = client.post("/v1/me/export", headers=headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    export()  # warm
    laps = []
    for _ in range(args.rounds):
        lap = time.perf_counter()
        answer = export()
        laps.append(time.perf_counter() - lap)
    tracemalloc.start()  # one more, untimed: the most Python held at once while writing it
    answer = export()
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    with urllib.request.urlopen(answer["url"], timeout=60) as document:
        text = document.read()
    size = len(text)
    assert size == answer["bytes"]
    counts = answer["counts"]
    row = {
        "what": "POST /v1/me/export",
        "regions": counts["regions"],
        "saved": counts["saved"],
        "hidden": counts["hidden"],
        "alerts": f"{counts['alerts']:,}",
        "document MB": f"{size / 1e6:.1f}",
        "p50 s": f"{statistics.median(laps):.2f}",
        "max s": f"{max(laps):.2f}",
        "Python peak MB": f"{peak:.1f}",
    }
    print(row, flush=True)
    rows = [row, bring_back(client, json.loads(text), args.rounds)]
    print(rows[1], flush=True)
    body = (
        f"`python -m bench.export --listings {args.listings} --alerts {args.alerts}` — one user with the "
        f"most regions, saved and hidden listings nook keeps and {args.alerts:,} alerts, among "
        f"{args.listings:,} listings; written to the local moto's S3 and read back whole through the link. "
        f"{args.rounds} rounds after one to warm; then one more under tracemalloc for the most memory Python "
        "held at once during it (the document is written row by row to a file, never held whole). Then the "
        "document without its alerts (as the map page sends it) imported into a new account each round "
        "(every region drawn and placed again, every listing found by source and reference), likewise.\n\n"
        + table(rows)
    )
    write_section("export", body)


def bring_back(client, document: dict, rounds: int) -> dict:
    """POST /v1/me/import of the document without its alerts into a new account each round (and one more,
    untimed, under tracemalloc); a table row."""
    from models.session import session_scope
    from models.user import create_user

    del document["alerts"]
    body = json.dumps(document).encode()

    def bring() -> dict:
        with session_scope() as session:
            _, key = create_user(session, f"mover{time.time_ns()}@example.com")
        response = client.post(
            "/v1/me/import",
            data=body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    bring()  # warm
    laps = []
    for _ in range(rounds):
        lap = time.perf_counter()
        report = bring()
        laps.append(time.perf_counter() - lap)
    tracemalloc.start()
    bring()
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    added = {part: report[part]["added"] for part in ("regions", "saved", "hidden")}
    assert added == {"regions": 50, "saved": 500, "hidden": 5000}, report
    return {
        "what": "POST /v1/me/import (no alerts)",
        **added,
        "alerts": "left out",
        "document MB": f"{len(body) / 1e6:.1f}",
        "p50 s": f"{statistics.median(laps):.2f}",
        "max s": f"{max(laps):.2f}",
        "Python peak MB": f"{peak:.1f}",
    }


if __name__ == "__main__":
    main()
