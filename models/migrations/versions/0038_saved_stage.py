"""where a renter is with each saved flat: contacted, viewing booked, viewed, applied, ruled out

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-02 11:00:00.000000

A shortlist kept a price and a note a flat. Renters work down it: a saved listing keeps where they are
with the flat now (`stage`: null, just saved, or one of five) and since when (`stage_at`); news of a flat
ruled out is not told.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAGES = "stage IN ('contacted', 'viewing', 'viewed', 'applied', 'ruled_out')"


def upgrade() -> None:
    op.add_column("saved_listings", sa.Column("stage", sa.String(length=16), nullable=True))
    op.add_column("saved_listings", sa.Column("stage_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(op.f("ck_saved_listings_stage"), "saved_listings", STAGES)


def downgrade() -> None:
    op.drop_constraint(op.f("ck_saved_listings_stage"), "saved_listings", type_="check")
    op.drop_column("saved_listings", "stage_at")
    op.drop_column("saved_listings", "stage")
