"""a change of address waits for its link to be opened

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01 21:00:00.000000

Changing a user's address took effect at once: a typo sent their alerts to a stranger, and anyone could
name an address that was not theirs. Now, where nook sends email, the address asked for waits in
`pending_email` until the link mailed to it is opened (its token stored as a hash, like API keys).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("pending_email", sa.String(320), nullable=True))
    op.add_column("users", sa.Column("pending_email_hash", sa.String(64), nullable=True))
    op.add_column("users", sa.Column("pending_email_asked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for column in ("pending_email_asked_at", "pending_email_hash", "pending_email"):
        op.drop_column("users", column)
