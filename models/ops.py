"""Operational records: job runs and data-check results."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, Index, String, Text, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, created_at_column

RUN_STATUSES = ("running", "succeeded", "failed", "skipped")


class JobRun(Base):
    """One invocation of a job: when, how it ended, what it counted. A run skipped because another run
    of its job was under way says which in `error`."""

    __tablename__ = "job_runs"
    __table_args__ = (
        CheckConstraint(f"status IN {RUN_STATUSES}", name="status"),
        Index("ix_job_runs_job_started_at", "job", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    job: Mapped[str] = mapped_column(String(63))
    stage: Mapped[str] = mapped_column(String(32))
    invocation_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


def recent_runs(
    session: Session,
    job: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    limit: int = 20,
) -> tuple[int, list[JobRun]]:
    """How many runs match (of `job`, and of its per-source runs "job:..."), and the newest `limit`."""
    conditions = []
    if job is not None:
        conditions.append(or_(JobRun.job == job, JobRun.job.startswith(f"{job}:", autoescape=True)))
    if status is not None:
        conditions.append(JobRun.status == status)
    if since is not None:
        conditions.append(JobRun.started_at >= since)
    matching = select(JobRun).where(*conditions)
    total = session.scalar(select(func.count()).select_from(matching.subquery())) or 0
    runs = session.scalars(matching.order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(limit))
    return total, list(runs)


class CheckResult(Base):
    """The outcome of one data-check suite run."""

    __tablename__ = "check_results"
    __table_args__ = (Index("ix_check_results_suite_run_at", "suite", "run_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    suite: Mapped[str] = mapped_column(String(63))
    success: Mapped[bool] = mapped_column(Boolean)
    statistics: Mapped[dict[str, Any]] = mapped_column(JSONB)
    failures: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    report_uri: Mapped[str | None] = mapped_column(Text)
    run_at: Mapped[datetime] = created_at_column()
