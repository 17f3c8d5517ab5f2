"""a user's shortlist can be shared read-only through a link

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-01 22:00:00.000000

Renters hunt in pairs and groups: a partner or flatmate had to be sent each saved flat by hand. A user
may now share their saved listings through a link naming a random token (`shortlist_token`), with or
without their notes (`shortlist_notes`); stopping the share forgets the token, and a new share gets
another.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("shortlist_token", sa.String(64), nullable=True))
    op.add_column(
        "users", sa.Column("shortlist_notes", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.create_unique_constraint(op.f("uq_users_shortlist_token"), "users", ["shortlist_token"])


def downgrade() -> None:
    op.drop_constraint(op.f("uq_users_shortlist_token"), "users", type_="unique")
    op.drop_column("users", "shortlist_notes")
    op.drop_column("users", "shortlist_token")
