"""Listing search: one area, filters, a sort, and keyset pagination — SQL built by SQLAlchemy.

Sort keys come from an allow-list; every value is a bound parameter. Each sort
is a total order (its key plus the id), so a cursor resumes exactly after the
last row seen: new listings arriving between pages never make a row appear
twice or be skipped.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from geoalchemy2 import Geography
from sqlalchemy import BigInteger, Select, and_, cast, delete, func, literal, or_, select, text, true, union
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement

from app.errors import ApiError
from app.pagination import SortSpec
from models.explain import last_change
from models.hidden import not_hidden
from models.listing import CELLS_PER_DEGREE, ROW_CELLS, Listing, has_words, stands_for, words_query
from models.price_rank import PriceRank
from models.region import Region, RegionListing

UNRANKED_VALUE = 1e9  # sorts listings without a price rank after every ranked one
METRES_PER_DEGREE = 111_000.0
# a point's buffer of this radius (64 sides, 16 a quarter turn) holds the circle of radius 1: its sides come
# within cos(pi / 64) = 0.99880 of its vertices' distance from the centre
AROUND = 1.0025
SIMILAR_WITHIN_M = 5000  # similar listings are this near at most

SHOWN_NOW = (Listing.status == "active", Listing.canonical_id.is_(None))  # what a search shows
LAT = func.ST_Y(Listing.geom)
LON = func.ST_X(Listing.geom)
# price / p50, kept on the rank (migration 0048: price_ranks.value, walked by ix_price_ranks_value)
VALUE = func.coalesce(PriceRank.value, UNRANKED_VALUE)
# whether a listing's last change of price was a cut (its share: Listing.cut_share)
CUT = Listing.previous_price > Listing.price


SORTS = {
    "newest": SortSpec((Listing.posted_at, Listing.id), descending=True, kind="time"),
    "price": SortSpec((Listing.price, Listing.id), descending=False),
    "price_desc": SortSpec((Listing.price, Listing.id), descending=True),
    "value": SortSpec((VALUE, Listing.id), descending=False, kind="number"),
    # keys the database computes and indexes (models.listing.MOVE_IN_SQL, CUT_SHARE_SQL): the flats one may
    # move into soonest (a day gone, the longest free first) and those not saying when last; the biggest cut
    "price_cut": SortSpec((Listing.cut_share, Listing.id), descending=True, kind="number"),
    "available": SortSpec((Listing.move_in, Listing.id), descending=False, kind="number"),
}
# In a region, the same orders come straight off region_listings' indexes (an index walk of a
# page, however many listings the region holds). "value" depends on ranks: a region's page by it is first
# looked for among the next ranks by value (walked_first), its listings known by their memberships.
REGION_SORTS = {
    "newest": SortSpec((RegionListing.posted_at, RegionListing.listing_id), descending=True, kind="time"),
    "price": SortSpec((RegionListing.price, RegionListing.listing_id), descending=False),
    "price_desc": SortSpec((RegionListing.price, RegionListing.listing_id), descending=True),
    "price_cut": SortSpec(
        (RegionListing.cut_share, RegionListing.listing_id), descending=True, kind="number"
    ),
    "available": SortSpec((RegionListing.move_in, RegionListing.listing_id), descending=False, kind="number"),
}
BY_MEMBERSHIP = (*REGION_SORTS, "value")  # the orders a region's page finds its listings in by membership


def base_query() -> Select:
    """Active canonical listings with their price rank (if any)."""
    return (
        select(
            Listing.id,
            Listing.title,
            Listing.price,
            Listing.bedrooms,
            Listing.bathrooms,
            Listing.sqft,
            Listing.unit_type,
            Listing.furnished,
            Listing.url,
            Listing.posted_at,
            Listing.available_from,
            Listing.previous_price,
            Listing.price_changed_at,
            LAT.label("latitude"),
            LON.label("longitude"),
            PriceRank.label.label("rank_label"),
            PriceRank.p25,
            PriceRank.p50,
            PriceRank.p75,
            PriceRank.model_version,
            VALUE.label("value"),
            Listing.cut_share,
            Listing.move_in,
        )
        .outerjoin(PriceRank, PriceRank.listing_id == Listing.id)
        .where(*SHOWN_NOW)
    )


def owned_region(session: Session, user_id: int, region_id: int) -> int:
    """The region's id if the caller owns it, else a 404 (never a 403: ids of others stay unknown)."""
    region = session.scalar(select(Region.id).where(Region.id == region_id, Region.user_id == user_id))
    if region is None:
        raise ApiError(404, "No such region.", field="query.region_id")
    return region


