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
        # values of the wrong kind were added, then failed every pull with a Python error (TypeError:
        # "delimiter" must be a 1-character string), or were silently misread (a typo'd pagination read
        # one page; a template naming {id} failed every recheck)
        (
            "csv",
            '{"path": "a.csv", "delimiter": ";;"}',
            'csv config: delimiter must be one character, not ";;"',
        ),
        (
            "csv",
            '{"path": "a.csv", "page_size": "5OO"}',
            'page_size must be a whole number above 0, not "5OO"',
        ),
        (
            "csv",
            '{"path": "a.csv", "ref_columns": "id"}',
            'ref_columns must be a list of column names, not "id"',
        ),
        (
            "csv",
            '{"path": "a.csv", "fields": ["price"]}',
            "fields must be an object of nook field -> record path",
        ),
        (
            "csv",
            '{"path": "a.csv", "fields": {"prce": "rent"}}',
            'fields names "prce", which is no field of nook',
        ),
        (
            "csv",
            '{"path": "a.csv", "values": {"furnished": "Y"}}',
            'values must be an object such as {"furnished"',
        ),
        (
            "csv",
            '{"path": "a.csv", "values": {"furnished": {"Y": "yes"}}}',
            "furnished values must each mean true",
        ),
        ("csv", '{"path": "a.csv", "values": {"colour": {}}}', 'values maps "colour"; values are mapped for'),
        ("csv", '{"path": "a.csv", "units": {"sqft": "m2"}}', 'units must be {"sqft": "sqm"} (or "sqft")'),
        (
            "csv",
            '{"path": "a.csv", "link_base": "ftp://host/"}',
            'link_base must be an http(s) address, not "ftp',
        ),
        ("json_feed", '{"url": 5}', "json_feed config: url must be an http(s) address, not 5"),
        (
            "json_feed",
            '{"url": "https://h/f", "pagination": "cursur"}',
            "pagination must be one of offset, cursor",
        ),
        (
            "json_feed",
            '{"url": "https://h/f", "check_url_template": "https://h/{id}"}',
            "must be an address with {ref}",
        ),
        (
            "json_feed",
            '{"url": "https://h/f", "check_url_template": "https://h/{ref"}',
            "must be an address with {ref}",
        ),
        (
            "json_feed",
            '{"url": "https://h/f", "ordered_by_update": "yes"}',
            "ordered_by_update must be true or false",
        ),
        (
            "json_feed",
            '{"url": "https://h/f", "params": {"q": [1]}}',
            "params must be an object of query name",
        ),
        (
            "arcgis",
            '{"url": "https://h/0", "updated_field": "", "where": "1=1"}',
            "arcgis config needs updated_field",
        ),
        (
            "arcgis",
            '{"url": "https://h/0", "updated_field": "d", "page_size": 0}',
            "page_size must be a whole number",
        ),
        ("demo", '{"feed": "other"}', 'demo config: feed must be one of main, mirror, not "other"'),
        (
            "stream",
            '{"link_base": "https://acme.example/"}',
            "stream config: link_base is not read: a stream",
        ),
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
        (
            "json_feed",
            '{"url": "https://example.com/feed", "items_path": "", "pagination": "cursor", '
            '"page_size": "50", "check_url_template": "https://example.com/l/{ref}", '
            '"params": {"city": "toronto", "v": 2}, '
            '"ordered_by_update": true, "fields": {"source_ref": "id", "price": "rent.amount", "url": null}}',
        ),
        ("csv", '{"path": "s3://bucket/listings.csv"}'),
        (
            "csv",
            '{"path": "a.csv", "delimiter": ";", "ref_columns": ["street", "unit"], '
            '"units": {"sqft": "sqm"}, "values": {"furnished": {"Y": true, "?": null}, '
            '"unit_type": {"Apt": "apartment"}}, '
            '"link_base": "https://example.com/"}',
        ),
        ("demo", "{}"),
        ("stream", "{}"),
    ]:
        name = f"a-{kind}-{len(config)}"
        result = runner.invoke(sources_group, ["add", name, "--kind", kind, "--config", config])
        assert result.exit_code == 0 and f"source {name} ({kind}) added" in result.output, result.output
    with session_scope() as session:
        assert len(session.scalars(select(Source)).all()) == 6


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


def test_a_source_is_configured_disabled_and_enabled_by_name(runner, committed):
    """Mending a source's config, or pausing one, took SQL."""
    assert (
        runner.invoke(
            sources_group, ["add", "feed", "--kind", "csv", "--config", '{"path": "a.csv"}']
        ).exit_code
        == 0
    )
    with session_scope() as session:
        session.scalar(select(Source).where(Source.name == "feed")).cursor = {"version": {"size": 7}}
    refused = runner.invoke(
        sources_group, ["configure", "feed", "--config", '{"path": "a.csv", "delimiter": ";;"}']
    )
    assert refused.exit_code == 2 and "csv config: delimiter must be one character" in refused.output
    mended = runner.invoke(
        sources_group, ["configure", "feed", "--config", '{"path": "b.csv", "delimiter": ";"}']
    )
    assert mended.exit_code == 0 and "source feed configured" in mended.output
    assert runner.invoke(sources_group, ["disable", "feed"]).output == "source feed disabled\n"
    with session_scope() as session:
        feed = session.scalar(select(Source).where(Source.name == "feed"))
        assert (feed.config, feed.enabled, feed.cursor) == (
            {"path": "b.csv", "delimiter": ";"},
            False,
            {"version": {"size": 7}},
        )
    assert "disabled" in runner.invoke(sources_group, ["list"]).output
    assert runner.invoke(sources_group, ["enable", "feed"]).output == "source feed enabled\n"
    with session_scope() as session:
        assert session.scalar(select(Source.enabled).where(Source.name == "feed")) is True
    unknown = runner.invoke(sources_group, ["disable", "nope"])
    assert unknown.exit_code == 1 and "no source named nope" in unknown.output
