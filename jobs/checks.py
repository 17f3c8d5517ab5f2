"""The checks stage: run the Great Expectations suites against PostGIS, store and report.

Great Expectations is imported here only (it costs ~2.5 s to import and must
never touch the lean stages). For each suite in expectations/: build GX query
assets from its datasets, validate, store one check_results row (success,
statistics, failing expectations with observed values), write an HTML report
(locally and to S3) and post a concise message to the ops webhook on failure.
"""

from __future__ import annotations

import html
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from expectations import Params, SourceInfo, suites
from jobs.runtime import run_job
from jobs.sources import registry
from models.ops import CheckResult
from models.session import sqlalchemy_url
from models.settings import get_settings
from models.source import Source

log = logging.getLogger("nook.checks")
DEFAULT_BBOX = (-79.70, 43.50, -79.05, 43.90)  # the demo market; set NOOK_MARKET_BBOX for yours
REPORT_DIR = (
    Path(os.environ.get("NOOK_LOCAL_DIR", Path(__file__).resolve().parents[1] / ".local")) / "reports"
)


@dataclass
class SuiteOutcome:
    """One suite's result, as stored and reported."""

    suite: str
    description: str
    success: bool
    statistics: dict[str, Any]
    failures: list[dict[str, Any]]
    checks: list[dict[str, Any]] = field(default_factory=list)


def market_bbox() -> tuple[float, float, float, float]:
    """The market's area (NOOK_MARKET_BBOX=minLon,minLat,maxLon,maxLat)."""
    raw = os.environ.get("NOOK_MARKET_BBOX", "")
    if not raw:
        return DEFAULT_BBOX
    west, south, east, north = (float(v) for v in raw.split(","))
    return west, south, east, north