def bounds(args: dict[str, Any]) -> ColumnElement[Any]:
    """A shape holding the search's area, whose bounding box `&&` compares: the region's shape (its
    owner checked first), the view, a box that surely holds the circle."""
    if "region_id" in args:
        return select(Region.geom).where(Region.id == args["region_id"]).scalar_subquery()
    if "bbox" in args:
        west, south, east, north = args["bbox"]
        return func.ST_MakeEnvelope(west, south, east, north, 4326)
    lat, lon = args["near"]
    radius = float(args["radius_m"])
    lon_degrees = radius / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
    return func.ST_MakeEnvelope(
        lon - lon_degrees,
        lat - radius / METRES_PER_DEGREE,
        lon + lon_degrees,
        lat + radius / METRES_PER_DEGREE,
        4326,
    )


def within_area(query: Select, session: Session, user_id: int, args: dict[str, Any]) -> Select:
    """Restrict to the one area the caller gave."""
    if "region_id" in args:
        owned_region(session, user_id, args["region_id"])
        # its shape as a value, not a join: the index then finds what it holds (and can walk it nearest
        # first, for sort=distance)
        return query.where(func.ST_Contains(bounds(args), Listing.geom))
    if "bbox" in args:
        return query.where(Listing.geom.op("&&")(bounds(args)))
    # A box that surely holds the circle lets the GiST index do the first cut, then metres on the sphere,
    # as distance_m gives them (a listing within radius_m is never said to be farther), and as a comparison
    # the planner expects many rows of, so that a search nearest the centre walks the index (it chose to
    # read and sort all of a 3 km circle at 1M listings, ~270k of them)
    lat, lon = args["near"]
    return query.where(Listing.geom.op("&&")(bounds(args)), metres_from(lat, lon) <= float(args["radius_m"]))


def filtered(query: Select, args: dict[str, Any]) -> Select:
    """Apply the optional filters."""
    bounds = (
        ("bedrooms_min", Listing.bedrooms, ">="),
        ("bedrooms_max", Listing.bedrooms, "<="),
        ("bathrooms_min", Listing.bathrooms, ">="),
        ("bathrooms_max", Listing.bathrooms, "<="),
        ("price_min", Listing.price, ">="),
        ("price_max", Listing.price, "<="),
        ("sqft_min", Listing.sqft, ">="),
        ("sqft_max", Listing.sqft, "<="),
    )
    for name, column, op in bounds:
        if args.get(name) is not None:
            query = query.where(column >= args[name] if op == ">=" else column <= args[name])
    if args.get("unit_type"):
        query = query.where(Listing.unit_type.in_(args["unit_type"]))
    if args.get("furnished") is not None:
        query = query.where(Listing.furnished.is_(args["furnished"]))
    if args.get("label"):
        query = query.where(PriceRank.label.in_(args["label"]))
    for words in args.get("q") or ():
        query = query.where(has_words(words_query(words)))
    return _in_time(query, args)


def _in_time(query: Select, args: dict[str, Any]) -> Select:
    """Apply the optional filters of when: posted, free to move into, price cut."""
    if args.get("posted_since") is not None:
        query = query.where(Listing.posted_at >= args["posted_since"])
    if args.get("available_by") is not None:  # a listing that does not say when stays in
        query = query.where(
            or_(Listing.available_from.is_(None), Listing.available_from <= args["available_by"])
        )
    if args.get("price_cut") is not None:
        query = query.where(CUT if args["price_cut"] else or_(Listing.previous_price.is_(None), ~CUT))
    if args.get("price_cut_since") is not None:
        query = query.where(CUT, Listing.price_changed_at >= args["price_cut_since"])
    return query


