"""Listings as ingested and processed, and the records that could not be."""

from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Select,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, aliased, mapped_column
from sqlalchemy.sql import ColumnElement

from models.base import Base, created_at_column
from models.source import Source  # noqa: F401  (a table its foreign keys name: models/__init__.py)
from models.words import WORDS_CONFIG

LISTING_STATUSES = ("pending", "active", "rejected", "delisted", "expired")
UNIT_TYPES = ("apartment", "condo", "house", "basement", "townhouse", "room")


# The words a listing is found by (a search's `q`, a region's `words`): its title and address, read with
# WORDS_CONFIG (models/words.py), kept by the database in `words` (migration 0031; here as PostgreSQL gives
# it back, which autogenerate compares).
WORDS_SQL = (
    f"to_tsvector('{WORDS_CONFIG}'::regconfig, "
    "(COALESCE(title, ''::text) || ' '::text) || COALESCE(address, ''::text))"
)
# a listing's keys in the move-in and price-cut orders, computed by the database (migration 0047): the first
# day one may move in as seconds since 1970 (a listing not saying when after every day), and the share of
# its price its last change took off (0 if that was no cut)
NOT_SAYING = 1e14
SHOWN = "status = 'active' AND canonical_id IS NULL"  # the listings searches show (partial indexes)
MOVE_IN_SQL = f"COALESCE(CAST(EXTRACT(epoch FROM available_from) AS double precision), {NOT_SAYING:g})"
CUT_SHARE_SQL = (
    "CASE WHEN previous_price > price "
    "THEN CAST(previous_price - price AS double precision) / previous_price ELSE 0 END"
)
# a listing's cell of a grid of 1/CELLS_PER_DEGREE of a degree (migration 0049), computed by the database:
# its row (of latitude) times ROW_CELLS plus its column (of longitude); a view of the map by price reads the
# first page of each of its cells (app.search.cells_first)
CELLS_PER_DEGREE = 400
# a row's columns run from -180 x CELLS_PER_DEGREE to 180 x CELLS_PER_DEGREE, fewer than ROW_CELLS / 2 either
# way of 0: no two cells share a number
ROW_CELLS = 1_000_000
CELL_SQL = (
    f"CAST(floor(ST_Y(geom) * {CELLS_PER_DEGREE}) AS bigint) * {ROW_CELLS} "
    f"+ CAST(floor(ST_X(geom) * {CELLS_PER_DEGREE}) AS bigint)"
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Listing(Base):
    """One listing from one source, unique by (source_id, source_ref).

    Ingest writes `raw` and the timestamps; process fills the normalised
    columns and `geom`, and sets `canonical_id` on cross-source duplicates.
    """

    __tablename__ = "listings"
    __table_args__ = (
        UniqueConstraint("source_id", "source_ref"),
        CheckConstraint(_in("status", LISTING_STATUSES), name="status"),
        CheckConstraint("unit_type IS NULL OR " + _in("unit_type", UNIT_TYPES), name="unit_type"),
        # Partial indexes: a freshly ingested (pending) row only feeds the pk, the
        # unique key and ix_listings_pending, which keeps bulk ingest fast.
        Index("ix_listings_pending", "id", postgresql_where=text("status = 'pending'")),
        Index(
            "ix_listings_active_posted_at",
            "posted_at",
            "id",
            postgresql_where=text(SHOWN),
        ),
        Index(
            "ix_listings_active_last_checked_at",
            "last_checked_at",
            "id",
            postgresql_where=text("status = 'active'"),
        ),
        Index(
            "ix_listings_active_geom",
            "geom",
            postgresql_using="gist",
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_listings_canonical_id", "canonical_id", postgresql_where=text("canonical_id IS NOT NULL")),
        # the shown listings whose last change of price was a cut (a region's recent price cuts)
        Index(
            "ix_listings_price_cuts",
            "price_changed_at",
            postgresql_where=text("status = 'active' AND previous_price > price"),
        ),
        # the listings whose price changed, and those gone by when they went (migration 0043): the notify
        # run's search for saved flats with news reads these, not every listing ever seen
        Index(
            "ix_listings_active_price_changed_at",
            "price_changed_at",
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_listings_gone_at", "gone_at", postgresql_where=text("status IN ('delisted', 'expired')")),
        # the shown listings' places and words (migration 0031): an area's listings with some words
        Index(
            "ix_listings_words",
            "geom",
            "words",
            postgresql_using="gist",
            postgresql_where=text(SHOWN),
        ),
        # the shown listings by price, move-in day and price cut (migration 0047), with where each is
        # (0048): a view of the map in those orders finds its page in a walk of the index (app.search.WALK)
        Index(
            "ix_listings_shown_price",
            "price",
            "id",
            postgresql_where=text(SHOWN),
            postgresql_include=["geom"],
        ),
        Index(
            "ix_listings_shown_cell_price",
            "cell",
            "price",
            "id",
            postgresql_where=text(SHOWN),
            postgresql_include=["geom"],
        ),
        Index(
            "ix_listings_shown_move_in",
            "move_in",
            "id",
            postgresql_where=text(SHOWN),
            postgresql_include=["geom"],
        ),
        Index(
            "ix_listings_shown_cut_share",
            text("cut_share DESC"),
            text("id DESC"),
            postgresql_where=text(SHOWN),
            postgresql_include=["geom"],
        ),
        {"postgresql_with": {"fillfactor": 80}},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    source_ref: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB)
    title: Mapped[str | None] = mapped_column(Text)
    price: Mapped[int | None] = mapped_column(Integer)
    bedrooms: Mapped[int | None] = mapped_column(SmallInteger)
    bathrooms: Mapped[float | None] = mapped_column(Float)
    sqft: Mapped[int | None] = mapped_column(Integer)
    furnished: Mapped[bool | None]
    unit_type: Mapped[str | None] = mapped_column(String(16))
    url: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement | None] = mapped_column(
        Geometry(geometry_type="POINT", srid=4326, spatial_index=False)
    )
    canonical_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("listings.id", ondelete="SET NULL")
    )
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    available_from: Mapped[date | None] = mapped_column(
        Date
    )  # the first day one may move in (None: not said)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = created_at_column()
    # the price before its last change and when that was; written by the database (migration 0013's
    # trigger), with a row of listing_price_changes, whenever a statement changes the price
    previous_price: Mapped[int | None] = mapped_column(Integer)
    price_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # when it last went (delisted or expired); written by the database (migration 0043's triggers)
    gone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the words of its title and address, computed by the database (WORDS_SQL); not loaded with the row
    words: Mapped[Any] = mapped_column(TSVECTOR, Computed(WORDS_SQL, persisted=True), deferred=True)
    move_in: Mapped[float] = mapped_column(Float, Computed(MOVE_IN_SQL, persisted=True), deferred=True)
    cut_share: Mapped[float] = mapped_column(Float, Computed(CUT_SHARE_SQL, persisted=True), deferred=True)
    cell: Mapped[int] = mapped_column(BigInteger, Computed(CELL_SQL, persisted=True), deferred=True)


def has_words(query: ColumnElement[Any]) -> ColumnElement[bool]:
    """Whether a listing's words meet a text-search query."""
    return Listing.words.op("@@")(query)


def words_query(text_: str) -> ColumnElement[Any]:
    """A search's words as a text-search query, the way people type them into a search box: every word;
    "a phrase" in quotes; -word leaves out; `or` between alternatives."""
    return func.websearch_to_tsquery(literal_column(f"'{WORDS_CONFIG}'::regconfig"), text_)


class ListingPriceChange(Base):
    """A change of a listing's asking price, from one price to another, dated by the statement that made
    it (migration 0013's trigger writes them)."""

    __tablename__ = "listing_price_changes"
    __table_args__ = (Index("ix_listing_price_changes_changed_at", "changed_at"),)  # a day's (checks)

    listing_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("listings.id", ondelete="CASCADE"), primary_key=True
    )
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    old_price: Mapped[int] = mapped_column(Integer)
    new_price: Mapped[int] = mapped_column(Integer)


