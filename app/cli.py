"""Web-stage commands: `flask db upgrade|downgrade`, `flask users
create|list|rotate-key|set-email|export|import|delete`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import IO

import click
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.account import delete_account
from models.export import write_export
from models.normalize import NUL, text_fault
from models.region import Notification, Region
from models.session import session_scope
from models.settings import get_settings
from models.user import (
    EmailTaken,
    HiddenListing,
    SavedListing,
    User,
    alerts_to,
    change_email,
    checked_email,
    create_user,
    give_key,
    user_by_email,
)


class StoredText(click.ParamType):
    """An argument nook stores or looks up: one that is not UTF-8 (the terminal's bytes and the locale
    disagree) arrives holding lone surrogates, which ended in a UnicodeEncodeError traceback from the
    database driver; it is a usage error saying so instead."""

    name = "text"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> object:
        if isinstance(value, str) and (fault := text_fault(value)):
            hint = "" if NUL in value else " (are the terminal's encoding and the locale the same?)"
            self.fail(f"{value!r} {fault}{hint}", param, ctx)
        return value


TEXT = StoredText()


@click.group("db")
def db_group() -> None:
    """Database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: head)."""
    _migrate("upgrade", revision)


@db_group.command("downgrade")
@click.argument("revision", default="base")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION (default: base)."""
    _migrate("downgrade", revision)


def _migrate(direction: str, revision: str) -> None:
    from models import migrate  # alembic is only needed by these commands

    try:
        getattr(migrate, direction)(revision=revision)
    except migrate.MigrationBlocked as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"database at {revision}")


@click.group("users")
def users_group() -> None:
    """API users."""


@users_group.command("create")
@click.argument("email", type=TEXT)
def users_create(email: str) -> None:
    """Create a user and print its API key (shown only this once)."""
    try:
        address = checked_email(email)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from None
    with session_scope() as session:
        if user_by_email(session, address):
            raise click.ClickException(f"a user with email {email} already exists")
        user, key = create_user(session, address)
        user_id = user.id
    click.echo(f"user {user_id} <{email}>")
    click.echo(f"API key (store it now, it is not shown again): {key}")


def _user(session: Session, email: str) -> User:
    """The user with this address, or a usage error naming it."""
    user = user_by_email(session, email)
    if user is None:
        raise click.ClickException(f"no user with email {email}")
    return user


def _where_alerts_go(user: User) -> str:
    where = {"email": "by email", "webhook": "to webhook", None: "nowhere"}[alerts_to(user)]
    if user.alert_every_minutes:
        where += f" (at most every {user.alert_every_minutes} min)"
    if user.quiet_from is not None:
        where += f" (quiet {user.quiet_from:02}:00-{user.quiet_until:02}:00 {user.quiet_time_zone})"
    if user.viewing_reminder_minutes is not None:
        lead = user.viewing_reminder_minutes
        where += f" (viewings reminded {lead} min before)" if lead else " (no viewing reminders)"
    if user.email_trouble:
        where += f" (email stopped {user.email_trouble_at:%Y-%m-%d}: {user.email_trouble})"
    return where


@users_group.command("list")
def users_list() -> None:
    """Every user: key prefix, where alerts go, regions, alerts waiting, saved and hidden listings."""
    regions = select(func.count()).where(Region.user_id == User.id).scalar_subquery()
    saved = select(func.count()).where(SavedListing.user_id == User.id).scalar_subquery()
    hidden = select(func.count()).where(HiddenListing.user_id == User.id).scalar_subquery()
    queued = (
        select(func.count())
        .where(Notification.user_id == User.id, Notification.status == "queued")
        .scalar_subquery()
    )
    with session_scope() as session:
        rows = session.execute(select(User, regions, queued, saved, hidden).order_by(User.id)).all()
        for user, region_count, queued_count, saved_count, hidden_count in rows:
            click.echo(
                f"{user.id:>5}  {user.email}  key {user.api_key_prefix}…  "
                f"alerts {_where_alerts_go(user)}  regions {region_count}  alerts queued {queued_count}  "
                f"saved {saved_count}  hidden {hidden_count}  since {user.created_at:%Y-%m-%d}"
            )
    if not rows:
        click.echo("no users yet: flask users create EMAIL")