def check_words(session: Session, words: str, field: str) -> None:
    """A 422 for words with none to search for: words as common as "the" or "with" are left out of what
    is searched, and a query of only those would find nothing and not say why."""
    if not session.scalar(select(func.numnode(words_query(words)))):
        name = field.rsplit(".", 1)[-1]
        raise ApiError(
            422,
            f"{name}: no word to search for; words as common as 'the', 'in' or 'with' are left out.",
            field=field,
        )


SORT_KEY = {  # which of a row's columns is its sort's first key
    "newest": "posted_at",
    "price": "price",
    "price_desc": "price",
    "value": "value",
    "price_cut": "cut_share",
    "available": "move_in",
    "distance": "distance_m",  # a row has it only from a search from a place
}


def metres_from(lat: float, lon: float) -> ColumnElement[float]:
    """A listing's distance from a point, in metres on the sphere (within 0.5% of the spheroid's, and
    a seventh of its cost: ~1.5 us a listing here, against ~10)."""
    here = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    return func.ST_Distance(cast(Listing.geom, Geography), cast(here, Geography), False)


def place_of(args: dict[str, Any]) -> tuple[float, float] | None:
    """Where a search measures distances from (and may sort by them): `distance_from`, else `near`."""
    return args.get("distance_from") or args.get("near")


def through_region_listings(args: dict[str, Any], sort: str) -> bool:
    """Whether a search finds its region's listings by their memberships: its page comes off the region's
    own index in its order (by value, they are what the ranks walked are joined to). (By words, a region's
    listings are found through its shape, whose part of ix_listings_words holds their words, once its next
    REGION_WORDS_WALK memberships did not hold the page: walking all of its region_listings, a search for
    words few of them have read them all.)"""
    return "region_id" in args and sort in BY_MEMBERSHIP and not args.get("q")


class Search(NamedTuple):
    """The ordered query (one row past the page) a search runs, its sort spec and sort name, and for a
    region's page by words the same search of listings wherever they are (unordered), which walked_first
    looks the region's listings up in."""

    query: Select
    spec: SortSpec
    sort: str
    anywhere: Select | None = None


def page_size(args: dict[str, Any]) -> int:
    """How many listings a page holds."""
    return int(args.get("limit", 20))


def page_rows(args: dict[str, Any]) -> int:
    """How many rows a search reads: its page and one more (whose presence says another page follows)."""
    return page_size(args) + 1


def by_region_words(args: dict[str, Any], sort: str) -> bool:
    """Whether a search is of a region's listings by words in an order the region keeps (walked_first)."""
    return "region_id" in args and bool(args.get("q")) and sort in REGION_SORTS


def build_search(session: Session, user_id: int, args: dict[str, Any]) -> Search:
    """The search these arguments ask for."""
    sort = args.get("sort", "newest")
    for words in args.get("q") or ():
        check_words(session, words, "query.q")
    place = place_of(args)
    distance = None if place is None else metres_from(*place)
    spec = (
        SortSpec((distance, Listing.id), descending=False, kind="number")
        if sort == "distance"
        else SORTS[sort]
    )
    listing_id = None  # whose hiding is asked: the listing's, or the membership's copy of it
    if through_region_listings(args, sort):
        region = owned_region(session, user_id, args["region_id"])
        listing_id = RegionListing.listing_id
        spec = REGION_SORTS.get(sort, spec)
        query = base_query().join(
            RegionListing, and_(RegionListing.listing_id == Listing.id, RegionListing.region_id == region)
        )
        # the page's cursor holds the key the page was sorted by: the region's copy of it
        query = filtered(query, args).add_columns(spec.keys[0].label("region_key"))
    else:
        query = filtered(within_area(base_query(), session, user_id, args), args)
    shown = not_hidden(session, user_id, listing_id)
    measured = [] if distance is None else [distance.label("distance_m")]
    query = query.where(shown).add_columns(*measured)
    anywhere = None
    if by_region_words(args, sort):  # (no cursor: the walk starts after it)
        anywhere = filtered(base_query(), args).where(shown).add_columns(*measured)  # (on Listing.id)
    if args.get("cursor"):
        query = query.where(spec.after(args["cursor"], sort))
    rows = page_rows(args)
    if sort == "distance":
        return Search(nearest_first(query, distance, place, bounds(args), rows), spec, sort)
    return Search(query.order_by(*spec.order()).limit(rows), spec, sort, anywhere)


