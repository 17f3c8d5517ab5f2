"""Each data-check suite passes on a healthy market and fails, for the right reason, on a broken one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from jobs import checks
from jobs.price_rank.demo_frame import market_frame
from models.ops import CheckResult
from models.price_rank import PriceModel
from models.session import session_scope
from models.source import Source

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
YESTERDAY = NOW - timedelta(days=1)
FIELDS = {"source_ref": "id", "price": "rent", "bedrooms": "beds", "latitude": "lat", "longitude": "lng"}
LABELS = ("low", "typical", "typical", "high")


def build_market(
    session,
    n=400,
    renamed_price=False,
    sqft_missing=0.2,
    label=None,
    bedrooms=None,
    seen=YESTERDAY + timedelta(hours=10),
    last_success=NOW - timedelta(hours=1),
    quarantined=0,
    added=NOW - timedelta(days=60),
):
    source = Source(
        name="feed",
        created_at=added,
        kind="json_feed",
        config={"url": "http://feed", "fields": FIELDS, "checks": {"min_daily": 100, "max_gap_hours": 6}},
        last_success_at=last_success,
    )
    session.add(source)
    session.flush()
    session.add(
        PriceModel(
            version="m1",
            run_id="m1",
            artifact_uri="none",
            n_train=n,
            activated_at=NOW,
            metrics={
                "tail_low": 0.25,
                "tail_high": 0.24,
                "pinball": {"p50": 120.0},
                "median_band_width": 400.0,
            },
        )
    )
    session.flush()
    frame = market_frame(n, seed=8)
    for i, r in enumerate(frame.itertuples(index=False)):
        raw = {"id": str(i), "beds": int(r.bedrooms), "lat": r.latitude, "lng": r.longitude}
        raw["price" if renamed_price else "rent"] = int(r.price)
        sqft = None if (i % 100) < sqft_missing * 100 else 700
        lid = session.execute(
            text("""
            INSERT INTO listings (source_id, source_ref, raw, status, price, bedrooms, bathrooms, sqft,
                                  unit_type, geom, posted_at, first_seen_at, last_seen_at)
            VALUES (:s, :ref, CAST(:raw AS jsonb), 'active', :price, :beds, 1, :sqft, :type,
                    ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :seen, :seen, :seen) RETURNING id"""),
            {
                "s": source.id,
                "ref": str(i),
                "raw": json.dumps(raw),
                "price": int(r.price),
                "beds": bedrooms if bedrooms is not None else int(r.bedrooms),
                "sqft": sqft,
                "type": r.unit_type,
                "lon": r.longitude,
                "lat": r.latitude,
                "seen": seen,
            },
        ).scalar_one()
        session.execute(
            text("""INSERT INTO price_ranks (listing_id, model_version, p25, p50, p75, label, scored_at)
                                VALUES (:l, 'm1', 1, 2, 3, :label, :now)"""),
            {"l": lid, "label": label or LABELS[i % 4], "now": NOW},
        )
    for q in range(quarantined):
        session.execute(
            text("""INSERT INTO quarantined_records (fingerprint, source_id, stage, reason, created_at)
                                VALUES (:f, :s, 'process', 'price: missing', :t)"""),
            {"f": f"q{q}", "s": source.id, "t": YESTERDAY + timedelta(hours=3)},
        )


def run(names=None):
    with session_scope() as session:
        return {o.suite: o for o in checks.run_checks(session, NOW, names)}


def failure_text(outcome):
    return json.dumps(outcome.failures, default=str)


def test_a_healthy_market_passes_every_suite(committed):
    with session_scope() as session:
        build_market(session)
    outcomes = run()
    assert list(outcomes) == [
        "new_listings",
        "freshness",
        "schema_drift",
        "completeness",
        "price_changes",
        "distributions",
        "model",
    ]
    failing = {name: o.failures for name, o in outcomes.items() if not o.success}
    assert failing == {}
    assert all(o.statistics["evaluated"] >= 1 for o in outcomes.values())


def test_a_source_gone_quiet_fails_new_listings_and_freshness(committed):
    with session_scope() as session:
        build_market(session, seen=NOW - timedelta(days=20), last_success=NOW - timedelta(hours=30))
    outcomes = run(["new_listings", "freshness"])
    assert not outcomes["new_listings"].success
    assert outcomes["new_listings"].failures[0]["observed"] == 0
    assert not outcomes["freshness"].success
    assert "feed: last success 30.0 h ago, allowed 6 h" in failure_text(outcomes["freshness"])


def test_a_source_added_after_the_day_began_is_not_judged_on_that_day(committed):
    # a fresh install: the source was added this morning and nothing it lists was first seen yesterday
    with session_scope() as session:
        build_market(session, added=NOW - timedelta(hours=3), seen=NOW - timedelta(hours=2))
    outcome = run(["new_listings"])["new_listings"]
    assert outcome.success
    assert outcome.statistics["evaluated"] == 0
    assert outcome.statistics["not_judged"] == [
        "feed: watched since 2026-11-23 09:00 UTC, after 2026-11-22 began"
    ]
    page = checks.render_report([outcome], NOW)
    assert "not judged: feed: watched since 2026-11-23 09:00 UTC" in page


def test_a_source_added_during_the_day_is_not_judged_either(committed):
    with session_scope() as session:
        build_market(session, added=YESTERDAY + timedelta(hours=1))
    outcome = run(["new_listings"])["new_listings"]
    assert outcome.success and outcome.statistics["evaluated"] == 0


@pytest.mark.parametrize(
    ("added_hours_ago", "stale"), [(1, False), (30, True)], ids=["just added", "added long ago"]
)
def test_a_source_that_never_succeeded_is_stale_once_its_gap_has_passed(committed, added_hours_ago, stale):
    with session_scope() as session:
        build_market(session, last_success=None, added=NOW - timedelta(hours=added_hours_ago))
    outcome = run(["freshness"])["freshness"]
    assert outcome.success is not stale
    if stale:
        assert "feed: last success never, allowed 6 h" in failure_text(outcome)


def test_a_renamed_field_fails_schema_drift(committed):
    with session_scope() as session:
        build_market(session, renamed_price=True)
    outcome = run(["schema_drift"])["schema_drift"]
    assert not outcome.success and "price (rent): in 0.0 percent of 400 payloads" in failure_text(outcome)


def test_a_quarantine_spike_fails_schema_drift(committed):
    with session_scope() as session:
        build_market(session, quarantined=120)
    outcome = run(["schema_drift"])["schema_drift"]
    assert not outcome.success and "quarantine_rate" in failure_text(outcome)


def test_a_spike_of_missing_sizes_fails_completeness(committed):
    with session_scope() as session:
        build_market(session, sqft_missing=0.7)
    outcome = run(["completeness"])["completeness"]
    assert not outcome.success
    (failure,) = outcome.failures
    assert failure["column"] == "sqft" and failure["observed"]["unexpected_percent"] == pytest.approx(
        70, abs=1
    )


def add_price_changes(session, ratios: list[float]) -> None:
    """Price changes of the market's listings written during the judged day, new = old x ratio."""
    ids = session.scalars(text("SELECT id FROM listings ORDER BY id LIMIT :n"), {"n": len(ratios)}).all()
    for n, (listing_id, ratio) in enumerate(zip(ids, ratios, strict=True)):
        session.execute(
            text("""INSERT INTO listing_price_changes (listing_id, changed_at, old_price, new_price)
                    VALUES (:l, :t, 2400, :p)"""),
            {"l": listing_id, "t": YESTERDAY + timedelta(minutes=n), "p": round(2400 * ratio)},
        )


