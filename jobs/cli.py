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
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click
from flask import Flask
from flask.cli import NoAppException

from app import create_app as create_web_app
from app.cli import TEXT
from jobs.local import scheduler, services
from jobs.local.lambda_context import LocalContext
from jobs.runtime import JobFailed, progress_listener
from models.ops import RUN_STATUSES
from models.settings import ConfigError

if TYPE_CHECKING:
    from jobs.local.stream_io import PutOutcome

# Each job's entry point; `flask jobs run NAME` fires it as its schedule would.
JOBS: dict[str, str] = {
    "ingest": "jobs.ingest.run",
    "process": "jobs.process.run",
    "notify": "jobs.notify.run",
    "recheck": "jobs.recheck.run",
    "prune-history": "jobs.maintenance.run",
    "market": "jobs.market.run",
}


def _since(_ctx: Any, _param: Any, value: str | None) -> datetime | None:
    """--since: 90m, 24h, 7d, or a date or time (UTC unless it says otherwise)."""
    if value is None:
        return None
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if value[:-1].isdigit() and value[-1:] in units:
        try:
            return datetime.now(UTC) - timedelta(**{units[value[-1]]: int(value[:-1])})
        except OverflowError:
            raise click.BadParameter(f"{value} goes back further than dates do") from None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("give 90m, 24h, 7d, or a date such as 2026-11-30") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


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


@jobs_group.command("history")
@click.option("--job", type=TEXT, default=None, help="A job's name (ingest also shows its per-source runs).")
@click.option("--status", type=click.Choice(RUN_STATUSES), default=None)
@click.option("--since", callback=_since, default=None, help="90m, 24h, 7d, or a date (UTC).")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
def jobs_history(job: str | None, status: str | None, since: datetime | None, limit: int) -> None:
    """The newest job runs: when, how long, how each ended and why (every stage records its runs)."""
    from models.ops import recent_runs
    from models.session import session_scope

    with session_scope() as session:
        total, runs = recent_runs(session, job, status, since, limit)
    click.echo(f"{total:,} run(s)" + (f"; the newest {len(runs)}:" if runs else ""))
    for run in runs:
        took = f"{(run.finished_at - run.started_at).total_seconds():.1f}s" if run.finished_at else "-"
        error = _clipped(run.error.splitlines()[0]) if run.error else ""
        click.echo(
            f"{run.id:>7} {run.started_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} {run.job:24} {run.status:9} "
            f"{took:>8}  {error}".rstrip()
        )


def _clipped(text: str, width: int = 100) -> str:
    """A line cut to `width` characters, an ellipsis saying so."""
    return text if len(text) <= width else text[: width - 1] + "…"


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
    if isinstance(result, dict) and result.get("status") == "skipped":
        click.echo(f"{name}: skipped: {result['reason']}")
        return
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
            skipped = f"skipped: {counts['skipped']}" if counts.get("skipped") else ""
            click.echo(f"  {source:<16}{cells}  {counts.get('error') or skipped}")


@click.command("schedule")
@click.option("--stage", "stages", multiple=True, help="Only these stages (repeatable).")
@click.option("--once", is_flag=True, help="Fire every job once, in order, and exit.")
@click.option("--list", "list_only", is_flag=True, help="Show each rule and its next time.")
def schedule(stages: tuple[str, ...], once: bool, list_only: bool) -> None:
    """Fire the stages' scheduled events locally, as EventBridge would."""
    jobs = scheduler.scheduled_jobs(stages or None)
    if list_only:
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


@click.group("sources")
def sources_group() -> None:
    """Listing sources (feeds to pull, or partners who push to the stream)."""


@sources_group.command("list")
def sources_list() -> None:
    """Every source with its kind, state and last success."""
    from sqlalchemy import select

    from models.session import session_scope
    from models.source import Source

    with session_scope() as session:
        for source in session.scalars(select(Source).order_by(Source.id)):
            state = "enabled" if source.enabled else "disabled"
            click.echo(
                f"{source.id:4} {source.name:20} {source.kind:10} {state:9} last ok {source.last_success_at}"
            )


