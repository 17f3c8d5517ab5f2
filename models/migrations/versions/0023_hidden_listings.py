"""hidden listings: the flats a user is not interested in

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 15:00:00.000000

A renter who looked at a flat and ruled it out saw it again on every visit, in every list and in its
price-cut alerts. `hidden_listings` holds the flats a user hid (when), and goes with the user or the
listing: the listing API, similar listings and the alert list leave them out for that user, and the
notify job sends no alert of them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hidden_listings",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("listing_id", sa.BigInteger(), nullable=False),
        sa.Column("hidden_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_hidden_listings_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["listings.id"],
            name=op.f("fk_hidden_listings_listing_id_listings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "listing_id", name=op.f("pk_hidden_listings")),
    )
    op.create_index("ix_hidden_listings_user_id_hidden_at", "hidden_listings", ["user_id", "hidden_at"])


def downgrade() -> None:
    op.drop_index("ix_hidden_listings_user_id_hidden_at", table_name="hidden_listings")
    op.drop_table("hidden_listings")