@pytest.mark.parametrize(
    ("ratios", "passes"),
    [
        ([0.95] * 29 + [0.1], True),  # one slip among 30 changes
        ([0.95] * 25 + [0.1] * 3 + [10.0] * 2, False),  # a source sending slips: $2,400 as $240 or $24,000
        ([0.1] * 19, True),  # too few changes that day to judge the source by
    ],
    ids=["one-slip", "a-source-of-slips", "too-few-to-judge"],
)
def test_a_source_moving_prices_implausibly_fails_price_changes(committed, ratios, passes):
    with session_scope() as session:
        build_market(session)
        add_price_changes(session, ratios)
    outcome = run(["price_changes"])["price_changes"]
    assert outcome.success is passes
    if not passes:
        assert "price_changes:feed" in failure_text(outcome) and "ratio" in failure_text(outcome)


def test_a_skewed_bedrooms_mix_fails_distributions(committed):
    with session_scope() as session:
        build_market(session, bedrooms=3)
    outcome = run(["distributions"])["distributions"]
    assert not outcome.success and outcome.failures[0]["observed"] > 0.1


def test_a_skewed_label_mix_fails_the_model_suite(committed):
    with session_scope() as session:
        build_market(session, label="high")
    outcome = run(["model"])["model"]
    assert not outcome.success
    assert {f["column"] for f in outcome.failures} >= {"low_share", "high_share"}