@sources_group.command("add")
@click.argument("name", type=TEXT)
@click.option("--kind", type=click.Choice(["demo", "arcgis", "json_feed", "csv", "stream"]), required=True)
@click.option("--config", "config_json", default="{}", help="JSON config (field mapping, URL, path...).")
def sources_add(name: str, kind: str, config_json: str) -> None:
    """Register a source (a partner pushing to Kinesis is --kind stream)."""
    from sqlalchemy import select

    from models.session import session_scope
    from models.source import Source

    config = _checked_config(kind, config_json)
    with session_scope() as session:
        if session.scalar(select(Source.id).where(Source.name == name)):
            raise click.ClickException(f"a source named {name} already exists")
        session.add(Source(name=name, kind=kind, config=config))
    click.echo(f"source {name} ({kind}) added")


def _checked_config(kind: str, config_json: str) -> Any:
    """--config as JSON its kind can use, else a usage error saying what is wrong."""
    from jobs.sources import registry
    from jobs.sources.base import SourceError

    try:
        config = json.loads(config_json)
        registry.check_config(kind, config)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--config") from None
    except SourceError as exc:
        raise click.BadParameter(str(exc), param_hint="--config") from None
    return config


def _named_source(session: Any, name: str) -> Any:
    from sqlalchemy import select

    from models.source import Source

    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        raise click.ClickException(f"no source named {name} (`flask sources list` shows them)")
    return source


@sources_group.command("configure")
@click.argument("name", type=TEXT)
@click.option("--config", "config_json", required=True, help="The whole new JSON config.")
def sources_configure(name: str, config_json: str) -> None:
    """Replace a source's config, checked as `add` checks it (its cursor is kept)."""
    from models.session import session_scope

    with session_scope() as session:
        source = _named_source(session, name)
        source.config = _checked_config(source.kind, config_json)
    click.echo(f"source {name} configured")


@sources_group.command("disable")
@click.argument("name", type=TEXT)
def sources_disable(name: str) -> None:
    """Stop pulling a source (a partner's stream records are quarantined, to replay once it is enabled)."""
    _set_enabled(name, False)


@sources_group.command("enable")
@click.argument("name", type=TEXT)
def sources_enable(name: str) -> None:
    """Pull a source again (and take a partner's stream records again)."""
    _set_enabled(name, True)


def _set_enabled(name: str, enabled: bool) -> None:
    from models.session import session_scope

    with session_scope() as session:
        _named_source(session, name).enabled = enabled
    click.echo(f"source {name} {'enabled' if enabled else 'disabled'}")


@click.group("quarantine")
def quarantine_group() -> None:
    """Records nook refused, with why (ingest, process, the stream and mail feedback file them; nothing is
    dropped)."""


@quarantine_group.command("list")
@click.option("--stage", type=click.Choice(["ingest", "process", "stream", "mail"]), default=None)
@click.option("--source", type=TEXT, default=None, help="A source's name.")
@click.option("--since", callback=_since, default=None, help="90m, 24h, 7d, or a date (UTC).")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
def quarantine_list(stage: str | None, source: str | None, since: datetime | None, limit: int) -> None:
    """How many records were quarantined by each stage, and the newest of them with their reasons."""
    from models.quarantine import filed
    from models.session import session_scope

    with session_scope() as session:
        counts, rows = filed(session, stage, source, since, limit)
    total = sum(counts.values())
    by_stage = ", ".join(f"{name} {n:,}" for name, n in sorted(counts.items()))
    click.echo(
        f"{total:,} quarantined"
        + (f" ({by_stage})" if total else "")
        + (f"; the newest {len(rows)}:" if rows else "")
    )
    for row in rows:
        reason = _clipped(row.reason)
        click.echo(
            f"{row.id:>7} {row.created_at:%Y-%m-%d %H:%M} {row.stage:8} {row.source or '-':16} "
            f"{row.source_ref or '-':16} {reason}"
        )


