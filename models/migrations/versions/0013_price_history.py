"""listings keep their price history: each change of an asking price, and the last one on the listing

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 08:00:00.000000

A listing's price was overwritten when its source changed it, so a renter could not tell a flat just cut
by 10% from one that never moved, nor find the flats whose price fell. Every change of a listing's price
(from one price to another: a listing first seen without one has no change) is now a row of
listing_price_changes, and the listing carries its price before the last change and when that was
(`previous_price`, `price_changed_at`), for search to filter and show without a join.

A trigger writes them, whichever statement changes the price (the process job's activation, the stream's
upsert, an operator's SQL): one place, nothing for a new writer to forget. It runs only for a row whose
price changes (its WHEN clause is evaluated before any function call), so an insert or a re-delivery
costs nothing. A change is dated by the statement that wrote it. There is no history before this
migration: none is made up.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A change is dated by the statement that made it (statement_timestamp(): when nook wrote the new price);
# a statement updates a row once, so the key never repeats, and ON CONFLICT is only a guard.
RECORD = """
CREATE FUNCTION nook_record_price_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO listing_price_changes (listing_id, changed_at, old_price, new_price)
    VALUES (NEW.id, statement_timestamp(), OLD.price, NEW.price)
    ON CONFLICT (listing_id, changed_at) DO UPDATE SET new_price = EXCLUDED.new_price;
    NEW.previous_price := OLD.price;
    NEW.price_changed_at := statement_timestamp();
    RETURN NEW;
END
$$
"""
TRIGGER = """
CREATE TRIGGER listing_price_changed BEFORE UPDATE OF price ON listings
FOR EACH ROW WHEN (OLD.price IS NOT NULL AND NEW.price IS NOT NULL AND OLD.price <> NEW.price)
EXECUTE FUNCTION nook_record_price_change()
"""


def upgrade() -> None:
    op.add_column("listings", sa.Column("previous_price", sa.Integer(), nullable=True))
    op.add_column("listings", sa.Column("price_changed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "listing_price_changes",
        sa.Column("listing_id", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("old_price", sa.Integer(), nullable=False),
        sa.Column("new_price", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["listings.id"],
            name=op.f("fk_listing_price_changes_listing_id_listings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("listing_id", "changed_at", name=op.f("pk_listing_price_changes")),
    )
    op.execute(RECORD)
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER listing_price_changed ON listings")
    op.execute("DROP FUNCTION nook_record_price_change()")
    op.drop_table("listing_price_changes")
    op.drop_column("listings", "price_changed_at")
    op.drop_column("listings", "previous_price")