def test_results_are_stored_reported_and_sent_to_ops(committed, receiver, monkeypatch, setting, tmp_path):
    setting("NOOK_OPS_WEBHOOK_URL", receiver.hook_url)
    monkeypatch.setattr(checks, "REPORT_DIR", tmp_path)
    with session_scope() as session:
        build_market(session, last_success=NOW - timedelta(hours=30))
    with session_scope() as session:
        summary = checks.check_and_report(session, NOW, ["freshness", "completeness"])
    assert summary["suites"] == {"freshness": "FAIL", "completeness": "pass"} and summary["ops_notified"]
    (request,) = receiver.delivered
    message = request.json()
    assert message["text"].startswith(":rotating_light: nook data checks failed: freshness")
    assert "feed: last success 30.0 h ago" in message["blocks"][1]["text"]["text"]
    with session_scope() as session:
        rows = {r.suite: r for r in session.scalars(select(CheckResult))}
    assert rows["freshness"].success is False and rows["completeness"].success is True
    assert rows["freshness"].failures[0]["expectation"] == "expect_column_values_to_be_in_set"
    page = next(tmp_path.glob("checks-*.html")).read_text()
    assert "FAIL · freshness" in page and "pass · completeness" in page


def test_unknown_suite(committed):
    with pytest.raises(ValueError, match="no such suite: nope"):
        run(["nope"])


def test_cli_prints_a_table_and_exits_non_zero_on_failure(committed, monkeypatch, tmp_path):
    from flask import Flask

    from jobs.cli import checks_group

    monkeypatch.setattr(checks, "REPORT_DIR", tmp_path)
    with session_scope() as session:
        build_market(session, last_success=datetime.now(UTC) - timedelta(days=3))
    app = Flask("t")
    result = app.test_cli_runner().invoke(checks_group, ["run", "freshness"])
    assert result.exit_code != 0
    assert "FAIL  freshness" in result.output and "1 suite(s) failed: freshness" in result.output
    assert "report: s3://nook-test/reports/checks/" in result.output or "report: " in result.output


def test_entry_point_stores_results_then_fails_loudly(committed, lambda_context, monkeypatch, tmp_path):
    from jobs.runtime import JobFailed

    monkeypatch.setattr(checks, "REPORT_DIR", tmp_path)
    with session_scope() as session:
        build_market(session, last_success=datetime.now(UTC) - timedelta(days=3))
    with pytest.raises(JobFailed, match="data check failed: freshness"):
        checks.run({"kwargs": {"suites": ["freshness"]}}, lambda_context)
    with session_scope() as session:
        assert session.scalars(select(CheckResult.success)).all() == [False]
