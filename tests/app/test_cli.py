"""`flask users create` prints a key once and stores only its hash."""

from __future__ import annotations

from sqlalchemy import select

from models.session import session_scope
from models.user import User, hash_api_key


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
