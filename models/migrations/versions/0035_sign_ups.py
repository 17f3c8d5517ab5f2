"""accounts renters make themselves, by a link mailed to their address

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-02 08:00:00.000000

Only the operator made accounts (`flask users create`). Where NOOK_OPEN_SIGN_UP lets them, renters ask for
a link mailed to their address and make their own: an ask is kept a day at most, one row an address
(`sign_ups`), with its link's token as a hash and the letters mailed that day (a few at most: whoever
types an address asks).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_ups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("day_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("letters", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_ups")),
        sa.UniqueConstraint("email", name=op.f("uq_sign_ups_email")),
    )


def downgrade() -> None:
    op.drop_table("sign_ups")