@quarantine_group.command("show")
@click.argument("record_id", type=int)
def quarantine_show(record_id: int) -> None:
    """Everything kept of one record, as JSON (a stream record's bytes also decoded, when they are text)."""
    from models.quarantine import record
    from models.session import session_scope

    with session_scope() as session:
        kept = record(session, record_id)
    if kept is None:
        raise click.ClickException(f"no quarantined record {record_id}")
    click.echo(json.dumps(kept, indent=2, ensure_ascii=False))


@quarantine_group.command("replay")
@click.argument("record_ids", nargs=-1, type=int)
@click.option("--source", type=TEXT, default=None, help="Every refused record of this (known) source.")
@click.option(
    "--since", callback=_since, default=None, help="Every refused record since: 90m, 24h, 7d, a date."
)
@click.option("--stream", "stream_name", default=None, help="Default: NOOK_LISTING_EVENTS_STREAM.")
def quarantine_replay(
    record_ids: tuple[int, ...], source: str | None, since: datetime | None, stream_name: str | None
) -> None:
    """Send the stream's refused records onto listing_events again, bytes as the partner sent them.

    For after a fix on either side (a source registered late, a rule mended): the stage takes those that
    now pass, and those that still fail stay filed once (the same bytes are the same record). Exits 1
    naming each record that could not be sent."""
    from jobs.local.stream_io import PutOutcome, replayable
    from models.quarantine import stream_records
    from models.session import session_scope

    if not (record_ids or source or since):
        raise click.UsageError("name the records: their IDs, --source or --since")
    with session_scope() as session:
        found = stream_records(session, record_ids, source, since)
    outcome = PutOutcome()
    datas, names = replayable(found, record_ids, outcome)
    _send("replayed", stream_name, datas, outcome, where=lambda n: names[n - 1])


@click.group("stream")
def stream_group() -> None:
    """The Kinesis streams: send listing events, read scores, run the local poller."""


def _kinesis():  # noqa: ANN202
    import boto3

    return boto3.client("kinesis")


@stream_group.command("put")
@click.argument("source", type=click.File("rb"))
@click.option("--stream", "stream_name", default=None, help="Default: NOOK_LISTING_EVENTS_STREAM.")
def stream_put(source, stream_name: str | None) -> None:  # noqa: ANN001
    """Send each line of a JSONL file (or - for stdin) as one record, bytes as they are.

    Entries Kinesis turns away (throttling) are retried; exits 1 naming every line that was not sent."""
    from jobs.local.stream_io import PutOutcome

    _send("sent", stream_name, source, PutOutcome())


def _send(
    verb: str,
    stream_name: str | None,
    lines: Iterable[bytes],
    outcome: PutOutcome,
    where: Callable[[int], str] | None = None,
) -> None:
    """Put the lines onto listing_events (or the named stream), say how many went, and exit 1 naming
    each record that did not."""
    from botocore.exceptions import BotoCoreError, ClientError

    from jobs.local.stream_io import at_line, put
    from models.settings import get_settings

    name = stream_name or get_settings().listing_events_stream
    try:
        put(_kinesis(), name, lines, outcome, where=where or at_line)
    except (BotoCoreError, ClientError) as exc:
        raise click.ClickException(f"{exc} ({outcome.sent} records were sent before it)") from None
    click.echo(f"{verb} {outcome.sent} of {outcome.lines} records to {name}")
    for problem in outcome.problems:
        click.echo(problem, err=True)
    if outcome.problems:
        sys.exit(1)