# bands of latitude the listings within a page's bound are read in (nearest_first)
STRIPS = 16


def stand_in(place: tuple[float, float], area: ColumnElement[Any]) -> ColumnElement[Any]:
    """A point the index's walk nearest first (in degrees) finds the area's listings nearest the place in
    metres from, about: in metres a degree of longitude counts cos(latitude) times a degree of latitude, so
    the place's listings nearest in degrees can lie elsewhere than those nearest in metres, and the farthest
    of them in metres bound a page too loosely. Seen from a point that is the place drawn towards the area's
    centre in longitude by 1 - cos^2 of its latitude, the distances in degrees change across the area as
    the place's metres change across it at the centre. From a place outside a region (bench.api, 400 at
    1M), the page's bound held 31 / 232 / 709 listings p50 / p90 / p99 (2,942 at most, 5,231 in another
    run), the bound of the `rows` nearest in metres of both walks 21 / 34 / 181 (237)."""
    lat, lon = place
    squeeze = math.cos(math.radians(lat)) ** 2
    east = func.ST_X(func.ST_Centroid(area)) * (1 - squeeze) + lon * squeeze
    return func.ST_SetSRID(func.ST_MakePoint(east, lat), 4326)


def nearest_first(
    query: Select,
    distance: ColumnElement[float],
    place: tuple[float, float],
    area: ColumnElement[Any],
    rows: int,
) -> Select:
    """`rows` of the query's listings nearest the place, in metres (ties by id). Measuring every listing of
    the area to sort them took 58 ms at the median for a view of the map at 1M listings (bench.api). The
    index walks listings nearest first by its own (planar, in degrees) distance, which differs from metres
    away from the equator: of the `rows` it walks to first from the place and from a stand-in for it
    (`stand_in`), the `rows` nearest in metres bound the page, and every listing within that many metres of
    the place and in the area's box (`area`, as `bounds` gives it) is sorted exactly."""
    lat, lon = place
    here = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)

    # what the walks and the read within the bound give: each listing and its metres
    measured = query.with_only_columns(Listing.id, distance.label("metres"))

    def walk(origin: ColumnElement[Any]) -> Select:
        return measured.order_by(Listing.geom.op("<->")(origin)).limit(rows)

    walked = union(walk(here), walk(stand_in(place, area))).subquery("walked")  # (each listing once)
    nearest = select(walked.c.metres).order_by(walked.c.metres).limit(rows).subquery("nearest")
    bound = select(func.max(nearest.c.metres).label("metres")).cte("bound").c.metres
    # A degree of latitude is 111.2 km on the sphere, of longitude that times the cosine of the latitude: an
    # ellipse of `east` and `north` degrees holds the circle, measured with the cosine of the farthest
    # latitude (no listing nearer is farther by it), which costs next to nothing to check. The listings read
    # are those in the boxes of where that ellipse meets the area's box (a polygon of 64 sides around it,
    # clipped: `reach`) in each of STRIPS bands of latitude, and of those only the page's are read whole.
    # From a place outside a region the page lies where the circle just reaches into it: the box of the
    # whole circle held all of a dense region's listings (at 1M, 155k read for a page 11 km away: 0.5 s),
    # and the box of `reach` across a region's corner thousands: at 1M, for region 872's page from 15 km
    # off, 26,536 beyond the page's bound (71-73 ms), in bands 1,897 (6.0-6.2 ms); for 841's from 11 km,
    # 15,286 (35-75 ms) and 702 (3.2-3.3 ms). So, 400-600 regions' pages nearest places across the city at
    # 1M, in-process: p99 24-36 ms (the bound of the place's walk alone and one box: 49-114, interleaved on
    # a noisy host; p50 alike, 10-17).
    north = bound / METRES_PER_DEGREE
    scale = func.cos(func.radians(func.least(89.0, abs(lat) + north)))
    east = north / scale
    ellipse = func.power((LON - lon) * scale, 2) + func.power(LAT - lat, 2) <= func.power(north, 2)
    around = func.ST_Translate(
        func.ST_Scale(func.ST_Buffer(func.ST_MakePoint(0, 0), AROUND, 16), east, north), lon, lat
    )
    clipped = select(func.ST_ClipByBox2D(around, func.Box2D(area)).label("shape"))
    reach = clipped.cte("reach").prefix_with("MATERIALIZED")  # (made once: each band names it often)
    # ... cut in STRIPS bands of latitude, each read in its own box
    bands = func.generate_series(0, STRIPS - 1).table_valued("band").render_derived("bands")
    height = (func.ST_YMax(reach.c.shape) - func.ST_YMin(reach.c.shape)) / STRIPS
    south = func.ST_YMin(reach.c.shape) + bands.c.band * height
    cut = func.ST_MakeBox2D(
        func.ST_Point(func.ST_XMin(reach.c.shape), south),
        func.ST_Point(func.ST_XMax(reach.c.shape), south + height),
    )
    strips = (
        select(func.ST_SetSRID(func.ST_Envelope(func.ST_ClipByBox2D(reach.c.shape, cut)), 4326).label("box"))
        .select_from(reach)
        .join(bands, true())
        .cte("strips")
    )
    found = (
        measured.join(strips, Listing.geom.op("&&")(strips.c.box))
        .where(ellipse, distance <= bound)
        .distinct()  # (a listing on the line between two strips is in both)
        .order_by(distance, Listing.id)
        .limit(rows)
        .subquery("found")
    )
    return query.join(found, found.c.id == Listing.id).order_by(found.c.metres, found.c.id)


