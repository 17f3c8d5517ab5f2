"""a region can ask for flats one may move into by a day

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-02 19:45:00.000000

A renter whose lease ends on March 31 was alerted of every flat in their area, those let until June too:
a region's `available_by` asks for flats free by then (available from that day or earlier), and those
whose source does not say from when (most do not; leaving them out would leave out most flats).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0046"
down_revision: str | None = "0045"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("regions", sa.Column("available_by", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("regions", "available_by")