@stream_group.command("tail")
@click.option("--stream", "stream_name", default=None, help="Default: NOOK_LISTING_SCORES_STREAM.")
@click.option("-n", "--lines", default=10, show_default=True, help="How many of the last records.")
@click.option("--since", callback=_since, default=None, help="Look that far back for them: 90m, 24h, a date.")
@click.option("--from-start", is_flag=True, help="Every record the stream holds, from the oldest.")
@click.option("-f", "--follow", is_flag=True, help="Then print records as they arrive, until Ctrl-C.")
def stream_tail(
    stream_name: str | None, lines: int, since: datetime | None, from_start: bool, follow: bool
) -> None:
    """Print the stream's records as decoded JSON, a line each (like get-records | base64 --decode | jq):
    the last N of the last hour (or --since), in order of arrival across shards."""
    from botocore.exceptions import BotoCoreError, ClientError

    from jobs.local.stream_io import Tail, tail
    from models.settings import get_settings

    if lines < 0:
        raise click.BadParameter("must be 0 or more", param_hint="--lines")
    reader = Tail(_kinesis(), stream_name or get_settings().listing_scores_stream, lines, from_start, since)
    try:
        tail(reader, click.echo, follow=follow)
    except (BotoCoreError, ClientError) as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass


@stream_group.command("poll")
@click.option("--once", is_flag=True, help="Drain what is there and exit.")
def stream_poll(once: bool) -> None:
    """Play Lambda's part: read listing_events and call the stream stage's function."""
    from jobs.local.stream_poller import local_poller

    poller = local_poller(_kinesis())
    if once:
        click.echo(json.dumps(poller.drain()))
        return
    click.echo(f"polling {poller.stream} for {poller.arn}; Ctrl-C to stop")
    stop = threading.Event()
    try:
        poller.run(stop)
    except KeyboardInterrupt:
        stop.set()


@stream_group.command("mapping")
@click.option("--stage", default="stream", show_default=True)
def stream_mapping(stage: str) -> None:
    """Create or update the stage's Kinesis event source mapping (what the post callback does)."""
    import boto3

    from callbacks.event_source import ensure_mapping, kinesis_sources
    from jobs.local.zappa_config import lambda_name, load_all, resolve_stage

    settings = resolve_stage(stage, load_all())
    function_name = lambda_name(settings["project_name"], stage)
    for _function, source in kinesis_sources(settings):
        outcome = ensure_mapping(boto3.client("lambda"), function_name, source)
        click.echo(f"{source['arn']} -> {function_name}: {outcome}")


@click.group("checks")
def checks_group() -> None:
    """Data checks (Great Expectations suites in expectations/)."""


@checks_group.command("run")
@click.argument("suites", nargs=-1)
def checks_run(suites: tuple[str, ...]) -> None:
    """Run the suites (all, or the named ones); exit non-zero when one fails."""
    from jobs.checks import check_and_report
    from models.session import session_scope

    try:
        with session_scope() as session:
            summary = check_and_report(session, datetime.now(UTC), list(suites) or None)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    for name, state in summary["suites"].items():
        click.echo(f"  {state:5} {name}")
    click.echo(f"report: {summary['report']}" + ("  (ops notified)" if summary["ops_notified"] else ""))
    if summary["failed"]:
        raise click.ClickException(
            f"{len(summary['failed'])} suite(s) failed: {', '.join(summary['failed'])}"
        )


@click.group("market")
def market_group() -> None:
    """Market activity and forecast."""


BED_KINDS = {"all": "all", "0": "studio", "4+": "4+ bedroom"}


def _bed_kind(beds: str) -> str:
    return BED_KINDS.get(beds, f"{beds}-bedroom")