def params_for(session: Session, now: datetime) -> Params:
    """The run's parameters: yesterday (UTC), the enabled sources and their mappings."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    sources = []
    for source in session.scalars(select(Source).where(Source.enabled.is_(True)).order_by(Source.id)):
        fields = (
            registry.mapping(source.kind, source.config).get("fields", {}) if source.kind != "stream" else {}
        )
        sources.append(
            SourceInfo(
                source.id,
                source.name,
                source.kind,
                dict(fields),
                dict(source.config.get("checks", {})),
                source.created_at,
            )
        )
    thresholds = json.loads(os.environ.get("NOOK_CHECK_THRESHOLDS", "{}") or "{}")
    return Params(today - timedelta(days=1), today, now, sources, market_bbox(), thresholds)


def _gx_context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def _observed(result: Any) -> Any:
    data = result.result or {}
    if "observed_value" in data:
        return data["observed_value"]
    if "unexpected_percent" in data:
        return {
            "unexpected_percent": round(data["unexpected_percent"] or 0, 3),
            "examples": data.get("partial_unexpected_list", [])[:5],
        }
    return data


def _expected(config: Any) -> dict[str, Any]:
    kwargs = dict(config.kwargs)
    kwargs.pop("batch_id", None)
    return {k: v for k, v in kwargs.items() if v is not None and k not in ("partition_object",)}


def run_suite(context: Any, datasource: Any, module: Any, params: Params) -> SuiteOutcome:
    """Validate every dataset of one suite; collect the outcome."""
    import great_expectations as gx

    checks, evaluated, passed = [], 0, 0
    for dataset in module.datasets(params):
        asset = datasource.add_query_asset(name=f"{module.NAME}:{dataset.name}", query=dataset.sql)
        batch = asset.add_batch_definition_whole_table("all")
        suite = context.suites.add(
            gx.ExpectationSuite(name=f"{module.NAME}:{dataset.name}", expectations=dataset.expectations)
        )
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{module.NAME}:{dataset.name}", data=batch, suite=suite)
        )
        result = validation.run(result_format={"result_format": "SUMMARY"})
        for item in result.results:
            evaluated += 1
            passed += int(item.success)
            config = item.expectation_config
            checks.append(
                {
                    "dataset": dataset.name,
                    "expectation": config.type,
                    "success": bool(item.success),
                    "column": config.kwargs.get("column"),
                    "expected": _expected(config),
                    "observed": _observed(item),
                    "about": (config.meta or {}).get("about"),
                }
            )
    failures = [c for c in checks if not c["success"]]
    statistics: dict[str, Any] = {
        "evaluated": evaluated,
        "successful": passed,
        "unsuccessful": evaluated - passed,
    }
    not_judged = module.not_judged(params) if hasattr(module, "not_judged") else []
    if not_judged:
        statistics["not_judged"] = not_judged
    return SuiteOutcome(module.NAME, module.DESCRIPTION, not failures, statistics, failures, checks)


def run_checks(session: Session, now: datetime, names: list[str] | None = None) -> list[SuiteOutcome]:
    """Run the suites (all, or the named ones) against the database."""
    available = suites()
    unknown = sorted(set(names or []) - set(available))
    if unknown:
        raise ValueError(f"no such suite: {', '.join(unknown)} (suites: {', '.join(available)})")
    params = params_for(session, now)
    context = _gx_context()
    datasource = context.data_sources.add_postgres(
        name="nook", connection_string=sqlalchemy_url(get_settings().database_url)
    )
    return [
        run_suite(context, datasource, module, params)
        for name, module in available.items()
        if not names or name in names
    ]


def render_report(outcomes: list[SuiteOutcome], now: datetime) -> str:
    """A self-contained HTML page: each suite, each expectation, observed vs expected."""
    rows = []
    for outcome in outcomes:
        badge = "pass" if outcome.success else "FAIL"
        rows.append(
            f"<h2 class={'ok' if outcome.success else 'bad'}>{badge} · {html.escape(outcome.suite)}</h2>"
            f"<p>{html.escape(outcome.description)}</p>"
            + "".join(
                f"<p class=note>not judged: {html.escape(note)}</p>"
                for note in outcome.statistics.get("not_judged", [])
            )
            + "<table><tr><th>dataset</th><th>expectation</th>"
            "<th>expected</th><th>observed</th></tr>"
        )
        for check in outcome.checks:
            cls = "" if check["success"] else " class=bad"
            rows.append(
                f"<tr{cls}><td>{html.escape(check['dataset'])}</td><td>{html.escape(check['expectation'])}"
                f"{' on ' + html.escape(str(check['column'])) if check['column'] else ''}</td>"
                f"<td>{html.escape(json.dumps(check['expected'], default=str))}</td>"
                f"<td>{html.escape(json.dumps(check['observed'], default=str))}</td></tr>"
            )
        rows.append("</table>")
    style = (
        "body{font:14px system-ui;margin:2em;color:#263238}table{border-collapse:collapse;margin-bottom:2em}"
        "td,th{border:1px solid #cfd8dc;padding:4px 8px;text-align:left}.bad{color:#b71c1c}"
        "tr.bad{background:#ffebee}.ok{color:#2e7d32}.note{color:#546e7a}"
    )
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>nook data checks {now:%Y-%m-%d %H:%M}</title>"
        f"<style>{style}</style></head><body><h1>nook data checks — {now:%Y-%m-%d %H:%M} UTC</h1>"
        + "".join(rows)
        + "</body></html>"
    )


def save_report(page: str, now: datetime) -> str:
    """Write the report locally and to S3; return where it lives (the S3 URI when the upload worked)."""
    name = f"checks-{now:%Y%m%dT%H%M%SZ}.html"
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    local = REPORT_DIR / name
    local.write_text(page)
    try:
        import boto3

        boto3.client("s3").put_object(
            Bucket=get_settings().bucket,
            Key=f"reports/checks/{name}",
            Body=page.encode(),
            ContentType="text/html",
        )
        return f"s3://{get_settings().bucket}/reports/checks/{name}"
    except Exception:
        log.warning("report not uploaded to S3; kept locally", exc_info=True, extra={"path": str(local)})
        return str(local)


def ops_message(failed: list[SuiteOutcome], report_uri: str) -> dict[str, Any]:
    """A Slack-compatible message: which checks failed, observed vs expected."""
    lines = []
    for outcome in failed:
        for check in outcome.failures[:5]:
            what = check["about"] or f"{check['expectation']} {check['column'] or ''}".strip()
            lines.append(
                f"• *{outcome.suite}* — {what}: observed `{json.dumps(check['observed'], default=str)}`, "
                f"expected `{json.dumps(check['expected'], default=str)}`"
            )
    text = f":rotating_light: nook data checks failed: {', '.join(o.suite for o in failed)}"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"report: {report_uri}"}]},
        ],
    }


def notify_ops(failed: list[SuiteOutcome], report_uri: str) -> bool:
    """Post to NOOK_OPS_WEBHOOK_URL when something failed; return whether a message went out."""
    url = get_settings().ops_webhook_url
    if not failed or not url:
        return False
    import requests

    response = requests.post(url, json=ops_message(failed, report_uri), timeout=10)
    response.raise_for_status()
    return True


def check_and_report(session: Session, now: datetime, names: list[str] | None = None) -> dict[str, Any]:
    """Run, store a result row per suite, report; the summary says which suites failed."""
    outcomes = run_checks(session, now, names)
    report_uri = save_report(render_report(outcomes, now), now)
    for outcome in outcomes:
        session.add(
            CheckResult(
                suite=outcome.suite,
                success=outcome.success,
                statistics=outcome.statistics,
                failures=outcome.failures,
                report_uri=report_uri,
                run_at=now,
            )
        )
    failed = [o for o in outcomes if not o.success]
    notified = False
    try:
        notified = notify_ops(failed, report_uri)
    except Exception as exc:
        log.error("ops webhook failed", extra={"error": str(exc)})
    not_judged = {o.suite: o.statistics["not_judged"] for o in outcomes if o.statistics.get("not_judged")}
    return {
        "suites": {o.suite: "pass" if o.success else "FAIL" for o in outcomes},
        **({"not_judged": not_judged} if not_judged else {}),
        "report": report_uri,
        "ops_notified": notified,
        "failed": [o.suite for o in failed],
    }


def run(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    """checks-stage entry point (kwargs: suites). Failing suites make the run fail, after storing."""

    def body(session: Session, suites: list[str] | None = None) -> dict[str, Any]:
        summary = check_and_report(session, datetime.now(UTC), suites)
        return {**summary, "errors": [f"data check failed: {name}" for name in summary["failed"]]}

    return run_job("checks", body, event, context)
