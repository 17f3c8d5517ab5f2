"""a replaced API key can keep working a while: rotation without a gap, and without a lost answer

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 08:30:00.000000

A new API key (POST /v1/me/key, `flask users rotate-key`) ended the old one at once: a client that
lost the answer (a dropped connection) was locked out until an operator gave it another, and one with
several processes using the key could not swap it without failing some requests. Asked to, the old key
now keeps working for up to a day (`old_key_hash` until `old_key_expires_at`); a later replacement ends
it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("old_key_hash", sa.String(length=64), nullable=True))
    op.add_column("users", sa.Column("old_key_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_unique_constraint(op.f("uq_users_old_key_hash"), "users", ["old_key_hash"])


def downgrade() -> None:
    op.drop_constraint(op.f("uq_users_old_key_hash"), "users", type_="unique")
    op.drop_column("users", "old_key_expires_at")
    op.drop_column("users", "old_key_hash")
