"""an index of the shown listings whose last change of price was a cut, by when

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 08:40:00.000000

A region's market says how many of its listings cut their price lately (GET /v1/regions/<id>/market):
the index holds only the shown listings whose price fell, so the few cut lately are found without
reading the region's listings.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_listings_price_cuts",
        "listings",
        ["price_changed_at"],
        postgresql_where=sa.text("status = 'active' AND previous_price > price"),
    )


def downgrade() -> None:
    op.drop_index("ix_listings_price_cuts", table_name="listings")
