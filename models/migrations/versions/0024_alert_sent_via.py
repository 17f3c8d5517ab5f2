"""which way an alert went: to the user's webhook, or by email

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01 16:00:00.000000

With alerts by email, "sent" no longer said where to look for an alert: a user who switched between
their webhook and email could not tell which had it. `sent_via` ('webhook' or 'email') is set with
sent_at each time one is sent; alerts sent before this migration have none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("sent_via", sa.String(length=8), nullable=True))
    op.create_check_constraint(
        op.f("ck_notifications_sent_via"), "notifications", "sent_via IN ('webhook', 'email')"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_notifications_sent_via"), "notifications", type_="check")
    op.drop_column("notifications", "sent_via")
