"""API users. Keys are random and long, so a SHA-256 digest is a safe store."""

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    and_,
    case,
    false,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql import ColumnElement

from models.base import Base, created_at_column, seconds_until
from models.listing import Listing  # noqa: F401  (a table its foreign keys name: models/__init__.py)


def hash_api_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


MAX_REMINDER_MINUTES = 2880  # a viewing is reminded two days before it at the earliest


class User(Base):
    """A renter with an API key (stored hashed), and alerts by webhook or email."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("(place_lat IS NULL) = (place_lon IS NULL)", name="place"),
        CheckConstraint(
            "(quiet_from IS NULL) = (quiet_until IS NULL)"
            " AND (quiet_from IS NULL) = (quiet_time_zone IS NULL)"
            " AND quiet_from BETWEEN 0 AND 23 AND quiet_until BETWEEN 0 AND 23 AND quiet_from <> quiet_until",
            name="quiet_hours",
        ),
        CheckConstraint(
            f"viewing_reminder_minutes BETWEEN 0 AND {MAX_REMINDER_MINUTES}", name="viewing_reminder_minutes"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_prefix: Mapped[str] = mapped_column(String(12))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    # alerts and saved listings' news go to the email address instead of the webhook (models.mail)
    email_alerts: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # why email alerts were stopped (SES said the address bounced for good, or its reader marked an email
    # as spam: jobs.mail_feedback), and when; cleared when the user turns them on again or changes address
    email_trouble: Mapped[str | None] = mapped_column(Text)
    email_trouble_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # when the user last turned email alerts on or changed their address: what SES says of an email sent
    # before then is left alone (jobs.mail_feedback)
    email_alerts_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # names the user in their emails' unsubscribe link (random; made for the first email that carries one)
    mail_token: Mapped[str | None] = mapped_column(String(64))
    # a message (alerts, saved listings' news) at most every so many minutes (0: as they come), and when
    # the last one went
    alert_every_minutes: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    last_alerted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # hours no message goes to the user (a night's sleep), on their clock: from quiet_from o'clock until
    # quiet_until o'clock in quiet_time_zone (a name PostgreSQL knows); all three or none
    quiet_from: Mapped[int | None] = mapped_column(SmallInteger)
    quiet_until: Mapped[int | None] = mapped_column(SmallInteger)
    quiet_time_zone: Mapped[str | None] = mapped_column(String(64))
    # how long before a viewing they booked the user is reminded of it, in minutes (0: never; None: the
    # operator's NOOK_VIEWING_REMINDER_HOURS)
    viewing_reminder_minutes: Mapped[int | None] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = created_at_column()
    # the key replaced last, when its owner asked for it to keep working a while (give_key), and until when
    old_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    old_key_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # an address the user asked to move to, waiting for them to open the link mailed there
    # (ask_email_change); the link's token is stored as its hash, like an API key
    pending_email: Mapped[str | None] = mapped_column(String(320))
    pending_email_hash: Mapped[str | None] = mapped_column(String(64))
    pending_email_asked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # names the user's saved listings in the link that shows them to anyone who has it (models.saved.share);
    # None: not shared. Whether that page shows the user's notes too
    shortlist_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    shortlist_notes: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # the link of a calendar feed of their viewings (models.saved.publish_viewings); None: none
    calendar_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # a place that matters to the user (work, a school), in degrees: where the map page measures listings
    # from, in any browser they sign in on (both or neither: ck_users_place)
    place_lat: Mapped[float | None] = mapped_column(Float)
    place_lon: Mapped[float | None] = mapped_column(Float)
    # a link to a new API key mailed to the user's address (ask_key_link: they lost theirs), its token
    # stored as its hash, like a key; and when the last one was asked for
    key_link_hash: Mapped[str | None] = mapped_column(String(64))
    key_link_asked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # how many such links were mailed since the day's first (ask_key_link: KEY_LINKS_A_DAY at most)
    key_links: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    key_links_day_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# where a saver is with a flat, in the order renters go (None: just saved), as the page words each; a
# flat ruled out is kept on the list, its news untold (models.saved.news_condition)
SAVED_STAGES = {
    "contacted": "Contacted",
    "viewing": "Viewing booked",
    "viewed": "Viewed",
    "applied": "Applied",
    "ruled_out": "Ruled out",
}


MAX_RATING = 5  # stars a saver gives a flat at most


class SavedListing(Base):
    """A listing on a user's shortlist, with its asking price when they saved it."""

    __tablename__ = "saved_listings"
    __table_args__ = (
        Index("ix_saved_listings_user_id_saved_at", "user_id", "saved_at"),
        # the saved listings of a flat, and those told their flat went (the notify run's search for news)
        Index("ix_saved_listings_listing_id", "listing_id"),
        Index("ix_saved_listings_told_gone", "listing_id", postgresql_where=text("told_gone")),
        CheckConstraint("stage IN (" + ", ".join(f"'{stage}'" for stage in SAVED_STAGES) + ")", name="stage"),
        CheckConstraint("(viewing_at IS NULL) = (viewing_time_zone IS NULL)", name="viewing"),
        CheckConstraint(f"rating BETWEEN 1 AND {MAX_RATING}", name="rating"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    listing_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("listings.id", ondelete="CASCADE"), primary_key=True
    )
    price: Mapped[int] = mapped_column(Integer)
    saved_at: Mapped[datetime] = created_at_column()
    # what the user last heard of the flat at their webhook (models.saved): the price (at first, the price
    # saved), whether it went; and how the delivery of news of it goes
    told_price: Mapped[int] = mapped_column(Integer)
    told_gone: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    news_attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    news_next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    news_error: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)  # the saver's own words of it (at most MAX_NOTE)
    # where the saver is with the flat (SAVED_STAGES; None: just saved), and since when
    stage: Mapped[str | None] = mapped_column(String(16))
    stage_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # a viewing booked: when, and the time zone it was booked on (its local time is on that clock); both or
    # none. `viewing_told_at`: the viewing a reminder went for (a viewing moved is reminded again)
    viewing_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    viewing_time_zone: Mapped[str | None] = mapped_column(String(64))
    viewing_told_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # how much the saver likes the flat, 1 to MAX_RATING stars (None: not rated): theirs to sort by
    rating: Mapped[int | None] = mapped_column(SmallInteger)


