"""regions can ask for a size and for furnished (or unfurnished) flats

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01 21:30:00.000000

A region's criteria held bedrooms, bathrooms, price and unit types: a renter who needs room for a desk,
or who brings no furniture, was alerted of every studio and every furnished flat in their area.
`min_sqft` asks for at least that floor area (a listing that gives none does not meet it, as a listing
giving no bathrooms does not meet `min_bathrooms`); `furnished` true or false asks for one or the other.
Existing regions have neither, and alert as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("regions", sa.Column("min_sqft", sa.Integer(), nullable=True))
    op.add_column("regions", sa.Column("furnished", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column("regions", "furnished")
    op.drop_column("regions", "min_sqft")