@market_group.command("backtest")
@click.option("--region", "region_id", type=int, default=None, help="A region's id (default: city-wide).")
@click.option(
    "--bedrooms",
    "beds",
    type=click.Choice(["all", "0", "1", "2", "3", "4+", "each"]),
    default="all",
    help="One series, or each of them with the coverage pooled over all their days.",
)
@click.option("--weeks", type=click.IntRange(1, 52), default=8, help="Forecast origins, a week apart.")
@click.option("--days", type=click.IntRange(90, 1000), default=150, help="History to load.")
@click.option("--strict", is_flag=True, help="Exit non-zero when a target is missed.")
def market_backtest(region_id: int | None, beds: str, weeks: int, days: int, strict: bool) -> None:
    """Roll the forecast origin over past weeks: 80% interval coverage, and MAE vs seasonal naive."""
    from jobs.market import COVERAGE_TARGET, LEVEL, backtest_splits
    from models.market import BED_BUCKETS
    from models.session import session_scope

    splits = list(BED_BUCKETS) if beds == "each" else [beds]
    try:
        with session_scope() as session:
            results = backtest_splits(session, datetime.now(UTC).date(), days, region_id, splits, weeks)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    area = f"region {region_id}" if region_id is not None else "city-wide"
    target = (LEVEL - COVERAGE_TARGET, LEVEL + COVERAGE_TARGET)
    if beds == "each":
        met = _print_each(results, area, target)
    else:
        met = _print_one(results[beds], f"new listings ({_bed_kind(beds)}), {area}", target)
    if strict and not met:
        raise click.ClickException("a backtest target was missed")


def _print_one(result: dict[str, float], title: str, target: tuple[float, float]) -> bool:
    """One series' backtest; whether both targets were met."""
    from jobs.market import LEVEL

    low, high = target
    covered = low <= result["coverage"] <= high
    beats = result["mae_model"] < result["mae_seasonal_naive"]
    click.echo(f"{title}: {result['origins']} origins, {result['days']} days")
    click.echo(
        f"  {LEVEL:.0%} interval coverage  {result['coverage']:.1%}"
        f"   target {low:.0%}-{high:.0%}: {'met' if covered else 'MISSED'}"
    )
    click.echo(f"  MAE model           {result['mae_model']:.2f}")
    click.echo(
        f"  MAE seasonal naive  {result['mae_seasonal_naive']:.2f}"
        f"   model beats it: {'yes' if beats else 'NO'}"
    )
    return covered and beats


def _print_each(results: dict[str, dict[str, float]], area: str, target: tuple[float, float]) -> bool:
    """A line per bedroom split and the pooled coverage; whether the pooled targets were met."""
    from jobs.market import pooled

    low, high = target
    first = next(iter(results.values()))
    click.echo(f"new listings by bedrooms, {area}: {first['origins']} origins, {first['days']} days each")
    click.echo(f"  {'series':<12} {'coverage':>8} {'MAE model':>10} {'MAE naive':>10}")
    for split, result in results.items():
        click.echo(
            f"  {_bed_kind(split):<12} {result['coverage']:>8.1%} {result['mae_model']:>10.2f}"
            f" {result['mae_seasonal_naive']:>10.2f}"
        )
    total = pooled(results)
    covered = low <= total["coverage"] <= high
    click.echo(
        f"  pooled       {total['coverage']:>8.1%}   target {low:.0%}-{high:.0%}: "
        f"{'met' if covered else 'MISSED'}; model beats seasonal naive in {total['model_wins']} "
        f"of {total['series']}"
    )
    return covered and total["model_wins"] == total["series"]


@click.group("demo")
def demo_group() -> None:
    """The demo market."""


@demo_group.command("backfill")
@click.option("--days", type=click.IntRange(1, 400), default=150, help="How far back.")
def demo_backfill(days: int) -> None:
    """Write the demo market's listings of the last DAYS days that are already gone (idempotent)."""
    from jobs.local import demo

    click.echo(demo.backfill_history(days))


@click.group("mail")
def mail_group() -> None:
    """Alerts by email: send a test, read what the local SES took, wire SES's bounces to nook."""


