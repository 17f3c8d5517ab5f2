"""models.user.change_email: one address, one account, even when two take it at once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from models.session import get_sessionmaker, session_scope
from models.user import EmailTaken, User, change_email, create_user


def test_two_users_taking_one_address_at_once_get_it_once(committed):
    with session_scope() as session:
        create_user(session, "one@example.com")
        create_user(session, "two@example.com")
    first, second = get_sessionmaker()(), get_sessionmaker()()
    try:
        one = first.scalar(select(User).where(User.email == "one@example.com"))
        assert change_email(first, one, "both@example.com")  # flushed, not committed: invisible to second
        two = second.scalar(select(User).where(User.email == "two@example.com"))
        outcome: list[BaseException | bool] = []

        def take() -> None:
            try:
                outcome.append(change_email(second, two, "BOTH@example.com"))  # waits on the first's row
            except BaseException as exc:  # noqa: BLE001 - the test reads it
                outcome.append(exc)

        taker = threading.Thread(target=take)
        taker.start()
        taker.join(0.5)
        assert taker.is_alive() and not outcome  # held by the first's uncommitted address
        first.commit()
        taker.join(10)
        [refused] = outcome
        assert isinstance(refused, EmailTaken) and "both@example.com" in str(refused)
        assert two.email == "two@example.com"
        second.commit()  # the rest of its transaction still commits
    finally:
        first.close()
        second.close()
    with session_scope() as session:
        assert sorted(session.scalars(select(User.email))) == ["both@example.com", "two@example.com"]


@pytest.mark.parametrize("wrong", ["", "nobody", "a@b@c", "a b@example.com"])
def test_an_address_that_cannot_be_one_is_refused(db_session, wrong):
    user, _ = create_user(db_session, "three@example.com")
    with pytest.raises(ValueError, match="is not an email address"):
        change_email(db_session, user, wrong)
    assert user.email == "three@example.com"
