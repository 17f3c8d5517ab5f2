"""Local command line: `FLASK_APP=jobs.cli flask ...`.

`create_app()` is the web app plus the commands that run nook on one machine
(services, scheduler, jobs). The web stage itself never imports this module.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
import time
from typing import Any

import click
from flask import Flask

from app import create_app as create_web_app
from jobs.local import scheduler, services
from jobs.local.lambda_context import LocalContext
from jobs.runtime import JobFailed, progress_listener

# Each job's entry point; `flask jobs run NAME` fires it as its schedule would.
JOBS: dict[str, str] = {
    "ingest": "jobs.ingest.run",
    "process": "jobs.process.run",
    "notify": "jobs.notify.run",
    "recheck": "jobs.recheck.run",
    "prune-history": "jobs.maintenance.run",
}


@click.group("services")
def services_group() -> None:
    """Local PostgreSQL + PostGIS and moto (S3, Kinesis, ...)."""


@services_group.command("up")
def services_up() -> None:
    """Start what is not running (idempotent)."""
    _print_report(_services_call(services.up))


@services_group.command("down")
def services_down() -> None:
    """Stop the local services."""
    _print_report(_services_call(services.down))


@services_group.command("status")
def services_status() -> None:
    """Show whether each service runs."""
    _print_report(services.status())


def _services_call(action: Any) -> dict[str, str]:
    try:
        return action()
    except services.ServiceError as exc:
        raise click.ClickException(str(exc)) from None


def _print_report(report: dict[str, str]) -> None:
    for name, state in report.items():
        click.echo(f"{name:10} {state}")


@click.group("jobs")
def jobs_group() -> None:
    """Run batch jobs by hand."""


@jobs_group.command("list")
def jobs_list() -> None:
    """List the jobs and their entry points."""
    for name, function in JOBS.items():
        click.echo(f"{name:20} {function}")


@jobs_group.command("run")
@click.argument("name", type=click.Choice(sorted(JOBS)))
@click.option("--kwargs", "kwargs_json", default="{}", help="JSON object passed as event kwargs.")
def jobs_run(name: str, kwargs_json: str) -> None:
    """Run one job now with a Scheduled-Event-shaped event."""
    try:
        kwargs = json.loads(kwargs_json)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--kwargs") from None
    module_name, function_name = JOBS[name].rsplit(".", 1)
    entry = getattr(importlib.import_module(module_name), function_name)
    started = time.monotonic()
    with progress_listener(_draw_progress):
        try:
            result = entry(
                {"detail-type": "Scheduled Event", "kwargs": kwargs}, LocalContext(function_name=name)
            )
        except JobFailed as exc:
            click.echo("", err=True)
            raise click.ClickException(str(exc)) from None
    click.echo("", err=True)
    _print_summary(name, result, time.monotonic() - started)


def _draw_progress(task: str, done: int, total: int | None) -> None:
    """One self-overwriting progress line on stderr."""
    if total:
        filled = min(30, round(30 * done / max(total, 1)))
        bar = f"[{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,}"
    else:
        bar = f"{done:,}"
    click.echo(f"\r  {task:<16} {bar}   ", nl=False, err=True)


def _print_summary(name: str, result: Any, seconds: float) -> None:
    """The job's counts, with per-source counts as a table."""
    click.echo(f"{name}: done in {seconds:.1f}s")
    if not isinstance(result, dict):
        return
    table = result.get("sources") if isinstance(result.get("sources"), dict) else None
    scalars = {
        k: (json.dumps(v) if isinstance(v, dict) else v)
        for k, v in result.items()
        if k not in ("sources", "errors")
    }
    width = max((len(k) for k in scalars), default=0)
    for key, value in scalars.items():
        click.echo(f"  {key:<{width}}  {value}")
    if table:
        columns = ["fetched", "inserted", "updated", "unchanged", "quarantined", "delisted"]
        click.echo("\n  " + f"{'source':<16}" + "".join(f"{c:>12}" for c in columns) + "  error")
        for source, counts in table.items():
            cells = "".join(f"{counts.get(c, 0):>12,}" for c in columns)
            click.echo(f"  {source:<16}{cells}  {counts.get('error') or ''}")


