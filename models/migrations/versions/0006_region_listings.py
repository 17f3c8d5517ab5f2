"""region listings

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 18:24:54.943782
"""

from collections.abc import Sequence

import geoalchemy2  # noqa: F401
import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "region_listings",
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("listing_id", sa.BigInteger(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["listings.id"],
            name=op.f("fk_region_listings_listing_id_listings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["regions.id"],
            name=op.f("fk_region_listings_region_id_regions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("region_id", "listing_id", name=op.f("pk_region_listings")),
    )
    op.create_index("ix_region_listings_listing_id", "region_listings", ["listing_id"], unique=False)
    op.create_index(
        "ix_region_listings_newest",
        "region_listings",
        ["region_id", sa.literal_column("posted_at DESC"), sa.literal_column("listing_id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_region_listings_price", "region_listings", ["region_id", "price", "listing_id"], unique=False
    )
    op.execute("""
        INSERT INTO region_listings (region_id, listing_id, posted_at, price)
        SELECT r.id, l.id, l.posted_at, l.price
        FROM regions r JOIN listings l ON ST_Contains(r.geom, l.geom)
        WHERE l.status = 'active' AND l.canonical_id IS NULL
          AND l.posted_at IS NOT NULL AND l.price IS NOT NULL
    """)


def downgrade() -> None:
    op.drop_index("ix_region_listings_price", table_name="region_listings")
    op.drop_index("ix_region_listings_newest", table_name="region_listings")
    op.drop_index("ix_region_listings_listing_id", table_name="region_listings")
    op.drop_table("region_listings")
