"""The post callback creates, then updates, the Kinesis event source mapping — against moto."""

from __future__ import annotations

from types import SimpleNamespace

import boto3
import pytest

from callbacks import event_source
from jobs.local.zappa_config import load_all, resolve_stage


@pytest.fixture
def lambda_function(moto_endpoint):
    boto3.client("kinesis").create_stream(StreamName="listing_events", ShardCount=1)
    role = boto3.client("iam").create_role(RoleName="stream", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    boto3.client("lambda").create_function(
        FunctionName="nook-stream",
        Runtime="python3.11",
        Role=role,
        Handler="handler.lambda_handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18},
    )
    return "nook-stream"


def mappings():
    return boto3.client("lambda").list_event_source_mappings(FunctionName="nook-stream")[
        "EventSourceMappings"
    ]


def test_the_stage_declares_one_kinesis_source():
    ((function, source),) = event_source.kinesis_sources(resolve_stage("stream", load_all()))
    assert function == "jobs.stream.handle" and source["arn"].endswith(":stream/listing_events")


def test_create_then_update_idempotently(lambda_function):
    ((_, source),) = event_source.kinesis_sources(resolve_stage("stream", load_all()))
    assert event_source.ensure_mapping(boto3.client("lambda"), lambda_function, source) == "created"
    (mapping,) = mappings()
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True and mapping["MaximumRetryAttempts"] == 10
    assert mapping["BatchSize"] == 500 and mapping["MaximumBatchingWindowInSeconds"] == 1
    assert mapping["ParallelizationFactor"] == 1
    changed = source | {"batch_size": 250, "maximum_retry_attempts": 3, "parallelization_factor": 4}
    assert event_source.ensure_mapping(boto3.client("lambda"), lambda_function, changed) == "updated"
    (mapping,) = mappings()
    assert mapping["BatchSize"] == 250 and mapping["MaximumRetryAttempts"] == 3
    assert mapping["ParallelizationFactor"] == 4
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_zappa_post_callback(lambda_function, capsys):
    cli = SimpleNamespace(
        command="deploy",
        stage_config=resolve_stage("stream", load_all()),
        zappa=SimpleNamespace(lambda_client=boto3.client("lambda")),
        lambda_name=lambda_function,
    )
    event_source.main(cli)
    event_source.main(cli)  # a second deploy updates the same mapping
    assert len(mappings()) == 1
    assert "created" in capsys.readouterr().out
    cli.command = "status"
    event_source.main(cli)  # only deploy/update touch the mapping
    assert len(mappings()) == 1


@pytest.mark.parametrize("factor", [0, 11])
def test_a_parallelization_factor_lambda_refuses_is_refused_before_any_call(factor):
    ((_, source),) = event_source.kinesis_sources(resolve_stage("stream", load_all()))
    with pytest.raises(ValueError, match=f"parallelization_factor must be 1 to 10, not {factor}"):
        event_source.mapping_settings(source | {"parallelization_factor": factor})