_COPY = aliased(Listing, name="copy")


def stands_for(kept: ColumnElement[int], listing_id: int) -> ColumnElement[bool]:
    """Whether `kept`, the column of a listing a user kept (saved, hid), is `listing_id` or a copy of it
    (so that it is listed as `listing_id`): how a user names it to change or remove it."""
    return or_(kept == listing_id, kept.in_(select(_COPY.id).where(_COPY.canonical_id == listing_id)))


def kept_before(kept: Any, flat_id: ColumnElement[int], kept_at: str) -> ColumnElement[bool]:
    """Whether the user of a row of `kept` (a listing a user kept: SavedListing, HiddenListing, with
    user_id, listing_id and the time `kept_at`) kept the flat `flat_id` through another listing before
    (two listings found to be one flat are kept once: as first kept)."""
    earlier = aliased(kept, name="earlier")
    earlier_listing = aliased(Listing, name="earlier_listing")
    return (
        select(literal(1))
        .select_from(earlier)
        .join(earlier_listing, earlier_listing.id == earlier.listing_id)
        .where(
            earlier.user_id == kept.user_id,
            func.coalesce(earlier_listing.canonical_id, earlier_listing.id) == flat_id,
            tuple_(getattr(earlier, kept_at), earlier.listing_id)
            < tuple_(getattr(kept, kept_at), kept.listing_id),
        )
        .exists()
    )


# the listing a user kept, and the flat it stands for now: itself, or the listing it was found to copy
_KEPT = aliased(Listing, name="kept_listing")
_KEPT_FLAT = func.coalesce(_KEPT.canonical_id, _KEPT.id)


def kept_flats(kept: Any, kept_at: str, user_id: int | None, *columns: Any, once: bool = True) -> Select:
    """A user's (None: every user's) rows of `kept` (SavedListing, HiddenListing) joined to the flats
    they stand for now (`Listing`, with its `PriceRank` if any), selecting `columns`; a flat kept twice,
    through copies, once: as first kept (`kept_at`, the rows' time), unless `once` is false (every row:
    asking it of each row is a hash of the user's rows, cheap for one user, and for every user an index
    walk of all the user's rows for each)."""
    from models.price_rank import PriceRank  # it names the listings: loaded after them

    query = (
        select(*columns)
        .select_from(kept)
        .join(_KEPT, _KEPT.id == kept.listing_id)
        .join(Listing, Listing.id == _KEPT_FLAT)
        .outerjoin(PriceRank, PriceRank.listing_id == Listing.id)
    )
    query = query.where(~kept_before(kept, _KEPT_FLAT, kept_at)) if once else query
    return query if user_id is None else query.where(kept.user_id == user_id)
