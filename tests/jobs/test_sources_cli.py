"""`flask sources add` refuses a config its kind cannot pull from, saying why."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jobs.cli import quarantine_group, sources_group
from models.session import session_scope
from models.source import Source


@pytest.mark.parametrize(
    ("kind", "config", "reason"),
    [
        ("json_feed", "[]", "json_feed config must be a JSON object, not list"),  # was added; every
        ("arcgis", '"a url"', "arcgis config must be a JSON object, not str"),  # ingest run then failed
        ("json_feed", "{}", "json_feed config needs url"),
        ("arcgis", '{"url": "https://example.com/0"}', "arcgis config needs updated_field"),
        ("csv", '{"delimiter": ";"}', "csv config needs path"),
    ],
)
def test_a_config_the_kind_cannot_use_is_refused(runner, committed, kind, config, reason):
    result = runner.invoke(sources_group, ["add", "broken", "--kind", kind, "--config", config])
    assert result.exit_code == 2 and reason in result.output
    with session_scope() as session:
        assert session.scalars(select(Source)).all() == []


def test_configs_the_kinds_can_use_are_added(runner, committed):
    for kind, config in [
        ("json_feed", '{"url": "https://example.com/feed"}'),
        ("csv", '{"path": "s3://bucket/listings.csv"}'),
        ("demo", "{}"),
        ("stream", "{}"),
    ]:
        result = runner.invoke(sources_group, ["add", f"a-{kind}", "--kind", kind, "--config", config])
        assert result.exit_code == 0 and f"source a-{kind} ({kind}) added" in result.output
    with session_scope() as session:
        assert len(session.scalars(select(Source)).all()) == 4


def test_a_since_further_back_than_dates_go_is_refused_not_a_traceback(runner, committed):
    result = runner.invoke(quarantine_group, ["list", "--since", "99999999d"])
    assert result.exit_code == 2 and "99999999d goes back further than dates do" in result.output


def test_a_name_that_is_not_utf8_is_a_usage_error_not_a_traceback(runner, committed):
    # bytes the locale cannot decode arrive as lone surrogates; the database driver raised on them
    added = runner.invoke(sources_group, ["add", "caf\udce9", "--kind", "stream"])
    listed = runner.invoke(quarantine_group, ["list", "--source", "caf\udce9"])
    for result in (added, listed):
        assert result.exit_code == 2 and "holds a lone surrogate (\\udce9)" in result.output, result.output
    with session_scope() as session:
        assert session.scalars(select(Source)).all() == []
