"""a shortlist: the listings a user saved, each with its asking price then

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 10:10:00.000000

A renter comparing flats kept them in their head or in another app: nook had no way to keep a listing
and see later what became of it. `saved_listings` holds a user's saved listings (the price asked when
saved, to tell a cut since) and goes with the user or the listing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saved_listings",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("listing_id", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_saved_listings_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["listings.id"],
            name=op.f("fk_saved_listings_listing_id_listings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "listing_id", name=op.f("pk_saved_listings")),
    )
    op.create_index("ix_saved_listings_user_id_saved_at", "saved_listings", ["user_id", "saved_at"])


def downgrade() -> None:
    op.drop_index("ix_saved_listings_user_id_saved_at", table_name="saved_listings")
    op.drop_table("saved_listings")
