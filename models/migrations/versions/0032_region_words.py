"""a region can ask for listings by the words of their title or address

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-02 02:10:00.000000

`words` holds what a renter would type into a search's `q` ("parking -basement"): a region alerts only
of the listings whose title or address has them. Matched per (listing, region) pair as a listing is
placed, and again when an alert is sent; a region without words costs nothing more.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("regions", sa.Column("words", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("regions", "words")