# A view of the map in an order the shown listings are indexed in first looks for its page among the next
# WALK listings of that order, wherever they are (by best value, the next ranks: a region's page too). The
# index says where each is, so the walk reads no listing but those of its page, and stops when the page is
# full: a large view finds it after a few thousand (at 1M listings a view holds up to ~100k, whose reading
# and sorting took 200-300 ms at the 99th percentile). A page not filled there is searched the usual way,
# reading and sorting the area's listings: a small area, or one whose listings come late in the order. How
# far to walk is the order's. Prices follow the place: at 1M listings a median view's 20 cheapest lay ~50k
# into the city's order, and walks of 2k, 30k, 100k and 150k left views by price at 278, 293, 70 and 61
# ms at the 99th percentile. Value is a price against the prices around it, and its best, like price cuts
# and move-in days, are spread over the city alike: 30k held a view's and a region's pages by value under
# 32 ms at the 99th percentile, and a longer walk is mostly one a small area makes before reading its few
# listings. Left to choose, the planner walked 238,854 listings for a view of dear flats (0.9 s).
WALK = {"price": 150_000, "price_desc": 150_000, "value": 30_000, "price_cut": 30_000, "available": 30_000}
# A region's page by words is first looked for among its next REGION_WORDS_WALK listings of its order (off
# region_listings, each looked up by id), and only else through its shape in ix_listings_words, which reads
# every listing of the region with the words before their sort: at 1M listings a large region's page of a
# feature one flat in nine has took ~200 ms so (p50 / p99 of 600 of bench.api's region searches by words
# 15.1 / 223 ms, in-process). A walk of 500 or 1,000 holds the page of words as common as one listing in 24
# or in 48 (9.5 / 29-32 ms); rarer words cost the walk and then the shape's few (two features together, one
# in 100: 12-14 / 32-39 ms, against 12 / 37 without the walk; 2,000: 22 / 124, its lookups out of cache).
REGION_WORDS_WALK = 1_000
# by ix_listings_shown_price, _cut_share, _move_in and ix_price_ranks_value, which include where each is
RANKS_BY_VALUE = SortSpec((PriceRank.value, PriceRank.listing_id), descending=False, kind="number")


