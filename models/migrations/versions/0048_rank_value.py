"""a page of listings by best value walks an index of the ranks by value, which says where each is

By best value (a listing's price over the middle of its range), a view of the map or a region read every
listing it holds and sorted them: at 1M listings, 35-36 ms at the median and 0.7-0.8 s at the 99th
percentile. A rank now keeps its listing's value (`price_ranks.value`: price / p50, 1e9 where p50 is 0,
as search sorts unranked listings last) and place (`geom`), indexed by value with the place beside it, and a
search by value first looks for its page among the next ranks in that order (app.search.WALK): which of
them lie in a view the index itself says, and a region's are looked up by their memberships, so the walk
reads no listing but those of its page. Value is a price against the prices around it, so the best values
are spread over the city alike, where the cheapest flats gather in a few areas: a view or a region finds
its page in a short walk.

Two triggers keep them, whatever statement writes (the process job's and the stream's ranks, the
price_rank update, the bench, an operator's SQL): a rank written, or its p50 changed, takes its listing's
price and place; a listing whose price or place changes passes them to its rank. The price, move-in and
price-cut indexes of the shown listings (0047) carry the place too, so their walks read no listing either.

Measured at 1M listings here: the upgrade 15 s (the three listings indexes rebuilt in 3 s of it); writing
1M ranks' p50 took 23-26 s, against 13-17 s for a statement that writes them and leaves p50 be.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0048"
down_revision: str | None = "0047"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# a rank's value of its listing's price: as app.search.VALUE orders, an unranked listing's 1e9 for a p50 of 0
VALUE_SQL = "COALESCE(CAST({price} AS double precision) / NULLIF({p50}, 0), 1e9)"
RANK_VALUE = f"""
CREATE FUNCTION nook_rank_value() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    listing record;
BEGIN
    SELECT price, geom INTO listing FROM listings WHERE id = NEW.listing_id;
    NEW.value := {VALUE_SQL.format(price="listing.price", p50="NEW.p50")};
    NEW.geom := listing.geom;
    RETURN NEW;
END
$$
"""
RANK_TRIGGER = """
CREATE TRIGGER price_rank_value BEFORE INSERT OR UPDATE OF listing_id, p50 ON price_ranks
FOR EACH ROW EXECUTE FUNCTION nook_rank_value()
"""
LISTING_VALUE = f"""
CREATE FUNCTION nook_listing_value() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE price_ranks
    SET value = {VALUE_SQL.format(price="NEW.price", p50="p50")}, geom = NEW.geom
    WHERE listing_id = NEW.id;
    RETURN NULL;
END
$$
"""
LISTING_TRIGGER = """
CREATE TRIGGER listing_value_changed AFTER UPDATE OF price, geom ON listings
FOR EACH ROW WHEN (OLD.price IS DISTINCT FROM NEW.price OR OLD.geom IS DISTINCT FROM NEW.geom)
EXECUTE FUNCTION nook_listing_value()
"""


SHOWN = "status = 'active' AND canonical_id IS NULL"
SHOWN_ORDERS = {
    "ix_listings_shown_price": ["price", "id"],
    "ix_listings_shown_move_in": ["move_in", "id"],
    "ix_listings_shown_cut_share": [sa.text("cut_share DESC"), sa.text("id DESC")],
}


def upgrade() -> None:
    op.add_column("price_ranks", sa.Column("value", sa.Float(), nullable=True))
    op.add_column(
        "price_ranks",
        sa.Column("geom", Geometry(geometry_type="POINT", srid=4326, spatial_index=False), nullable=True),
    )
    op.execute(
        f"UPDATE price_ranks r SET value = {VALUE_SQL.format(price='l.price', p50='r.p50')}, geom = l.geom"
        " FROM listings l WHERE l.id = r.listing_id"
    )
    op.alter_column("price_ranks", "value", nullable=False)
    op.execute(RANK_VALUE)
    op.execute(RANK_TRIGGER)
    op.execute(LISTING_VALUE)
    op.execute(LISTING_TRIGGER)
    op.create_index(
        "ix_price_ranks_value", "price_ranks", ["value", "listing_id"], postgresql_include=["geom"]
    )
    for name, keys in SHOWN_ORDERS.items():  # the walks of the other orders say where each listing is too
        op.drop_index(name, table_name="listings")
        op.create_index(name, "listings", keys, postgresql_where=sa.text(SHOWN), postgresql_include=["geom"])


def downgrade() -> None:
    for name, keys in SHOWN_ORDERS.items():
        op.drop_index(name, table_name="listings")
        op.create_index(name, "listings", keys, postgresql_where=sa.text(SHOWN))
    op.drop_index("ix_price_ranks_value", table_name="price_ranks")
    op.execute("DROP TRIGGER listing_value_changed ON listings")
    op.execute("DROP FUNCTION nook_listing_value()")
    op.execute("DROP TRIGGER price_rank_value ON price_ranks")
    op.execute("DROP FUNCTION nook_rank_value()")
    op.drop_column("price_ranks", "geom")
    op.drop_column("price_ranks", "value")
