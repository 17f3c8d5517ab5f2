"""Accounts renters make themselves: a link mailed to the address asked with (app.sign_up).

An ask is kept by its address (`sign_ups`, one row an address) for a day at most: the link's token, as its
hash, and how many letters went to the address that day. Whoever types an address asks, so nook mails an
address at most SIGN_UP_LETTERS a day and not twice within SIGN_UP_EVERY: it must not become a way to fill
someone's inbox. An address that has an account already is told so (and how to have a new key), and no
link goes.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import DateTime, SmallInteger, String, and_, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, seconds_until
from models.user import EmailTaken, User, create_user, hash_api_key, turn_email_alerts_on, user_by_email

SIGN_UP_VALID = timedelta(hours=1)
SIGN_UP_EVERY = timedelta(minutes=2)
SIGN_UP_LETTERS = 3  # an address, a day
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


class SignUp(Base):
    """The asks to make an account with an address, that day."""

    __tablename__ = "sign_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    token_hash: Mapped[str | None] = mapped_column(String(64))  # the link waiting, if one does
    asked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the last letter's ask
    day_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    letters: Mapped[int] = mapped_column(SmallInteger)  # mailed since day_started_at


def ask_sign_up(session: Session, address: str, now: datetime) -> tuple[SignUp, str | None] | None:
    """Take an ask to make an account with `address` (as stored): its sign-up and the token its link is to
    carry, or None for the token where an account has the address (no link: the letter says so); None if
    no letter may go to the address now. The sign-up's row stays locked until the transaction ends."""
    session.execute(
        insert(SignUp)
        .values(email=address, day_started_at=now, letters=0)
        .on_conflict_do_nothing(index_elements=[SignUp.email])
    )
    locked = select(SignUp).where(SignUp.email == address).with_for_update()
    sign_up = session.scalars(locked.execution_options(populate_existing=True)).one()
    if now - sign_up.day_started_at >= DAY:
        sign_up.day_started_at, sign_up.letters = now, 0
    if sign_up.letters >= SIGN_UP_LETTERS or (
        sign_up.asked_at is not None and now - sign_up.asked_at < SIGN_UP_EVERY
    ):
        return None
    sign_up.letters += 1
    sign_up.asked_at = now
    token = None if user_by_email(session, address) is not None else secrets.token_urlsafe(24)
    sign_up.token_hash = hash_api_key(token) if token else None
    return sign_up, token


def hour_full(session: Session, now: datetime, per_hour: int) -> int | None:
    """None if a sign-up letter may go now, `per_hour` at most going to all addresses within an hour;
    else the seconds until one may (the first of the hour's letters an hour old). An address's last
    letter is the one counted."""
    count, first = session.execute(
        select(func.count(), func.min(SignUp.asked_at)).where(SignUp.asked_at > now - HOUR)
    ).one()
    if count < per_hour or first is None:
        return None
    return seconds_until(first + HOUR, now)


def sign_up_valid(sign_up: SignUp, token: str, now: datetime) -> bool:
    """Whether `token` is that of the sign-up's waiting link, not used and not expired."""
    asked = sign_up.asked_at
    if not sign_up.token_hash or asked is None or now >= asked + SIGN_UP_VALID:
        return False
    return hmac.compare_digest(sign_up.token_hash, hash_api_key(token))


def complete_sign_up(session: Session, sign_up: SignUp, token: str, now: datetime) -> tuple[User, str] | None:
    """Make the account the sign-up's link asks for, its alerts by email (the address takes email: the link
    came through it); return it and its API key (seen this once), or None if `token` is not that of a
    link waiting. The link works no more. EmailTaken if an account has the address meanwhile."""
    if not sign_up_valid(sign_up, token, now):
        return None
    sign_up.token_hash = None
    try:
        with session.begin_nested():
            user, key = create_user(session, sign_up.email)
    except IntegrityError:  # made at this moment by another way (`flask users create`)
        raise EmailTaken(f"another account has the address {sign_up.email}") from None
    turn_email_alerts_on(user)
    return user, key


def prune_sign_ups(session: Session, now: datetime) -> int:
    """Delete the asks whose day is over and whose link expired; return how many."""
    over = and_(
        SignUp.day_started_at <= now - DAY,
        or_(SignUp.asked_at.is_(None), SignUp.asked_at <= now - SIGN_UP_VALID),
    )
    return session.execute(delete(SignUp).where(over)).rowcount
