"""alerts by email: a user can have their alerts and saved listings' news mailed instead of posted

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 12:30:00.000000

Most renters have no webhook. With NOOK_MAIL_FROM set (an address SES may send from), a user turns
email alerts on (PUT /v1/me/email-alerts) and the notify job mails what it would have posted to the
address of their account, through SES. Off by default: nobody gets mail they did not ask for. Each
email carries a link that turns them off without signing in (one click, RFC 8058): it names the user
and a random token of theirs, made for the first email that carries the link.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("email_alerts", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("users", sa.Column("mail_token", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "mail_token")
    op.drop_column("users", "email_alerts")
