"""API keys: `Authorization: Bearer <key>`, stored as SHA-256, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from app.db import get_db
from app.errors import ApiError
from models.user import User, hash_api_key, key_holder

F = TypeVar("F", bound=Callable[..., Any])
SECURITY = [{"bearerAuth": []}]


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Send your API key as 'Authorization: Bearer <key>'.", www_authenticate=True)
    return token.strip()


def authenticate() -> User:
    """The user owning the request's API key, or a 401 problem."""
    token = _bearer_token()
    digest = hash_api_key(token)
    user = key_holder(get_db(), digest, datetime.now(UTC))
    # The lookup is by digest; comparing the digests again in constant time keeps the
    # check free of timing differences even if the index lookup were not.
    if user is None or not (
        hmac.compare_digest(user.api_key_hash, digest) or hmac.compare_digest(user.old_key_hash or "", digest)
    ):
        raise ApiError(401, "The API key is not valid.", www_authenticate=True)
    return user


def current_user() -> User:
    """The authenticated user of this request."""
    return g.user


def auth_required(view: F) -> F:
    """Authenticate before the view runs."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.user = authenticate()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
