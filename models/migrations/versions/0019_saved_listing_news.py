"""a saved flat's news goes to its saver's webhook: a cut since they last heard, or that it went

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 10:40:00.000000

A renter who saved a flat heard of its price cut only if a region of theirs held it, and never that it
was taken down. The notify job now tells them (models.saved), judging the news against what they last
heard: `told_price` (at first, the price saved) and `told_gone`, with the delivery's attempts, when to
try next and the last error, as for alerts.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("saved_listings", sa.Column("told_price", sa.Integer(), nullable=True))
    op.execute("UPDATE saved_listings SET told_price = price")
    op.alter_column("saved_listings", "told_price", nullable=False)
    op.add_column(
        "saved_listings", sa.Column("told_gone", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column(
        "saved_listings", sa.Column("news_attempts", sa.SmallInteger(), server_default="0", nullable=False)
    )
    op.add_column(
        "saved_listings", sa.Column("news_next_attempt_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("saved_listings", sa.Column("news_error", sa.Text(), nullable=True))


def downgrade() -> None:
    for column in ("news_error", "news_next_attempt_at", "news_attempts", "told_gone", "told_price"):
        op.drop_column("saved_listings", column)
