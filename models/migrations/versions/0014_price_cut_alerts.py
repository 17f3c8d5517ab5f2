"""price-cut alerts: a region told of a flat is told again when its price is cut

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 08:10:00.000000

An alert was queued once per (region, listing): a renter told of a flat at $2,600 never heard that it
came down to $2,350. When a listing's price is cut by at least NOOK_PRICE_CUT_ALERT_PERCENT (3) and a
region that still wants it was told of it (sent) or missed it (expired), its alert is queued again,
for that reason (`reason` 'price_cut'; 'new' for the first alert of a flat). One alert row per (region,
listing) still: its sent_at keeps the last time it was sent.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "notifications", sa.Column("reason", sa.String(length=16), server_default="new", nullable=False)
    )
    op.create_check_constraint(
        op.f("ck_notifications_reason"), "notifications", "reason IN ('new', 'price_cut')"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_notifications_reason"), "notifications", type_="check")
    op.drop_column("notifications", "reason")