def walked_first(
    query: Select, spec: SortSpec, sort: str, args: dict[str, Any], anywhere: Select | None = None
) -> Select | None:
    """The search limited to the next WALK[sort] shown listings of its order (ranked listings, by value) in
    its area's bounds, joined in that order, or None where it has no index to walk, or walks its region's.
    The index says where each listing is, and the search reads the listings it walks to, in order, until
    its page is full. By words, a region's next REGION_WORDS_WALK memberships in its order, each looked
    up in `anywhere` (Search.anywhere)."""
    steps = WALK.get(sort)
    if sort == "value":  # ranks are of listings shown (but for a few gone since: the search passes them)
        spec = RANKS_BY_VALUE
        # a rank valued as if none (a p50 of 0) is ordered among the unranked, by id: not walked
        walked = select(PriceRank.listing_id.label("id"), PriceRank.geom).where(
            PriceRank.value < UNRANKED_VALUE
        )
    elif by_region_words(args, sort):  # by words, the region's own listings in its order (`anywhere`)
        spec, steps = REGION_SORTS[sort], REGION_WORDS_WALK
        walked = select(RegionListing.listing_id.label("id")).where(
            RegionListing.region_id == args["region_id"]
        )
    elif steps is not None and not through_region_listings(args, sort):
        walked = select(Listing.id, Listing.geom).where(*SHOWN_NOW)  # as the indexes' models.listing.SHOWN
    else:
        return None
    if args.get("cursor"):
        walked = walked.where(spec.after(args["cursor"], sort))
    walked = (
        walked.add_columns(spec.keys[0].label("key")).order_by(*spec.order()).limit(steps).subquery("walked")
    )
    order = SortSpec((walked.c.key, walked.c.id), descending=spec.descending).order()
    if anywhere is not None:
        # each listing walked to is looked up by its id (one: the LIMIT keeps PostgreSQL from merging the
        # look-up into a join, where it read all of the region's listings with the words off
        # ix_listings_words, taking words for rare, and matched them to the walk), and not by the region's
        # shape, which would let the planner look for it in ix_listings_words instead
        found = anywhere.where(Listing.id == walked.c.id).limit(1).lateral("found")
        return select(found).select_from(walked).join(found, true()).order_by(*order).limit(page_rows(args))
    query = query.join(walked, walked.c.id == Listing.id).order_by(None).order_by(*order)
    return query.where(walked.c.geom.op("&&")(bounds(args)))


# A view of the map by price reads the first page of each grid cell it covers (models.listing.CELL_SQL) off
# ix_listings_shown_cell_price, which says where each listing is, and its page is the first of those: a cell's
# listings past its first page come after them all. At 1M listings a view's page by price took 7.7 ms at the
# median and 23 at the 99th percentile so, searched in-process (a walk of the city's order, WALK: 17.7 and
# 56.4), and the cells' cost grows with their number: a view of ~750 cells 12-27 ms, the walk 5-40; of ~1,500,
# 25 against 11. A view of more than CELLS finds its page in the walk. Boxes compared by `&&` are stored in
# single precision, rounded outward: a listing up to ~1e-5 degrees out of the view is in it, and in a cell
# CELL_MARGIN further out.
CELLS = 700
CELL_MARGIN = 1e-4
CELL_ORDERS = ("price", "price_desc")
# filters a cell's search reads off the listings the index finds, each in turn (a view's search by price
# with one of them is walked as before: cell by cell, a view of 432 cells and 185k listings took 0.25 s
# with bedrooms_min=2, reading listings outside the view in its edges' cells); a price is in the index
LISTING_FILTERS = (
    *("bedrooms_min", "bedrooms_max", "bathrooms_min", "bathrooms_max", "sqft_min", "sqft_max"),
    *("unit_type", "furnished", "label", "q", "posted_since", "available_by", "price_cut", "price_cut_since"),
)