@mail_group.command("test")
@click.argument("address", type=TEXT)
def mail_test(address: str) -> None:
    """Send a test email to ADDRESS, from NOOK_MAIL_FROM, the way alerts go (is SES set up?)."""
    from models.mail import Letter, Mailer, MailNotSent
    from models.user import checked_email

    try:
        to = checked_email(address)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    words = "This is a test email from nook: alerts by email reach this address."
    letter = Letter(to, "nook: a test email", words, f"<p>{words}</p>")
    try:
        message_id = Mailer().send(letter)
    except MailNotSent as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"SES took the email to {to} (message id {message_id})")


@mail_group.command("feedback-setup")
def mail_feedback_setup() -> None:
    """Wire SES's bounces and complaints for NOOK_MAIL_FROM's domain through an SNS topic into the queue
    NOOK_MAIL_FEEDBACK_QUEUE (default nook-mail-feedback), both of that name; run it again any time."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from jobs.mail_feedback import wire
    from models.mail import sender_domain
    from models.settings import get_settings

    settings = get_settings()
    if not settings.mail_from:
        raise click.ClickException("NOOK_MAIL_FROM is not set: this nook sends no email")
    queue = settings.mail_feedback_queue or "nook-mail-feedback"
    if queue.startswith(("https://", "http://")):
        raise click.ClickException("NOOK_MAIL_FEEDBACK_QUEUE names a queue URL: set its name to set it up")
    domain = sender_domain(settings.mail_from)
    try:
        made = wire(queue, domain, boto3.client("sqs"), boto3.client("sns"), boto3.client("ses"))
    except (BotoCoreError, ClientError) as exc:  # a missing permission, an identity SES does not know
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
    click.echo(f"SES tells of {domain}'s bounces and complaints to {made['topic_arn']}")
    click.echo(f"which delivers to {made['queue_url']}")
    if not settings.mail_feedback_queue:
        click.echo(f"set NOOK_MAIL_FEEDBACK_QUEUE={queue} in the batch stage for the notify job to read it")


@mail_group.command("outbox")
@click.option("--to", "to", type=TEXT, default=None, help="Only the emails to this address.")
@click.option("-n", "count", type=click.IntRange(min=1), default=5, show_default=True, help="The last N.")
def mail_outbox(to: str | None, count: int) -> None:
    """Print the last emails the local SES (moto) took: to whom, when, the subject and the text."""
    import os
    from urllib.error import URLError

    from models.mail import local_outbox

    endpoint = os.environ.get("AWS_ENDPOINT_URL", "").strip()
    if not endpoint:
        raise click.UsageError(
            "only a local SES (moto, AWS_ENDPOINT_URL) keeps what it sent; on AWS, read the inboxes"
        )
    try:
        letters = local_outbox(endpoint)
    except (OSError, URLError, ValueError) as exc:
        raise click.ClickException(f"cannot read the local SES at {endpoint}: {exc}") from None
    letters = [m for m in letters if to is None or m["To"] == to.strip().lower()][-count:]
    for letter in letters:
        body = letter.get_body(preferencelist=("plain",))
        subject = str(letter["Subject"]).strip()  # a long one is folded, and parsed back with a space first
        click.echo(f"--- {letter['Date']}  to {letter['To']}  {subject}")
        click.echo((body.get_content() if body else "").rstrip() + "\n")
    if not letters:
        click.echo("no email sent" + (f" to {to}" if to else "") + " yet")


def create_app() -> Flask:
    """The web app with the local commands attached. Without its settings Flask says what is missing
    in one line (NoAppException) instead of a traceback."""
    try:
        app = create_web_app()
    except ConfigError as exc:
        raise NoAppException(f'{exc}; locally: eval "$(make -s env)"') from None
    for command in (
        services_group,
        jobs_group,
        schedule,
        price_rank_group,
        sources_group,
        quarantine_group,
        stream_group,
        checks_group,
        market_group,
        demo_group,
        mail_group,
    ):
        app.cli.add_command(command)
    return app
