"""The app stage through Zappa's real handler, on API Gateway REST (v1) and HTTP API (v2) events."""

from __future__ import annotations

import json

import pytest

from tests import lambda_harness
from tests.conftest import load_event


@pytest.mark.parametrize("event_file", ["apigw_v1_health.json", "apigw_v2_health.json"])
def test_health_through_zappa_handler(event_file):
    outcome = lambda_harness.invoke("app", load_event(event_file))
    response = outcome["result"]
    assert response["statusCode"] == 200, outcome["stderr"][-2000:]
    body = json.loads(response["body"])
    assert body["status"] == "ok" and body["database"] == "ok"


def test_unknown_path_is_a_problem_through_zappa_handler():
    event = load_event("apigw_v2_health.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/nope"
    response = lambda_harness.invoke("app", event)["result"]
    assert response["statusCode"] == 404
    headers = {k.lower(): v for k, v in response["headers"].items()}
    assert headers["content-type"] == "application/problem+json"


def test_scheduled_event_through_zappa_handler(committed):
    outcome = lambda_harness.invoke("batch", load_event("scheduled_prune_history.json"))
    assert outcome["result"]["status"] == "succeeded", outcome["stderr"][-2000:]
    assert outcome["result"]["job"] == "prune_history"


def test_raw_command_through_zappa_handler():
    command = "import models; print('raw ok', models.Listing.__tablename__)"
    outcome = lambda_harness.invoke("batch", {"raw_command": command})
    assert "raw ok listings" in outcome["stdout"]


def test_command_event_through_zappa_handler(committed):
    outcome = lambda_harness.invoke("batch", {"command": "jobs.maintenance.run", "kwargs": {"keep_days": 30}})
    assert outcome["result"]["status"] == "succeeded"
