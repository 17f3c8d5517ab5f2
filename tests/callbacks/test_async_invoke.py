"""The post callback sets how Lambda retries the scheduled stages' invocations — against moto."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import boto3
import pytest

from callbacks import async_invoke, post
from jobs.local.zappa_config import SETTINGS_PATH, load_all, resolve_stage

SCHEDULED = ("batch", "price_rank", "checks")


def function(name):
    role = boto3.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="handler.lambda_handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18},
    )
    return name


def zappa_cli(stage, command="deploy"):
    return SimpleNamespace(
        command=command,
        stage_config=resolve_stage(stage, load_all()),
        zappa=SimpleNamespace(lambda_client=boto3.client("lambda")),
        lambda_name=f"nook-{stage.replace('_', '-')}",
    )


def test_every_scheduled_stage_and_only_those_declare_no_retries():
    raw = load_all()
    for stage in ("app", "batch", "price_rank", "stream", "checks"):
        settings = async_invoke.invoke_settings(resolve_stage(stage, raw))
        scheduled = any("expression" in e for e in resolve_stage(stage, raw).get("events", []))
        assert (settings is not None) == scheduled == (stage in SCHEDULED), stage
        if settings is not None:
            assert settings["MaximumRetryAttempts"] == 0
    assert async_invoke.invoke_settings(resolve_stage("batch", raw))["MaximumEventAgeInSeconds"] == 600


@pytest.mark.parametrize("stage", SCHEDULED)
def test_deploy_then_update_sets_the_config_once(moto_endpoint, stage, capsys):
    name = function(f"nook-{stage.replace('_', '-')}")
    lam = boto3.client("lambda")
    post.main(zappa_cli(stage))
    post.main(zappa_cli(stage, "update"))  # put again: still one config, the same
    config = lam.get_function_event_invoke_config(FunctionName=name)
    assert config["MaximumRetryAttempts"] == 0
    expected = resolve_stage(stage, load_all())["async_invoke"]["maximum_event_age_in_seconds"]
    assert config["MaximumEventAgeInSeconds"] == expected
    assert len(lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]) == 1
    assert "asynchronous invocations of" in capsys.readouterr().out


def test_other_commands_and_stages_leave_lambda_defaults(moto_endpoint):
    lam = boto3.client("lambda")
    batch, app = function("nook-batch"), function("nook-app")
    post.main(zappa_cli("batch", "status"))
    post.main(zappa_cli("app"))
    for name in (batch, app):
        assert lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"] == []


def test_zappas_cli_loads_the_post_callback_as_an_operator_runs_it():
    # Zappa loads a callback's file as a module of its own, and the CLI's path does not hold the project:
    # a sibling imported as `callbacks.x` failed every deploy ("Failed to import post callback module")
    code = (
        "import json, sys\n"
        "from zappa.cli import ZappaCLI\n"
        "assert not any(p in ('', '.') for p in sys.path)\n"
        "cli = ZappaCLI()\n"
        "cli.zappa_settings = json.load(open('zappa_settings.json'))\n"
        "cli.api_stage, cli.command = 'batch', 'status'\n"
        "cli.callback('post')\n"
        "print('post callback ran')\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code],
        cwd=SETTINGS_PATH.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == "post callback ran\n"
