"""price model activation

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 17:40:12.433354
"""

from collections.abc import Sequence

import geoalchemy2  # noqa: F401
import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("price_models", sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_price_models_activated_at"), "price_models", ["activated_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_price_models_activated_at"), table_name="price_models")
    op.drop_column("price_models", "activated_at")
