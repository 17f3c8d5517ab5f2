"""Settings shared by every stage, read from the environment only.

Nothing here is read at import time: `get_settings()` reads the environment on
first use and caches the result per container. A missing required value raises
`ConfigError` naming the key, so a stage fails at start-up, not mid-job.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


def _from_parameter_store(name: str) -> str:
    """A SecureString from AWS SSM Parameter Store (decrypted); read on first use only."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return boto3.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except (BotoCoreError, ClientError) as exc:
        raise ConfigError(f"cannot read SSM parameter {name}: {exc}") from None


def _required(key: str) -> str:
    """A required value: the variable itself, or the SSM parameter named by KEY_SSM (for secrets)."""
    value = os.environ.get(key, "").strip()
    if not value and os.environ.get(f"{key}_SSM", "").strip():
        value = _from_parameter_store(os.environ[f"{key}_SSM"].strip()).strip()
    if not value:
        raise ConfigError(f"{key} is not set (nor {key}_SSM); see .env.example")
    return value


def _int(key: str, default: int) -> int:
    raw = os.environ.get(key, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{key} must be an integer, got {raw!r}") from None


def _at_least_one(key: str, default: int) -> int:
    value = _int(key, default)
    if value < 1:
        raise ConfigError(f"{key} must be a whole number from 1, got {os.environ[key].strip()!r}")
    return value


def _float(key: str, default: float) -> float:
    raw = os.environ.get(key, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a number, got {raw!r}") from None


def _positive(key: str, default: float) -> float:
    value = _float(key, default)
    if not (0 < value < math.inf):
        raise ConfigError(f"{key} must be a number above 0, got {os.environ[key].strip()!r}")
    return value


def _percent(key: str, default: float) -> float:
    value = _float(key, default)
    if not (0 <= value < 100):
        raise ConfigError(f"{key} must be a percentage from 0 to under 100, got {os.environ[key].strip()!r}")
    return value


def _bool(key: str, default: bool) -> bool:
    raw = os.environ.get(key, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{key} must be true or false, got {raw!r}")


def _sender(key: str) -> str | None:
    """An email sender ("alerts@example.com" or "nook <alerts@example.com>"), or None if unset."""
    from email.utils import parseaddr

    raw = os.environ.get(key, "").strip()
    if not raw:
        return None
    _, address = parseaddr(raw)
    local, _, domain = address.rpartition("@")
    if not local or "." not in domain or any(c.isspace() for c in address) or "\n" in raw or "\r" in raw:
        raise ConfigError(f"{key} must be an email address such as nook <alerts@example.com>, got {raw!r}")
    return raw


def _base_url(key: str) -> str | None:
    """An http(s) address to build links on (no query, no fragment), without its trailing slash."""
    from urllib.parse import urlsplit

    raw = os.environ.get(key, "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{key} must be an http(s) address such as https://nook.example.com, got {raw!r}")
    return raw.rstrip("/")


@dataclass(frozen=True)
class Settings:
    """Typed view of the environment; see .env.example for each key."""

    database_url: str
    bucket: str
    stage: str
    log_level: str
    db_pool_size: int
    db_statement_timeout_s: float  # 0: none
    allow_private_webhooks: bool
    allow_private_pages: bool
    neighbour_decay_m: float
    listing_events_stream: str
    listing_scores_stream: str
    stream_dry_run: bool
    ops_webhook_url: str | None
    alert_max_age_hours: float  # an alert not posted within this long of being queued is not posted
    price_cut_alert_percent: float  # a cut of this much re-alerts the regions told of the flat; 0: never
    viewing_reminder_hours: float  # a saver is reminded of a viewing booked this long before it
    mail_from: str | None  # the sender of alerts by email (an SES-verified address); None: no email
    public_url: str | None  # where users reach the app (links in messages), without a trailing slash
    mail_feedback_queue: str | None  # the SQS queue (name or URL) of SES's bounces and complaints
    open_sign_up: bool  # anyone may make an account with a link mailed to their address (app.sign_up)
    sign_ups_an_hour: int  # sign-up letters mailed within an hour at most, to every address together
    link_asks_an_hour: int  # asks for a mailed link (sign-up, new key) from one client within its hour

    @property
    def signing_up(self) -> bool:
        """Whether this nook makes accounts itself: its operator lets anyone, and it sends email."""
        return self.open_sign_up and bool(self.mail_from)

    @property
    def viewing_reminder_minutes(self) -> int:
        """This nook's reminder lead in whole minutes (at least one), as the API shows it and the viewings
        job uses it for a saver who has not chosen their own."""
        return max(1, round(self.viewing_reminder_hours * 60))


def load_settings() -> Settings:
    """Read every setting from the environment (no caching)."""
    return Settings(
        database_url=_required("DATABASE_URL"),
        bucket=_required("NOOK_BUCKET"),
        stage=os.environ.get("NOOK_STAGE", "local"),
        log_level=os.environ.get("NOOK_LOG_LEVEL", "INFO").upper(),
        db_pool_size=_int("NOOK_DB_POOL_SIZE", 2),
        db_statement_timeout_s=_float("NOOK_DB_STATEMENT_TIMEOUT_S", 0.0),
        allow_private_webhooks=_bool("NOOK_ALLOW_PRIVATE_WEBHOOKS", False),
        allow_private_pages=_bool("NOOK_ALLOW_PRIVATE_PAGES", False),
        neighbour_decay_m=_float("NOOK_NEIGHBOUR_DECAY_M", 1000.0),
        listing_events_stream=os.environ.get("NOOK_LISTING_EVENTS_STREAM", "listing_events"),
        listing_scores_stream=os.environ.get("NOOK_LISTING_SCORES_STREAM", "listing_scores"),
        stream_dry_run=_bool("NOOK_STREAM_DRY_RUN", False),
        ops_webhook_url=os.environ.get("NOOK_OPS_WEBHOOK_URL") or None,
        alert_max_age_hours=_positive("NOOK_ALERT_MAX_AGE_HOURS", 72.0),
        price_cut_alert_percent=_percent("NOOK_PRICE_CUT_ALERT_PERCENT", 3.0),
        viewing_reminder_hours=_positive("NOOK_VIEWING_REMINDER_HOURS", 3.0),
        mail_from=_sender("NOOK_MAIL_FROM"),
        public_url=_base_url("NOOK_PUBLIC_URL"),
        mail_feedback_queue=os.environ.get("NOOK_MAIL_FEEDBACK_QUEUE", "").strip() or None,
        open_sign_up=_bool("NOOK_OPEN_SIGN_UP", False),
        sign_ups_an_hour=_at_least_one("NOOK_SIGN_UPS_AN_HOUR", 100),
        link_asks_an_hour=_at_least_one("NOOK_LINK_ASKS_AN_HOUR", 10),
    )


@functools.cache
def get_settings() -> Settings:
    """The settings of this container, read once on first use."""
    return load_settings()
