"""The settings callback only acts against an emulator."""

from __future__ import annotations

from types import SimpleNamespace

from callbacks import settings


def fake_cli():
    def touch(url):
        raise AssertionError("touched")

    return SimpleNamespace(touch_endpoint=touch, zappa=SimpleNamespace(delete_lambda_function_url=touch))


def test_changes_nothing_against_real_aws(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    cli = fake_cli()
    before = (cli.touch_endpoint, cli.zappa.delete_lambda_function_url)
    settings.main(cli)
    assert (cli.touch_endpoint, cli.zappa.delete_lambda_function_url) == before


def test_skips_what_moto_lacks(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    cli = fake_cli()
    settings.main(cli)
    assert cli.touch_endpoint("https://x") is None and cli.zappa.delete_lambda_function_url("arn") is None
