"""expired alerts: an alert no webhook took within NOOK_ALERT_MAX_AGE_HOURS of being queued

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 06:00:00.000000

The notify job posts an alert only while it is new: one still queued past the age limit (its user had
no webhook, or the webhook was down all that time) is marked expired instead of being posted days or
months late. An expired alert stays on the user's alert list and, like a sent one, keeps its (region,
listing) from being alerted again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_notifications_status"), "notifications", type_="check")
    op.create_check_constraint(
        op.f("ck_notifications_status"), "notifications", "status IN ('queued', 'sent', 'expired')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE status = 'expired'")
    op.drop_constraint(op.f("ck_notifications_status"), "notifications", type_="check")
    op.create_check_constraint(
        op.f("ck_notifications_status"), "notifications", "status IN ('queued', 'sent')"
    )
