"""Asks that mail a link to whoever asks without a key (a new account, a new key), counted by client.

A client's asks are counted an hour from its first (`client_asks`, a row a client):
one client typing address after address may mail no more than the operator's number an hour, and so
cannot spend for everyone the hour's sign-up letters (models.sign_up.hour_full). A client is the address
the ask came from: an IPv4 address, or the /64 an IPv6 address is in (one home's, or one machine's, many
addresses). Kept for that alone: the rows of hours gone by go with the next ask, or the daily housekeeping.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from sqlalchemy import DateTime, Integer, String, case, delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, seconds_until

WINDOW = timedelta(hours=1)


class ClientAsks(Base):
    """A client's asks for a mailed link, since the first of its hour."""

    __tablename__ = "client_asks"

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    asks: Mapped[int] = mapped_column(Integer)


def client_of(address: str | None) -> str:
    """Who an ask from `address` is counted against: the IPv4 address (an IPv6 one that maps one too), or
    the /64 of an IPv6 address; "unknown" for what is neither."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def count_ask(session: Session, client: str, now: datetime, per_hour: int) -> int | None:
    """Count an ask of `client`'s: None if it is within the `per_hour` its hour allows; else the seconds
    until its hour is over (the ask is counted either way: refuse it in the same transaction, or not)."""
    prune_client_asks(session, now)
    over = ClientAsks.window_started_at <= now - WINDOW
    counted = (
        insert(ClientAsks)
        .values(client=client, window_started_at=now, asks=1)
        .on_conflict_do_update(
            index_elements=[ClientAsks.client],
            set_={
                "window_started_at": case((over, now), else_=ClientAsks.window_started_at),
                "asks": case((over, 1), else_=ClientAsks.asks + 1),
            },
        )
        .returning(ClientAsks.asks, ClientAsks.window_started_at)
    )
    asks, started = session.execute(counted).one()
    if asks <= per_hour:
        return None
    return seconds_until(started + WINDOW, now)


def prune_client_asks(session: Session, now: datetime) -> int:
    """Delete the counts of hours gone by; return how many."""
    return session.execute(delete(ClientAsks).where(ClientAsks.window_started_at <= now - WINDOW)).rowcount
