"""a link to a new API key, mailed to a user who lost theirs

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-02 05:00:00.000000

A renter who lost their key could only ask the operator for another (`flask users rotate-key`). They ask
for a link mailed to their address now: its token is kept as its hash (`key_link_hash`), with when it
was asked for (`key_link_asked_at`: it works an hour, and is mailed at most every two minutes).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("key_link_hash", sa.String(length=64), nullable=True))
    op.add_column("users", sa.Column("key_link_asked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "key_link_asked_at")
    op.drop_column("users", "key_link_hash")