class HiddenListing(Base):
    """A flat a user is not interested in: left out of their searches, similar listings and alerts."""

    __tablename__ = "hidden_listings"
    __table_args__ = (Index("ix_hidden_listings_user_id_hidden_at", "user_id", "hidden_at"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    listing_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("listings.id", ondelete="CASCADE"), primary_key=True
    )
    hidden_at: Mapped[datetime] = created_at_column()


def alerts_to(user: User) -> str | None:
    """Where the user's alerts go now: email, their webhook, or nowhere (None)."""
    return "email" if user.email_alerts else "webhook" if user.webhook_url else None


MAX_ALERT_EVERY_MINUTES = 1440  # a message a day at least: alerts are news for 72 hours only


def paced_until(user: User) -> datetime | None:
    """When the user's pace lets their next message of alerts go (None: it holds none back)."""
    if user.alert_every_minutes and user.last_alerted_at is not None:
        return user.last_alerted_at + timedelta(minutes=user.alert_every_minutes)
    return None


def next_message_at(session: Session, user: User, now: datetime) -> datetime | None:
    """When the user's pace and quiet hours let the next message go, if they hold one back now."""
    at = paced_until(user)
    if user.quiet_from is not None:
        ends = session.scalar(select(case((quiet_now(now), quiet_ends(now)))).where(User.id == user.id))
        at = max(at, ends) if at is not None and ends is not None else at or ends
    return at if at is not None and at > now else None


def known_time_zone(session: Session, name: str) -> bool:
    """Whether PostgreSQL knows a time zone by this name (an IANA one: America/Toronto)."""
    return name in known_time_zones(session, {name})


def known_time_zones(session: Session, names: set[str]) -> set[str]:
    """Those of these names PostgreSQL knows as time zones."""
    if not names:
        return set()
    known = text("SELECT name FROM pg_timezone_names WHERE name = ANY(:names)")
    return set(session.scalars(known, {"names": list(names)}))


def _instant(at: datetime | ColumnElement[datetime]) -> ColumnElement[datetime]:
    return literal(at, DateTime(timezone=True)) if isinstance(at, datetime) else at


def _local(at: datetime | ColumnElement[datetime]) -> ColumnElement[datetime]:
    """The time `at` is on the user's clock (a timestamp without a zone), in SQL."""
    return func.timezone(User.quiet_time_zone, _instant(at))


def quiet_now(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """Whether it is within the user's quiet hours at `now` (a time, or one in SQL; never, for a user who
    has none), in SQL."""
    hour = func.extract("hour", _local(now))
    same_day = and_(User.quiet_from < User.quiet_until, hour >= User.quiet_from, hour < User.quiet_until)
    overnight = and_(
        User.quiet_from > User.quiet_until, or_(hour >= User.quiet_from, hour < User.quiet_until)
    )
    return and_(User.quiet_from.is_not(None), or_(same_day, overnight))


def quiet_ends(now: datetime) -> ColumnElement[datetime]:
    """When the user's quiet hours that hold at `now` end (the next quiet_until o'clock), in SQL."""
    local = _local(now)
    day = func.date_trunc("day", local) + func.make_interval(0, 0, 0, 0, User.quiet_until)
    later = case(
        (func.extract("hour", local) >= User.quiet_until, text("interval '1 day'")),
        else_=text("interval '0'"),
    )
    return func.timezone(User.quiet_time_zone, day + later)


def quiet_began(at: ColumnElement[datetime]) -> ColumnElement[datetime]:
    """When the user's quiet hours that hold at `at` began (the last quiet_from o'clock), in SQL."""
    local = _local(at)
    day = func.date_trunc("day", local) + func.make_interval(0, 0, 0, 0, User.quiet_from)
    earlier = case(
        (func.extract("hour", local) < User.quiet_from, text("interval '1 day'")),
        else_=text("interval '0'"),
    )
    return func.timezone(User.quiet_time_zone, day - earlier)


def unsubscribe_link(user: User, public_url: str) -> str:
    """The link in the user's emails that turns email alerts off without signing in (app.unsubscribe);
    gives the user their token if they have none yet."""
    if not user.mail_token:
        user.mail_token = secrets.token_urlsafe(24)
    return f"{public_url}/unsubscribe?u={user.id}&t={user.mail_token}"


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


def user_by_email(session: Session, email: str, for_update: bool = False) -> User | None:
    """The user with this address, however it is typed (its row locked until the transaction ends, if
    `for_update`)."""
    query = select(User).where(User.email == stored_email(email))
    return session.scalar(query.with_for_update() if for_update else query)


def turn_email_alerts_on(user: User) -> None:
    """Email the user their alerts: they say their address takes email (again), so whatever SES said of
    it is behind them, and what it says later of an email sent before now is left alone
    (jobs.mail_feedback)."""
    if not user.email_alerts:
        user.email_alerts, user.email_alerts_since = True, datetime.now(UTC)
    user.email_trouble = user.email_trouble_at = None


class EmailTaken(ValueError):
    """Another user has this address."""


def _not_taken(session: Session, user: User, address: str) -> None:
    """EmailTaken if another user has the address (as stored)."""
    if session.scalar(select(User.id).where(User.email == address, User.id != user.id)) is not None:
        raise EmailTaken(f"another account has the address {address}")


def change_email(session: Session, user: User, email: str) -> bool:
    """Give the user a new address (where their alerts go, if by email); return whether it changed.
    ValueError if it cannot be an address, EmailTaken if another user has it. The links in emails sent
    to the old address stop working (a new unsubscribe token comes with the next email)."""
    address = checked_email(email)
    if address == user.email:
        return False
    _not_taken(session, user, address)
    # the links in emails to the old address stop working, and its trouble was its own
    changed = {
        "email": address,
        "mail_token": None,
        "email_trouble": None,
        "email_trouble_at": None,
        "email_alerts_since": datetime.now(UTC),
        "pending_email": None,
        "pending_email_hash": None,
        "pending_email_asked_at": None,
        "key_link_hash": None,  # a new key's link went to the old address
    }
    before = {name: getattr(user, name) for name in changed}
    try:
        with session.begin_nested():  # another change to the same address, committed meanwhile
            for name, value in changed.items():
                setattr(user, name, value)
            session.flush()
    except IntegrityError:
        for name, value in before.items():
            setattr(user, name, value)
        raise EmailTaken(f"another account has the address {address}") from None
    return True


# a change of address waits this long for its link to be opened, and is asked at most this often (each ask
# mails the address given: nook must not be a way to mail strangers)
EMAIL_CHANGE_VALID = timedelta(hours=24)
EMAIL_CHANGE_EVERY = timedelta(minutes=1)


class AskedTooSoon(Exception):
    """The user asked for a change of address a moment ago: the seconds to wait."""

    def __init__(self, seconds: int):
        super().__init__(f"a link went out a moment ago; ask again in {seconds} s")
        self.seconds = seconds


def ask_email_change(session: Session, user: User, email: str, now: datetime) -> str | None:
    """Have the user's address change to `email` once they open a link mailed there; return the link's
    token (shown only in that email), or None if `email` is their address already (a change they asked
    for earlier is dropped). ValueError if it cannot be an address, EmailTaken if another user has it,
    AskedTooSoon within EMAIL_CHANGE_EVERY of the last ask. The address stays as it is meanwhile."""
    address = checked_email(email)
    if address == user.email:
        user.pending_email = user.pending_email_hash = user.pending_email_asked_at = None
        return None
    _not_taken(session, user, address)
    asked = user.pending_email_asked_at
    if asked is not None and now - asked < EMAIL_CHANGE_EVERY:
        raise AskedTooSoon(seconds_until(asked + EMAIL_CHANGE_EVERY, now))
    token = secrets.token_urlsafe(24)
    user.pending_email, user.pending_email_hash = address, hash_api_key(token)
    user.pending_email_asked_at = now
    return token


def email_change_link(user: User, token: str, base_url: str) -> str:
    """The link mailed to the address the user asked for (app.confirm_email)."""
    return f"{base_url}/confirm-email?u={user.id}&t={token}"


def pending_email_until(user: User) -> datetime | None:
    """Until when the link of the change the user asked for works, if one waits."""
    if user.pending_email is None or user.pending_email_asked_at is None:
        return None
    return user.pending_email_asked_at + EMAIL_CHANGE_VALID


def pending_email_for(user: User, token: str, now: datetime) -> str | None:
    """The address the link's token moves the user to, if it is the token of their waiting change and that
    has not expired."""
    until = pending_email_until(user)
    if until is None or now >= until or not user.pending_email_hash:
        return None
    if not hmac.compare_digest(user.pending_email_hash, hash_api_key(token)):
        return None
    return user.pending_email


def confirm_email_change(session: Session, user: User, token: str, now: datetime) -> str | None:
    """Move the user to the address their link was mailed to; return the address they leave, or None if
    `token` is not that of a change waiting for them. EmailTaken if another account took the address
    meanwhile."""
    address = pending_email_for(user, token, now)
    if address is None:
        return None
    left = user.email
    change_email(session, user, address)  # clears the change that waited
    return left


# A user who lost their key asks for a link to a new one, mailed to their address: it works this long,
# once, and is mailed at most this often and this many times a day (whoever types an address asks: nook
# must not flood an inbox)
KEY_LINK_VALID = timedelta(hours=1)
KEY_LINK_EVERY = timedelta(minutes=2)
KEY_LINKS_A_DAY = 5
KEY_LINKS_DAY = timedelta(days=1)


def ask_key_link(user: User, now: datetime) -> str | None:
    """A link to a new key for the user (replacing one that waited): its token, seen only in the email
    that carries it; None within KEY_LINK_EVERY of the last ask, or once KEY_LINKS_A_DAY went within a
    day of the day's first."""
    started = user.key_links_day_started_at
    if started is None or now - started >= KEY_LINKS_DAY:
        user.key_links_day_started_at, user.key_links = now, 0
    asked = user.key_link_asked_at
    if user.key_links >= KEY_LINKS_A_DAY or (asked is not None and now - asked < KEY_LINK_EVERY):
        return None
    token = secrets.token_urlsafe(24)
    user.key_link_hash, user.key_link_asked_at = hash_api_key(token), now
    user.key_links += 1
    return token


def key_link_valid(user: User, token: str, now: datetime) -> bool:
    """Whether `token` is that of the user's waiting link to a new key, not used and not expired."""
    asked = user.key_link_asked_at
    if not user.key_link_hash or asked is None or now >= asked + KEY_LINK_VALID:
        return False
    return hmac.compare_digest(user.key_link_hash, hash_api_key(token))


def redeem_key_link(user: User, token: str, now: datetime) -> str | None:
    """A new API key for the user, if `token` is their waiting link's (which then works no more); the key
    they had, and one kept from an earlier replacement, stop working."""
    return give_key(user) if key_link_valid(user, token, now) else None


def key_link(user: User, token: str, base_url: str) -> str:
    """The link mailed to a user who lost their key (app.new_key)."""
    return f"{base_url}/new-key?u={user.id}&t={token}"


def create_user(session: Session, email: str, api_key: str | None = None) -> tuple[User, str]:
    """Add a user with a new API key; return the user and the plain key."""
    user = User(email=checked_email(email))
    key = give_key(user, api_key)
    session.add(user)
    session.flush()
    return user, key


MAX_KEY_OVERLAP = timedelta(days=1)


def give_key(user: User, api_key: str | None = None, keep_old: timedelta = timedelta(0)) -> str:
    """Give the user a new API key; return it, the one time it is seen. The one they had stops working
    with this transaction's commit, or `keep_old` (at most MAX_KEY_OVERLAP) after it; a key kept from an
    earlier replacement, and a link to a new key waiting (ask_key_link), stop now."""
    if not timedelta(0) <= keep_old <= MAX_KEY_OVERLAP:
        raise ValueError(f"an old key is kept from 0 to {MAX_KEY_OVERLAP}, not {keep_old}")
    key = api_key or new_api_key()
    kept = keep_old > timedelta(0) and user.api_key_hash is not None
    user.old_key_hash = user.api_key_hash if kept else None
    user.old_key_expires_at = datetime.now(UTC) + keep_old if kept else None
    user.api_key_hash, user.api_key_prefix = hash_api_key(key), key[:12]
    user.key_link_hash = None  # a link to a new key asked for before works no more
    return key


def key_holder(session: Session, digest: str, now: datetime) -> User | None:
    """The user whose key, or old key still kept, has this digest."""
    return session.scalar(
        select(User).where(
            or_(User.api_key_hash == digest, and_(User.old_key_hash == digest, User.old_key_expires_at > now))
        )
    )


def user_place(user: User) -> dict[str, float] | None:
    """The user's place as the API gives it, or None."""
    if user.place_lat is None or user.place_lon is None:
        return None
    return {"latitude": user.place_lat, "longitude": user.place_lon}
