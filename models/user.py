"""API users. Keys are random and long, so a SHA-256 digest is a safe store."""

import hashlib
import re
import secrets
from datetime import datetime

from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, created_at_column


def hash_api_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


class User(Base):
    """A renter with an API key (stored hashed) and an optional webhook."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_prefix: Mapped[str] = mapped_column(String(12))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


def new_api_key() -> str:
    """A fresh random API key (shown once, stored only as its hash)."""
    return "nook_" + secrets.token_urlsafe(32)


# one @ between a local part and a domain, neither holding spaces or control characters
EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+")


def stored_email(email: str) -> str:
    """The address as stored and looked up: trimmed, lower case."""
    return email.strip().lower()


def checked_email(email: str) -> str:
    """The address as stored; ValueError if it cannot be an email address."""
    address = stored_email(email)
    if len(address) > 254 or not EMAIL.fullmatch(address):
        raise ValueError(f"{email!r} is not an email address")
    return address


def user_by_email(session: Session, email: str) -> User | None:
    """The user with this address, however it is typed."""
    return session.scalar(select(User).where(User.email == stored_email(email)))


def create_user(session: Session, email: str, api_key: str | None = None) -> tuple[User, str]:
    """Add a user with a new API key; return the user and the plain key."""
    user = User(email=checked_email(email))
    key = give_key(user, api_key)
    session.add(user)
    session.flush()
    return user, key


def give_key(user: User, api_key: str | None = None) -> str:
    """Give the user a new API key (the one they had stops working with this transaction's commit);
    return it, the one time it is seen."""
    key = api_key or new_api_key()
    user.api_key_hash, user.api_key_prefix = hash_api_key(key), key[:12]
    return key