@users_group.command("rotate-key")
@click.argument("email", type=TEXT)
@click.option(
    "--keep-old",
    type=click.IntRange(0, 1440),
    default=0,
    show_default=True,
    help="Minutes the old key keeps working (to swap it without a gap).",
)
def users_rotate_key(email: str, keep_old: int) -> None:
    """Give a user a new API key and print it (shown only this once); the old key stops working, at
    once or after --keep-old minutes."""
    with session_scope() as session:
        user = _user(session, email)
        key = give_key(user, keep_old=timedelta(minutes=keep_old))
        user_id, address, until = user.id, user.email, user.old_key_expires_at
    ends = f"works until {until:%Y-%m-%d %H:%M} UTC" if until else "no longer works"
    click.echo(f"user {user_id} <{address}>: the old key {ends}")
    click.echo(f"API key (store it now, it is not shown again): {key}")


@users_group.command("set-email")
@click.argument("email", type=TEXT)
@click.argument("new_email", type=TEXT)
def users_set_email(email: str, new_email: str) -> None:
    """Give a user a new address (as `PATCH /v1/me` with `email` does for themselves)."""
    with session_scope() as session:
        user = _user(session, email)
        try:
            changed = change_email(session, user, new_email)
        except EmailTaken as exc:
            raise click.ClickException(str(exc)) from None
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="NEW_EMAIL") from None
        line = f"user {user.id} <{user.email}>" + ("" if changed else ": the address it had already")
    click.echo(line)


@users_group.command("export")
@click.argument("email", type=TEXT)
@click.option(
    "-o",
    "--output",
    type=click.File("wb"),
    default="-",
    help="Write it here (default: stdout).",
)
def users_export(email: str, output: IO[bytes]) -> None:
    """Write everything nook holds about a user as JSON (what `POST /v1/me/export` gives them): to
    answer their request for it, or before deleting them."""
    with session_scope() as session:
        user = _user(session, email)
        written = write_export(session, user, output, datetime.now(UTC), get_settings().public_url)
    counts = ", ".join(f"{count} {name}" for name, count in written.counts.items())
    click.echo(f"exported {email}: {counts} ({written.size:,} bytes)", err=True)


@users_group.command("import")
@click.argument("email", type=TEXT)
@click.argument("document", type=click.File("rb"))
def users_import(email: str, document: IO[bytes]) -> None:
    """Bring an export (a user's, from this nook or another: `users export`, `POST /v1/me/export`) into a
    user's account, as `POST /v1/me/import` does for themselves: regions, saved and hidden listings, the
    place if they have none. It adds and never changes; what it does not import, it says, and why."""
    from marshmallow import ValidationError

    from app.imports import import_document, summary
    from app.schemas import ImportDocument

    try:
        checked = ImportDocument().load(json.loads(document.read()))
    except (ValueError, ValidationError) as exc:  # not JSON, not UTF-8, or no export
        messages = getattr(exc, "messages", None) or str(exc)
        raise click.ClickException(f"{document.name} is not an export nook reads: {messages}") from None
    with session_scope() as session:
        report = import_document(session, _user(session, email), checked)
    click.echo(f"imported {document.name} into {email}")
    for line in summary(report):
        click.echo(line)


@users_group.command("delete")
@click.argument("email", type=TEXT)
@click.option("--yes", is_flag=True, help="Do not ask first.")
def users_delete(email: str, yes: bool) -> None:
    """Delete a user with their regions, alerts, saved and hidden listings (their key stops working)."""
    with session_scope() as session:
        user = _user(session, email)
        regions = session.scalar(select(func.count()).where(Region.user_id == user.id))
        if not yes:
            click.confirm(f"delete user {user.id} <{user.email}> and their {regions} region(s)?", abort=True)
        user_id, address = user.id, user.email
        delete_account(session, user)
    click.echo(f"deleted user {user_id} <{address}> and {regions} region(s)")


def register(app: Flask) -> None:
    """Attach the web stage's commands to the app."""
    app.cli.add_command(db_group)
    app.cli.add_command(users_group)
