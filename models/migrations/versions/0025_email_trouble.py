"""why a user's email alerts were stopped: SES's bounces and complaints

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01 18:00:00.000000

nook did not read SES's feedback: an address that bounced for good went on being sent every alert (into
nothing, the user none the wiser, and SES counting the bounces against the account). jobs.mail_feedback
reads it from an SQS queue; `email_trouble` says why a user's email alerts were turned off, and
`email_trouble_at` when SES said so. Both clear when the user turns email alerts on again or changes
their address.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("email_trouble", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("email_trouble_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "email_trouble_at")
    op.drop_column("users", "email_trouble")
