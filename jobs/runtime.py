"""The job entry-point wrapper: kwargs, session scope, job_runs row, one-line log.

Zappa calls a scheduled function as `f(event, context)` and, if that raises
`TypeError`, calls it again as `f(event)` and then `f()`. A job body that
raised TypeError would therefore run twice or three times. `run_job` turns
every exception from the body into `JobFailed`, which is never a TypeError.

Runs of a job can meet: a run longer than its schedule's interval (ingest runs
every 10 minutes for up to 14), or a scheduled event delivered twice. A job runs
once at a time unless it is built to run side by side: the run that finds
another under way is recorded as skipped and returns at once.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from models.logs import configure_logging
from models.ops import JobRun
from models.session import session_scope
from models.settings import get_settings

log = logging.getLogger("nook.jobs")

JobBody = Callable[..., Mapping[str, Any]]

# PostgreSQL advisory-lock spaces (the first key of pg_try_advisory_xact_lock): a job's runs, a source's
# pulls
JOB_LOCKS = 0x6E6F6F6B  # "nook"
SOURCE_LOCKS = JOB_LOCKS + 1
TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:space, :key)")
# A run's transaction names it in application_name (SET LOCAL: gone at its end), so a run that finds a
# lock taken can tell which run holds it, not guess from the rows still marked running
RUN_NAME = "nook job run {}"
NAME_RUN = text("SELECT set_config('application_name', :name, true)")
HOLDER = text("""
SELECT substring(a.application_name FROM '^nook job run ([0-9]+)$')::bigint
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
  AND l.classid = CAST(CAST(:space AS int4) AS oid) AND l.objid = CAST(CAST(:key AS int4) AS oid)
