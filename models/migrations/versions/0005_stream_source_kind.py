"""Sources of kind "stream": partners that push listings onto Kinesis.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_sources_kind"), "sources", type_="check")
    op.create_check_constraint("kind", "sources", "kind IN ('demo', 'arcgis', 'json_feed', 'csv', 'stream')")


def downgrade() -> None:
    op.execute("DELETE FROM sources WHERE kind = 'stream'")
    op.drop_constraint(op.f("ck_sources_kind"), "sources", type_="check")
    op.create_check_constraint("kind", "sources", "kind IN ('demo', 'arcgis', 'json_feed', 'csv')")
