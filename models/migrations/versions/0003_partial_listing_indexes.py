"""Partial indexes on listings: keep bulk ingest cheap, serve active-listing queries.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Room on each page so the per-ingest last_seen_at update can be HOT (no index writes).
    op.execute("ALTER TABLE listings SET (fillfactor = 80)")
    op.drop_index("ix_listings_status_posted_at", table_name="listings")
    op.drop_index("ix_listings_last_checked_at", table_name="listings")
    op.drop_index("ix_listings_canonical_id", table_name="listings")
    op.execute("DROP INDEX IF EXISTS idx_listings_geom")
    op.execute("CREATE INDEX ix_listings_pending ON listings (id) WHERE status = 'pending'")
    op.execute(
        "CREATE INDEX ix_listings_active_posted_at ON listings (posted_at, id) "
        "WHERE status = 'active' AND canonical_id IS NULL"
    )
    op.execute(
        "CREATE INDEX ix_listings_active_last_checked_at ON listings (last_checked_at, id) "
        "WHERE status = 'active'"
    )
    op.execute("CREATE INDEX ix_listings_active_geom ON listings USING gist (geom) WHERE status = 'active'")
    op.execute(
        "CREATE INDEX ix_listings_canonical_id ON listings (canonical_id) WHERE canonical_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE listings RESET (fillfactor)")
    for name in (
        "ix_listings_pending",
        "ix_listings_active_posted_at",
        "ix_listings_active_last_checked_at",
        "ix_listings_active_geom",
        "ix_listings_canonical_id",
    ):
        op.drop_index(name, table_name="listings")
    op.create_index("ix_listings_status_posted_at", "listings", ["status", "posted_at"])
    op.create_index("ix_listings_last_checked_at", "listings", ["last_checked_at"])
    op.create_index("ix_listings_canonical_id", "listings", ["canonical_id"])
    op.execute("CREATE INDEX idx_listings_geom ON listings USING gist (geom)")
