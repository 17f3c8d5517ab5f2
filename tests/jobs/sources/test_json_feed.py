"""The json_feed adapter against a real local server, including the ugly answers."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest

from jobs.sources import csv_file, json_feed
from jobs.sources.base import FetchContext, SourceError
from tests.http_servers import Reply

ITEMS = [
    {"id": f"r{i}", "price": 1000 + i, "updated": f"2026-11-{10 + i % 10:02d}T00:00:00Z"} for i in range(25)
]


def offset_route(items, total=True, page_cap=None):
    def handler(request):
        offset, limit = int(request.query["offset"]), int(request.query["limit"])
        size = min(limit, page_cap or limit)
        body = {"data": {"items": items[offset : offset + size]}}
        if total:
            body["meta"] = {"total": len(items)}
        return Reply(200, body)

    return handler


def config(server, **extra):
    return {
        "url": f"{server.url}/listings",
        "items_path": "data.items",
        "page_size": 10,
        "fields": {"source_ref": "id", "updated_at": "updated"},
        **extra,
    }


def fetch(cfg, client, cursor=None):
    return list(json_feed.pages(cfg, FetchContext(client, cursor)))


def test_offset_pagination_with_total(server, client):
    server.route("/listings", offset_route(ITEMS))
    pages = fetch(config(server, total_path="meta.total"), client)
    assert [len(p.records) for p in pages] == [10, 10, 5]
    assert [r["id"] for p in pages for r in p.records] == [i["id"] for i in ITEMS]
    assert pages[-1].cursor == {"updated_since": "2026-11-19T00:00:00+00:00"}
    assert pages[0].cursor is None  # unordered feed: only the last page is a safe checkpoint


def test_a_record_dated_ahead_of_the_run_does_not_take_the_cursor_with_it(server, client):
    """A cursor of 2099 had every later pull ask for updates since 2099: the feed never came in again."""
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    items = [*ITEMS[:3], {"id": "ahead", "price": 1500, "updated": "2099-01-01T00:00:00Z"}]
    server.route("/listings", offset_route(items))
    pages = list(
        json_feed.pages(config(server, total_path="meta.total"), FetchContext(client, None, now=now))
    )
    assert pages[-1].cursor == {"updated_since": now.isoformat()}


def test_partial_pages_continue_until_total(server, client):
    server.route("/listings", offset_route(ITEMS, page_cap=7))  # the server caps pages below page_size
    pages = fetch(config(server, total_path="meta.total"), client)
    assert sum(len(p.records) for p in pages) == 25 and len(pages) == 4


def test_without_total_a_short_page_ends(server, client):
    server.route("/listings", offset_route(ITEMS, total=False))
    assert sum(len(p.records) for p in fetch(config(server), client)) == 25


def test_since_param_sent_from_cursor(server, client):
    server.route("/listings", offset_route(ITEMS[:3]))
    fetch(
        config(server, since_param="updated_since"),
        client,
        cursor={"updated_since": "2026-11-01T00:00:00+00:00"},
    )
    assert server.requests[0].query["updated_since"] == "2026-11-01T00:00:00+00:00"


def test_cursor_pagination(server, client):
    def handler(request):
        start = int(request.query.get("cursor", 0))
        nxt = start + 10 if start + 10 < len(ITEMS) else None
        return Reply(200, {"results": ITEMS[start : start + 10], "next": nxt})

    server.route("/listings", handler)
    pages = fetch(config(server, pagination="cursor", items_path="results", next_cursor_path="next"), client)
    assert [len(p.records) for p in pages] == [10, 10, 5]


def test_transient_errors_are_retried(server, client):
    state = {"calls": 0}
    inner = offset_route(ITEMS[:5])

    def flaky(request):
        state["calls"] += 1
        return Reply(503, {"error": "busy"}) if state["calls"] == 1 else inner(request)

    server.route("/listings", flaky)
    assert sum(len(p.records) for p in fetch(config(server), client)) == 5
    assert state["calls"] == 2


@pytest.mark.parametrize(
    ("retry_after", "calls", "outcome"),
    [
        ("1", 2, 5),  # a short wait is waited for
        ("soon", 2, 5),  # unreadable: urllib3 raised InvalidHeader, the page failed; now retried with backoff
        ("3600", 1, "HTTP 429"),  # urllib3 slept an hour (up to six), twice: now the answer is the 429
        ("Wed, 01 Jan 2098 00:00:00 GMT", 1, "HTTP 429"),
    ],
)
def test_a_retry_after_is_waited_for_only_when_short(server, client, retry_after, calls, outcome):
    state = {"calls": 0}
    inner = offset_route(ITEMS[:5])

    def limited(request):
        state["calls"] += 1
        return (
            Reply(429, {"error": "slow down"}, {"Retry-After": retry_after})
            if state["calls"] == 1
            else inner(request)
        )

    server.route("/listings", limited)
    if isinstance(outcome, int):
        assert sum(len(p.records) for p in fetch(config(server), client)) == outcome
    else:
        with pytest.raises(SourceError, match=outcome):
            fetch(config(server), client)
    assert state["calls"] == calls


def test_persistent_error_page_is_a_source_error(server, client):
    server.route(
        "/listings", lambda r: Reply(500, "<html>Internal error</html>", {"Content-Type": "text/html"})
    )
    with pytest.raises(SourceError, match="HTTP 500"):
        fetch(config(server), client)


def test_not_json_is_a_source_error(server, client):
    server.route("/listings", lambda r: Reply(200, "<html>maintenance</html>", {"Content-Type": "text/html"}))
    with pytest.raises(SourceError, match="not JSON"):
        fetch(config(server), client)


def test_shape_change_is_a_source_error(server, client):
    server.route("/listings", lambda r: Reply(200, {"records": ITEMS}))  # the list moved
    with pytest.raises(SourceError, match="no list at 'data.items': the feed changed shape"):
        fetch(config(server), client)


def test_stuck_pagination_is_detected(server, client):
    server.route("/listings", lambda r: Reply(200, {"data": {"items": ITEMS[:10]}}))  # ignores offset
    with pytest.raises(SourceError, match="not advancing"):
        fetch(config(server), client)


def test_feed_ending_before_total(server, client):
    server.route(
        "/listings",
        lambda r: Reply(
            200, {"data": {"items": ITEMS[:10] if r.query["offset"] == "0" else []}, "meta": {"total": 40}}
        ),
    )
    with pytest.raises(SourceError, match="ended early: got 10 of 40"):
        fetch(config(server, total_path="meta.total"), client)


def test_bearer_token_comes_from_the_environment(server, client, monkeypatch):
    server.route("/listings", offset_route(ITEMS[:2]))
    monkeypatch.setenv("FEED_TOKEN_FOR_TEST", "s3cret")
    fetch(config(server, auth_env="FEED_TOKEN_FOR_TEST"), client)
    assert server.requests[0].headers["authorization"] == "Bearer s3cret"
    monkeypatch.delenv("FEED_TOKEN_FOR_TEST")
    with pytest.raises(SourceError, match="FEED_TOKEN_FOR_TEST is not set"):
        fetch(config(server, auth_env="FEED_TOKEN_FOR_TEST"), client)


@pytest.mark.parametrize(
    ("status", "verdict"), [(200, "active"), (404, "gone"), (410, "gone"), (503, "unknown")]
)
def test_check_listing_url(server, client, status, verdict):
    server.route("/l/r1", lambda r: Reply(status, {}))
    assert json_feed.check({}, "r1", f"{server.url}/l/r1", client) == verdict


def test_a_listing_without_a_page_is_unchecked_not_unknown(client):
    # counted as unknown, every run: the recheck's unknown grew with every url-less listing, hiding
    # the ones a site would not answer for
    assert json_feed.check({}, "r1", None, client) == "unchecked"
    assert csv_file.check({}, "r1", "https://example.com/l/r1", client) == "unchecked"


@pytest.fixture
def public_pages_only(setting):
    """As deployed: a listing page a source gave is asked only at public addresses."""
    setting("NOOK_ALLOW_PRIVATE_PAGES", "false")


def test_a_listing_page_on_an_inner_address_is_not_asked(server, client, public_pages_only):
    """The recheck asked any address a source gave as a listing's url: 169.254.169.254, an inner host."""
    server.route("/l/r1", lambda r: Reply(200, {}))
    assert json_feed.check({}, "r1", f"{server.url}/l/r1", client) == "unknown"
    assert server.requests == []
    template = {"check_url_template": f"{server.url}/l/{{ref}}"}  # the operator's own address: asked
    assert json_feed.check(template, "r1", None, client) == "active"


