"""Ingest: idempotent bulk upserts, quarantine, drift alarms, crash and re-run."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from sqlalchemy import func, select
from zappa.handler import LambdaHandler

from jobs import ingest
from jobs.runtime import JobFailed
from jobs.sources.base import Page
from models import upsert
from models.listing import Listing
from models.quarantine import QuarantinedRecord
from models.session import session_scope
from models.source import Source
from tests.http_servers import Reply
from tests.jobs.conftest import T0


def count(session, model, **where):
    query = select(func.count()).select_from(model)
    for key, value in where.items():
        query = query.where(getattr(model, key) == value)
    return session.scalar(query)


def served_refs(demo_feed, feed="main"):
    page = demo_feed.feed.page(feed, {"limit": "1000"})
    return {r["id"] for r in page["listings"] if isinstance(r, dict)}, page["total"]


def test_ingest_everything_the_feed_serves(db_session, demo_sources, demo_feed, client):
    result = ingest.ingest_all(db_session, T0, client)
    refs, total = served_refs(demo_feed)
    main = result["sources"]["demo-main"]
    assert main["fetched"] == total and main["error"] is None and main["pages"] >= 2
    assert main["inserted"] + main["quarantined"] == total
    stored = set(
        db_session.scalars(select(Listing.source_ref).where(Listing.source_id == demo_sources[0].id))
    )
    assert stored == refs
    assert count(db_session, Listing, status="pending") == result["inserted"]
    garbage = db_session.scalars(select(QuarantinedRecord).where(QuarantinedRecord.stage == "ingest")).all()
    assert len(garbage) == main["quarantined"] >= 1
    assert all(q.reason == "record is a str, not an object" and q.raw.startswith("#ERROR") for q in garbage)
    assert result["errors"] == []


def test_running_twice_changes_nothing(db_session, demo_sources, demo_feed, client):
    ingest.ingest_all(db_session, T0, client)
    before = db_session.execute(select(Listing.source_ref, Listing.raw, Listing.status)).all()
    quarantined = count(db_session, QuarantinedRecord)
    for source in demo_sources:  # forget the cursors: the whole feed comes again
        source.cursor = None
    again = ingest.ingest_all(db_session, T0, client)
    assert again["inserted"] == 0 and again["updated"] == 0 and again["unchanged"] > 0
    assert sorted(
        db_session.execute(select(Listing.source_ref, Listing.raw, Listing.status)).all()
    ) == sorted(before)
    assert count(db_session, QuarantinedRecord) == quarantined


def test_incremental_pull_fetches_only_what_changed(db_session, demo_sources, demo_feed, client):
    ingest.ingest_all(db_session, T0, client)
    demo_feed.clock.advance(hours=12)
    result = ingest.ingest_all(db_session, demo_feed.clock.now, client)
    main = result["sources"]["demo-main"]
    _, total_now = served_refs(demo_feed)
    assert 0 < main["fetched"] < total_now
    assert main["inserted"] >= 1  # new listings arrived in 12 hours


def test_price_change_makes_a_listing_pending_again(db_session, demo_sources, demo_feed, client):
    ingest.ingest_all(db_session, T0, client)
    db_session.execute(Listing.__table__.update().values(status="active"))
    demo_feed.clock.advance(days=3)
    result = ingest.ingest_all(db_session, demo_feed.clock.now, client)
    assert result["updated"] >= 1  # some listings dropped their price
    changed = db_session.scalars(
        select(Listing).where(Listing.status == "pending", Listing.first_seen_at == T0)
    ).all()
    assert len(changed) == result["updated"]


def partner_feed(db_session, server, items: list) -> Source:
    """A json_feed source "partner" serving `items` in one page, ids in "id"."""
    server.route("/feed", lambda r: Reply(200, {"items": items}))
    source = Source(
        name="partner",
        kind="json_feed",
        config={"url": f"{server.url}/feed", "pagination": "none", "fields": {"source_ref": "id"}},
    )
    db_session.add(source)
    db_session.flush()
    return source


def test_a_renamed_id_field_fails_the_source_loudly(db_session, server, demo_sources, client):
    items = [{"listing_key": f"k{i}", "rent": 1000} for i in range(60)]  # "id" was renamed upstream
    broken = partner_feed(db_session, server, items)
    result = ingest.ingest_all(db_session, T0, client)
    partner = result["sources"]["partner"]
    assert "60 of 60 records refused" in partner["error"] and "source_ref: missing" in partner["error"]
    assert result["errors"] == [f"partner: {partner['error']}"]
    assert result["sources"]["demo-main"]["error"] is None and result["sources"]["demo-main"]["inserted"] > 0
    assert count(db_session, QuarantinedRecord, source_id=broken.id) == 60  # kept, with reasons


def test_a_record_postgresql_cannot_store_is_quarantined_not_the_page(
    db_session, server, demo_sources, client
):
    # Python's parser reads NaN (not JSON) and a string may hold \u0000 (neither jsonb nor text stores it):
    # either failed the page's COPY, losing its good records on every run
    items = [{"id": f"k{i}", "rent": 1000 + i} for i in range(3)]
    items += [{"id": "nan", "rent": 1200, "extra": {"ratio": float("nan")}}, {"id": "nul", "title": "a\x00b"}]
    items += [{"id": "deep", "x": json.loads("[" * 64 + "]" * 64)}]  # too deep to encode safely
    items += [{"id": "half", "title": "a\ud800"}, {"id": "\udfff"}]  # half a UTF-16 pair: not text
    partner = partner_feed(db_session, server, items)
    for _ in range(2):  # a re-run files nothing twice
        result = ingest.ingest_all(db_session, T0, client)["sources"]["partner"]
        assert result["error"] is None and result["fetched"] == 8 and result["quarantined"] == 5
        stored = set(db_session.scalars(select(Listing.source_ref).where(Listing.source_id == partner.id)))
        assert stored == {"k0", "k1", "k2"}
        filed = db_session.execute(
            select(QuarantinedRecord.reason, QuarantinedRecord.raw, QuarantinedRecord.source_ref)
            .where(QuarantinedRecord.source_id == partner.id)
            .order_by(QuarantinedRecord.reason)
        ).all()
        assert [(reason, ref) for reason, _, ref in filed] == [
            ("extra.ratio: NaN is not a JSON number", "nan"),
            ("id: holds a lone surrogate (\\udfff), which is not text", None),
            ("title: holds a NUL character (\\u0000), which cannot be stored", "nul"),
            ("title: holds a lone surrogate (\\ud800), which is not text", "half"),
            (f"x{'[0]' * 13}...{'[0]' * 10}: nested deeper than 64 levels", "deep"),
        ]
        assert [raw for _, raw, _ in filed] == [  # as they came, escaped
            '{"id": "nan", "rent": 1200, "extra": {"ratio": NaN}}',
            '{"id": "\\udfff"}',
            '{"id": "nul", "title": "a\\u0000b"}',
            '{"id": "half", "title": "a\\ud800"}',
            json.dumps(items[-3]),
        ]


def test_a_record_nested_nearly_as_deep_as_python_goes_is_refused_not_raised(demo_sources):
    deep: list = []
    for _ in range(990):  # the parser stops at about 1,000; encoding it again raised RecursionError
        deep = [deep]
    prepared = ingest._prepare(demo_sources[0], Page([{"id": "deep", "x": deep}, {"id": "fine"}]))
    assert prepared.refs == ["fine"] and prepared.encoded.count == 1
    [bad] = prepared.bad
    assert bad.reason.endswith("nested deeper than 64 levels") and bad.source_ref == "deep"


def test_a_feed_nested_too_deeply_fails_its_source_not_the_run(db_session, server, demo_sources, client):
    partner_feed(db_session, server, [])
    server.route("/feed", lambda r: Reply(200, '{"items": ' + "[" * 100_000 + "]" * 100_000 + "}"))
    result = ingest.ingest_all(db_session, T0, client)  # was a RecursionError out of the whole run
    assert (
        result["sources"]["partner"]["error"]
        == "SourceError: json_feed: response is JSON nested too deeply to read"
    )
    assert result["sources"]["demo-main"]["error"] is None and result["sources"]["demo-main"]["inserted"] > 0


def test_one_failing_source_does_not_stop_the_others(db_session, server, demo_sources, client):
    server.route("/down", lambda r: Reply(503, {"error": "maintenance"}))
    db_session.add(Source(name="down", kind="json_feed", config={"url": f"{server.url}/down"}))
    db_session.flush()
    result = ingest.ingest_all(db_session, T0, client)
    assert "HTTP 503" in result["sources"]["down"]["error"]
    assert (
        result["sources"]["demo-main"]["inserted"] > 0 and result["sources"]["demo-mirror"]["error"] is None
    )


def test_a_slow_page_after_the_deadline_does_not_hold_the_run(db_session, server, client):
    # no page starts after the deadline, unless the source cannot resume; but a page under way (or the
    # next, fetched meanwhile) ran for as long as its site took, up to five tries of 30 s: Lambda ended
    # the run, and everything it had written was rolled back
    items = [{"id": f"r{i}", "price": 1000 + i} for i in range(30)]

    def pages(request):
        offset = int(request.query["offset"])
        if offset:
            time.sleep(6)  # a deep page the site is slow to build
        return Reply(200, {"items": items[offset : offset + 10], "total": 30})

    server.route("/slow", pages)
    db_session.add(
        Source(
            name="slow",
            kind="json_feed",
            config={"url": f"{server.url}/slow", "page_size": 10, "fields": {"source_ref": "id"}},
        )
    )
    db_session.flush()
    started = time.monotonic()
    result = ingest.ingest_all(db_session, T0, client, deadline=time.monotonic() + 0.2, overrun=0.5)
    assert time.monotonic() - started < 4  # the slow page takes 6 s: it was cut off
    slow = result["sources"]["slow"]
    assert slow["inserted"] == 10 and slow["pages"] == 1  # the first page is kept
    assert "Timeout" in slow["error"] or "out of time" in slow["error"]
    assert count(db_session, Listing) == 10


def test_a_source_that_cannot_be_pulled_fails_alone(db_session, server, demo_sources, client):
    # a config that is not an object (added before `sources add` checked it, or edited by hand) raised
    # AttributeError out of ingest: the whole run failed, every run, and no source was pulled
    server.route("/odd", lambda r: Reply(200, {"items": [{"id": "r1"}]}))
    db_session.add_all(
        [
            Source(name="listed", kind="json_feed", config=["not", "an", "object"]),
            # an items_path that is not a path: the adapter failed with a TypeError
            Source(name="odd", kind="json_feed", config={"url": f"{server.url}/odd", "items_path": 5}),
        ]
    )
    db_session.flush()
    result = ingest.ingest_all(db_session, T0, client)
    errors = {name: summary["error"] for name, summary in result["sources"].items()}
    assert errors["listed"] == "SourceError: json_feed config must be a JSON object, not list"
    assert errors["odd"] == "SourceError: json_feed config: items_path must be a dotted path (text), not 5"
    assert errors["demo-main"] is None and errors["demo-mirror"] is None
    assert result["sources"]["demo-main"]["inserted"] > 0 and len(result["errors"]) == 2


class CrashAfter(requests.Session):
    """A client that dies (like a killed Lambda) after N successful requests."""

    def __init__(self, inner: requests.Session, requests_before_crash: int) -> None:
        super().__init__()
        self.inner, self.left = inner, requests_before_crash

    def get(self, *args, **kwargs):  # type: ignore[override]
        if self.left == 0:
            raise requests.ConnectionError("connection reset by peer")
        self.left -= 1
        return self.inner.get(*args, **kwargs)


def test_crash_mid_way_then_rerun_loses_and_duplicates_nothing(db_session, demo_sources, demo_feed, client):
    main, _ = demo_sources
    db_session.delete(demo_sources[1])
    db_session.flush()
    first = ingest.ingest_all(db_session, T0, CrashAfter(client, 2))
    assert (
        first["sources"]["demo-main"]["pages"] == 2
        and "connection reset" in first["sources"]["demo-main"]["error"]
    )
    cursor_after_crash = main.cursor
    assert cursor_after_crash is not None  # the feed is ordered by update: pages are checkpoints
    partial = count(db_session, Listing)
    second = ingest.ingest_all(db_session, T0, client)
    assert second["errors"] == []
    refs, _ = served_refs(demo_feed)
    stored = db_session.scalars(select(Listing.source_ref)).all()
    assert len(stored) == len(set(stored)) == len(refs) and set(stored) == refs
    assert partial < len(refs)


def test_run_entry_point_commits_and_fails_loudly_on_errors(committed, demo_feed, server, lambda_context):
    server.route("/gone", lambda r: Reply(404, {"error": "this API was retired"}))
    with session_scope() as session:
        session.add(
            Source(name="demo-main", kind="demo", config={"base_url": demo_feed.base_url, "page_size": 200})
        )
        session.add(Source(name="retired", kind="json_feed", config={"url": f"{server.url}/gone"}))
    with pytest.raises(
        JobFailed, match="ingest: 1 part\\(s\\) failed: retired: SourceError: json_feed: HTTP 404"
    ):
        ingest.run({"kwargs": {}}, lambda_context)
    with session_scope() as session:
        assert count(session, Listing) > 0  # the healthy source's work was committed
        from models.ops import JobRun

        run = session.scalars(select(JobRun)).one()
        assert run.status == "failed" and run.counts["sources"]["demo-main"]["inserted"] > 0


def test_payloads_survive_the_bulk_path_byte_for_byte(db_session, demo_sources):
    main, _ = demo_sources
    nasty = {
        'we\\ird\tref\n"1"': {
            "title": 'Tab\there, "quotes", back\\slash, new\nline',
            "emoji": "🏠",
            "n": 1.5,
            "nested": {"list": [None, True, "\\N"]},
            "nul_like": "\\.",
        },
        "plain": {"price": 2300},
    }
    inserted, updated, unchanged = upsert.upsert_records(db_session, main.id, list(nasty.items()), T0)
    assert (inserted, updated, unchanged) == (2, 0, 0)
    stored = dict(
        db_session.execute(select(Listing.source_ref, Listing.raw).where(Listing.source_id == main.id)).all()
    )
    assert stored == nasty
    assert upsert.upsert_records(db_session, main.id, list(nasty.items()), T0) == (0, 0, 2)
    changed = {"plain": {"price": 2250}}
    assert upsert.upsert_records(db_session, main.id, list(changed.items()), T0) == (0, 1, 0)


def test_fan_out_runs_each_source_in_process_off_lambda(committed, demo_feed, lambda_context, monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    with session_scope() as session:
        for name, feed in (("demo-main", "main"), ("demo-mirror", "mirror")):
            session.add(Source(name=name, kind="demo", config={"base_url": demo_feed.base_url, "feed": feed}))
    result = ingest.run({"kwargs": {"fan_out": True}}, lambda_context)
    assert result["dispatched"] == [] and set(result["ran_here"]) == {"demo-main", "demo-mirror"}
    assert result["ran_here"]["demo-main"]["inserted"] > 0
    from models.ops import JobRun

    with session_scope() as session:
        jobs = sorted(session.scalars(select(JobRun.job)).all())
    assert jobs == ["ingest", "ingest:demo-main", "ingest:demo-mirror"]


def test_fan_out_on_lambda_dispatches_async_invocations(
    committed, demo_feed, lambda_context, moto_endpoint, monkeypatch
):
    import json
    import urllib.request

    import boto3

    config = urllib.request.Request(
        f"{moto_endpoint}/moto-api/config",
        method="POST",
        data=json.dumps({"lambda": {"use_docker": False}}).encode(),
    )
    urllib.request.urlopen(config).close()
    role = boto3.client("iam").create_role(RoleName="batch", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    boto3.client("lambda").create_function(
        FunctionName="nook-batch",
        Runtime="python3.11",
        Role=role,
        Handler="handler.lambda_handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18},
    )
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "nook-batch")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with session_scope() as session:
        session.add(Source(name="demo-main", kind="demo", config={"base_url": demo_feed.base_url}))
    result = ingest.run({"kwargs": {"fan_out": True}}, lambda_context)
    assert result["dispatched"] == ["demo-main"] and result["ran_here"] == {}
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Listing)) == 0  # it ran elsewhere, not here


def test_a_feeds_relative_links_lead_to_its_own_site(db_session, server, client):
    """A feed giving its listings' links as "/listings/k0" had every listing rejected by process."""
    from jobs import process

    base = {"price": 1800, "bedrooms": 1, "latitude": 43.65, "longitude": -79.38}
    items = [base | {"id": "k0", "url": "/listings/k0"}, base | {"id": "k1", "url": "k1.html"}]
    partner = partner_feed(db_session, server, items)
    assert ingest.ingest_all(db_session, T0, client)["sources"]["partner"]["inserted"] == 2
    assert process.process_pending(db_session, T0)["activated"] == 2
    links = dict(
        db_session.execute(
            select(Listing.source_ref, Listing.url).where(Listing.source_id == partner.id)
        ).all()
    )
    assert links == {"k0": f"{server.url}/listings/k0", "k1": f"{server.url}/k1.html"}
    # a source that says where its links live
    partner.config = partner.config | {"link_base": "https://partner.example/flats/"}
    server.route("/feed", lambda r: Reply(200, {"items": [base | {"id": "k2", "url": "k2"}]}))
    ingest.ingest_all(db_session, T0, client)
    process.process_pending(db_session, T0)
    assert (
        db_session.scalar(select(Listing.url).where(Listing.source_ref == "k2"))
        == "https://partner.example/flats/k2"
    )


