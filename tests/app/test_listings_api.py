"""/v1/listings: auth, areas, filters, sorts, pagination stability, detail, ETag, SVG."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Float, delete, func, select, text, update

from app.pagination import encode_cursor
from models.listing import Listing
from tests.factories import a_source, add_price_rank, insert_active_listings

CITY = "-79.70,43.50,-79.05,43.90"  # covers the whole demo market
WORK = "43.6453,-79.3806"  # a place that matters, downtown


def search(client, caller, **params):
    return client.get("/v1/listings", query_string=params, headers=caller.headers)


def test_search_needs_a_valid_key(client, market_ids, alice):
    missing = client.get("/v1/listings", query_string={"bbox": CITY})
    assert missing.status_code == 401 and missing.mimetype == "application/problem+json"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/v1/listings", query_string={"bbox": CITY}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.get_json()["detail"] == "The API key is not valid."
    basic = client.get("/v1/listings", query_string={"bbox": CITY}, headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 401
    assert search(client, alice, bbox=CITY).status_code == 200


def test_bbox_search_returns_listings_with_ranks(client, market_ids, alice):
    body = search(client, alice, bbox=CITY, limit=100).get_json()
    assert len(body["items"]) == 100 and body["next_cursor"]
    item = body["items"][0]
    assert set(item) == {
        "id",
        "title",
        "price",
        "bedrooms",
        "bathrooms",
        "sqft",
        "unit_type",
        "furnished",
        "location",
        "url",
        "posted_at",
        "available_from",
        "price_rank",
        "price_change",
    }
    ranked = [i for i in body["items"] if i["price_rank"]]
    assert ranked and set(ranked[0]["price_rank"]) == {"label", "p25", "p50", "p75", "model_version"}


def test_near_search_is_a_circle_in_metres(client, market_ids, alice, db_session):
    from sqlalchemy import func

    lat, lon = 43.6532, -79.3832
    expected = set(
        db_session.scalars(
            select(Listing.id).where(
                func.ST_DWithin(
                    func.geography(Listing.geom),
                    func.geography(func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)),
                    1500,
                    False,  # on the sphere, as distance_m is measured
                )
            )
        )
    )
    got = {
        i["id"]
        for i in search(client, alice, near=f"{lat},{lon}", radius_m=1500, limit=100).get_json()["items"]
    }
    assert got == expected and got


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius): within ~0.5% of the spheroid's."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def test_each_listing_says_how_far_it_is_from_a_place_and_the_nearest_come_first(client, market_ids, alice):
    lat, lon = map(float, WORK.split(","))
    plain = search(client, alice, bbox=CITY, limit=5).get_json()["items"]
    assert all("distance_m" not in item for item in plain)  # no place given: no distance
    items = search(client, alice, bbox=CITY, sort="distance", distance_from=WORK, limit=100).get_json()[
        "items"
    ]
    assert len(items) == 100
    for item in items:
        where = item["location"]
        expected = metres(lat, lon, where["latitude"], where["longitude"])
        assert abs(item["distance_m"] - expected) <= 0.005 * expected + 1, item
    distances = [item["distance_m"] for item in items]
    assert distances == sorted(distances) and distances[0] < 1000 < distances[-1]
    # every other listing in the city (as the newest first list them, each with its distance) is no nearer
    # than the 100th
    nearest, rest, cursor = {i["id"] for i in items}, [], None
    while True:
        page = search(
            client, alice, bbox=CITY, distance_from=WORK, limit=100, **({"cursor": cursor} if cursor else {})
        ).get_json()
        rest += [i["distance_m"] for i in page["items"] if i["id"] not in nearest]
        if not (cursor := page["next_cursor"]):
            break
    assert len(rest) == 300 and min(rest) >= distances[-1]

    # near gives the place by default; distance_from, another
    circle = search(client, alice, near=WORK, radius_m=2000, sort="distance", limit=100).get_json()["items"]
    assert circle and [i["distance_m"] for i in circle] == sorted(i["distance_m"] for i in circle)
    assert all(i["distance_m"] <= 2000 for i in circle)
    elsewhere = search(
        client, alice, near=WORK, radius_m=2000, distance_from="43.70,-79.40", sort="distance", limit=100
    ).get_json()["items"]
    assert {i["id"] for i in elsewhere} == {i["id"] for i in circle}
    for item in elsewhere:  # from the other place, 6 km north
        where = item["location"]
        expected = metres(43.70, -79.40, where["latitude"], where["longitude"])
        assert abs(item["distance_m"] - expected) <= 0.005 * expected + 1 and expected > 4000


def test_nearest_first_in_metres_where_degrees_disagree(client, alice, db_session):
    """At 60 N a degree of longitude is half a degree of latitude's metres: the index walks listings by
    degrees, and the page must still come in metres (and page on without a gap), from inside the area or
    from a place far outside it."""
    from tests.factories import insert_listing

    source = a_source(db_session, "north")
    now = datetime.now(UTC)
    spots = {"east": (0.010, 0), "north": (0, 0.007), "far east": (0.030, 0), "far north": (0, 0.012)}
    ids = {
        name: insert_listing(db_session, source.id, name, now, 10.0 + dx, 60.0 + dy)
        for name, (dx, dy) in spots.items()
    }
    # east: 0.010 degrees but ~556 m; north: 0.007 degrees but ~778 m
    for limit in (1, 2, 4):
        order, cursor = [], None
        while True:
            page = search(
                client,
                alice,
                bbox="9.9,59.9,10.1,60.1",
                sort="distance",
                distance_from="60,10",
                limit=limit,
                **({"cursor": cursor} if cursor else {}),
            ).get_json()
            order += [(i["id"], i["distance_m"]) for i in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
        assert [i for i, _ in order] == [ids["east"], ids["north"], ids["far north"], ids["far east"]], limit
        assert [d for _, d in order] == sorted(d for _, d in order) and 550 < order[0][1] < 560
    afar = search(client, alice, bbox="9.9,59.9,10.1,60.1", sort="distance", distance_from="61,10", limit=1)
    assert [i["id"] for i in afar.get_json()["items"]] == [ids["far north"]]  # 110 km south of it


def region_listings_path(client, caller, west: float, south: float, east: float, north: float) -> str:
    """Draw a rectangle as the caller's region; the path of its listings."""
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    region = client.post(
        "/v1/regions",
        json={"name": "box", "geometry": {"type": "Polygon", "coordinates": [ring]}},
        headers=caller.headers,
    )
    return f"/v1/regions/{region.get_json()['id']}/listings"


