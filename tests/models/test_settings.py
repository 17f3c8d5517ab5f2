"""Configuration comes from the environment and fails fast."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from models.settings import ConfigError, load_settings


def test_missing_required_key_names_the_key(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        load_settings()


def test_malformed_integer_is_rejected(monkeypatch):
    monkeypatch.setenv("NOOK_DB_POOL_SIZE", "lots")
    with pytest.raises(ConfigError, match="NOOK_DB_POOL_SIZE must be an integer"):
        load_settings()


def test_values_are_read_from_environment(monkeypatch):
    monkeypatch.setenv("NOOK_DB_POOL_SIZE", "7")
    monkeypatch.setenv("NOOK_LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.db_pool_size == 7
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize("raw", ["0", "-3", "nan", "inf", "three days"])
def test_an_alert_age_limit_that_is_no_length_of_time_is_refused(monkeypatch, raw):
    # 0 or less would expire every alert before it could be posted; nan compares false with any age
    monkeypatch.setenv("NOOK_ALERT_MAX_AGE_HOURS", raw)
    with pytest.raises(ConfigError, match="NOOK_ALERT_MAX_AGE_HOURS must be a number"):
        load_settings()
    monkeypatch.setenv("NOOK_ALERT_MAX_AGE_HOURS", "0.5")
    assert load_settings().alert_max_age_hours == 0.5


@pytest.mark.parametrize(("raw", "minutes"), [("3", 180), ("1.5", 90), ("0.26", 16), ("0.001", 1)])
def test_the_viewing_reminder_lead_is_whole_minutes_as_the_api_and_the_job_use_it(monkeypatch, raw, minutes):
    # one figure for both: the API showed round(hours * 60) while the job reminded hours exactly, and a
    # lead under half a minute read 0 ("never") in the API
    monkeypatch.setenv("NOOK_VIEWING_REMINDER_HOURS", raw)
    assert load_settings().viewing_reminder_minutes == minutes


@pytest.mark.parametrize("raw", ["0", "-1", "2.5", "many"])
def test_sign_up_letters_an_hour_are_a_whole_number_from_one(monkeypatch, raw):
    monkeypatch.setenv("NOOK_SIGN_UPS_AN_HOUR", raw)
    with pytest.raises(ConfigError, match="NOOK_SIGN_UPS_AN_HOUR must be"):
        load_settings()
    monkeypatch.setenv("NOOK_SIGN_UPS_AN_HOUR", "1")
    assert load_settings().sign_ups_an_hour == 1


@pytest.mark.parametrize(
    "raw", ["alerts", "nook <alerts>", "alerts@localhost", "a b@example.com", "@example.com"]
)
def test_a_mail_sender_that_is_no_address_is_refused(monkeypatch, raw):
    monkeypatch.setenv("NOOK_MAIL_FROM", raw)
    with pytest.raises(ConfigError, match="NOOK_MAIL_FROM must be an email address"):
        load_settings()


def test_a_mail_sender_is_optional_and_may_carry_a_name(monkeypatch):
    monkeypatch.delenv("NOOK_MAIL_FROM", raising=False)
    assert load_settings().mail_from is None
    monkeypatch.setenv("NOOK_MAIL_FROM", " nook <alerts@example.com> ")
    assert load_settings().mail_from == "nook <alerts@example.com>"


def test_env_example_documents_every_setting():
    """Every environment key the code reads is documented in .env.example."""
    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(
        r'(?:\b_[a-z_]+|os\.environ\.get|os\.getenv)\(\s*"([A-Z][A-Z0-9_]+)"'
        r'|os\.environ\["([A-Z][A-Z0-9_]+)"\]'
    )
    keys = set()
    for folder in ("app", "jobs", "models", "callbacks", "expectations"):
        for path in (root / folder).rglob("*.py"):
            keys |= {a or b for a, b in pattern.findall(path.read_text())}
    assert "DATABASE_URL" in keys, "the scan found nothing: the check itself is broken"
    example = (root / ".env.example").read_text()
    missing = sorted(k for k in keys if not re.search(rf"^#? ?{k}=", example, re.M))
    assert not missing, f"undocumented in .env.example: {missing}"


def test_a_secret_can_come_from_the_parameter_store(monkeypatch, moto_endpoint):
    import boto3

    boto3.client("ssm").put_parameter(
        Name="/nook/test/database-url", Value="postgresql://u:s3cret@db/nook", Type="SecureString"
    )
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("DATABASE_URL_SSM", "/nook/test/database-url")
    assert load_settings().database_url == "postgresql://u:s3cret@db/nook"
    monkeypatch.setenv("DATABASE_URL_SSM", "/nook/test/missing")
    with pytest.raises(ConfigError, match="cannot read SSM parameter /nook/test/missing"):
        load_settings()