def view_cells(args: dict[str, Any]) -> list[int] | None:
    """The cells of the grid a view of the map covers, or None if it covers more than CELLS."""
    west, south, east, north = args["bbox"]
    columns = range(
        math.floor((west - CELL_MARGIN) * CELLS_PER_DEGREE),
        math.floor((east + CELL_MARGIN) * CELLS_PER_DEGREE) + 1,
    )
    rows = range(
        math.floor((south - CELL_MARGIN) * CELLS_PER_DEGREE),
        math.floor((north + CELL_MARGIN) * CELLS_PER_DEGREE) + 1,
    )
    if len(columns) * len(rows) > CELLS:
        return None
    return [row * ROW_CELLS + column for row in rows for column in columns]


def cells_first(query: Select, spec: SortSpec, sort: str, args: dict[str, Any]) -> Select | None:
    """The search (`query`, a page and one more row, its filters, the cursor) of each cell its view covers,
    the first rows of them all in its order (by price, either way): the search's own rows. None for a
    search of another area, order or filter, or of a view of more than CELLS cells."""
    if sort not in CELL_ORDERS or "bbox" not in args or any(args.get(f) is not None for f in LISTING_FILTERS):
        return None
    cells = view_cells(args)
    if cells is None:
        return None
    cell = func.unnest(literal(cells, ARRAY(BigInteger))).table_valued("cell").render_derived(name="cells")
    # a cell's: off the index alone, but for the filters' columns of the listings the index finds
    first = query.with_only_columns(Listing.id, spec.keys[0].label("key")).where(Listing.cell == cell.c.cell)
    first = first.lateral("first")
    order = SortSpec((first.c.key, first.c.id), descending=spec.descending).order()
    found = select(first.c.id, first.c.key).select_from(cell).join(first, true())
    found = found.order_by(*order).limit(page_rows(args)).subquery("found")
    order = SortSpec((found.c.key, found.c.id), descending=spec.descending).order()
    return query.join(found, found.c.id == Listing.id).order_by(None).order_by(*order)


def ids_first(query: Select, spec: SortSpec) -> Select:
    """The search (`query`, ordered, a page and one more row) as the ids and sort keys of its page first,
    then their listings and ranks. By words, a view's or a region's listings with the words are read and
    sorted, and the planner joined each of them to its rank before the sort (at 1M listings a view with
    6,812 listings of a phrase: 29 of its 50 ms; 600 of bench.api's views by words, in-process: p99 53-58
    ms, 103-104 before)."""
    found = query.with_only_columns(Listing.id, spec.keys[0].label("key")).subquery("found")
    return (
        select(*query.selected_columns)
        .select_from(Listing)
        .join(found, found.c.id == Listing.id)
        .outerjoin(PriceRank, PriceRank.listing_id == Listing.id)
        .order_by(*SortSpec((found.c.key, found.c.id), descending=spec.descending).order())
    )


def unwalked(query: Select, spec: SortSpec, sort: str, args: dict[str, Any]) -> Select:
    """What a search runs for a page not found in a walk (nor cell by cell): by words its ids first (nearest
    a place, nearest_first finds them first already), else `query` itself."""
    return ids_first(query, spec) if args.get("q") and sort != "distance" else query