@pytest.fixture
def localhost_public(monkeypatch):
    """The name localhost stands for a public host: its 127.0.0.1 passes the public-address check."""
    from models import webhooks

    allowed = webhooks._allowed
    monkeypatch.setattr(
        webhooks,
        "_allowed",
        lambda host, allow_private: (
            [ipaddress.ip_address("127.0.0.1")] if host == "localhost" else allowed(host, allow_private)
        ),
    )


def test_a_public_page_redirecting_inside_is_not_followed(
    server, client, public_pages_only, localhost_public
):
    inner = f"{server.url}/secret"  # 127.0.0.1
    server.route("/hop", lambda r: Reply(302, "", {"Location": inner}))
    server.route("/secret", lambda r: Reply(410, ""))
    public = server.url.replace("127.0.0.1", "localhost")
    assert json_feed.check({}, "r1", f"{public}/hop", client) == "unknown"
    assert [r.path for r in server.requests] == ["/hop"]


def test_a_name_that_turns_inner_between_the_check_and_the_request_is_not_asked(
    server, client, public_pages_only, monkeypatch
):
    """DNS rebinding: the name answered a public address to the check, and 127.0.0.1 to requests, which
    resolved it again; the recheck asked the inner host."""
    import socket

    from models import webhooks

    answers = iter([[ipaddress.ip_address("93.184.215.14")]])  # the check's; every later look-up: inside
    monkeypatch.setattr(
        webhooks, "_addresses", lambda host: next(answers, [ipaddress.ip_address("127.0.0.1")])
    )
    resolve = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *rest, **kw: resolve("127.0.0.1" if host == "rebind.example" else host, *rest, **kw),
    )
    server.route("/l/r1", lambda r: Reply(200, {}))
    page = server.url.replace("127.0.0.1", "rebind.example") + "/l/r1"
    assert json_feed.check({}, "r1", page, client) == "unknown"
    assert server.requests == []


