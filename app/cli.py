"""Web-stage commands: `flask db upgrade|downgrade`, `flask users create`."""

from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import select

from models.normalize import NUL, text_fault
from models.session import session_scope
from models.user import User, checked_email, create_user


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
        if session.scalar(select(User.id).where(User.email == address)):
            raise click.ClickException(f"a user with email {email} already exists")
        user, key = create_user(session, address)
        user_id = user.id
    click.echo(f"user {user_id} <{email}>")
    click.echo(f"API key (store it now, it is not shown again): {key}")


def register(app: Flask) -> None:
    """Attach the web stage's commands to the app."""
    app.cli.add_command(db_group)
    app.cli.add_command(users_group)
