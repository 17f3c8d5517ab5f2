"""Search, estimate and similar-listings latency through the WSGI app, on 1M listings and 1,000 regions.

    .venv/bin/python -m bench.api [--n 1000000] [--requests 2000]

Loads n demo-market listings (with price ranks) and 1,000 regions (100 users x 10)
into a scratch database, then times region searches, bbox searches, estimates and a
listing's similar listings through the Flask app in-process (p50/p99), and the searches of a user who hid
the 1,000 newest listings of their largest region (every page walks past them), and the searches
of views and regions nearest a place (sort=distance: from a place in the view, or anywhere in the city),
and prints EXPLAIN ANALYZE of the searches to show the spatial (GiST) index at work.
Targets: search p50 <= 15 ms, p99 <= 60 ms; estimate p50 <= 5 ms.
"""

from __future__ import annotations

import argparse
import math
import random
import time

from bench.results import table, write_section

CENTRE = (43.6532, -79.3832)


def square(lat: float, lon: float, half_km: float) -> str:
    """A square region around a point, as EWKT."""
    dlat = half_km / 111.0
    dlon = half_km / (111.0 * math.cos(math.radians(lat)))
    w, e, s, n = lon - dlon, lon + dlon, lat - dlat, lat + dlat
    return f"SRID=4326;MULTIPOLYGON((({w} {s},{e} {s},{e} {n},{w} {n},{w} {s})))"


def load(n: int, rng: random.Random) -> list[tuple[str, int]]:
    """Listings (+ ranks), 100 users with 10 regions each; return (api key, region id) pairs."""
    from sqlalchemy import text

    from bench.price_rank import load_listings
    from models.matching import refresh_region_members
    from models.region import Region
    from models.session import get_engine, session_scope
    from models.user import create_user

    load_listings(n)
    pairs = []
    with session_scope() as session:
        session.execute(
            text("""INSERT INTO price_models (version, run_id, artifact_uri, metrics, n_train)
                                VALUES ('bench', 'bench', 'none', '{}', 0)""")
        )
        session.execute(
            text("""INSERT INTO price_ranks (listing_id, model_version, p25, p50, p75, label, scored_at)
                                SELECT id, 'bench', p50 * 0.9, p50, p50 * 1.1, 'typical', now()
                                FROM (SELECT id, price * (0.85 + id % 31 / 100.0) AS p50 FROM listings) l""")
        )
        # two in three say when one may move in (today to four months on), one in twenty had its price cut
        session.execute(
            text("""UPDATE listings SET
                        available_from = CASE WHEN id % 3 > 0 THEN current_date + (id % 120)::int END,
                        previous_price = CASE WHEN id % 20 = 0 THEN price + 20 + id % 400 END""")
        )
        for u in range(100):
            user, key = create_user(session, f"bench{u}@example.com")
            for _ in range(10):
                lat = CENTRE[0] + rng.uniform(-0.05, 0.12)
                lon = CENTRE[1] + rng.uniform(-0.15, 0.15)
                region = Region(user_id=user.id, name="r", geom=square(lat, lon, rng.uniform(0.5, 2.5)))
                session.add(region)
                session.flush()
                refresh_region_members(session, region.id)  # what POST /v1/regions does
                pairs.append((key, region.id))
    # as autovacuum does after a load (it marks the pages all visible: the walks then read no listing)
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    return pairs


def hide_newest(region_ids: list[int], count: int) -> int:
    """The owner of these regions hides the `count` newest listings of the largest (as `PUT
    /v1/me/hidden/{id}` does each); return its id."""
    from sqlalchemy import text

    from models.session import session_scope

    with session_scope() as session:
        region_id = session.scalar(
            text("""
                SELECT region_id FROM region_listings WHERE region_id = ANY(:ids)
                GROUP BY region_id ORDER BY count(*) DESC, region_id LIMIT 1
            """),
            {"ids": region_ids},
        )
        session.execute(
            text("""
                INSERT INTO hidden_listings (user_id, listing_id)
                SELECT r.user_id, m.listing_id FROM region_listings m JOIN regions r ON r.id = m.region_id
                WHERE m.region_id = :region ORDER BY m.posted_at DESC, m.listing_id DESC LIMIT :count
            """),
            {"region": region_id, "count": count},
        )
        session.execute(text("ANALYZE hidden_listings"))
    return region_id


