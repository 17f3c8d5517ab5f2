"""how long before a viewing its saver is reminded, theirs to choose

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-02 16:00:00.000000

Every viewing was reminded NOOK_VIEWING_REMINDER_HOURS before it. A user may choose their own lead
(`viewing_reminder_minutes`, 0 to 2880: 0 never; None: the operator's).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("viewing_reminder_minutes", sa.SmallInteger(), nullable=True))
    op.create_check_constraint(
        op.f("ck_users_viewing_reminder_minutes"), "users", "viewing_reminder_minutes BETWEEN 0 AND 2880"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_users_viewing_reminder_minutes"), "users", type_="check")
    op.drop_column("users", "viewing_reminder_minutes")
