"""inherited alerts: an alert of a copy that waits for the send of the alert it inherits from

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 11:20:00.000000

When a listing goes and a copy from another source takes its place, its alerts not sent yet move to
the copy; one the notify job is sending at that moment cannot. The copy gets an alert of its own that
names it (inherited_from), waits while it is queued, and is withdrawn if it was sent. No foreign key:
the alert inherited from is deleted when it is withdrawn, and then this one is sent.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("inherited_from", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("notifications", "inherited_from")