def test_a_regions_listings_nearest_a_place_first(client, market_ids, alice):
    path = region_listings_path(client, alice, -79.42, 43.63, -79.35, 43.68)
    everything, cursor = [], None
    while True:
        query = {
            "sort": "distance",
            "distance_from": WORK,
            "limit": 7,
            **({"cursor": cursor} if cursor else {}),
        }
        body = client.get(path, query_string=query, headers=alice.headers).get_json()
        everything += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            break
    newest = client.get(path, query_string={"limit": 100}, headers=alice.headers).get_json()["items"]
    assert len(everything) == len(newest) > 7 and {i["id"] for i in everything} == {i["id"] for i in newest}
    assert [i["distance_m"] for i in everything] == sorted(i["distance_m"] for i in everything)
    refused = client.get(path, query_string={"sort": "distance"}, headers=alice.headers)
    assert refused.status_code == 422 and "needs distance_from" in str(refused.get_json())


@pytest.mark.parametrize(
    "place",
    [(60.025, 10.3), (60.3, 10.05), (60.1, 10.25), (59.9, 9.95), (60.02, 10.04)],
    ids=["east", "north", "north-east", "south-west", "inside"],
)
def test_a_regions_listings_nearest_a_place_in_or_out_of_it_come_in_metres(client, alice, db_session, place):
    """At 60 N, where a degree of longitude is half a degree of latitude's metres: from a place outside a
    region (east, north, across a corner) or in it, every page comes in metres and together they are the
    region's listings, each once (the search reads only where the circle of the page's farthest reaches
    into the region's box)."""
    from tests.factories import insert_listing

    source = a_source(db_session, "north")
    now = datetime.now(UTC)
    spots = [(10.0 + 0.1 * (i + 0.5) / 7, 60.0 + 0.05 * (j + 0.5) / 7) for i in range(7) for j in range(7)]
    spots += [(10.12, 60.02), (10.05, 60.07), (9.98, 59.99)]  # outside the region: never on its pages
    ids = {
        insert_listing(db_session, source.id, f"n{k}", now, lon, lat): (lat, lon)
        for k, (lon, lat) in enumerate(spots)
    }
    path = region_listings_path(client, alice, 10.0, 60.0, 10.1, 60.05)
    items, cursor = [], None
    while True:
        query = {"sort": "distance", "distance_from": f"{place[0]},{place[1]}", "limit": 3}
        body = client.get(
            path, query_string={**query, **({"cursor": cursor} if cursor else {})}, headers=alice.headers
        ).get_json()
        items += body["items"]
        if not (cursor := body["next_cursor"]):
            break
    inside = {i for i, (lat, lon) in ids.items() if 10.0 < lon < 10.1 and 60.0 < lat < 60.05}
    assert len(inside) == 49 and len(items) == 49 and {i["id"] for i in items} == inside
    distances = [i["distance_m"] for i in items]
    assert distances == sorted(distances)
    for item in items:
        assert abs(item["distance_m"] - metres(*place, *ids[item["id"]])) <= 0.005 * item["distance_m"] + 1


def test_the_stand_in_walks_to_the_listings_nearest_in_metres_first(db_session):
    """At 60 N a degree of longitude is half a degree of latitude's metres: from a place north-east of a
    region, its north-west corner is nearer in metres and its south-east corner in degrees. Walked from the
    place, the index comes to the south-east first; from its stand-in (app.search.stand_in), to the
    north-west."""
    from app.search import stand_in
    from tests.factories import insert_listing

    source = a_source(db_session, "corners")
    now = datetime.now(UTC)
    north_west = insert_listing(db_session, source.id, "nw", now, 10.0, 60.05)
    south_east = insert_listing(db_session, source.id, "se", now, 10.1, 60.0)
    place = (60.3, 10.3)
    assert metres(*place, 60.05, 10.0) < metres(*place, 60.0, 10.1)
    area = func.ST_MakeEnvelope(10.0, 60.0, 10.1, 60.05, 4326)

    def first_from(origin):
        by_degrees = Listing.geom.op("<->")(origin)
        ids = select(Listing.id).where(Listing.id.in_([north_west, south_east]))
        return db_session.scalar(ids.order_by(by_degrees).limit(1))

    assert first_from(func.ST_SetSRID(func.ST_MakePoint(place[1], place[0]), 4326)) == south_east
    assert first_from(stand_in(place, area)) == north_west


def test_a_page_nearest_a_place_holds_a_listing_on_the_line_between_two_strips_once(
    client, alice, db_session
):
    """The listings within the page's bound are read in STRIPS bands of latitude, each in its box: one on
    the line between two bands is in both boxes, and on the page once. (A view of 60-60.5 N whose page's
    bound reaches past its edges: bands 1/32 of a degree high, whose lines fall on 60.125 and 60.25.)"""
    import app.search
    from tests.factories import insert_listing

    assert app.search.STRIPS == 16
    source = a_source(db_session, "strips")
    now = datetime.now(UTC)
    spots = [(60.125, lon) for lon in (10.1, 10.2, 10.3, 10.4)] + [(60.25, 10.15), (60.25, 10.35)]
    spots += [(60.01, 10.01), (60.49, 10.49)]
    ids = {
        insert_listing(db_session, source.id, f"s{k}", now, lon, lat): (lat, lon)
        for k, (lat, lon) in enumerate(spots)
    }
    place = (60.25, 10.25)
    items = search(
        client, alice, bbox="10.0,60.0,10.5,60.5", sort="distance", distance_from="60.25,10.25", limit=20
    ).get_json()["items"]
    assert sorted(i["id"] for i in items) == sorted(ids)
    assert [i["id"] for i in items] == sorted(ids, key=lambda i: (metres(*place, *ids[i]), i))


