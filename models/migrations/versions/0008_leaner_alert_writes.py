"""leaner alert writes: region_listings keyed by listing, no second foreign key on notifications

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 01:58:00.000000

Placing a listing writes a membership and an alert per region that holds it. region_listings'
key now leads with the listing (the lookup the placement makes), which makes its listing_id index
redundant; notifications.user_id keeps the region owner's id without a foreign key of its own (the
region_id key already removes a user's alerts with their regions). Per placed pair: three index
entries instead of four on region_listings, four foreign-key checks instead of five.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("fk_notifications_user_id_users"), "notifications", type_="foreignkey")
    op.drop_constraint(op.f("pk_region_listings"), "region_listings", type_="primary")
    op.create_primary_key(op.f("pk_region_listings"), "region_listings", ["listing_id", "region_id"])
    op.drop_index("ix_region_listings_listing_id", table_name="region_listings")


def downgrade() -> None:
    op.create_index("ix_region_listings_listing_id", "region_listings", ["listing_id"], unique=False)
    op.drop_constraint(op.f("pk_region_listings"), "region_listings", type_="primary")
    op.create_primary_key(op.f("pk_region_listings"), "region_listings", ["region_id", "listing_id"])
    op.create_foreign_key(
        op.f("fk_notifications_user_id_users"),
        "notifications",
        "users",
        ["user_id"],
        ["id"],
        ondelete="CASCADE",
    )
