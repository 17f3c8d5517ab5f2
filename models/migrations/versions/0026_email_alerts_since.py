"""when a user last turned email alerts on (or changed their address)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01 18:40:00.000000

A bounce or complaint can reach nook after its user turned email alerts on again (SNS delivers a message
more than once, and the emails sent before the first bounce was read bounce too): it turned them off
once more. `email_alerts_since` lets jobs.mail_feedback leave alone what SES says of an email sent
before then. Users who turned email on before this migration have none, and no such guard.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("email_alerts_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "email_alerts_since")
