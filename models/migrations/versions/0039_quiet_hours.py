"""quiet hours: when no message goes to a user, on their clock

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-02 12:00:00.000000

Alerts went whenever the notify job found them due, at 3 a.m. too. A user may name hours no message goes
(`quiet_from` until `quiet_until` o'clock in `quiet_time_zone`, all three or none: ck_users_quiet_hours);
what comes meanwhile waits for their end.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUIET = (
    "(quiet_from IS NULL) = (quiet_until IS NULL) AND (quiet_from IS NULL) = (quiet_time_zone IS NULL)"
    " AND quiet_from BETWEEN 0 AND 23 AND quiet_until BETWEEN 0 AND 23 AND quiet_from <> quiet_until"
)


def upgrade() -> None:
    op.add_column("users", sa.Column("quiet_from", sa.SmallInteger(), nullable=True))
    op.add_column("users", sa.Column("quiet_until", sa.SmallInteger(), nullable=True))
    op.add_column("users", sa.Column("quiet_time_zone", sa.String(length=64), nullable=True))
    op.create_check_constraint(op.f("ck_users_quiet_hours"), "users", QUIET)


def downgrade() -> None:
    op.drop_constraint(op.f("ck_users_quiet_hours"), "users", type_="check")
    op.drop_column("users", "quiet_time_zone")
    op.drop_column("users", "quiet_until")
    op.drop_column("users", "quiet_from")
