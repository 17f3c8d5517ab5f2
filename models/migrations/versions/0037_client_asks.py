"""asks for a mailed link, counted by the client that asks

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-02 10:30:00.000000

All addresses together get NOOK_SIGN_UPS_AN_HOUR sign-up letters an hour: one client typing address after
address could spend them for everyone. A client's asks for a link (a new account, a new key) are counted
an hour from its first, a row a client (`client_asks`: an IPv4 address or an IPv6 /64), deleted once the
hour is over.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "client_asks",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("asks", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("client", name=op.f("pk_client_asks")),
    )


def downgrade() -> None:
    op.drop_table("client_asks")