def test_words_of_the_title_and_address_find_listings(client, alice, db_session):
    from tests.factories import insert_listing

    source = a_source(db_session, "words")
    now = datetime.now(UTC)
    flats = {
        "sunny": ("Sunny 2-bedroom with a balcony", "12 King St"),
        "bright": ("Bright condo: balconies, parking", "40 Queen St W"),
        "basement": ("Basement apartment with parking", "7 King St"),
        "studio": ("Studio in the Annex", "99 Bloor St"),
        "delisted": ("Balcony flat", "1 King St"),
    }
    ids = {}
    for n, (name, (title, address)) in enumerate(flats.items()):
        status = "delisted" if name == "delisted" else "active"
        ids[name] = insert_listing(db_session, source.id, name, now, -79.40 + n / 1000, 43.65, status=status)
        db_session.execute(
            update(Listing).where(Listing.id == ids[name]).values(title=title, address=address)
        )
    copy = insert_listing(db_session, source.id, "copy", now, -79.40, 43.65, canonical_id=ids["sunny"])
    db_session.execute(update(Listing).where(Listing.id == copy).values(title="Sunny balcony (reposted)"))

    def found(q, **more):
        response = search(client, alice, bbox=CITY, q=q, limit=100, **more)
        assert response.status_code == 200, response.get_json()
        return {name for name, i in ids.items() if i in {item["id"] for item in response.get_json()["items"]}}

    assert found("balcony") == {"sunny", "bright"}  # balconies too; neither the copy nor the delisted
    assert found("BALCONY parking") == {"bright"}  # every word
    assert found("parking -basement") == {"bright"}
    assert found('"king st"') == {"sunny", "basement"}  # a phrase of the address
    assert found("annex or queen") == {"bright", "studio"}
    assert found("parking", sort="price", price_max=2000) == {"bright", "basement"}  # with filters, sorts
    assert found("garden") == set()

    path = region_listings_path(client, alice, -79.41, 43.64, -79.39, 43.66)
    inside = client.get(path, query_string={"q": "parking"}, headers=alice.headers).get_json()["items"]
    assert {i["id"] for i in inside} == {ids["bright"], ids["basement"]}

    for q in ("the with", "", "balcony\x00", "x" * 201):
        refused = search(client, alice, bbox=CITY, q=q)
        assert refused.status_code == 422, q
        assert refused.get_json()["errors"][0]["field"] in ("query.q", "query.q.0"), q
    common = search(client, alice, bbox=CITY, q="the with").get_json()["detail"]
    assert "no word to search for" in common and "'the'" in common


def test_a_search_by_words_reads_the_words_index(db_session, alice):
    """The words are a column ANALYZE knows: among 3,000 listings the plan finds the two with a rare word
    by ix_listings_words, not by reading the area's listings."""
    from sqlalchemy.dialects import postgresql

    from app.search import build_search

    source = a_source(db_session, "many")
    db_session.execute(
        text("""
        INSERT INTO listings (source_id, source_ref, raw, status, title, address, price, geom, posted_at,
                              first_seen_at, last_seen_at)
        SELECT :s, g::text, '{}', 'active', CASE WHEN g % 1500 = 0 THEN 'Loft with a rooftop' ELSE
               'Flat number ' || g END, g || ' Dundas St', 1500, ST_SetSRID(ST_MakePoint(-79.4, 43.65), 4326),
               now(), now(), now()
        FROM generate_series(1, 3000) AS g
    """),
        {"s": source.id},
    )
    db_session.execute(text("ANALYZE listings"))
    query, *_ = build_search(
        db_session, alice.user.id, {"bbox": (-80.0, 43.0, -79.0, 44.0), "q": ["rooftops"]}
    )
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    plan = "\n".join(db_session.execute(text("EXPLAIN " + sql)).scalars())
    assert "ix_listings_words" in plan, plan
    assert len(db_session.execute(query).all()) == 2


def test_a_regions_walk_by_words_looks_each_listing_up_by_id(client, db_session, alice):
    """The 3,000 listings of a region have a phrase the planner takes for rare (27,000 elsewhere have none of
    its words): the walk of its memberships looks each listing up by id, where through the region's shape
    the plan read them all off ix_listings_words for each one walked to (9 s at 1M listings)."""
    from sqlalchemy.dialects import postgresql

    from app.search import build_search, walked_first

    source = a_source(db_session, "many")
    db_session.execute(
        text("""
        INSERT INTO listings (source_id, source_ref, raw, status, title, address, price, geom, posted_at,
                              first_seen_at, last_seen_at)
        SELECT :s, g::text, '{}', 'active', CASE WHEN g <= 3000 THEN 'Flat with in-suite laundry' ELSE
               'Flat number ' || g END, g || ' Dundas St', 1500 + g % 1000,
               ST_SetSRID(ST_MakePoint(-79.4 + g % 3000 / 1e6, 43.65 + g / 3000 * 0.1), 4326), now(), now(),
               now()
        FROM generate_series(1, 30000) AS g
    """),
        {"s": source.id},
    )
    db_session.execute(text("ANALYZE listings"))
    region_id = int(region_listings_path(client, alice, -79.41, 43.64, -79.39, 43.66).split("/")[3])
    db_session.execute(text("ANALYZE region_listings"))
    args = {"region_id": region_id, "q": ['"in-suite laundry"'], "limit": 20}
    query, spec, sort, anywhere = build_search(db_session, alice.user.id, args)
    walk = walked_first(query, spec, sort, args, anywhere)
    sql = str(walk.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    plan = "\n".join(db_session.execute(text("EXPLAIN " + sql)).scalars())
    assert "pk_listings" in plan and "ix_listings_words" not in plan, plan
    assert len(db_session.execute(walk).all()) == 21


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "query.area"),
        ({"bbox": CITY, "near": "43.6,-79.3", "radius_m": 100}, "query.area"),
        ({"near": "43.6,-79.3"}, "query.radius_m"),
        ({"bbox": "-79,43,-80,44"}, "query.bbox"),
        ({"bbox": "a,b,c,d"}, "query.bbox"),
        ({"near": "95,10", "radius_m": 10}, "query.near"),
        ({"bbox": CITY, "sort": "distance"}, "query.sort"),  # from where?
        ({"bbox": CITY, "distance_from": "43.6"}, "query.distance_from"),
        ({"bbox": CITY, "distance_from": "43.6,-200"}, "query.distance_from"),
        ({"bbox": CITY, "distance_from": "43.6,nan"}, "query.distance_from"),
        (
            {
                "bbox": CITY,
                "sort": "distance",
                "distance_from": WORK,
                "cursor": encode_cursor("distance", ["x", 1]),
            },
            "query.cursor",
        ),
        ({"bbox": CITY, "limit": 500}, "query.limit"),
        ({"bbox": CITY, "sort": "random()"}, "query.sort"),
        ({"bbox": CITY, "unit_type": "castle"}, "query.unit_type.0"),
        ({"bbox": CITY, "price_min": 3000, "price_max": 1000}, "query.price_min"),
        ({"bbox": CITY, "colour": "blue"}, "query.colour"),
        ({"bbox": CITY, "cursor": "garbage!!"}, "query.cursor"),
        # cursors put together by hand: each of these was a 500 from PostgreSQL or from int()
        ({"bbox": CITY, "sort": "price", "cursor": encode_cursor("price", ["x", 1])}, "query.cursor"),
        ({"bbox": CITY, "sort": "price", "cursor": encode_cursor("price", [10**30, 1])}, "query.cursor"),
        ({"bbox": CITY, "sort": "price", "cursor": encode_cursor("price", [1500, 2**70])}, "query.cursor"),
        ({"bbox": CITY, "sort": "value", "cursor": encode_cursor("value", [10**320, 1])}, "query.cursor"),
        ({"bbox": CITY, "posted_since": "9999-12-31T23:59:59-23:00"}, "query.posted_since"),  # 10000 in UTC
        ({"bbox": CITY, "posted_since": "0001-01-01T00:00:00+05:00"}, "query.posted_since"),  # year 0
    ],
)
def test_bad_queries_are_problems_naming_the_field(client, alice, params, field):
    response = search(client, alice, **params)
    assert response.status_code in (400, 422) and response.mimetype == "application/problem+json"
    assert field in [e["field"] for e in response.get_json()["errors"]], response.get_json()


