"""An account's end: everything nook holds about a user goes with it."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from models.export import forget_exports
from models.sign_up import SignUp
from models.user import User


def delete_account(session: Session, user: User) -> None:
    """Delete the user: their regions (and with them their alerts), saved and hidden listings go with them
    (the database's cascades), and their exports, and the asks to sign up with their address that nook
    keeps a day."""
    forget_exports(user.id)
    session.execute(delete(SignUp).where(SignUp.email == user.email))
    session.delete(user)
