"""a viewing booked for a saved flat, and its reminder

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-02 13:00:00.000000

A saved listing at the stage "viewing booked" said nothing of when. It keeps the viewing's time
(`viewing_at`) and the time zone it was booked on (`viewing_time_zone`, both or none:
ck_saved_listings_viewing); the notify job reminds the saver before it, once a time (`viewing_told_at`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("saved_listings", sa.Column("viewing_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("saved_listings", sa.Column("viewing_time_zone", sa.String(length=64), nullable=True))
    op.add_column("saved_listings", sa.Column("viewing_told_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        op.f("ck_saved_listings_viewing"),
        "saved_listings",
        "(viewing_at IS NULL) = (viewing_time_zone IS NULL)",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_saved_listings_viewing"), "saved_listings", type_="check")
    op.drop_column("saved_listings", "viewing_told_at")
    op.drop_column("saved_listings", "viewing_time_zone")
    op.drop_column("saved_listings", "viewing_at")
