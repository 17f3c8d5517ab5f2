"""The job wrapper: kwargs, job_runs rows, TypeError safety, warm-invocation isolation."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, select
from zappa.handler import LambdaHandler

import models.session
from jobs.runtime import JobFailed, event_kwargs, run_job
from models.ops import JobRun
from models.session import session_scope
from tests.jobs import sample_jobs


def _runs():
    with session_scope() as session:
        return session.scalars(select(JobRun).order_by(JobRun.id)).all()


def test_kwargs_come_from_the_event():
    assert event_kwargs({"kwargs": {"keep_days": 3}}) == {"keep_days": 3}
    assert event_kwargs({"detail-type": "Scheduled Event"}) == {}
    assert event_kwargs(None) == {}
    with pytest.raises(JobFailed, match="kwargs must be an object"):
        event_kwargs({"kwargs": [1, 2]})


def test_success_records_counts_and_returns_summary(committed, lambda_context):
    result = run_job("count", lambda session, n=0: {"seen": n}, {"kwargs": {"n": 5}}, lambda_context)
    assert result["status"] == "succeeded" and result["seen"] == 5
    (row,) = _runs()
    assert (row.job, row.status, row.counts) == ("count", "succeeded", {"seen": 5})
    assert row.invocation_id == lambda_context.aws_request_id
    assert row.finished_at >= row.started_at


def test_unknown_kwarg_fails_clearly_without_type_error(committed, lambda_context):
    with pytest.raises(JobFailed, match="unexpected keyword argument 'bogus'"):
        run_job("count", lambda session: {}, {"kwargs": {"bogus": 1}}, lambda_context)
    (row,) = _runs()
    assert row.status == "failed" and "bogus" in row.error


def test_zappa_reruns_a_bare_function_that_raises_type_error(lambda_context):
    """The hazard itself: Zappa calls f(event, context), then f(event), then f()."""
    sample_jobs.CALLS.clear()
    with pytest.raises(RuntimeError, match="Function signature is invalid"):
        LambdaHandler.run_function(sample_jobs.naive_raises_type_error, {}, lambda_context)
    assert sample_jobs.CALLS == ["naive"]  # only the 2-arg call reaches the body...
    # ...but a body with defaults would run again: show it with a varargs function.
    calls = []

    def flexible(*args):
        calls.append(len(args))
        raise TypeError("inside the body")

    with pytest.raises(RuntimeError):
        LambdaHandler.run_function(flexible, {}, lambda_context)
    assert calls == [2, 1, 0]


def test_type_error_in_job_body_runs_once_through_zappa(committed, lambda_context):
    sample_jobs.CALLS.clear()
    with pytest.raises(JobFailed, match="TypeError: unsupported operand") as caught:
        LambdaHandler.run_function(sample_jobs.raises_type_error, {"kwargs": {}}, lambda_context)
    assert not isinstance(caught.value, TypeError)
    assert isinstance(caught.value.__cause__, TypeError)
    assert sample_jobs.CALLS == ["type_error"]
    (row,) = _runs()
    assert row.status == "failed" and row.error.startswith("TypeError")
    with session_scope() as session:  # the body's write was rolled back
        from models.source import Source

        assert session.scalar(select(Source.id).where(Source.name == "written-before-the-error")) is None


@pytest.fixture
def one_connection_pool(monkeypatch):
    """Every session shares one pooled connection, as in a small warm Lambda."""
    engine = create_engine(
        models.session.sqlalchemy_url(models.session.get_settings().database_url),
        pool_size=1,
        max_overflow=0,
        pool_timeout=5,
    )
    monkeypatch.setattr(models.session, "get_engine", lambda: engine)
    models.session.get_sessionmaker.cache_clear()
    yield engine
    models.session.get_sessionmaker.cache_clear()
    engine.dispose()


def test_failed_transaction_never_poisons_the_next_warm_invocation(
    committed, lambda_context, one_connection_pool
):
    with pytest.raises(JobFailed, match="DivisionByZero|division by zero"):
        LambdaHandler.run_function(sample_jobs.poisons_transaction, {"kwargs": {}}, lambda_context)
    assert one_connection_pool.pool.checkedout() == 0
    result = LambdaHandler.run_function(
        sample_jobs.counts_sources, {"kwargs": {"expect_name": "poisoned"}}, lambda_context
    )
    assert result["status"] == "succeeded"
    assert result["found"] is False and result["sources"] == 0
    assert [(r.job, r.status) for r in _runs()] == [
        ("poisons_transaction", "failed"),
        ("counts_sources", "succeeded"),
    ]


def test_failed_request_never_poisons_the_next_request(committed, one_connection_pool):
    from flask import Blueprint
    from sqlalchemy import text

    from app import create_app
    from app.db import get_db

    app = create_app({"TESTING": True, "PROPAGATE_EXCEPTIONS": False})
    bad = Blueprint("bad", __name__)

    @bad.post("/poison")
    def poison():
        get_db().execute(text("SELECT 1 / 0"))
        return {}

    app.register_blueprint(bad)
    client = app.test_client()
    assert client.post("/poison").status_code == 500
    assert one_connection_pool.pool.checkedout() == 0
    assert client.get("/health").status_code == 200


@pytest.fixture
def held_run(lambda_context):
    """Start a run of `job` (a sample job) whose body waits until the test is done with it; yield a
    function starting one, and let every run go at the end."""
    started, workers = [], []

    def start(job):
        sample_jobs.HOLD.clear()
        sample_jobs.ENTERED.clear()
        worker = threading.Thread(
            target=lambda: started.append(LambdaHandler.run_function(job, {"kwargs": {}}, lambda_context))
        )
        worker.start()
        workers.append(worker)
        assert sample_jobs.ENTERED.wait(10), "the held run never began"
        return worker

    yield start, started
    sample_jobs.HOLD.set()
    for worker in workers:
        worker.join(10)


def test_a_run_that_finds_another_under_way_is_skipped_not_failed(committed, lambda_context, held_run):
    # a run longer than its schedule's interval, or an EventBridge event delivered twice: both runs did
    # the same work at once (and waited on each other's rows); a failure would have Lambda run it again
    start, finished = held_run
    sample_jobs.CALLS.clear()
    first = start(sample_jobs.held)
    began = time.monotonic()
    second = LambdaHandler.run_function(sample_jobs.held, {"kwargs": {}}, lambda_context)
    assert time.monotonic() - began < 5  # at once: it waited for nothing
    assert sample_jobs.CALLS == ["held"]  # the second body never ran
    runs = _runs()
    assert second["status"] == "skipped" and second["job_run_id"] == runs[1].id
    assert second["reason"].startswith(f"another run of held is under way (job run {runs[0].id}, started 20")
    assert [(r.status, r.error) for r in runs] == [("running", None), ("skipped", second["reason"])]
    sample_jobs.HOLD.set()
    first.join(10)
    assert finished[0]["status"] == "succeeded"
    third = LambdaHandler.run_function(sample_jobs.held, {"kwargs": {}}, lambda_context)  # nothing under way
    assert third["status"] == "succeeded" and sample_jobs.CALLS == ["held", "held"]
    assert [r.status for r in _runs()] == ["succeeded", "skipped", "succeeded"]


def test_a_skipped_run_names_the_run_holding_the_lock_not_a_dead_one(committed, lambda_context, held_run):
    # a run Lambda stopped stays "running" until housekeeping's next pass: the skip named the newest run
    # marked running, which could be that dead one; the lock's holder says which run it really is
    start, _ = held_run
    first = start(sample_jobs.held)
    with session_scope() as session:
        session.add(
            JobRun(job="held", stage="test", status="running", started_at=datetime.now(UTC), counts={})
        )
    second = LambdaHandler.run_function(sample_jobs.held, {"kwargs": {}}, lambda_context)
    holder, dead, skipped = _runs()
    assert (holder.status, dead.status, skipped.status) == ("running", "running", "skipped")
    assert second["reason"].startswith(f"another run of held is under way (job run {holder.id}, started 20")
    sample_jobs.HOLD.set()
    first.join(10)


def test_other_jobs_and_jobs_built_to_run_side_by_side_are_not_held_up(committed, lambda_context, held_run):
    start, _ = held_run
    sample_jobs.CALLS.clear()
    start(sample_jobs.held)
    assert (
        LambdaHandler.run_function(sample_jobs.counts_sources, {"kwargs": {}}, lambda_context)["status"]
        == "succeeded"
    )
    sample_jobs.HOLD.set()
    start(sample_jobs.held_side_by_side)
    sample_jobs.ENTERED.clear()
    alongside = threading.Thread(
        target=LambdaHandler.run_function,
        args=(sample_jobs.held_side_by_side, {"kwargs": {}}, lambda_context),
    )
    alongside.start()
    assert sample_jobs.ENTERED.wait(10)  # the second run's body began while the first's was under way
    sample_jobs.HOLD.set()
    alongside.join(10)
    assert sample_jobs.CALLS == ["held", "held", "held"]


def test_jobs_run_says_a_run_was_skipped_and_why(runner, committed):
    from jobs.cli import jobs_group
    from jobs.runtime import JOB_LOCKS, take_lock

    with session_scope() as elsewhere:  # a process run under way in another process (no row of it here)
        assert take_lock(elsewhere, JOB_LOCKS, "process")
        skipped = runner.invoke(jobs_group, ["run", "process"])
    assert skipped.exit_code == 0, skipped.output
    assert skipped.stdout == "process: skipped: another run of process is under way\n"
    done = runner.invoke(jobs_group, ["run", "process"])  # the lock went with the other transaction
    assert done.exit_code == 0 and done.stdout.startswith("process: done in ")
    assert [(r.job, r.status) for r in _runs()] == [("process", "skipped"), ("process", "succeeded")]


def test_jobs_history_shows_the_newest_runs_and_how_each_ended(runner, committed, lambda_context):
    from jobs.cli import jobs_group

    run_job("ingest", lambda session: {}, {}, lambda_context, exclusive=False)
    run_job("ingest:demo-main", lambda session: {}, {}, lambda_context, exclusive=False)
    with pytest.raises(JobFailed):
        run_job("process", lambda session: {"errors": ["feed: config\nsecond line"]}, {}, lambda_context)
    run_job("ingestion-report", lambda session: {}, {}, lambda_context)  # not one of ingest's runs
    every = runner.invoke(jobs_group, ["history"])
    assert every.exit_code == 0, every.output
    lines = every.stdout.splitlines()
    assert lines[0] == "4 run(s); the newest 4:"
    assert [line.split()[3:5] for line in lines[1:]] == [
        ["ingestion-report", "succeeded"],
        ["process", "failed"],
        ["ingest:demo-main", "succeeded"],
        ["ingest", "succeeded"],
    ]
    assert lines[2].endswith("s  1 part(s) failed: feed: config")  # its first line
    ingest = runner.invoke(jobs_group, ["history", "--job", "ingest", "--limit", "1"]).stdout.splitlines()
    assert ingest[0] == "2 run(s); the newest 1:" and ingest[1].split()[3] == "ingest:demo-main"
    failed = runner.invoke(jobs_group, ["history", "--status", "failed"]).stdout.splitlines()
    assert failed[0] == "1 run(s); the newest 1:" and " process " in failed[1]
    assert runner.invoke(jobs_group, ["history", "--since", "2099-01-01"]).stdout == "0 run(s)\n"
    refused = runner.invoke(jobs_group, ["history", "--since", "yesterday"])
    assert refused.exit_code == 2 and "give 90m, 24h, 7d, or a date" in refused.output