def test_posted_since_takes_any_offset_python_reads(client, market_ids, alice):
    # PostgreSQL takes offsets up to 15:59: -20:00 (which Python reads) was a 500
    since = datetime.now(UTC) - timedelta(days=3)
    far_west = since.astimezone(timezone(timedelta(hours=-20))).isoformat()
    ids = [
        i["id"]
        for i in search(client, alice, bbox=CITY, posted_since=far_west, limit=100).get_json()["items"]
    ]
    same = search(client, alice, bbox=CITY, posted_since=since.isoformat(), limit=100).get_json()["items"]
    assert ids and ids == [i["id"] for i in same]


def test_filters(client, market_ids, alice):
    body = search(
        client,
        alice,
        bbox=CITY,
        bedrooms_min=2,
        bedrooms_max=3,
        price_max=3500,
        unit_type=["condo", "apartment"],
        limit=100,
    ).get_json()
    assert body["items"]
    for item in body["items"]:
        assert (
            2 <= item["bedrooms"] <= 3
            and item["price"] <= 3500
            and item["unit_type"] in ("condo", "apartment")
        )
    labelled = search(client, alice, bbox=CITY, label="high", limit=100).get_json()["items"]
    assert labelled and all(i["price_rank"]["label"] == "high" for i in labelled)

    # by floor area: listings that give none are left out of a size range
    sizes = {i["id"]: i["sqft"] for i in search(client, alice, bbox=CITY, limit=100).get_json()["items"]}
    assert None in sizes.values() and any(size and 700 <= size <= 1000 for size in sizes.values())
    sized, _ = all_pages(client, alice, bbox=CITY, sqft_min=700, sqft_max=1000, limit=100)
    assert {i for i, size in sizes.items() if size is not None and 700 <= size <= 1000} <= set(sized)
    assert not {i for i, size in sizes.items() if size is None or not 700 <= size <= 1000} & set(sized)
    wrong = search(client, alice, bbox=CITY, sqft_min=900, sqft_max=800)
    assert wrong.status_code == 422 and "sqft_min is above sqft_max" in wrong.get_json()["detail"]


