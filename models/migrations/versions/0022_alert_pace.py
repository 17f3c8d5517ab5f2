"""alert pace: a user can have their messages at most every so many minutes

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 12:25:00.000000

The notify job runs every five minutes, and in a busy market a renter with email alerts could get an
email every time. A user sets `alerts_every_minutes` (0, as they come, up to 1440: one message a day)
and the notify job sends them what is due only when that long has passed since their last message
(`last_alerted_at`), alerts and saved listings' news together.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("alert_every_minutes", sa.SmallInteger(), server_default="0", nullable=False)
    )
    op.add_column("users", sa.Column("last_alerted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "last_alerted_at")
    op.drop_column("users", "alert_every_minutes")
