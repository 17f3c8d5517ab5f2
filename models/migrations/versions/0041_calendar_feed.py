"""a calendar feed of a user's viewings

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-02 14:00:00.000000

A viewing could be taken into a calendar app one file at a time. A user may publish their viewings as a
feed the app subscribes to, through a link naming a random token (`calendar_token`, unique; None: none).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("calendar_token", sa.String(64), nullable=True))
    op.create_unique_constraint(op.f("uq_users_calendar_token"), "users", ["calendar_token"])


def downgrade() -> None:
    op.drop_constraint(op.f("uq_users_calendar_token"), "users", type_="unique")
    op.drop_column("users", "calendar_token")
