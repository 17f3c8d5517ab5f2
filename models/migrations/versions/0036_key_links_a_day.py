"""links to a new API key: five a day an account at most

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-02 10:00:00.000000

A link to a new key went to an account's address at most every two minutes, but with no bound on the day:
whoever typed the address could have nook mail it 720 times a day. The links mailed since the day's first
are counted now (`key_links`, `key_links_day_started_at`), five at most.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("key_links", sa.SmallInteger(), server_default="0", nullable=False))
    op.add_column("users", sa.Column("key_links_day_started_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "key_links_day_started_at")
    op.drop_column("users", "key_links")
