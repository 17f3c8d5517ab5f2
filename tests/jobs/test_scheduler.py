"""The local scheduler reads zappa_settings.json and fires events as EventBridge would."""

from __future__ import annotations

import inspect
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from zappa.handler import LambdaHandler

from jobs.local import scheduler
from jobs.local.scheduler import ScheduledJob, scheduled_event
from models.ops import JobRun
from models.session import session_scope
from tests.conftest import load_event


def _job(expression: str, **overrides) -> ScheduledJob:
    fields = dict(
        stage="batch",
        function="jobs.maintenance.run",
        expression=expression,
        rule_name="nook-batch-jobs.maintenance.run",
        region="us-east-1",
        timeout_seconds=900,
        kwargs={"keep_days": 90},
    )
    fields.update(overrides)
    return ScheduledJob(**fields)


def test_every_scheduled_function_is_a_real_run_event_context():
    jobs = scheduler.scheduled_jobs()
    assert jobs, "no scheduled jobs found"
    for job in jobs:
        function = LambdaHandler.import_module_and_get_function(job.function)
        assert list(inspect.signature(function).parameters) == ["event", "context"], job.function
        assert len(job.function) <= 63 and "-" not in job.function


def test_rule_names_are_zappas():
    from zappa.core import Zappa

    (job,) = [j for j in scheduler.scheduled_jobs(["batch"]) if j.function == "jobs.maintenance.run"]
    expected = Zappa.get_event_name("nook-batch", "jobs.maintenance.run")
    assert job.rule_name == expected == "nook-batch-jobs.maintenance.run"
    # Zappa's handler recovers the function from the rule name exactly like this:
    assert job.rule_name.split("-")[-1] == job.function


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        (
            "cron(30 4 * * ? *)",
            datetime(2026, 11, 23, 5, 0, tzinfo=UTC),
            datetime(2026, 11, 24, 4, 30, tzinfo=UTC),
        ),
        (
            "cron(0/15 * * * ? *)",
            datetime(2026, 11, 23, 5, 7, tzinfo=UTC),
            datetime(2026, 11, 23, 5, 15, tzinfo=UTC),
        ),
        # AWS numbers days of the week 1-7 from Sunday: 2 is Monday (2026-11-23 is a Monday).
        (
            "cron(0 6 ? * 2 *)",
            datetime(2026, 11, 23, 7, 0, tzinfo=UTC),
            datetime(2026, 11, 30, 6, 0, tzinfo=UTC),
        ),
        (
            "cron(0 6 ? * MON-FRI *)",
            datetime(2026, 11, 27, 7, 0, tzinfo=UTC),
            datetime(2026, 11, 30, 6, 0, tzinfo=UTC),
        ),
        (
            "rate(5 minutes)",
            datetime(2026, 11, 23, 5, 0, tzinfo=UTC),
            datetime(2026, 11, 23, 5, 5, tzinfo=UTC),
        ),
        ("rate(1 day)", datetime(2026, 11, 23, 5, 0, tzinfo=UTC), datetime(2026, 11, 24, 5, 0, tzinfo=UTC)),
    ],
)
def test_next_fire_time(expression, after, expected):
    assert _job(expression).next_after(after) == expected


def test_bad_expression_is_rejected():
    with pytest.raises(ValueError, match="not an EventBridge schedule expression"):
        _job("every 5 minutes").next_after(datetime.now(UTC))


def test_event_has_zappas_shape():
    when = datetime(2026, 11, 23, 4, 30, tzinfo=UTC)
    event = scheduled_event(_job("cron(30 4 * * ? *)"), when)
    reference = load_event("scheduled_prune_history.json")
    assert set(event) == set(reference)
    assert event["detail-type"] == "Scheduled Event"
    assert event["resources"] == reference["resources"]
    assert event["kwargs"] == {"keep_days": 90} and event["time"] == "2026-11-23T04:30:00Z"


def test_fire_runs_the_job_through_zappas_dispatch(committed):
    result = scheduler.fire(_job("cron(30 4 * * ? *)"))
    assert result["status"] == "succeeded" and result["job"] == "prune_history"
    with session_scope() as session:
        row = session.scalars(select(JobRun)).one()
    assert row.status == "succeeded" and row.counts == {
        "exports_deleted": 0,
        "sign_ups_deleted": 0,
        "client_asks_deleted": 0,
        "job_runs_abandoned": 0,
        "job_runs_deleted": 0,
        "check_results_deleted": 0,
        "quarantined_deleted": 0,
        "alerts_deleted": 0,
        "market_points_deleted": 0,
    }


def test_dispatch_of_the_synthetic_event_file(committed, lambda_context):
    result = scheduler.dispatch(load_event("scheduled_prune_history.json"), lambda_context)
    assert result["status"] == "succeeded"


def test_run_once_fires_in_order_and_survives_a_failure(committed):
    bad = _job(
        "cron(0 0 * * ? *)",
        function="tests.jobs.sample_jobs.poisons_transaction",
        rule_name="nook-batch-tests.jobs.sample_jobs.poisons_transaction",
        kwargs={},
    )
    good = _job("cron(30 4 * * ? *)")
    seen = []
    failures = scheduler.run_once(
        [bad, good], lambda job, result, error: seen.append((job.function, error is None))
    )
    assert failures == 1
    assert seen == [("tests.jobs.sample_jobs.poisons_transaction", False), ("jobs.maintenance.run", True)]


def test_run_forever_fires_at_the_scheduled_time(committed):
    clock = {"now": datetime(2026, 11, 23, 4, 29, 59, tzinfo=UTC)}
    stop = threading.Event()
    fired = []

    def on_result(job, result, error):
        fired.append((clock["now"], result["status"] if result else error))
        stop.set()

    original_wait = stop.wait

    def advance(seconds):  # the loop waits: move the fake clock instead of sleeping
        clock["now"] += timedelta(seconds=seconds)
        return original_wait(0)

    stop.wait = advance  # type: ignore[method-assign]
    scheduler.run_forever([_job("cron(30 4 * * ? *)")], stop, on_result, now=lambda: clock["now"])
    assert fired == [(datetime(2026, 11, 23, 4, 30, tzinfo=UTC), "succeeded")]