def test_runs_that_meet_never_pull_a_source_at_once(committed, server, lambda_context):
    # a run takes up to 14 minutes and one starts every 10: the second pulled the site again from the
    # same cursor, then waited on the first run's rows (not committed until it ended) until it ended
    slow_items = [{"id": f"s{i}", "price": 1000 + i} for i in range(30)]
    let_go = threading.Event()

    def slow(request):
        offset = int(request.query["offset"])
        if offset and not let_go.wait(30):  # the site is slow past the first page
            return Reply(503, {"error": "the test never let the page go"})
        return Reply(200, {"items": slow_items[offset : offset + 10], "total": 30})

    server.route("/slow", slow)
    server.route("/quick", lambda r: Reply(200, {"items": [{"id": f"q{i}"} for i in range(5)]}))
    with session_scope() as session:
        for name in ("slow", "quick"):  # pulled in this order
            config = {"url": f"{server.url}/{name}", "page_size": 10, "fields": {"source_ref": "id"}}
            session.add(Source(name=name, kind="json_feed", config=config))
            session.flush()
    first: list = []
    worker = threading.Thread(
        target=lambda: first.append(LambdaHandler.run_function(ingest.run, {"kwargs": {}}, lambda_context))
    )
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while not any(r.path == "/slow" and r.query.get("offset") == "10" for r in server.requests):
            assert time.monotonic() < deadline, "the first run never reached the slow page"
            time.sleep(0.01)
        began = time.monotonic()
        second = LambdaHandler.run_function(ingest.run, {"kwargs": {}}, lambda_context)
        assert time.monotonic() - began < 5  # it waited for nothing
    finally:
        let_go.set()
        worker.join(30)
    assert second["status"] == "succeeded" and second["errors"] == []
    assert (second["sources"]["slow"]["fetched"], second["sources"]["quick"]["inserted"]) == (0, 5)
    assert [r.query.get("offset") for r in server.requests if r.path == "/slow"].count("0") == 1
    (done,) = first
    assert done["status"] == "succeeded" and done["sources"]["slow"]["inserted"] == 30
    assert second["sources"]["slow"]["skipped"].startswith(
        f"another run is pulling this source (job run {done['job_run_id']}, started 20"
    )
    assert (done["sources"]["quick"]["unchanged"], done["sources"]["quick"]["skipped"]) == (5, None)
    with session_scope() as session:
        refs = session.scalars(select(Listing.source_ref)).all()
    assert len(refs) == len(set(refs)) == 35
