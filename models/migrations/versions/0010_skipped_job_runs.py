"""skipped job runs: a run that found another run of its job under way

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 01:00:00.000000

A job runs once at a time unless it is built to run side by side (notify): a run that finds another
under way (a run longer than its schedule's interval, or a scheduled event delivered twice) does nothing
and is recorded as skipped, its error naming the run it gave way to.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_job_runs_status"), "job_runs", type_="check")
    op.create_check_constraint(
        op.f("ck_job_runs_status"), "job_runs", "status IN ('running', 'succeeded', 'failed', 'skipped')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM job_runs WHERE status = 'skipped'")
    op.drop_constraint(op.f("ck_job_runs_status"), "job_runs", type_="check")
    op.create_check_constraint(
        op.f("ck_job_runs_status"), "job_runs", "status IN ('running', 'succeeded', 'failed')"
    )
