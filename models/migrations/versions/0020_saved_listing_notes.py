"""a note on a saved listing: what its saver wants to remember of it

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 10:50:00.000000

A shortlist is worked through: a viewing booked, a question for the landlord, why it was kept. The saver
can keep up to 1,000 characters with each saved listing (PATCH /v1/me/saved/{id}); the page shows and
edits it, and the webhook's news of the flat repeats it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("saved_listings", sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("saved_listings", "note")
