"""a region's alerts can be switched off: drawn to browse, it queues no alerts

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 06:30:00.000000

Every region queued an alert for every listing placed in it that met its criteria, so a renter comparing
a few areas heard of every flat in all of them. A region with alerts off keeps its listings (search,
market) and queues none; switching them off withdraws the ones not sent yet.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("regions", sa.Column("alerts", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    op.drop_column("regions", "alerts")
