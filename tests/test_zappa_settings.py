"""zappa_settings.json: the stages DESIGN.md describes, and no secrets."""

from __future__ import annotations

import json
import re

from jobs.local.zappa_config import SETTINGS_PATH, load_all, resolve_stage

STAGES = {"app", "batch", "price_rank", "stream", "checks"}


def test_five_stages_extend_one_base():
    raw = load_all()
    assert set(raw) == STAGES | {"base"}
    for stage in STAGES:
        assert raw[stage]["extends"] == "base"
        settings = resolve_stage(stage, raw)
        assert settings["runtime"] == "python3.11" and settings["project_name"] == "nook"
        assert settings["environment_variables"]["NOOK_STAGE"] == stage


def test_stage_shapes():
    raw = load_all()
    app = resolve_stage("app", raw)
    assert app["app_function"] == "app.wsgi.app" and app["apigateway_enabled"] is True
    price_rank = resolve_stage("price_rank", raw)
    assert price_rank["slim_handler"] is True
    assert price_rank["memory_size"] == 3000 and price_rank["timeout_seconds"] == 900
    for stage in STAGES - {"app"}:
        assert resolve_stage(stage, raw)["apigateway_enabled"] is False


def test_no_secrets_in_settings():
    text = SETTINGS_PATH.read_text()
    settings = json.loads(text)
    forbidden = re.compile(r"(PASSWORD|SECRET|TOKEN|DATABASE_URL|API_KEY|AWS_ACCESS_KEY_ID)", re.I)
    for stage in settings.values():
        for key in stage.get("environment_variables") or {}:
            assert not forbidden.search(key), key
        assert "aws_environment_variables" not in stage
    assert not re.search(r"postgres(ql)?://", text)
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)


def test_every_stage_cuts_off_statements_before_its_lambda_ends():
    # a query or a transaction outliving the Lambda that asked for it goes on using the database (and
    # holding its locks) for nobody
    raw = load_all()
    for stage in STAGES:
        settings = resolve_stage(stage, raw)
        limit = float(settings["environment_variables"]["NOOK_DB_STATEMENT_TIMEOUT_S"])
        assert 0 < limit < settings["timeout_seconds"], stage
