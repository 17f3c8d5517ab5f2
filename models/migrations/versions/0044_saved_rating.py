"""a saved flat's rating: the stars its saver gives it

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-02 18:00:00.000000

A renter who saw a dozen flats keeps notes and stages; they could not say which they liked best. A saved
listing may carry 1 to 5 stars (`rating`; None: not rated), which the list sorts by.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("saved_listings", sa.Column("rating", sa.SmallInteger(), nullable=True))
    op.create_check_constraint(op.f("ck_saved_listings_rating"), "saved_listings", "rating BETWEEN 1 AND 5")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_saved_listings_rating"), "saved_listings", type_="check")
    op.drop_column("saved_listings", "rating")