def test_a_page_over_tls_is_asked_at_its_checked_address_and_proves_its_name(
    tmp_path, client, public_pages_only, localhost_public
):
    """The connection goes to the address checked, while TLS still names and verifies the host."""
    import ssl

    from tests.http_servers import ScriptedServer, localhost_certificate

    certificate, key = localhost_certificate(str(tmp_path))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    site = ScriptedServer().start(tls=context)
    try:
        site.route("/l/r1", lambda r: Reply(410, ""))
        client.verify, client.trust_env = certificate, False  # (REQUESTS_CA_BUNDLE would win over verify)
        assert (
            json_feed.check({}, "r1", site.url.replace("127.0.0.1", "localhost") + "/l/r1", client) == "gone"
        )
        assert [r.headers["host"] for r in site.requests] == [
            site.url.replace("https://127.0.0.1", "localhost")
        ]
        inside = json_feed.check({}, "r1", site.url + "/l/r1", client)  # 127.0.0.1 itself: inside
        assert inside == "unknown" and inside.reason == f"not a page nook may ask: {site.url[8:]}"
    finally:
        site.stop()


def test_redirects_are_followed_each_checked_and_not_in_circles(server, client):
    server.route("/moved", lambda r: Reply(301, "", {"Location": "/l/gone"}))
    server.route("/l/gone", lambda r: Reply(410, ""))
    server.route("/loop", lambda r: Reply(302, "", {"Location": "/loop"}))
    assert json_feed.check({}, "r1", f"{server.url}/moved", client) == "gone"
    looped = json_feed.check({}, "r1", f"{server.url}/loop", client)
    assert looped == "unknown" and looped.reason == f"redirected more than 5 times: {server.url[7:]}"
    assert [r.path for r in server.requests].count("/loop") == 6  # the page and five redirects