def percentiles(laps: list[float]) -> tuple[float, float]:
    laps = sorted(laps)
    return laps[len(laps) // 2] * 1000, laps[min(len(laps) - 1, int(len(laps) * 0.99))] * 1000


def timed_requests(client, make_request, count: int) -> tuple[float, float, dict[int, int]]:
    """Warm up, then time `count` requests; return p50, p99 (ms) and the status counts."""
    for _ in range(50):
        make_request()
    laps, statuses = [], {}
    for _ in range(count):
        started = time.perf_counter()
        response = make_request()
        laps.append(time.perf_counter() - started)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    return (*percentiles(laps), statuses)


def explain(session, args: dict, user_id: int) -> str:
    """EXPLAIN ANALYZE of exactly the query the API runs for these arguments."""
    from sqlalchemy import text

    from app.search import build_search, cells_first, unwalked

    args = {"limit": 20, **args}
    query, spec, sort, _ = build_search(session, user_id, args)
    cells = cells_first(query, spec, sort, args)  # a view by price: cell by cell
    query = unwalked(query, spec, sort, args) if cells is None else cells  # (its orders here walk nothing)
    sql = str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    return "\n".join(r[0] for r in session.execute(text("EXPLAIN ANALYZE " + sql)))


def a_view(rng: random.Random) -> tuple[str, float, float, float]:
    """A view of the map somewhere in the city: its bbox, its centre and half its height in degrees."""
    lat, lon = CENTRE[0] + rng.uniform(-0.05, 0.12), CENTRE[1] + rng.uniform(-0.15, 0.15)
    half = rng.uniform(0.005, 0.02)
    return f"{lon - half * 1.4},{lat - half},{lon + half * 1.4},{lat + half}", lat, lon, half


# what people type in the page's "Words" box: a feature, two, one left out, a phrase, alternatives
WORDS = ("balcony", "parking gym", "garden -basement", '"in-suite laundry"', "dishwasher or balcony")


def word_searches(client, rng: random.Random, pairs: list[tuple[str, int]]) -> tuple:
    """A view of the map by words, and a region by words (a request each call)."""

    def bbox_words():
        bbox = a_view(rng)[0]
        return client.get(
            "/v1/listings",
            query_string={"bbox": bbox, "limit": 20, "q": rng.choice(WORDS)},
            headers={"Authorization": f"Bearer {pairs[0][0]}"},
        )

    def region_words():
        key, region_id = rng.choice(pairs)
        return client.get(
            "/v1/listings",
            query_string={"region_id": region_id, "limit": 20, "q": rng.choice(WORDS)},
            headers={"Authorization": f"Bearer {key}"},
        )

    return bbox_words, region_words


# the list's other orders (the map page's "Sort"): each walks an index where one holds the order
SORTED = ("price", "price_desc", "value", "price_cut", "available")


def sorted_searches(client, rng: random.Random, pairs: list[tuple[str, int]]) -> list[tuple[str, object]]:
    """A view of the map and a region in each of the other orders: (row name, a request each call)."""

    def in_view(sort: str):
        return lambda: client.get(
            "/v1/listings",
            query_string={"bbox": a_view(rng)[0], "limit": 20, "sort": sort},
            headers={"Authorization": f"Bearer {pairs[0][0]}"},
        )

    def in_region(sort: str):
        def search():
            key, region_id = rng.choice(pairs)
            return client.get(
                "/v1/listings",
                query_string={"region_id": region_id, "limit": 20, "sort": sort},
                headers={"Authorization": f"Bearer {key}"},
            )

        return search

    return [
        (f"{area} search, sort={sort}", make(sort))
        for sort in SORTED
        for area, make in (("bbox", in_view), ("region", in_region))
    ]


def main() -> None:
    """Load, measure, record."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    from bench.db import current_model, scratch_database

    scratch_database("nook_bench_api")
    rng = random.Random(42)
    print(f"loading {args.n:,} listings and 1,000 regions ...", flush=True)
    pairs = load(args.n, rng)
    current_model(20_000, "bench-estimate")  # for the estimate endpoint
    from app import create_app
    from app.search import CELLS, REGION_WORDS_WALK, STRIPS, WALK
    from models.listing import CELLS_PER_DEGREE

    app = create_app()
    client = app.test_client()

    def region_search():
        key, region_id = rng.choice(pairs)
        return client.get(
            "/v1/listings",
            query_string={"region_id": region_id, "limit": 20},
            headers={"Authorization": f"Bearer {key}"},
        )

    def bbox_search():
        bbox = a_view(rng)[0]
        return client.get(
            "/v1/listings",
            query_string={"bbox": bbox, "limit": 20, "bedrooms_min": 1},
            headers={"Authorization": f"Bearer {pairs[0][0]}"},
        )

    def bbox_nearest():  # the same views, nearest a place in them first (the page's "Nearest my place")
        bbox, lat, lon, half = a_view(rng)
        return client.get(
            "/v1/listings",
            query_string={
                "bbox": bbox,
                "limit": 20,
                "bedrooms_min": 1,
                "sort": "distance",
                "distance_from": f"{lat + rng.uniform(-half, half)},{lon + rng.uniform(-half, half)}",
            },
            headers={"Authorization": f"Bearer {pairs[0][0]}"},
        )

    def region_nearest():
        key, region_id = rng.choice(pairs)
        place = f"{CENTRE[0] + rng.uniform(-0.05, 0.12)},{CENTRE[1] + rng.uniform(-0.15, 0.15)}"
        return client.get(
            "/v1/listings",
            query_string={"region_id": region_id, "limit": 20, "sort": "distance", "distance_from": place},
            headers={"Authorization": f"Bearer {key}"},
        )

    def estimate():
        body = {
            "bedrooms": rng.choice([0, 1, 2, 3]),
            "bathrooms": 1,
            "sqft": rng.choice([None, 600, 900]),
            "unit_type": "apartment",
            "latitude": CENTRE[0] + rng.uniform(-0.05, 0.1),
            "longitude": CENTRE[1] + rng.uniform(-0.1, 0.1),
            "price": 2400,
        }
        return client.post("/v1/estimates", json=body, headers={"Authorization": f"Bearer {pairs[0][0]}"})

    def similar():  # a listing's similar listings nearby (its popup asks for three)
        return client.get(
            f"/v1/listings/{rng.randint(1, args.n)}/similar",
            query_string={"limit": 3},
            headers={"Authorization": f"Bearer {pairs[0][0]}"},
        )

    hider_key = pairs[10][0]  # bench1's: the 1,000 newest listings of their largest region hidden
    hider_region = hide_newest([region_id for _, region_id in pairs[10:20]], 1000)

    def hider_region_search():
        return client.get(
            "/v1/listings",
            query_string={"region_id": hider_region, "limit": 20},
            headers={"Authorization": f"Bearer {hider_key}"},
        )

    rows = []
    requests = (
        ("region search", region_search),
        ("bbox search", bbox_search),
        ("estimate", estimate),
        ("similar", similar),
        ("region search, its 1,000 newest hidden", hider_region_search),
        ("bbox search, nearest a place", bbox_nearest),
        ("region search, nearest a place", region_nearest),
        *zip(
            ("bbox search, by words", "region search, by words"),
            word_searches(client, rng, pairs),
            strict=True,
        ),
        *sorted_searches(client, rng, pairs),
    )
    for name, fn in requests:
        p50, p99, statuses = timed_requests(client, fn, args.requests)
        print(f"{name:14} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  statuses {statuses}", flush=True)
        rows.append(
            {
                "request": name,
                "requests": f"{args.requests:,}",
                "p50 ms": f"{p50:.2f}",
                "p99 ms": f"{p99:.2f}",
                "statuses": str(statuses),
            }
        )
    from models.session import session_scope
    from models.user import User

    with session_scope() as session:
        key, region_id = pairs[0]
        user_id = session.query(User.id).filter(User.email == "bench0@example.com").scalar()
        region_plan = explain(session, {"region_id": region_id}, user_id)
        bbox_plan = explain(session, {"bbox": (-79.40, 43.64, -79.37, 43.66), "bedrooms_min": 1}, user_id)
        hider_id = session.query(User.id).filter(User.email == "bench1@example.com").scalar()
        hider_plan = explain(session, {"region_id": hider_region}, hider_id)
        words_plan = explain(
            session, {"bbox": (-79.40, 43.64, -79.37, 43.66), "q": ["garden -basement"]}, user_id
        )
        cells_plan = explain(session, {"bbox": (-79.40, 43.64, -79.37, 43.66), "sort": "price"}, user_id)
    print("\nEXPLAIN region search:\n" + region_plan + "\n\nEXPLAIN bbox search:\n" + bbox_plan)
    print("\nEXPLAIN region search, its 1,000 newest hidden:\n" + hider_plan)
    print("\nEXPLAIN bbox search by words:\n" + words_plan)
    print("\nEXPLAIN bbox search by price:\n" + cells_plan)
    uses_index = "ix_region_listings_newest" in region_plan and "ix_listings_active" in bbox_plan
    write_section(
        "api",
        f"`python -m bench.api --n {args.n} --requests {args.requests}` — {args.n:,} listings "
        "with price ranks and 1,000 regions (100 users x 10) in local PostGIS; requests through the Flask "
        "app in-process (test client), after 50 warm-up requests each.\n\n"
        + table(rows)
        + "\n\nRegion search walks `ix_region_listings_newest`, bbox search an `ix_listings_active_*` index: "
        f"{uses_index}.\n\n"
        "```\nregion search:\n" + region_plan + "\n\nbbox search:\n" + bbox_plan + "\n```\n\n"
        "A user who hid the 1,000 newest listings of their largest region (`/v1/me/hidden`): every page "
        "of its newest-first search walks past them. A search first reads up to 100 of the flats its user "
        "hid and gives them as one array of constants that PostgreSQL looks each listing up in by hash "
        "(for a user with none, one index probe that finds nothing); past 100 it asks of each listing it "
        "walks whether the user hid it, two index probes (models.hidden). Reading all 1,000 first took "
        "3-6.5 ms of 1,000 index probes before every search: 19.80 ms p50 before, in session 27. A "
        "region's page asks it of each membership before reading its listing: asked of the listing, the "
        "page read 1,021 listings, 16.54 / 23.65 ms p50 / p99 (session 43).\n\n"
        "```\nregion search, its 1,000 newest hidden:\n" + hider_plan + "\n```\n\n"
        "By words (`q`, one of " + ", ".join(f"`{w}`" for w in WORDS) + "): the listings' titles are the "
        "demo market's (two in three name one or two of nine features). A listing's words are a column "
        "PostgreSQL computes, and `ix_listings_words` is a GiST index of the shown listings' places and "
        "words together: a view or a region (searched through its shape) reads, of its part of the index, "
        "the entries whose words may match. Measured before, in session 30, at 1M: a GIN index of the "
        "words expression alone gave a view by words 27.29 ms p50 / 1,018 ms p99, and of the stored column "
        "11.02 / 333 (a region 9.81 / 462): the planner takes a phrase's or two words' listings for rare "
        "(it multiplies their shares) and read every listing with the words, 100k for one flat in ten. "
        "A region's page by words is first looked for among its next "
        f"{REGION_WORDS_WALK:,} listings of its order (region_listings, each listing looked up by id; "
        "app.search.REGION_WORDS_WALK), and a page by words not found in a walk as the ids and keys of "
        "its page first, then its listings and ranks (app.search.ids_first): before, in session 42, a "
        "region by words took 18.73 / 256.55 ms, reading all of a large region's listings with a common "
        "feature through its shape, and a view 13.27 / 112.44, joining each of its listings with the "
        "words to its rank before the sort (on a host ~1.5x slower: the estimate 7.11 ms p50). The p99 "
        "left is a phrase in a dense view, whose listings with it are all read and sorted.\n\n"
        "```\nbbox search, q=garden -basement:\n" + words_plan + "\n```\n\n"
        "The list's other orders (`sort=`; the bench's listings: two in three say when one may move in, "
        "one in twenty had its price cut, each rank's p50 is 85-115% of the price). A region's page by "
        "price, price cut or move-in day walks the region's own index (region_listings keeps each "
        "listing's keys, migration 0047). A view in those orders, and a view or a region by value, first "
        "looks for its page among the next listings of the order ("
        + ", ".join(f"{sort} {walk:,}" for sort, walk in WALK.items())
        + "; app.search.WALK), an index walk of the shown listings, or of the ranks by value (migration "
        "0048), whose entries say where each listing is: it reads no listing but those of the page, and "
        "stops when the page is full. Only a page not found there reads and sorts all of the area's "
        "listings: a small area, or a view of dear flats by price (left to the planner, one walked the "
        "price order through 238,854 cheaper listings elsewhere: 0.9 s). Before, a page by value read and "
        "sorted all of the area's: 35 / 712 ms p50 / p99 in a view, 36 / 801 in a region (session 39).\n\n"
        f"A view by price (of up to {CELLS:,} cells of a grid of 1/{CELLS_PER_DEGREE} of a degree, and "
        "no filter of the listings' other columns) is searched cell by cell instead (migration 0049, "
        "app.search.cells_first): the first page of each cell off `ix_listings_shown_cell_price`, the "
        "cheapest (or dearest) of them the page. The cheapest flats gather in a few areas, so the walk of "
        "the city's order went far for a view elsewhere: 27.13 / 70.55 ms p50 / p99 by price, 25.44 / "
        "67.99 by price_desc before (session 40).\n\n"
        "```\nbbox search, sort=price:\n" + cells_plan + "\n```\n\n"
        "Nearest a place (`sort=distance`; a region's, from a place anywhere in the city, mostly outside "
        "it): the spatial index walks the area's listings nearest first in degrees from the place and "
        "from a stand-in for it (app.search.stand_in: a degree of longitude is not a degree of latitude's "
        "metres, so from far off those nearest in degrees can lie elsewhere than those nearest in metres), "
        "the page's worth nearest in metres of both walks bounds the page, and the listings within that "
        "many metres are sorted exactly (app.search.nearest_first). Only those where that circle meets the "
        f"area's box are read, in {STRIPS} bands of latitude each in its own box, and only the page's "
        "joined to their ranks: before, the box of the whole circle was read with every rank in it, "
        "12.63 / 50.96 ms p50 / p99 for a view and 16.17 / 252.31 for a region (session 41; a dense "
        "region's page from 11 km away read 155k listings); with the place's walk alone and one box, a "
        "region's 16.65 / 71.15 (session 43; thousands read across a dense region's corner).\n\n"
        "Targets: search p50 ≤ 15 ms, p99 ≤ 60 ms; estimate p50 ≤ 5 ms. Similar listings: no target "
        "given; a listing popup asks for them once.",
    )


if __name__ == "__main__":
    main()
