"""The map page's HTML: settings reach the script, a strict CSP, and the npm-built libraries are served."""

from __future__ import annotations

import json
import re

import pytest

from app import create_app
from models.user import SAVED_STAGES


def page_config(html: str) -> dict:
    match = re.search(r'<script id="config" type="application/json">(.*?)</script>', html, re.S)
    assert match, html[:500]
    return json.loads(match.group(1))


def test_the_page_carries_the_tile_settings(client):
    response = client.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    config = page_config(response.get_data(as_text=True))
    assert config["tileUrl"] == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert "OpenStreetMap" in config["tileAttribution"]
    assert config["center"] == [43.665, -79.37]
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp


def test_tiles_and_centre_are_settings(monkeypatch, db_connection):
    monkeypatch.setenv("NOOK_TILE_URL", "https://tiles.example.com/{z}/{x}/{y}.png")
    monkeypatch.setenv("NOOK_TILE_ATTRIBUTION", "Example tiles")
    monkeypatch.setenv("NOOK_MAP_CENTER", "45.5,-73.6")
    monkeypatch.setenv("NOOK_ALERT_POLL_SECONDS", "30")
    html = create_app({"TESTING": True}).test_client().get("/").get_data(as_text=True)
    assert page_config(html) == {
        "tileUrl": "https://tiles.example.com/{z}/{x}/{y}.png",
        "tileAttribution": "Example tiles",
        "center": [45.5, -73.6],
        "alertPollSeconds": 30.0,
        "stages": [[stage, label] for stage, label in SAVED_STAGES.items()],
    }


@pytest.mark.parametrize("value", ["soon", "-5", "nan"])
def test_a_bad_alert_poll_interval_fails_fast(monkeypatch, db_connection, value):
    monkeypatch.setenv("NOOK_ALERT_POLL_SECONDS", value)
    with pytest.raises(ValueError, match="NOOK_ALERT_POLL_SECONDS must be a number of seconds >= 0"):
        create_app({"TESTING": True})


def test_the_libraries_from_npm_are_served(client):
    for path in (
        "leaflet.js",
        "leaflet.css",
        "leaflet-geoman.js",
        "leaflet-geoman.css",
        "images/marker-icon.png",
    ):
        response = client.get(f"/static/vendor/{path}")
        assert response.status_code == 200, f"{path} missing: run `make assets`"
        response.close()
    script = client.get("/static/nook.js")
    assert b"nookMap" in script.data
    script.close()
