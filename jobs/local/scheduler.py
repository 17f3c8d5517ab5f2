"""The local scheduler: fire the `events` of zappa_settings.json like EventBridge.

Each cron entry becomes a `ScheduledJob` with the rule name Zappa would create,
and is fired with the event Zappa's input transformer builds (`detail-type:
Scheduled Event`, `resources` holding the rule ARN, `kwargs`), dispatched
through Zappa's own handler functions. The local run and Lambda share one path.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_croniter import AwsCroniter

from jobs.local.lambda_context import LocalContext
from jobs.local.zappa_config import deployable_stages, lambda_name, load_all, resolve_stage

log = logging.getLogger("nook.scheduler")

ACCOUNT = "123456789012"
RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")


@dataclass(frozen=True)
class ScheduledJob:
    """One scheduled rule: a stage's function at an expression, with kwargs."""

    stage: str
    function: str
    expression: str
    rule_name: str
    region: str
    timeout_seconds: int
    kwargs: dict[str, Any] = field(default_factory=dict)

    def next_after(self, moment: datetime) -> datetime:
        """The first time strictly after `moment` that this rule fires."""
        if self.expression.startswith("cron(") and self.expression.endswith(")"):
            (when,) = AwsCroniter(self.expression[5:-1]).get_next(moment.astimezone(UTC))
            if when is None:
                raise ValueError(f"{self.expression} never fires again")
            return when
        match = RATE.match(self.expression)
        if not match:
            raise ValueError(f"not an EventBridge schedule expression: {self.expression!r}")
        amount, unit = int(match[1]), match[2].rstrip("s") + "s"
        return moment + timedelta(**{unit: amount})


def rule_name(event: dict[str, Any], function: str, lambda_fn_name: str, index: int = 0) -> str:
    """The EventBridge rule name Zappa gives this event (Zappa's own algorithm)."""
    from zappa.core import Zappa  # type: ignore[import-untyped]

    return Zappa.get_scheduled_event_name(Zappa, event, function, lambda_fn_name, index)


def scheduled_jobs(stages: Iterable[str] | None = None) -> list[ScheduledJob]:
    """Every cron/rate entry of the given stages (default: all), in file order."""
    raw = load_all()
    jobs = []
    for stage in stages or deployable_stages(raw):
        settings = resolve_stage(stage, raw)
        fn_name = lambda_name(settings["project_name"], stage)
        for event in settings.get("events", []):
            expressions = event.get("expressions") or [event.get("expression")]
            for index, expression in enumerate(e for e in expressions if e):
                jobs.append(
                    ScheduledJob(
                        stage=stage,
                        function=event["function"],
                        expression=expression,
                        rule_name=rule_name(event, event["function"], fn_name, index),
                        region=settings.get("aws_region", "us-east-1"),
                        timeout_seconds=int(settings.get("timeout_seconds", 30)),
                        kwargs=dict(event.get("kwargs", {})),
                    )
                )
    return jobs


def scheduled_event(job: ScheduledJob, when: datetime) -> dict[str, Any]:
    """The event Lambda receives for this rule firing at `when`."""
    return {
        "time": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "region": job.region,
        "detail": {},
        "version": "0",
        "resources": [f"arn:aws:events:{job.region}:{ACCOUNT}:rule/{job.rule_name}"],
        "id": str(uuid.uuid4()),
        "kwargs": job.kwargs,
    }


def dispatch(event: dict[str, Any], context: Any) -> Any:
    """Run a Scheduled Event the way Zappa's handler does (function from the rule name)."""
    from zappa.handler import LambdaHandler  # type: ignore[import-untyped]

    whole_function = event["resources"][0].split("/")[-1].split("-")[-1]
    function = LambdaHandler.import_module_and_get_function(whole_function)
    return LambdaHandler.run_function(function, event, context)


def fire(job: ScheduledJob, when: datetime | None = None) -> Any:
    """Fire one job now (or as if at `when`); errors are logged and re-raised."""
    when = when or datetime.now(UTC)
    context = LocalContext(function_name=job.rule_name, timeout_seconds=job.timeout_seconds)
    log.info("firing", extra={"stage": job.stage, "function": job.function, "rule": job.rule_name})
    return dispatch(scheduled_event(job, when), context)


def run_once(
    jobs: list[ScheduledJob], on_result: Callable[[ScheduledJob, Any, Exception | None], None]
) -> int:
    """Fire every job once, in order; return how many failed."""
    failures = 0
    for job in jobs:
        try:
            result, error = fire(job), None
        except Exception as exc:  # one failing job must not stop the others
            result, error = None, exc
            failures += 1
        on_result(job, result, error)
    return failures


def run_forever(
    jobs: list[ScheduledJob],
    stop: threading.Event,
    on_result: Callable[[ScheduledJob, Any, Exception | None], None],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Fire each job at its times until `stop` is set."""
    due = [job.next_after(now()) for job in jobs]
    while not stop.is_set() and jobs:
        index = min(range(len(jobs)), key=due.__getitem__)
        job, when = jobs[index], due[index]
        wait = (when - now()).total_seconds()
        if wait > 0 and stop.wait(min(wait, 60)):
            return
        if now() < when:
            continue
        try:
            on_result(job, fire(job, when), None)
        except Exception as exc:
            on_result(job, None, exc)
        due[index] = job.next_after(max(when, now()))