""")


ProgressListener = Callable[[str, int, "int | None"], None]
_progress: ContextVar[ProgressListener | None] = ContextVar("nook_progress", default=None)


class JobFailed(RuntimeError):
    """A job body raised; the original exception is chained as __cause__."""


def report_progress(task: str, done: int, total: int | None = None) -> None:
    """Tell a listener (the local CLI's progress bar) how far a task is; a no-op on Lambda."""
    listener = _progress.get()
    if listener is not None:
        listener(task, done, total)


@contextmanager
def progress_listener(listener: ProgressListener) -> Iterator[None]:
    """Receive report_progress() calls made inside the block."""
    token = _progress.set(listener)
    try:
        yield
    finally:
        _progress.reset(token)


def event_kwargs(event: Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings kwargs Zappa passes to a scheduled function (`event["kwargs"]`)."""
    if not event:
        return {}
    kwargs = event.get("kwargs") or {}
    if not isinstance(kwargs, Mapping):
        raise JobFailed(f"event kwargs must be an object, got {type(kwargs).__name__}")
    return dict(kwargs)


def budget_deadline(context: Any, budget_seconds: float | None = None, margin: float = 60.0) -> float | None:
    """A time.monotonic() deadline: the explicit budget, or Lambda's remaining time minus a margin."""
    limits = []
    if budget_seconds is not None:
        limits.append(float(budget_seconds))
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        limits.append(max(1.0, remaining() / 1000 - margin))
    return time.monotonic() + min(limits) if limits else None


def past(deadline: float | None) -> bool:
    """Whether a time.monotonic() deadline from budget_deadline has passed (None: never)."""
    return deadline is not None and time.monotonic() > deadline


def take_lock(session: Session, space: int, key: int | str) -> bool:
    """Take the lock on `key` in `space` for the session's transaction, unless another transaction holds
    it; whether it did. It goes at commit or rollback, and with the connection of a process that died (a
    Lambda stopped mid-run holds nothing for long)."""
    return bool(session.scalar(TRY_LOCK, {"space": space, "key": _lock_number(key)}))


def _lock_number(key: int | str) -> int:
    number = zlib.crc32(key.encode()) if isinstance(key, str) else key & 0xFFFFFFFF
    return number - 2**32 if number >= 2**31 else number  # the key is a signed 32-bit integer


def held_by(session: Session, space: int, key: int | str) -> str:
    """Words naming the job run whose transaction holds the lock on `key` in `space` (" (job run 12,
    started 2026-12-01 03:00:00 UTC)"), or "" where no run of nook's holds it (a shell's transaction)."""
    run_id = session.scalar(HOLDER, {"space": space, "key": _lock_number(key)})
    run = session.get(JobRun, run_id) if run_id is not None else None
    if run is None:
        return ""
    return f" (job run {run.id}, started {run.started_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC)"


def _under_way(session: Session, job: str) -> str:
    """What a skipped run says of the run it gave way to."""
    return f"another run of {job} is under way{held_by(session, JOB_LOCKS, job)}"


def _invocation_id(context: Any) -> str | None:
    return getattr(context, "aws_request_id", None)


def _start(job: str, stage: str, invocation_id: str | None) -> int:
    with session_scope() as session:
        row = JobRun(
            job=job,
            stage=stage,
            invocation_id=invocation_id,
            status="running",
            started_at=datetime.now(UTC),
            counts={},
        )
        session.add(row)
        session.flush()
        return row.id


def _finish(run_id: int, status: str, counts: Mapping[str, Any], error: str | None) -> None:
    with session_scope() as session:
        row = session.get_one(JobRun, run_id)
        row.status = status
        row.finished_at = datetime.now(UTC)
        row.counts = dict(counts)
        row.error = error


def run_job(
    job: str,
    body: JobBody,
    event: Mapping[str, Any] | None,
    context: Any,
    exclusive: bool = True,
) -> dict[str, Any]:
    """Run `body(session, **kwargs)` in its own session scope and record the run.

    The job_runs row is written in separate transactions, so it survives the
    rollback of a failed body. A body that returns a non-empty `errors` list
    has its work committed, but the run is recorded as failed and JobFailed is
    raised, so a partly failing job is never mistaken for a healthy one.
    An `exclusive` job's run that finds another run of it under way does
    nothing and is recorded as skipped, saying which run it gave way to; it
    does not fail (Lambda would try it again). Returns the body's summary plus
    run bookkeeping.
    """
    configure_logging(get_settings().log_level)
    stage = get_settings().stage
    started = time.monotonic()
    kwargs = event_kwargs(event)
    run_id = _start(job, stage, _invocation_id(context))
    skipped = None
    try:
        with session_scope() as session:
            session.execute(NAME_RUN, {"name": RUN_NAME.format(run_id)})
            if exclusive and not take_lock(session, JOB_LOCKS, job):
                skipped = _under_way(session, job)
            else:
                counts = dict(_call(body, session, kwargs))
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        _finish(run_id, "failed", {}, error[:4000])
        log.error(
            "job failed",
            exc_info=True,
            extra={"job": job, "job_run_id": run_id, "seconds": round(time.monotonic() - started, 3)},
        )
        raise JobFailed(f"{job} failed: {error}") from exc
    seconds = round(time.monotonic() - started, 3)
    if skipped is not None:
        _finish(run_id, "skipped", {}, skipped)
        log.warning("job skipped", extra={"job": job, "job_run_id": run_id, "reason": skipped})
        return {"job": job, "job_run_id": run_id, "status": "skipped", "seconds": seconds, "reason": skipped}
    errors = counts.get("errors") or []
    if errors:
        # The work that succeeded is committed; the run still fails, loudly, naming what broke.
        summary = f"{len(errors)} part(s) failed: " + "; ".join(str(e) for e in errors)
        _finish(run_id, "failed", counts, summary[:4000])
        log.error(
            "job partly failed",
            extra={"job": job, "job_run_id": run_id, "seconds": seconds, "counts": counts},
        )
        raise JobFailed(f"{job}: {summary}")
    _finish(run_id, "succeeded", counts, None)
    log.info("job succeeded", extra={"job": job, "job_run_id": run_id, "seconds": seconds, "counts": counts})
    return {"job": job, "job_run_id": run_id, "status": "succeeded", "seconds": seconds, **counts}


def _call(body: JobBody, session: Session, kwargs: dict[str, Any]) -> Mapping[str, Any]:
    return body(session, **kwargs)
