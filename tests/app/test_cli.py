"""`flask users create` prints a key once and stores only its hash."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.session import session_scope
from models.user import User, hash_api_key
from tests.conftest import run_python


def test_users_create_prints_key_and_stores_hash(runner, committed):
    result = runner.invoke(args=["users", "create", "Renter@Example.com"])
    assert result.exit_code == 0, result.output
    key = result.output.split("API key (store it now, it is not shown again): ")[1].strip()
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