def search_listings(session: Session, user_id: int, args: dict[str, Any]) -> tuple[list[Any], str | None]:
    """One page of listings and the cursor of the next page (None on the last)."""
    # a page is a few rows, found in milliseconds: starting a parallel worker took 20-30 ms here (a region
    # by value holding no listing: 32 ms, 0.1 without)
    session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    query, spec, sort, anywhere = build_search(session, user_id, args)
    limit = page_size(args)
    cells = cells_first(query, spec, sort, args)
    if cells is not None:
        rows = session.execute(cells).all()
    else:
        walk = walked_first(query, spec, sort, args, anywhere)
        rows = [] if walk is None else session.execute(walk).all()
        if len(rows) <= limit:  # not a page and the next one's first row: not all of them were in the walk
            rows = session.execute(unwalked(query, spec, sort, args)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    if not (more and rows):
        return rows, None
    last = rows[-1]._mapping
    return rows, spec.cursor(sort, last.get("region_key", last[SORT_KEY[sort]]), rows[-1].id)


def similar_listings(
    session: Session, user_id: int, listing: Listing, lat: float, lon: float, limit: int
) -> list[Any]:
    """Up to `limit` shown listings like `listing` (at lat, lon) nearby, but none the user hid: as many
    bedrooms (4 or more together), within SIMILAR_WITHIN_M, nearest first; base_query's rows with
    `distance_m`."""
    here = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    rooms = Listing.bedrooms >= 4 if (listing.bedrooms or 0) >= 4 else Listing.bedrooms == listing.bedrooms
    # the nearest by the index's (planar) distance, then in metres; a few more than asked, as the two
    # orders differ a little away from the equator
    nearest = (
        base_query()
        .add_columns(metres_from(lat, lon).label("distance_m"))
        .where(Listing.id != listing.id, rooms, not_hidden(session, user_id))
        .order_by(Listing.geom.op("<->")(here))
        .limit(limit * 3)
        .subquery()
    )
    query = (
        select(nearest)
        .where(nearest.c.distance_m <= SIMILAR_WITHIN_M)
        .order_by(nearest.c.distance_m, nearest.c.id)
        .limit(limit)
    )
    return list(session.execute(query))


def listing_item(row: Any) -> dict[str, Any]:
    """A search result row as the API's listing object."""
    rank = None
    if row.rank_label is not None:
        rank = {
            "label": row.rank_label,
            "p25": round(row.p25),
            "p50": round(row.p50),
            "p75": round(row.p75),
            "model_version": row.model_version,
        }
    item = {
        "id": row.id,
        "title": row.title,
        "price": row.price,
        "bedrooms": row.bedrooms,
        "bathrooms": row.bathrooms,
        "sqft": row.sqft,
        "unit_type": row.unit_type,
        "furnished": row.furnished,
        "location": {"latitude": row.latitude, "longitude": row.longitude},
        "url": row.url,
        "posted_at": row.posted_at,
        "available_from": row.available_from,
        "price_rank": rank,
        "price_change": last_change(row),
    }
    if "distance_m" in row._mapping:  # a search from a place, or similar listings
        item["distance_m"] = round(row.distance_m)
    return item


# a listing asked for by id, and the flat it stands for: itself, or the listing it was found to copy
ASKED = aliased(Listing, name="asked")
ASKED_FLAT = func.coalesce(ASKED.canonical_id, ASKED.id)


def shown_flat(session: Session, listing_id: int) -> Any:
    """The shown flat (`id`, `price`) a listing stands for: itself, or the listing it was found to copy;
    a 404 if there is none (no such listing, or its flat is not shown). What a user saves or hides."""
    flat = session.execute(
        select(ASKED_FLAT.label("id"), Listing.price)
        .select_from(ASKED)
        .join(Listing, Listing.id == ASKED_FLAT)
        .where(ASKED.id == listing_id, Listing.status == "active", Listing.canonical_id.is_(None))
    ).first()
    if flat is None:
        raise ApiError(404, "No such listing.")
    return flat


def forget_kept(session: Session, kept: Any, user_id: int, listing_id: int, missing: str) -> None:
    """Delete the user's row of `kept` (SavedListing, HiddenListing) for `listing_id`: the id it is listed
    with, or the one they kept; a 404 saying `missing` if there is none."""
    removed = session.execute(
        delete(kept)
        .where(kept.user_id == user_id, stands_for(kept.listing_id, listing_id))
        .returning(kept.listing_id)
    )
    if not removed.all():
        raise ApiError(404, missing)


def kept_item(row: Any) -> dict[str, Any]:
    """A listing a user kept (saved, hid) as the API gives it: with its status, and no rank once gone (a
    rank is of the market a listing is in)."""
    listing = {**listing_item(row), "status": row.status}
    if row.status != "active":
        listing["price_rank"] = None
    return listing
