"""a listing's move-in date: the first day a tenant may move in

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-02 19:30:00.000000

A renter whose lease ends on March 31 could not tell the flats free in April from those let until June:
sources that say (a date, "immediately") now have it kept (`available_from`; None: not said), and a
search can ask for flats one may move into by a day.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0045"
down_revision: str | None = "0044"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("listings", sa.Column("available_from", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("listings", "available_from")
