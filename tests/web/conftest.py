"""Browser fixtures: the app served on 127.0.0.1 over a seeded database, and headless Chromium.

Chromium and its driver are Debian's (`make install` puts them there); Selenium drives them.
Screenshots of the main states go to .local/screenshots/ for review.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from jobs.local.services import LOCAL_DIR
from jobs.price_rank.demo_frame import market_frame
from models.session import session_scope
from models.user import create_user
from tests.conftest import every_table, free_port
from tests.factories import activate_artifact, add_price_rank, insert_active_listings

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOTS = LOCAL_DIR / "screenshots"
LABELS = ("high", "typical", "low", None)  # every fourth listing is not ranked


@dataclass
class Site:
    url: str
    key: str
    labels: dict[int, str]  # listing id -> label ("unranked" when not ranked)


@pytest.fixture(scope="module")
def site(engine, artifact_dir) -> Iterator[Site]:
    """300 listings of the demo market (three in four ranked), a user with a key, an active model."""
    from werkzeug.serving import make_server

    from app import create_app

    labels: dict[int, str] = {}
    with session_scope() as session:
        _, key = create_user(session, "browser@example.com")
        frame = market_frame(300, seed=33)
        ids = insert_active_listings(session, frame, source_name="browser")
        for n, db_id in enumerate(ids.values()):
            label = LABELS[n % 4]
            if label is None:
                labels[db_id] = "unranked"
                continue
            price = session.execute(
                text("SELECT price FROM listings WHERE id = :i"), {"i": db_id}
            ).scalar_one()
            centre = price * {"high": 0.8, "typical": 1.0, "low": 1.25}[label]
            rank = add_price_rank(session, db_id, centre * 0.92, centre, centre * 1.08, price=price)
            labels[db_id] = rank.label
        activate_artifact(session, artifact_dir)
    server = make_server(
        "127.0.0.1", free_port(), create_app({"TILE_URL": "", "ALERT_POLL_SECONDS": 1}), threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_port}", key, labels)
    finally:
        server.shutdown()
        server.server_close()
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {every_table()} RESTART IDENTITY CASCADE"))


def chromium(tmp_path: Path, width: int = 1280, height: int = 900, phone: bool = False):
    """Headless Debian Chromium with a fresh profile and the browser console captured."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("chromium and chromium-driver are missing: run `make install` (apt packages)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if phone:  # a desktop window cannot be this narrow: emulate the device's viewport and touch
        options.add_experimental_option(
            "mobileEmulation", {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2}}
        )
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(20)
    return driver


@pytest.fixture
def browser(tmp_path):
    driver = chromium(tmp_path)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def phone(tmp_path):
    driver = chromium(tmp_path, 390, 844, phone=True)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
