"""regions can ask for listings ranked low (or typical, or high)

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-01 22:30:00.000000

nook ranks every listing's price, yet a region alerted of every listing in it: a renter after a fair
price heard of each overpriced flat too. `labels` lists the price ranks a region wants (null: any).
A listing is placed before the stream stores its rank, so its alert is queued as ever and the notify
job withdraws it, unsent and unlisted, unless the listing's rank is one the region wants when it sends.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("regions", sa.Column("labels", postgresql.ARRAY(sa.String(16)), nullable=True))


def downgrade() -> None:
    op.drop_column("regions", "labels")
