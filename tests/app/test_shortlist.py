"""A shared shortlist: /v1/me/saved/share and the page /shortlist/<token> it links to."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html import escape

from tests.app.test_saved_api import put, set_listing


def share(client, caller, **body):
    return client.put("/v1/me/saved/share", json=body, headers=caller.headers)


def path_of(url: str) -> str:
    found = re.fullmatch(r"http://localhost(/shortlist/[\w-]+)", url)
    assert found, url
    return found.group(1)


def test_a_shortlist_is_shown_to_whoever_has_the_link_and_to_nobody_once_unshared(
    client, alice, bob, db_session, market_ids
):
    # a partner or flatmate had to be sent each saved flat by hand
    assert client.get("/v1/me/saved/share", headers=alice.headers).get_json() == {"url": None, "notes": False}
    kept, gone, bobs = list(market_ids.values())[:3]
    for listing_id in (kept, gone):
        assert put(client, alice, listing_id).status_code == 201
    assert put(client, bob, bobs).status_code == 201
    client.patch(
        f"/v1/me/saved/{kept}",
        json={"note": "Ask about <the> parking", "stage": "viewing", "rating": 4},
        headers=alice.headers,
    )
    set_listing(db_session, gone, status="delisted", last_seen_at=datetime(2026, 11, 28, 9, tzinfo=UTC))
    titles = {kept: "Sunny corner <flat>", gone: "Loft by the park", bobs: "Bob's studio"}
    for listing_id, title in titles.items():
        set_listing(db_session, listing_id, title=title)
    for listing_id in (kept, gone):  # when one may move in: said of the flat still listed
        set_listing(db_session, listing_id, available_from=date(2030, 5, 1))

    shared = share(client, alice)
    assert shared.status_code == 200 and shared.get_json()["notes"] is False
    link = path_of(shared.get_json()["url"])
    page = client.get(link)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Robots-Tag"] == "noindex" and '<meta name="robots" content="noindex">' in page.text
    assert "2 saved listings" in page.text
    ranked = re.findall(r"\$[\d,]+ is (low|typical|high) for this type of listing", page.text)
    assert len(ranked) == 1  # how its price compares, for the flat still listed (a rank is of the market)
    assert escape(titles[kept]) in page.text and escape(titles[gone]) in page.text
    assert escape(titles[bobs]) not in page.text  # bob's shortlist is his
    assert "No longer listed (taken down): last seen 28 Nov 2026" in page.text
    assert page.text.count('<p class="available">Available from 1 May 2030.</p>') == 1
    assert "parking" not in page.text and "alice@example.com" not in page.text  # no notes asked; nobody named
    assert "Viewing booked" not in page.text  # where she is with it goes with the notes
    assert "stars" not in page.text  # and so do her stars
    assert page.text.index(escape(titles[gone])) < page.text.index(escape(titles[kept]))  # last saved first

    # with the notes: the same link, the note escaped
    again = share(client, alice, notes=True)
    assert again.get_json() == {"url": shared.get_json()["url"], "notes": True}
    with_notes = client.get(link).text
    assert "Note: Ask about &lt;the&gt; parking" in with_notes
    assert with_notes.count('<p class="stage">') == 1 and '<p class="stage">Viewing booked</p>' in with_notes
    assert with_notes.count('<p class="rating">Rated 4 of 5 stars</p>') == 1
    # a viewing booked: when, on the clock it was booked on
    day = datetime.now(UTC).date() + timedelta(days=40)
    viewing = {"viewing": {"at": f"{day}T18:30", "time_zone": "Asia/Tokyo"}}
    assert client.patch(f"/v1/me/saved/{kept}", json=viewing, headers=alice.headers).status_code == 200
    when = f"{day:%a} {day.day} {day:%b}, 18:30 (Asia/Tokyo time)"
    assert f'<p class="stage">Viewing booked: {when}</p>' in client.get(link).text

    # stopped: the link shows nothing, and a new share is another link
    assert client.delete("/v1/me/saved/share", headers=alice.headers).status_code == 204
    stopped = client.get(link)
    assert stopped.status_code == 404 and "This shortlist is not shared" in stopped.text
    assert escape(titles[kept]) not in stopped.text
    assert client.get("/v1/me/saved/share", headers=alice.headers).get_json() == {"url": None, "notes": False}
    renewed = path_of(share(client, alice).get_json()["url"])
    assert renewed != link and client.get(renewed).status_code == 200


def test_a_link_naming_no_share_is_a_404_and_sharing_needs_a_key(client, alice, setting):
    for token in ("nothing", "x" * 65, "%00"):
        assert client.get(f"/shortlist/{token}").status_code == 404, token
    assert client.put("/v1/me/saved/share", json={}).status_code == 401
    assert client.delete("/v1/me/saved/share").status_code == 401
    assert share(client, alice, notes="sometimes").status_code == 422
    setting("NOOK_PUBLIC_URL", "https://nook.example.com")
    url = share(client, alice).get_json()["url"]
    assert re.fullmatch(r"https://nook\.example\.com/shortlist/[\w-]{32}", url), url
    empty = client.get(url.removeprefix("https://nook.example.com"))
    assert empty.status_code == 200 and "Nothing saved yet." in empty.text
