"""`flask users`: create prints a key once and stores only its hash; list, rotate-key, set-email, delete."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from models.region import Region
from models.session import session_scope
from models.source import Source
from models.user import HiddenListing, SavedListing, User, create_user, hash_api_key
from tests.app.test_alerts_api import SQUARE
from tests.conftest import run_python
from tests.factories import insert_listing


def created_key(output: str) -> str:
    """The key `users create` or `users rotate-key` printed."""
    return output.split("API key (store it now, it is not shown again): ")[1].strip()


def test_users_create_prints_key_and_stores_hash(runner, committed):
    result = runner.invoke(args=["users", "create", "Renter@Example.com"])
    assert result.exit_code == 0, result.output
    key = created_key(result.output)
    assert key.startswith("nook_") and len(key) > 40
    with session_scope() as session:
        user = session.scalars(select(User)).one()
    assert user.email == "renter@example.com"
    assert user.api_key_hash == hash_api_key(key) and key not in user.api_key_hash

    again = runner.invoke(args=["users", "create", "renter@example.com"])
    assert again.exit_code != 0 and "already exists" in again.output


@pytest.mark.parametrize("email", ["renter", "renter@", "@example.com", "a b@example.com", "a@b@c"])
def test_users_create_refuses_what_cannot_be_an_email_address(runner, committed, email):
    # "renter" was stored as a user's email
    result = runner.invoke(args=["users", "create", email])
    assert result.exit_code == 2 and "is not an email address" in result.output
    with session_scope() as session:
        assert session.scalars(select(User)).all() == []


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        # bytes the locale cannot decode arrive as lone surrogates: the database driver raised on them
        (
            "ren\udcffter@example.com",
            "holds a lone surrogate (\\udcff), which is not text (are the terminal's",
        ),
        ("a\x00@b.c", "holds a NUL character (\\u0000), which cannot be stored"),  # PostgreSQL's traceback
    ],
)
def test_an_argument_nook_cannot_store_is_a_usage_error(runner, committed, email, reason):
    result = runner.invoke(args=["users", "create", email])
    assert result.exit_code == 2 and reason in result.output
    with session_scope() as session:
        assert session.scalars(select(User)).all() == []


def test_without_its_settings_the_cli_says_what_is_missing_in_a_line():
    """It printed a 30-line traceback ending in ConfigError (`flask --help` before the env was set)."""
    result = run_python(
        "import os, sys\n"
        "for key in ('DATABASE_URL', 'DATABASE_URL_SSM'):\n"
        "    os.environ.pop(key, None)\n"
        "sys.argv = ['flask', '--app', 'jobs.cli', '--help']\n"
        "from flask.cli import main\n"
        "main()"
    )
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "Error: DATABASE_URL is not set (nor DATABASE_URL_SSM); see .env.example;"
    )
    assert 'locally: eval "$(make -s env)"' in result.stderr.splitlines()[0]


def test_users_list_rotate_key_and_delete(runner, committed):
    # a key that leaked could be stopped, and a user removed, only with SQL
    keys = {
        email: created_key(runner.invoke(args=["users", "create", email]).output)
        for email in ("ann@example.com", "ben@example.com")
    }
    with session_scope() as session:
        ann = session.scalar(select(User).where(User.email == "ann@example.com"))
        ann.webhook_url = "https://example.com/hook"
        carl, _ = create_user(session, "carl@example.com")
        carl.webhook_url, carl.email_alerts, carl.alert_every_minutes = "https://example.com/carl", True, 60
        carl.quiet_from, carl.quiet_until, carl.quiet_time_zone = 22, 7, "Europe/Paris"
        carl.viewing_reminder_minutes = 90
        dana, _ = create_user(session, "dana@example.com")  # SES said her address bounced
        dana.email_trouble, dana.email_trouble_at = (
            "your address bounced (Permanent: General)",
            datetime(2026, 12, 1, tzinfo=UTC),
        )
        session.add(Region(user_id=ann.id, name="home", geom=SQUARE))
        source = Source(name="s", kind="json_feed", config={"url": "http://unused"})
        session.add(source)
        session.flush()
        listing_id = insert_listing(session, source.id, "a", datetime.now(UTC), lon=-79.38, lat=43.65)
        session.add(SavedListing(user_id=ann.id, listing_id=listing_id, price=2000, told_price=2000))
        session.add(HiddenListing(user_id=ann.id, listing_id=listing_id))
    listed = runner.invoke(args=["users", "list"]).output.splitlines()
    assert len(listed) == 4 and "ann@example.com" in listed[0] and "ben@example.com" in listed[1]
    assert "alerts nowhere (email stopped 2026-12-01: your address bounced (Permanent: General))" in listed[3]
    assert f"key {keys['ann@example.com'][:12]}…" in listed[0] and keys["ann@example.com"] not in listed[0]
    assert (
        "alerts to webhook  regions 1  alerts queued 0  saved 1  hidden 1" in listed[0]
        and "alerts nowhere  regions 0" in listed[1]
        and "carl@example.com  key" in listed[2]
        and "alerts by email (at most every 60 min) (quiet 22:00-07:00 Europe/Paris)"
        " (viewings reminded 90 min before)  regions 0"
        in listed[2]
    )

    rotated = runner.invoke(args=["users", "rotate-key", "ANN@example.com"])
    assert rotated.exit_code == 0 and "the old key no longer works" in rotated.output
    new = created_key(rotated.output)
    with session_scope() as session:
        ann = session.scalar(select(User).where(User.email == "ann@example.com"))
        assert ann.api_key_hash == hash_api_key(new) != hash_api_key(keys["ann@example.com"])
    overlapping = runner.invoke(args=["users", "rotate-key", "ann@example.com", "--keep-old", "30"])
    assert overlapping.exit_code == 0 and "the old key works until " in overlapping.output
    with session_scope() as session:
        ann = session.scalar(select(User).where(User.email == "ann@example.com"))
        assert ann.old_key_hash == hash_api_key(new) and ann.api_key_hash == hash_api_key(
            created_key(overlapping.output)
        )
    too_long = runner.invoke(args=["users", "rotate-key", "ann@example.com", "--keep-old", "2000"])
    assert too_long.exit_code == 2 and "0<=x<=1440" in too_long.output

    # a new address, at once (the operator's word; a user's PATCH /v1/me is confirmed by mail): refused
    # if another has it or it is none
    moved = runner.invoke(args=["users", "set-email", "ben@example.com", " Ben.Two@Example.com"])
    assert moved.exit_code == 0 and "<ben.two@example.com>" in moved.output
    same = runner.invoke(args=["users", "set-email", "ben.two@example.com", "ben.two@example.com"])
    assert same.exit_code == 0 and "the address it had already" in same.output
    taken = runner.invoke(args=["users", "set-email", "ben.two@example.com", "carl@example.com"])
    assert taken.exit_code == 1 and "another account has the address carl@example.com" in taken.output
    wrong = runner.invoke(args=["users", "set-email", "ben.two@example.com", "ben"])
    assert wrong.exit_code == 2 and "is not an email address" in wrong.output
    missing = runner.invoke(args=["users", "set-email", "nobody@example.com", "x@example.com"])
    assert missing.exit_code == 1 and "no user with email nobody@example.com" in missing.output

    kept = runner.invoke(args=["users", "delete", "ann@example.com"], input="n\n")
    assert kept.exit_code == 1 and "Aborted" in kept.output
    gone = runner.invoke(args=["users", "delete", "ann@example.com", "--yes"])
    assert gone.exit_code == 0 and "and 1 region(s)" in gone.output
    with session_scope() as session:
        assert sorted(session.scalars(select(User.email))) == [
            "ben.two@example.com",
            "carl@example.com",
            "dana@example.com",
        ]
        assert session.scalars(select(Region)).all() == []

    for command in (["rotate-key", "ann@example.com"], ["delete", "ann@example.com", "--yes"]):
        missing = runner.invoke(args=["users", *command])
        assert missing.exit_code == 1 and "no user with email ann@example.com" in missing.output
