"""The demo's local webhook receiver: a real HTTP server on loopback that keeps what the notify job posts."""

from __future__ import annotations

import requests

from jobs.local import webhook_receiver


def test_receiver_keeps_and_prints_messages_and_refuses_what_is_not_json():
    printed: list[str] = []
    server = webhook_receiver.serve(0, echo=printed.append)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        message = {
            "text": "2 new listings in Annex",
            "nook": {"notifications": [{"price": 2100, "label": "low", "url": "http://x/1"}] * 7},
        }
        assert requests.post(f"{base}/hook", json=message, timeout=5).json() == {"ok": True}
        news = {
            "text": "1 price cut among your saved listings",
            "nook": {"saved": [{"price": 2375, "news": "price_cut", "url": "http://x/2"}]},
        }
        assert requests.post(f"{base}/hook", json=news, timeout=5).json() == {"ok": True}
        reminder = {
            "text": "Your viewing today at 18:00; 1 new listing in your areas",
            "nook": {
                "viewings": [
                    {"local_time": "2026-12-05T18:00", "time_zone": "Europe/Berlin", "url": "http://x/3"}
                ],
                "notifications": [{"price": None, "label": None, "url": "http://x/4"}],
            },
        }
        assert requests.post(f"{base}/hook", json=reminder, timeout=5).json() == {"ok": True}
        refused = requests.post(f"{base}/hook", data=b"{not json", timeout=5)
        assert refused.status_code == 400 and refused.json() == {"error": "not JSON"}
        kept = requests.get(f"{base}/", timeout=5)
        assert kept.headers["Content-Type"] == "application/json" and kept.json() == [message, news, reminder]
    finally:
        server.shutdown()
        server.server_close()
    assert len(printed) == 3
    assert printed[2].splitlines() == [  # a reminder, and an alert of a listing that says no price
        "webhook <- Your viewing today at 18:00; 1 new listing in your areas",
        "           viewing 2026-12-05T18:00 (Europe/Berlin)  http://x/3",
        "           ?  http://x/4",
    ]
    assert printed[1].splitlines() == [
        "webhook <- 1 price cut among your saved listings",
        "           $2,375 (price_cut)  http://x/2",
    ]
    lines = printed[0].splitlines()
    assert lines[0] == "webhook <- 2 new listings in Annex"
    assert lines[1].split() == ["$2,100", "(low)", "http://x/1"] and len(lines) == 7  # 5 shown, then the rest
    assert lines[-1].strip() == "... and 2 more"
