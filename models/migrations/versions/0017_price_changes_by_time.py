"""the price changes of a day found by time

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 09:00:00.000000

The checks stage's price_changes suite reads each source's price changes of the judged day; without an
index on when they were written it read every change ever recorded, once a source.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_listing_price_changes_changed_at", "listing_price_changes", ["changed_at"])


def downgrade() -> None:
    op.drop_index("ix_listing_price_changes_changed_at", table_name="listing_price_changes")
