"""quarantine fingerprint

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 16:53:23.597165
"""

from collections.abc import Sequence

import geoalchemy2  # noqa: F401
import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("quarantined_records", sa.Column("fingerprint", sa.String(length=40), nullable=True))
    # Rows filed before fingerprints existed get a unique one of their own.
    op.execute("UPDATE quarantined_records SET fingerprint = md5('legacy:' || id::text)")
    op.alter_column("quarantined_records", "fingerprint", nullable=False)
    op.create_unique_constraint(
        op.f("uq_quarantined_records_fingerprint"), "quarantined_records", ["fingerprint"]
    )


def downgrade() -> None:
    op.drop_constraint(op.f("uq_quarantined_records_fingerprint"), "quarantined_records", type_="unique")
    op.drop_column("quarantined_records", "fingerprint")
