"""a user's place is kept with the account

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-02 03:00:00.000000

The map page measured listings from a place (work, a school) kept in one browser: signed in on another
(a phone), the renter had none. `place_lat` and `place_lon` keep it with the account (both or neither).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("place_lat", sa.Float(), nullable=True))
    op.add_column("users", sa.Column("place_lon", sa.Float(), nullable=True))
    op.create_check_constraint("place", "users", "(place_lat IS NULL) = (place_lon IS NULL)")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_users_place"), "users", type_="check")
    op.drop_column("users", "place_lon")
    op.drop_column("users", "place_lat")
