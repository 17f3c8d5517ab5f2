"""the notify run's search for saved flats with news reads the flats that changed, not every listing

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-02 17:00:00.000000

The search asked of every listing ever seen whether its price changed or it went within the last days:
a scan of the table that grows with every listing gone. A listing now says when it last went (`gone_at`,
written by the database whichever statement takes it down or lets it expire: the process job, the
stream, the recheck, an operator's SQL), and the listings shown whose price changed and those gone are
indexed by when (partial indexes: an active listing's gone_at, and a gone one's price_changed_at, are in
none, and neither column changes when an ingest run sees a listing again, so those updates stay HOT).
The saved listings of a flat, and those told their flat went, are indexed too. A listing gone before this
migration went when it was last seen, as far as nook can tell.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0043"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GONE = "('delisted', 'expired')"
RECORD = """
CREATE FUNCTION nook_record_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.gone_at := statement_timestamp();
    RETURN NEW;
END
$$
"""
# each WHEN is evaluated before any function call: a listing seen again, or inserted shown, costs nothing;
# one inserted gone with the time it went (a copy of history) keeps it
TRIGGERS = (
    f"CREATE TRIGGER listing_went BEFORE UPDATE OF status ON listings FOR EACH ROW"
    f" WHEN (NEW.status IN {GONE} AND OLD.status NOT IN {GONE}) EXECUTE FUNCTION nook_record_gone()",
    f"CREATE TRIGGER listing_inserted_gone BEFORE INSERT ON listings FOR EACH ROW"
    f" WHEN (NEW.status IN {GONE} AND NEW.gone_at IS NULL) EXECUTE FUNCTION nook_record_gone()",
)


def upgrade() -> None:
    op.add_column("listings", sa.Column("gone_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(f"UPDATE listings SET gone_at = last_seen_at WHERE status IN {GONE}")
    op.execute(RECORD)
    for trigger in TRIGGERS:
        op.execute(trigger)
    op.create_index(
        "ix_listings_active_price_changed_at",
        "listings",
        ["price_changed_at"],
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "ix_listings_gone_at", "listings", ["gone_at"], postgresql_where=sa.text(f"status IN {GONE}")
    )
    op.create_index("ix_saved_listings_listing_id", "saved_listings", ["listing_id"])
    op.create_index(
        "ix_saved_listings_told_gone", "saved_listings", ["listing_id"], postgresql_where=sa.text("told_gone")
    )


def downgrade() -> None:
    op.drop_index("ix_saved_listings_told_gone", table_name="saved_listings")
    op.drop_index("ix_saved_listings_listing_id", table_name="saved_listings")
    op.drop_index("ix_listings_gone_at", table_name="listings")
    op.drop_index("ix_listings_active_price_changed_at", table_name="listings")
    op.execute("DROP TRIGGER listing_inserted_gone ON listings")
    op.execute("DROP TRIGGER listing_went ON listings")
    op.execute("DROP FUNCTION nook_record_gone()")
    op.drop_column("listings", "gone_at")