def all_pages(client, caller, **params):
    seen, cursor, pages = [], None, 0
    while True:
        body = search(client, caller, **params, **({"cursor": cursor} if cursor else {})).get_json()
        seen += [i["id"] for i in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            return seen, pages


def cut_and_date(db_session, listing_ids, first_day: date) -> None:
    """Cuts of 1-12% (some alike) and rises; move-in days from `first_day` on, some alike, some not said."""
    for n, listing_id in enumerate(listing_ids):
        db_session.execute(
            update(Listing)
            .where(Listing.id == listing_id)
            .values(
                price=Listing.price * (100 - n % 13 + 1) // 100,
                available_from=None if n % 5 == 0 else first_day + timedelta(days=n % 17 * 9),
            )
        )


SORTS = ["newest", "price", "price_desc", "value", "price_cut", "available", "distance"]


@pytest.mark.parametrize("sort", SORTS)
def test_sorted_and_paginated_without_gaps_or_repeats(client, db_session, market_ids, alice, sort):
    cut_and_date(db_session, list(market_ids.values())[:120], date(2026, 11, 1))
    place = {"distance_from": WORK} if sort == "distance" else {}
    ids, pages = all_pages(client, alice, bbox=CITY, sort=sort, limit=37, **place)
    assert len(ids) == len(set(ids)) == 400 and pages == 11
    items = search(client, alice, bbox=CITY, sort=sort, limit=100, **place).get_json()["items"]
    key = {
        "newest": lambda i: -datetime.fromisoformat(i["posted_at"]).timestamp(),
        "price": lambda i: i["price"],
        "price_desc": lambda i: -i["price"],
        "value": lambda i: i["price"] / i["price_rank"]["p50"] if i["price_rank"] else 1e9,
        "price_cut": lambda i: min(0, i["price_change"]["percent"]) if i["price_change"] else 0,
        "available": lambda i: date.fromisoformat(i["available_from"] or "9999-12-31").toordinal(),
        "distance": lambda i: i["distance_m"],
    }[sort]
    keys = [key(i) for i in items]
    # the API rounds p50 to whole dollars, a percentage to a tenth, metres to whole; the server sorts exactly
    slack = {"value": 1e-3, "price_cut": 0.05, "distance": 1}.get(sort, 0)
    assert all(a <= b + slack for a, b in zip(keys, keys[1:], strict=False))
    if sort == "available":
        assert (keys[0], keys[-1]) == (date(2026, 11, 1).toordinal(), date.max.toordinal())


def walked_pages(client, db_session, caller, monkeypatch, part=25, **params):
    """Every page of a search (all_pages) with no listing walked first, `part`, or 400 (app.search.WALK,
    REGION_WORDS_WALK), and how many of them were found in the walk, by walk."""
    import app.search

    walks, walked_first = [], app.search.walked_first
    monkeypatch.setattr(app.search, "walked_first", lambda *a: walks.append(walked_first(*a)) or walks[-1])
    pages, found = {}, {}
    for walk in (0, part, 400):
        monkeypatch.setattr(app.search, "WALK", dict.fromkeys(app.search.WALK, walk))
        monkeypatch.setattr(app.search, "REGION_WORDS_WALK", walk)
        walks.clear()
        pages[walk] = all_pages(client, caller, **params)
        limit = params["limit"]
        found[walk] = sum(len(db_session.execute(w).all()) > limit for w in walks)  # a page and one more
    return pages, found


@pytest.mark.parametrize("sort", ["price", "price_desc", "price_cut", "available"])
def test_a_views_pages_are_the_same_found_in_a_walk_of_their_order_or_not(
    client, db_session, market_ids, alice, sort, monkeypatch
):
    """A page first looked for among the next WALK listings of the order (app.search.WALK), in a view
    holding part of them: with none walked, every page is the view's own sorted; with 25 some are found in
    the walk and some not; with all 400, each but the last."""

    cut_and_date(db_session, list(market_ids.values())[:200], date(2026, 11, 1))
    pages, found = walked_pages(
        client, db_session, alice, monkeypatch, bbox="-79.45,43.62,-79.30,43.70", sort=sort, limit=7
    )
    ids, count = pages[0]
    assert pages[25] == pages[400] == pages[0] and 20 < len(ids) < 400
    assert found[0] == 0 and 1 < found[25] < count - 1 and found[400] == count - 1


@pytest.mark.parametrize("sort", ["price", "price_desc"])
def test_a_views_pages_by_price_are_the_same_found_cell_by_cell_or_not(
    client, db_session, market_ids, alice, sort, monkeypatch
):
    """A view by price is searched in each grid cell it covers (app.search.cells_first): the same pages as
    the view's own listings sorted, with listings on its edges, on a cell's edge, a hair out of the view
    (boxes compared in single precision) and at one price, with a flat the caller hid and a price filter
    (read off the index too); a filter of the listings' other columns walks the view as before."""
    import app.search

    west, south, east, north = -79.425, 43.63, -79.36, 43.67
    ids = list(market_ids.values())
    places = [(west, 43.65), (east, north), (-79.4, south), (-79.4 + 1 / 400, 43.64), (west - 3e-6, 43.66)]
    places += [(-79.39, north + 3e-6), (west - 1e-3, 43.65)]
    for listing_id, (lon, lat) in zip(ids[:7], places, strict=True):
        db_session.execute(
            update(Listing)
            .where(Listing.id == listing_id)
            .values(geom=f"SRID=4326;POINT({lon} {lat})", bedrooms=2, price=2000)
        )
    db_session.execute(update(Listing).where(Listing.id.in_(ids[7:60:3])).values(price=1500))
    firsts, cells_first = [], app.search.cells_first
    monkeypatch.setattr(app.search, "cells_first", lambda *a: firsts.append(cells_first(*a)) or firsts[-1])
    view = {"bbox": f"{west},{south},{east},{north}", "sort": sort, "limit": 7}
    for where in ({}, {"price_max": 2500}, {"bedrooms_min": 2}):
        if where == {"price_max": 2500}:  # and a flat the caller hid
            assert client.put(f"/v1/me/hidden/{ids[3]}", headers=alice.headers).status_code == 201
        pages, in_cells = {}, {}
        for cells in (0, app.search.CELLS):
            monkeypatch.setattr(app.search, "CELLS", cells)
            firsts.clear()
            pages[cells] = all_pages(client, alice, **view, **where)
            in_cells[cells] = sum(first is not None for first in firsts)
        shown, count = pages[0]
        assert pages[app.search.CELLS] == pages[0] and 20 < len(shown) < 300
        assert (
            ids[0] in shown and ids[1] in shown and ids[6] not in shown and (ids[3] in shown) == (not where)
        )
        price = dict(db_session.execute(select(Listing.id, Listing.price).where(Listing.id.in_(shown))).all())
        keys = [(price[i], i) for i in shown]
        assert keys == sorted(keys, reverse=sort == "price_desc")
        assert max(keys)[0] <= where.get("price_max", 1e9)
        assert in_cells[0] == 0 and in_cells[app.search.CELLS] == (0 if "bedrooms_min" in where else count)


@pytest.mark.parametrize("area", ["bbox", "region"])
def test_a_page_by_value_is_the_same_found_among_the_ranks_walked_or_not(
    client, db_session, market_ids, alice, area, monkeypatch
):
    """By best value a page is first looked for among the next WALK ranks by value (price_ranks.value,
    which follows price changes), in a view and in a region holding part of them: with none walked, 16 or
    all, the same pages, in the order of price over p50 and the unranked last; with all walked, every page
    but those reaching the unranked is found in the walk."""
    from models.price_rank import PriceRank

    ids = list(market_ids.values())
    prices = dict(db_session.execute(select(Listing.id, Listing.price).where(Listing.id.in_(ids))).all())
    for n, listing_id in enumerate(ids[1:300:2]):  # 350 ranked, values spread 0.7-1.3
        p50 = prices[listing_id] / (0.7 + n % 13 / 20)
        add_price_rank(db_session, listing_id, p50 * 0.9, p50, p50 * 1.1)
    db_session.execute(update(Listing).where(Listing.id.in_(ids[::7])).values(price=Listing.price + 400))
    west, south, east, north = -79.45, 43.62, -79.30, 43.70
    if area == "bbox":
        where = {"bbox": f"{west},{south},{east},{north}"}
    else:
        where = {
            "region_id": int(region_listings_path(client, alice, west, south, east, north).split("/")[3])
        }
    # a page is 7 and one more: 16 walked hold them about as often as not (the area holds half the ranks)
    pages, found = walked_pages(client, db_session, alice, monkeypatch, 16, sort="value", limit=7, **where)
    shown, count = pages[0]
    assert pages[16] == pages[400] == pages[0] and 20 < len(shown) < 400
    value = dict(
        db_session.execute(
            select(Listing.id, Listing.price / func.nullif(PriceRank.p50, 0, type_=Float))
            .outerjoin(PriceRank, PriceRank.listing_id == Listing.id)
            .where(Listing.id.in_(shown))
        ).all()
    )
    keys = [(value[i] if value[i] is not None else math.inf, i) for i in shown]
    assert keys == sorted(keys) and keys[-1][0] == math.inf
    ranked_pages = sum(value[i] is not None for i in shown) // 7  # the pages found among the ranks
    assert found[0] == 0 and 1 < found[16] < found[400] and ranked_pages - 1 <= found[400] <= ranked_pages


@pytest.mark.parametrize("sort", ["newest", "price", "price_desc", "price_cut", "available"])
def test_a_regions_pages_by_words_are_the_same_found_in_a_walk_of_its_order_or_not(
    client, db_session, market_ids, alice, sort, monkeypatch
):
    """A region's page by words is first looked for among its next REGION_WORDS_WALK listings of the order
    (region_listings), and else through its shape: with none walked, 25 or 400, the same pages of the
    region's flats with the words, in its order."""
    ids = list(market_ids.values())
    cut_and_date(db_session, ids[:200], date(2026, 11, 1))
    db_session.execute(update(Listing).where(Listing.id.in_(ids[::3])).values(title="Flat with a balcony"))
    db_session.execute(update(Listing).where(Listing.id.in_(ids[1::3])).values(title="Flat, balcony gone"))
    west, south, east, north = -79.45, 43.62, -79.30, 43.70
    region_id = int(region_listings_path(client, alice, west, south, east, north).split("/")[3])
    query = {"region_id": region_id, "q": "balcony -gone", "sort": sort, "limit": 7}
    pages, found = walked_pages(client, db_session, alice, monkeypatch, **query)
    shown, count = pages[0]
    assert pages[25] == pages[400] == pages[0] and 20 < len(shown) < 140
    inside = func.ST_Contains(func.ST_MakeEnvelope(west, south, east, north, 4326), Listing.geom)
    wanted = select(Listing.id).where(Listing.id.in_(ids), Listing.title == "Flat with a balcony", inside)
    assert set(shown) == set(db_session.scalars(wanted)) and len(shown) == len(set(shown))
    column = {"newest": Listing.posted_at, "price_cut": Listing.cut_share, "available": Listing.move_in}
    key = dict(db_session.execute(select(Listing.id, column.get(sort, Listing.price))).all())
    keys = [(key[i], i) for i in shown]
    assert keys == sorted(keys, reverse=sort in ("newest", "price_desc", "price_cut"))
    # the walk of 25 memberships holds a page of 7 about as often as not (one in three has the words)
    assert found[0] == 0 and 1 < found[25] < count - 1 and found[400] == count - 1


@pytest.mark.parametrize("sort", SORTS)
def test_a_views_pages_by_words_are_its_listings_with_them_in_its_order(
    client, db_session, market_ids, alice, sort, monkeypatch
):
    """By words a view's page not found in a walk of its order (by newest, and by value past the ranks) is
    found as ids first, then their listings and ranks (app.search.ids_first): the same pages, rows and
    distances as the listings with the words sorted and joined to their ranks at once."""
    import app.search

    ids = list(market_ids.values())
    cut_and_date(db_session, ids[:200], date(2026, 11, 1))
    db_session.execute(update(Listing).where(Listing.id.in_(ids[::3])).values(title="Flat with a balcony"))
    view = {"bbox": CITY, "q": "balcony", "sort": sort, "distance_from": WORK}
    ids_first, pages, items = app.search.ids_first, {}, {}
    for first in (True, False):
        monkeypatch.setattr(app.search, "ids_first", ids_first if first else lambda query, spec: query)
        pages[first] = all_pages(client, alice, **view, limit=9)
        items[first] = search(client, alice, **view, limit=100).get_json()["items"]
    assert pages[True] == pages[False] and pages[True][0][:100] == [i["id"] for i in items[True]]
    assert items[True] == items[False] and sorted(pages[True][0]) == sorted(ids[::3])
    assert all(i["distance_m"] is not None for i in items[True])
    assert sum(bool(i["price_rank"]) for i in items[True]) > 20


def test_a_rank_with_a_p50_of_0_is_valued_as_the_unranked_and_ordered_among_them_by_id(
    client, db_session, market_ids, alice
):
    """Not walked with the ranks (whose walk would find it before an unranked listing of a lower id)."""
    from models.price_rank import PriceRank

    first, *ranked = sorted(market_ids.values())[:3]
    db_session.execute(delete(PriceRank))
    for listing_id in ranked:
        add_price_rank(db_session, listing_id, 0, 0, 0)
    items = search(client, alice, bbox=CITY, sort="value", limit=1).get_json()["items"]
    assert [i["id"] for i in items] == [first]


@pytest.mark.parametrize("sort", SORTS)
def test_a_region_lists_its_flats_in_every_order_as_a_view_of_it_does(
    client, db_session, market_ids, alice, sort, monkeypatch
):
    """A region's orders come off its own indexes (region_listings keeps each listing's keys): the same
    flats in the same order as a view of the same rectangle, after its listings changed price and move-in
    day too (placed again, as the process job and the stream place what they change), and without the
    flats the caller hid, listed or asked of each membership (models.hidden)."""
    from models import hidden
    from models.matching import place_in_regions

    listing_ids = list(market_ids.values())
    cut_and_date(db_session, listing_ids[:120], date(2026, 11, 1))
    path = region_listings_path(client, alice, -79.70, 43.50, -79.05, 43.90)
    region_id = int(path.split("/")[3])
    cut_and_date(db_session, listing_ids[60:200], date(2027, 1, 15))
    place_in_regions(db_session, listing_ids[60:200])
    place = {"distance_from": WORK} if sort == "distance" else {}
    in_view, _ = all_pages(client, alice, bbox=CITY, sort=sort, limit=37, **place)
    in_region, _ = all_pages(client, alice, region_id=region_id, sort=sort, limit=37, **place)
    assert in_region == in_view and len(in_region) == 400
    hid = in_view[3::40]
    for listing_id in hid:
        assert client.put(f"/v1/me/hidden/{listing_id}", headers=alice.headers).status_code == 201
    for listed in (hidden.MAX_LISTED, 1):
        monkeypatch.setattr(hidden, "MAX_LISTED", listed)
        in_region, _ = all_pages(client, alice, region_id=region_id, sort=sort, limit=37, **place)
        assert in_region == [i for i in in_view if i not in hid] and len(in_region) == 390


def test_pages_stay_stable_while_new_listings_arrive(client, db_session, market_ids, alice, small_market):
    first = search(client, alice, bbox=CITY, limit=50).get_json()
    newcomers = small_market.head(30).assign(listing_id=lambda f: f.listing_id + 10_000)
    new_ids = set(insert_active_listings(db_session, newcomers, source_name="late").values())
    db_session.execute(
        update(Listing)
        .where(Listing.id.in_(new_ids))
        .values(posted_at=datetime.now(UTC) + timedelta(hours=1))
    )
    seen = [i["id"] for i in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        body = search(client, alice, bbox=CITY, limit=50, cursor=cursor).get_json()
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
    assert len(seen) == len(set(seen)) == 400  # nothing twice, nothing skipped, newcomers not interleaved
    assert not new_ids & set(seen)


def test_cursor_from_another_sort_is_refused(client, market_ids, alice):
    cursor = search(client, alice, bbox=CITY, sort="price", limit=5).get_json()["next_cursor"]
    response = search(client, alice, bbox=CITY, sort="newest", cursor=cursor)
    assert response.status_code == 400 and "different sort" in response.get_json()["detail"]


def test_detail_explains_and_supports_etags(client, market_ids, db_session):
    ranked_id = next(iter(market_ids.values()))
    response = client.get(f"/v1/listings/{ranked_id}")
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "active"
    assert (
        body["explanation"].startswith(f"${body['price']:,} is ")
        and "usually rent for" in body["explanation"]
    )
    assert body["chart_url"] == f"/v1/listings/{ranked_id}/price-rank.svg"
    etag = response.headers["ETag"]
    again = client.get(f"/v1/listings/{ranked_id}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.data
    svg = client.get(body["chart_url"])
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and svg.data.startswith(b"<svg")


def test_detail_of_delisted_pending_and_unknown(client, db_session, market_ids):
    ids = list(market_ids.values())
    db_session.execute(update(Listing).where(Listing.id == ids[0]).values(status="delisted"))
    db_session.execute(update(Listing).where(Listing.id == ids[1]).values(status="pending"))
    delisted = client.get(f"/v1/listings/{ids[0]}").get_json()
    assert (
        delisted["status"] == "delisted"
        and delisted["price_rank"] is None
        and delisted["explanation"] is None
    )
    assert client.get(f"/v1/listings/{ids[0]}/price-rank.svg").status_code == 404
    assert client.get(f"/v1/listings/{ids[1]}").status_code == 404
    assert client.get("/v1/listings/999999999").status_code == 404


def test_a_link_to_a_copy_opens_the_flat_it_copies(client, db_session, market_ids):
    """An alert's link names the listing it was about; that listing may since have been found to copy
    another, or have gone and passed its flat to a copy from another source (it then copies that)."""
    flat, went, third = list(market_ids.values())[:3]
    db_session.execute(update(Listing).where(Listing.id == went).values(status="delisted", canonical_id=flat))
    shown = client.get(f"/v1/listings/{flat}").get_json()
    linked = client.get(f"/v1/listings/{went}")
    assert linked.status_code == 200 and linked.get_json() == shown and shown["status"] == "active"
    assert client.get(f"/v1/listings/{went}/price-rank.svg").data == client.get(shown["chart_url"]).data
    # a listing pointing at a copy (for a moment, before the recheck mends it) opens nothing
    db_session.execute(update(Listing).where(Listing.id == flat).values(canonical_id=third))
    assert client.get(f"/v1/listings/{went}").status_code == 404


def test_detail_says_why_a_listing_outside_the_market_has_no_rank(
    client, db_session, market_ids, active_model
):
    """The model learned Toronto: a flat moved to Montreal is not ranked, and the detail says why; an
    unranked flat in Toronto is simply not ranked yet."""
    ids = list(market_ids.values())
    ranked, unranked = ids[0], ids[1]  # every other listing has a rank
    db_session.execute(
        update(Listing)
        .where(Listing.id == ids[2])
        .values(geom=func.ST_SetSRID(func.ST_MakePoint(-73.57, 45.50), 4326))
    )
    db_session.execute(text("DELETE FROM price_ranks WHERE listing_id = :id"), {"id": ids[2]})
    away = client.get(f"/v1/listings/{ids[2]}").get_json()
    assert away["price_rank"] is None and away["explanation"] == (
        "nook knows no other listing within 50 km of this one, so it does not judge its price."
    )
    assert client.get(f"/v1/listings/{unranked}").get_json()["explanation"] is None
    assert "usually rent for" in client.get(f"/v1/listings/{ranked}").get_json()["explanation"]


def test_price_changes_are_shown_searched_and_kept_as_a_history(client, db_session, market_ids, alice):
    cut_id, raised_id, still_id = list(market_ids.values())[:3]
    prices = dict(
        db_session.execute(select(Listing.id, Listing.price).where(Listing.id.in_(market_ids.values()))).all()
    )
    before = db_session.scalar(text("SELECT clock_timestamp()"))
    db_session.execute(update(Listing).where(Listing.id == cut_id).values(price=round(prices[cut_id] * 0.9)))
    db_session.execute(update(Listing).where(Listing.id == raised_id).values(price=prices[raised_id] + 100))
    changed_at = db_session.scalar(select(Listing.price_changed_at).where(Listing.id == cut_id))

    cut = search(client, alice, bbox=CITY, price_cut="true", limit=100).get_json()["items"]
    assert [i["id"] for i in cut] == [cut_id]
    change = cut[0]["price_change"]
    assert change["previous_price"] == prices[cut_id] and change["percent"] == pytest.approx(-10, abs=0.1)
    assert datetime.fromisoformat(change["changed_at"]) == changed_at >= before
    assert change["words"] == f"Cut 10% on {changed_at:%-d %b %Y}, from ${prices[cut_id]:,}."
    uncut = {i["id"]: i for i in all_items(client, alice, bbox=CITY, price_cut="false")}
    assert cut_id not in uncut and len(uncut) == len(market_ids) - 1
    assert uncut[raised_id]["price_change"]["words"].startswith("Raised ")
    assert uncut[still_id]["price_change"] is None
    recent = search(client, alice, bbox=CITY, price_cut_since=before.isoformat(), limit=100).get_json()
    assert [i["id"] for i in recent["items"]] == [cut_id]
    later = (changed_at + timedelta(seconds=1)).isoformat()
    assert search(client, alice, bbox=CITY, price_cut_since=later).get_json()["items"] == []

    detail = client.get(f"/v1/listings/{cut_id}").get_json()
    first_seen = datetime.fromisoformat(detail["first_seen_at"])
    assert [
        (h["price"], h["since"] and datetime.fromisoformat(h["since"])) for h in detail["price_history"]
    ] == [
        (prices[cut_id], first_seen),
        (detail["price"], changed_at),
    ]
    assert detail["price_change"] == change
    still = client.get(f"/v1/listings/{still_id}").get_json()
    assert still["price_change"] is None and [h["price"] for h in still["price_history"]] == [
        prices[still_id]
    ]


def test_a_move_in_day_finds_the_flats_free_by_then_and_those_not_saying(
    client, db_session, market_ids, alice
):
    march, june, unsaid, past = list(market_ids.values())[:4]
    for listing_id, day in ((march, date(2027, 3, 1)), (june, date(2027, 6, 1)), (past, date(2020, 1, 1))):
        db_session.execute(update(Listing).where(Listing.id == listing_id).values(available_from=day))
    every = {i["id"]: i for i in all_items(client, alice, bbox=CITY)}
    assert (every[march]["available_from"], every[june]["available_from"]) == ("2027-03-01", "2027-06-01")
    assert every[unsaid]["available_from"] is None
    by_april = {i["id"] for i in all_items(client, alice, bbox=CITY, available_by="2027-04-01")}
    assert by_april == set(every) - {june}  # those not saying when stay in
    assert june in {i["id"] for i in all_items(client, alice, bbox=CITY, available_by="2027-06-01")}
    # a region's listings take the filter too
    path = region_listings_path(client, alice, -79.70, 43.50, -79.05, 43.90)
    in_region, cursor = set(), None
    while True:
        query = {"available_by": "2027-04-01", "limit": 100} | ({"cursor": cursor} if cursor else {})
        page = client.get(path, query_string=query, headers=alice.headers).get_json()
        in_region |= {i["id"] for i in page["items"]}
        if not (cursor := page["next_cursor"]):
            break
    assert in_region == by_april
    assert client.get(f"/v1/listings/{march}").get_json()["available_from"] == "2027-03-01"
    # the soonest one may move in first (of those free already, the longest free), a flat not saying when
    # last (by id)
    soonest, cursor = [], None
    while True:
        query = {"sort": "available", "limit": 7} | ({"cursor": cursor} if cursor else {})
        page = client.get(path, query_string=query, headers=alice.headers).get_json()
        soonest += [i["id"] for i in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert soonest[:3] == [past, march, june]
    assert soonest[3:] == sorted(soonest[3:]) and set(soonest) == in_region | {june}
    assert [i["id"] for i in all_items(client, alice, bbox=CITY, sort="available")][:3] == [past, march, june]
    wrong = search(client, alice, bbox=CITY, available_by="March 1")
    assert wrong.status_code == 422 and wrong.get_json()["errors"][0]["field"] == "query.available_by"


def test_a_long_price_history_gives_its_last_changes(client, db_session, market_ids):
    listing_id = next(iter(market_ids.values()))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    db_session.execute(
        text("""
            INSERT INTO listing_price_changes (listing_id, changed_at, old_price, new_price)
            SELECT :id, :start + n * interval '1 day', 2000 + n, 2001 + n FROM generate_series(0, 104) n
        """),
        {"id": listing_id, "start": start},
    )  # a source that moved its price every day for 105 days
    history = client.get(f"/v1/listings/{listing_id}").get_json()["price_history"]
    assert len(history) == 101 and history[0] == {"price": 2005, "since": None}
    assert history[-1]["price"] == 2105 and history[1]["price"] == 2006


def all_items(client, caller, **params):
    items, cursor = [], None
    while True:
        body = search(
            client, caller, **params, limit=100, **({"cursor": cursor} if cursor else {})
        ).get_json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items


def test_similar_listings_nearby_to_compare_with(client, alice, db_session):
    """As many bedrooms (4 or more together), shown (active, not a copy), within 5 km, nearest first,
    with their distance; never the listing itself."""
    from tests.factories import insert_listing

    source = a_source(db_session, "similar")
    now = datetime.now(UTC)
    east = 1 / 80.4  # degrees of longitude to a kilometre at 43.65 N (approximately)

    def add(ref, km_east, bedrooms=1, **extra):
        return insert_listing(
            db_session, source.id, ref, now, -79.38 + km_east * east, 43.65, bedrooms, **extra
        )

    asked = add("asked", 0)
    near, farther = add("near", 0.3, price=2100), add("farther", 1.2, price=1900)
    add("two-bedroom", 0.1, bedrooms=2)
    add("too far", 8)
    add("gone", 0.05, status="delisted")
    add("copy", 0.02, canonical_id=near)
    big, bigger = add("four", 3, bedrooms=4), add("five", 3.1, bedrooms=5)

    answer = client.get(f"/v1/listings/{asked}/similar", headers=alice.headers)
    assert answer.status_code == 200
    items = answer.get_json()["items"]
    assert [i["id"] for i in items] == [near, farther]
    assert [round(i["distance_m"], -2) for i in items] == [300, 1200]
    assert items[0]["price"] == 2100 and "price_rank" in items[0]
    one = client.get(f"/v1/listings/{asked}/similar?limit=1", headers=alice.headers).get_json()["items"]
    assert [i["id"] for i in one] == [near]
    four = client.get(f"/v1/listings/{big}/similar", headers=alice.headers).get_json()["items"]
    assert [i["id"] for i in four] == [bigger]  # 4+ bedrooms together, as the price model groups them

    assert client.get(f"/v1/listings/{asked}/similar").status_code == 401
    assert client.get("/v1/listings/987654321/similar", headers=alice.headers).status_code == 404
    for limit in (0, 21, "x"):
        assert (
            client.get(f"/v1/listings/{asked}/similar?limit={limit}", headers=alice.headers).status_code
            == 422
        )