@click.command("schedule")
@click.option("--stage", "stages", multiple=True, help="Only these stages (repeatable).")
@click.option("--once", is_flag=True, help="Fire every job once, in order, and exit.")
@click.option("--list", "list_only", is_flag=True, help="Show each rule and its next time.")
def schedule(stages: tuple[str, ...], once: bool, list_only: bool) -> None:
    """Fire the stages' scheduled events locally, as EventBridge would."""
    jobs = scheduler.scheduled_jobs(stages or None)
    if list_only:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        for job in jobs:
            upcoming = job.next_after(now)
            click.echo(f"{job.stage:11} {job.expression:26} next {upcoming:%Y-%m-%d %H:%M}Z  {job.function}")
        return
    if once:
        failures = scheduler.run_once(jobs, _report_fired)
        if failures:
            raise click.ClickException(f"{failures} of {len(jobs)} jobs failed")
        return
    click.echo(f"scheduler: {len(jobs)} rules; Ctrl-C to stop")
    stop = threading.Event()
    try:
        scheduler.run_forever(jobs, stop, _report_fired)
    except KeyboardInterrupt:
        stop.set()


def _report_fired(job: scheduler.ScheduledJob, result: Any, error: Exception | None) -> None:
    if error is not None:
        click.echo(f"FAILED {job.function}: {error}", err=True)
    else:
        summary = (
            {k: v for k, v in (result or {}).items() if k not in ("job",)}
            if isinstance(result, dict)
            else result
        )
        click.echo(f"ok     {job.function}: {summary}")
    sys.stdout.flush()


@click.group("price-rank")
def price_rank_group() -> None:
    """The price model: train it here, or evaluate it on any listings CSV."""


@price_rank_group.command("run")
@click.option("--run-id", default=None, help="Re-run the steps of this run id (default: a new run).")
@click.option(
    "--step",
    type=click.Choice(["wrangle", "train", "update"]),
    multiple=True,
    help="Only these steps (repeatable; default all three in order).",
)
def price_rank_run(run_id: str | None, step: tuple[str, ...]) -> None:
    """Wrangle -> train -> update, as the price_rank stage's schedule chains them."""
    from datetime import UTC, datetime

    from jobs.price_rank import storage, train, update, wrangle

    run_id = run_id or storage.new_run_id(datetime.now(UTC))
    steps = {"wrangle": wrangle.run, "train": train.run, "update": update.run}
    for name in step or steps:
        click.echo(f"[{name}] run {run_id} ...")
        started = time.monotonic()
        try:
            result = steps[name](
                {"kwargs": {"run_id": run_id}}, LocalContext(function_name=f"price_rank.{name}")
            )
        except JobFailed as exc:
            raise click.ClickException(str(exc)) from None
        _print_summary(f"  {name}", result, time.monotonic() - started)


@price_rank_group.command("evaluate")
@click.option("--csv", "csv_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--map",
    "mapping",
    required=True,
    help="name=COLUMN pairs: price, bedrooms, latitude, longitude (+ bathrooms, sqft, unit_type, furnished).",
)
@click.option("--group", default=None, help="Rows sharing this column's value never straddle train and test.")
@click.option("--by", default=None, help="Also break the results down by this column.")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 20))
def price_rank_evaluate(csv_path: str, mapping: str, group: str | None, by: str | None, folds: int) -> None:
    """Cross-validate the model on a listings CSV, with and without the neighbour feature."""
    from jobs.price_rank import evaluate

    try:
        columns = evaluate.parse_mapping(mapping)
        extra = [c for c in (group, by) if c]
        frame, dropped = evaluate.load_csv(csv_path, columns, extra)
        result = evaluate.cross_validate(frame, group=group, folds=folds, dropped=dropped)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(evaluate.report(result, by=by))


def create_app() -> Flask:
    """The web app with the local commands attached."""
    app = create_web_app()
    for command in (services_group, jobs_group, schedule, price_rank_group):
        app.cli.add_command(command)
    return app
