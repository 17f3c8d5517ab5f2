"""Deployability: slim packages within budget, extensions that load on Lambda's glibc, Zappa's real
handler run from the unpacked packages in an isolated interpreter, and a full deploy against moto.

Builds the deploy venv (runtime packages only) and packages every stage once per run: a few minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime

import boto3
import pytest
from sqlalchemy import select

from callbacks import lambda_wheels
from jobs.local.scheduler import scheduled_event, scheduled_jobs
from models.ops import JobRun
from models.session import session_scope
from models.user import create_user
from tests import deploy_support as ds
from tests.conftest import load_event
from tests.factories import activate_artifact

pytestmark = pytest.mark.deploy
HEAVY = {"pandas", "numpy", "scipy", "statsmodels", "great_expectations", "matplotlib", "sklearn"}
MB = 1_000_000


@pytest.fixture(scope="session")
def venv():
    return lambda_wheels.deploy_venv()


@pytest.fixture(scope="session")
def packages(venv, tmp_path_factory):
    return ds.package_all(venv, tmp_path_factory.mktemp("packages"))


@pytest.fixture(scope="session")
def runtime(venv, tmp_path_factory):
    return ds.runtime_dir(venv, tmp_path_factory.mktemp("var_runtime"))


def sizes(path):
    entries = ds.members(path)
    return path.stat().st_size, sum(size for _, size in entries)


def test_lean_packages_are_small_and_free_of_heavy_packages(packages):
    for stage in ds.LEAN:
        package = packages[stage]
        zipped, unzipped = sizes(package.zip_path)
        print(f"{stage}: {zipped / MB:.1f} MB zipped, {unzipped / MB:.1f} MB unzipped")
        assert zipped <= 20 * MB and unzipped <= 60 * MB, stage
        tops = ds.top_levels(package.zip_path)
        assert not tops & (HEAVY | {"boto3", "botocore"}), (stage, tops & (HEAVY | {"boto3", "botocore"}))
        assert {"app", "models", "handler.py", "zappa_settings.py", "flask", "sqlalchemy", "annoy"} <= tops


def test_every_stage_fits_lambda(packages):
    settings = {
        stage: json.loads((ds.ROOT / "zappa_settings.json").read_text())[stage] for stage in ds.STAGES
    }
    for stage, package in packages.items():
        zipped, unzipped = sizes(package.zip_path)
        print(f"{stage}: {zipped / MB:.1f} MB zipped, {unzipped / MB:.1f} MB unzipped")
        assert unzipped <= 250 * MB, stage
        if settings[stage].get("slim_handler"):
            assert package.archive_path is not None, stage
            _, project = sizes(package.archive_path)
            storage = settings[stage].get("ephemeral_storage", {}).get("Size", 512) * 1024 * 1024
            print(
                f"{stage}: project archive {project / MB:.1f} MB unzipped into /tmp ({storage / MB:.0f} MB)"
            )
            assert project <= storage * 0.6, stage  # room left in /tmp for the work itself


def test_every_compiled_extension_loads_on_the_lambda_runtime(packages, tmp_path):
    offenders, checked = [], 0
    for stage, package in packages.items():
        for archive in filter(None, (package.zip_path, package.archive_path)):
            root = ds.extract(archive, tmp_path / stage / archive.name)
            for shared in list(root.rglob("*.so")) + list(root.rglob("*.so.*")):
                if shared.is_symlink() or not shared.is_file():
                    continue
                checked += 1
                bad = ds.too_new(ds.required_versions(shared))
                if bad:
                    offenders.append(f"{stage}: {shared.relative_to(root)} needs {', '.join(bad)}")
    assert checked > 100, "found almost no shared objects: the check itself is broken"
    assert not offenders, "\n".join(offenders)


def test_the_glibc_check_can_fail(venv):
    """A library built for this host (glibc 2.36) must be flagged."""
    host_built = next(p for p in (ds.ROOT / ".venv/lib").rglob("annoylib*.so"))
    needs = ds.required_versions(host_built)
    assert ds.too_new(needs) or needs.get("GLIBCXX"), needs
    portable = next(p for p in venv.rglob("annoylib*.so"))
    assert ds.too_new(ds.required_versions(portable)) == []


@pytest.fixture
def isolated_env(committed, artifact_dir):
    """A user, an active model, and the environment the packaged handler runs with."""
    with session_scope() as session:
        _, key = create_user(session, "lambda@example.com")
        activate_artifact(session, artifact_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return key, env


def app_events(key):
    health_v1, health_v2 = load_event("apigw_v1_health.json"), load_event("apigw_v2_health.json")
    search = json.loads(json.dumps(health_v2))
    search["rawPath"] = search["requestContext"]["http"]["path"] = "/v1/listings"
    search["rawQueryString"] = "bbox=-79.6,43.5,-79.1,43.9&limit=5"
    search["headers"]["authorization"] = f"Bearer {key}"
    estimate = json.loads(json.dumps(search))
    estimate["rawPath"] = estimate["requestContext"]["http"]["path"] = "/v1/estimates"
    estimate["rawQueryString"] = ""
    estimate["requestContext"]["http"]["method"] = "POST"
    estimate["headers"]["content-type"] = "application/json"
    estimate["body"] = json.dumps({"bedrooms": 1, "latitude": 43.65, "longitude": -79.38, "price": 2100})
    return [health_v1, health_v2, search, estimate]


def common_events():
    return [
        {"raw_command": "print('raw ok')"},
        {"command": "jobs.maintenance.run", "kwargs": {"keep_days": 30}},
    ]


def test_app_package_handles_api_gateway_events_in_isolation(packages, runtime, isolated_env, tmp_path):
    key, env = isolated_env
    directory = ds.extract(packages["app"].zip_path, tmp_path / "app")
    outcome = ds.run_handler(directory, runtime, app_events(key) + common_events(), env)
    health_v1, health_v2, search, estimate, raw, command = outcome["calls"]
    for call in (health_v1, health_v2, search, estimate):
        assert call["ok"] and call["result"]["statusCode"] == 200, (call, outcome["stderr"][-2000:])
    assert json.loads(search["result"]["body"])["items"] == []
    assert json.loads(estimate["result"]["body"])["label"] in ("low", "typical", "high")
    assert raw["ok"] and "raw ok" in outcome["stdout"]
    assert not command["ok"] and "No module named" not in command["error"] or command["ok"]
    assert outcome["importable"] == dict.fromkeys(outcome["importable"], False)  # nothing heavy importable
    # every module it imported came with its bytecode: a cold start compiles nothing
    assert outcome["from_source"] == [] and len(outcome["loaded_from_package"]) > 300


def test_stream_package_handles_a_kinesis_event_in_isolation(
    packages, runtime, isolated_env, tmp_path, moto_endpoint
):
    _, env = isolated_env
    for name in ("listing_events", "listing_scores"):
        boto3.client("kinesis").create_stream(StreamName=name, ShardCount=1)
    boto3.client("s3").create_bucket(Bucket="nook-data")
    with session_scope() as session:
        from models.source import Source

        session.add(Source(name="partner", kind="stream", config={}))
    directory = ds.extract(packages["stream"].zip_path, tmp_path / "stream")
    outcome = ds.run_handler(
        directory, runtime, [load_event("kinesis_listing_event.json")] + common_events(), env
    )
    kinesis, raw, _ = outcome["calls"]
    assert kinesis["ok"] and kinesis["result"]["batchItemFailures"] == [], (
        kinesis,
        outcome["stderr"][-2000:],
    )
    assert kinesis["result"]["valid"] == 1 and kinesis["result"]["published"] == 1
    assert raw["ok"]
    assert outcome["importable"] == dict.fromkeys(outcome["importable"], False)
    assert outcome["from_source"] == [] and len(outcome["loaded_from_package"]) > 300


@pytest.mark.parametrize("stage", ["batch", "price_rank", "checks"])
def test_scheduled_stages_dispatch_every_cron_entry_in_isolation(
    stage, packages, runtime, isolated_env, tmp_path, moto_endpoint
):
    _, env = isolated_env
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="nook-data")
    package = packages[stage]
    directory = ds.extract(package.zip_path, tmp_path / stage)
    if package.archive_path is not None:  # the slim handler downloads the project from S3 at start
        import shutil

        shutil.rmtree("/tmp/nook", ignore_errors=True)  # a new container's /tmp is empty; Zappa unpacks there
        settings = (directory / "zappa_settings.py").read_text()
        archive_uri = next(
            line.split("=", 1)[1].strip().strip("'")
            for line in settings.splitlines()
            if line.startswith("ARCHIVE_PATH=")
        )
        bucket, key = archive_uri[len("s3://") :].split("/", 1)
        s3.create_bucket(Bucket=bucket)
        s3.upload_file(str(package.archive_path), bucket, key)
    jobs = scheduled_jobs([stage])
    events = [scheduled_event(job, datetime.now(UTC)) for job in jobs] + common_events()
    outcome = ds.run_handler(directory, runtime, events, env)
    calls = outcome["calls"]
    assert len(calls) == len(events)
    for job, call in zip(jobs, calls, strict=False):
        # reaching the job is what is tested here: it ran (and recorded itself), or failed in its own words
        assert call["ok"] or call["error"].startswith("JobFailed"), (
            job.function,
            call,
            outcome["stderr"][-3000:],
        )
    with session_scope() as session:
        recorded = set(session.scalars(select(JobRun.job)))
    assert len(recorded) >= len({j.function for j in jobs}) and "prune_history" in recorded
    assert calls[-2]["ok"] and "raw ok" in outcome["stdout"]
    assert outcome["from_source"] == [], outcome["from_source"][:20]  # the slim project's bytecode too


def test_deploy_update_status_tail_undeploy_against_moto(packages, venv, moto_endpoint, committed):
    s3, kinesis, iam = boto3.client("s3"), boto3.client("kinesis"), boto3.client("iam")
    s3.create_bucket(Bucket="nook-zappa-packages")
    kinesis.create_stream(StreamName="listing_events", ShardCount=1)
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                }
            ],
        }
    )
    for stage in ds.STAGES:  # with -z Zappa expects the roles to exist, as an operator provisions them
        iam.create_role(
            RoleName=f"nook-{stage.replace('_', '-')}-ZappaLambdaExecutionRole",
            AssumeRolePolicyDocument=trust,
        )
    env = ds.zappa_env(venv)

    def zappa(*args):
        done = subprocess.run(
            [str(venv / "bin/zappa"), *args],
            cwd=ds.ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"zappa {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout + done.stderr

    for stage, package in packages.items():
        if package.archive_path is not None:
            directory_settings = ds.members(package.zip_path)
            assert any(name == "zappa_settings.py" for name, _ in directory_settings)
            import zipfile

            settings = zipfile.ZipFile(package.zip_path).read("zappa_settings.py").decode()
            uri = next(
                line.split("=", 1)[1].strip().strip("'")
                for line in settings.splitlines()
                if line.startswith("ARCHIVE_PATH=")
            )
            bucket, key = uri[len("s3://") :].split("/", 1)
            s3.upload_file(str(package.archive_path), bucket, key)
        zappa("deploy", stage, "-z", str(package.zip_path))
    config = json.loads((ds.ROOT / "zappa_settings.json").read_text())
    lam, events = boto3.client("lambda"), boto3.client("events")
    for stage in ds.STAGES:
        settings = {**config["base"], **config[stage]}
        function = lam.get_function_configuration(FunctionName=f"nook-{stage.replace('_', '-')}")
        assert function["Runtime"] == "python3.11"
        assert (
            function["MemorySize"] == settings["memory_size"]
            and function["Timeout"] == settings["timeout_seconds"]
        )
        expected = sorted(e["expression"] for e in settings.get("events", []) if "expression" in e)
        rules = events.list_rules(NamePrefix=f"nook-{stage.replace('_', '-')}-")["Rules"]
        actual = sorted(
            r["ScheduleExpression"] for r in rules if not r["Name"].endswith("keep_warm_callback")
        )
        assert actual == expected, stage
    (mapping,) = lam.list_event_source_mappings(FunctionName="nook-stream")["EventSourceMappings"]
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    for stage in ds.STAGES:  # the post callback: the scheduled stages' invocations are not retried
        name = f"nook-{stage.replace('_', '-')}"
        configs = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
        declared = {**config["base"], **config[stage]}.get("async_invoke")
        assert [c["MaximumRetryAttempts"] for c in configs] == ([0] if declared else []), stage
    assert any(
        api["name"].startswith("nook-app") for api in boto3.client("apigateway").get_rest_apis()["items"]
    )
    for stage, package in packages.items():
        zappa("update", stage, "-z", str(package.zip_path))
    assert "Lambda Name" in zappa("status", "app")
    logs = boto3.client("logs")  # what Lambda writes when the function runs (moto runs nothing)
    logs.create_log_group(logGroupName="/aws/lambda/nook-batch")
    logs.create_log_stream(logGroupName="/aws/lambda/nook-batch", logStreamName="2026/11/23/[$LATEST]abc")
    line = json.dumps({"level": "ERROR", "logger": "nook.jobs", "message": "job failed", "job": "ingest"})
    logs.put_log_events(
        logGroupName="/aws/lambda/nook-batch",
        logStreamName="2026/11/23/[$LATEST]abc",
        # logged 5 s ago: Zappa's tail ends its window at the current whole second (int(time.time())), so
        # an event from the same second as the tail was left out (clean-clone CI on a fast host)
        logEvents=[{"timestamp": int(datetime.now(UTC).timestamp() * 1000) - 5000, "message": line}],
    )
    tailed = zappa("tail", "batch", "--since", "1m", "--disable-keep-open")
    assert '"message": "job failed"' in tailed
    for stage in ds.STAGES:
        zappa("undeploy", stage, "--yes")
    remaining = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert not remaining & {f"nook-{s.replace('_', '-')}" for s in ds.STAGES}
