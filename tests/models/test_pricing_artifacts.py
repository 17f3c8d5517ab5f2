"""Loading model artifacts: from S3 once per container, never from a partial copy."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from models import pricing
from tests.conftest import run_python

FEATURES = pricing.ListingFeatures(1, 1.0, 650.0, None, "apartment", 43.66, -79.38)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(pricing, "CACHE_DIR", tmp_path / "cache")
    yield tmp_path / "cache"
    pricing._loaded.clear()


def test_loads_from_s3_once_per_container(moto_endpoint, artifact_dir, cache):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="models")
    for path in artifact_dir.iterdir():
        s3.upload_file(str(path), "models", f"price_rank/r1/model/{path.name}")
    model = pricing.load_model("s3://models/price_rank/r1/model/", "r1")
    assert model.version == "api-test-v1" and (cache / "r1" / "model.json").exists()
    assert pricing.load_model("s3://models/price_rank/r1/model/", "r1") is model


def test_an_empty_or_missing_artifact_is_model_unavailable_and_nothing_is_cached(moto_endpoint, cache):
    boto3.client("s3").create_bucket(Bucket="models")
    with pytest.raises(pricing.ModelUnavailable, match="holds no model.json"):
        pricing.load_model("s3://models/price_rank/nothing/model/", "nothing")
    assert not list(cache.glob("nothing*"))  # neither a copy nor a partial one
    with pytest.raises(pricing.ModelUnavailable, match="cannot download"):
        pricing.load_model("s3://no-such-bucket/x/", "x")
    with pytest.raises(pricing.ModelUnavailable, match="cannot load the model artifact"):
        pricing.load_model("/definitely/not/here", "local")


def _upload(artifact_dir, *runs):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="models")
    for run in runs:
        for path in artifact_dir.iterdir():
            s3.upload_file(str(path), "models", f"price_rank/{run}/model/{path.name}")


def test_a_warm_container_keeps_the_newest_two_models_and_only_their_files(
    moto_endpoint, artifact_dir, cache
):
    # a model every retraining (every two hours), each downloaded to /tmp (512 MB; ~38 MB a 100k-listing
    # artifact) and kept loaded for good: a container living a day filled its disk, and then every load
    # failed until Lambda recycled it
    _upload(artifact_dir, "r1", "r2", "r3", "r4")
    first = pricing.load_model("s3://models/price_rank/r1/model/", "r1")
    for run in ("r2", "r3"):
        pricing.load_model(f"s3://models/price_rank/{run}/model/", run)
    assert list(pricing._loaded) == ["r2", "r3"]
    assert sorted(p.name for p in cache.iterdir()) == ["r2", "r3"]
    assert first.estimate(FEATURES).p50 > 0  # a model let go still scores for whoever holds it
    pricing.load_model("s3://models/price_rank/r2/model/", "r2")  # the newest again
    pricing.load_model("s3://models/price_rank/r4/model/", "r4")
    assert list(pricing._loaded) == ["r2", "r4"]
    assert sorted(p.name for p in cache.iterdir()) == ["r2", "r4"]
    assert pricing.load_model("s3://models/price_rank/r1/model/", "r1") is not first  # fetched again


def test_a_disk_too_small_for_the_artifact_is_model_unavailable_and_leaves_nothing(
    moto_endpoint, artifact_dir, cache
):
    # the OSError of a full disk came out of load_model as it was: the stream stage failed every batch
    # (Lambda retried and bisected them) instead of publishing without ranks, and the partial copy stayed
    _upload(artifact_dir, "r1")
    done = run_python(
        "import resource, signal\n"
        "from pathlib import Path\n"
        "from models import pricing\n"
        f"pricing.CACHE_DIR = Path({str(cache)!r})\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))  # room for 2 KB a file\n"
        "try:\n"
        "    pricing.load_model('s3://models/price_rank/r1/model/', 'r1')\n"
        "except pricing.ModelUnavailable as exc:\n"
        "    print('unavailable:', exc)\n"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("unavailable: cannot download s3://models/price_rank/r1/model/: ")
    assert "File too large" in done.stdout
    assert list(cache.iterdir()) == []


def test_processes_sharing_the_cache_load_the_same_new_model_at_once(moto_endpoint, artifact_dir, tmp_path):
    # locally the API, the stream poller and the jobs share /tmp/nook-models: each process downloaded a
    # new model into the same partial directory, emptying it under the others (their load failed: a
    # stream batch without ranks, an estimate answered 503), and replaced a complete copy another was
    # reading
    _upload(artifact_dir, "r1", "r2")
    go = tmp_path / "go"
    code = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from models import pricing\n"
        f"pricing.CACHE_DIR = Path({str(tmp_path / 'cache')!r})\n"
        f"go = Path({str(go)!r})\n"
        "(go.parent / f'ready-{os.getpid()}').touch()\n"
        "while not go.exists():\n"
        "    time.sleep(0.001)\n"
        "for run in sys.argv[1:]:\n"
        "    model = pricing.load_model(f's3://models/price_rank/{run}/model/', run)\n"
        f"    print(run, model.estimate(pricing.{FEATURES!r}).p50 > 0, flush=True)\n"
    )
    root = Path(__file__).resolve().parents[2]
    for round_ in range(3):
        shutil.rmtree(tmp_path / "cache", ignore_errors=True)
        go.unlink(missing_ok=True)
        runs = ["r1", "r2"] if round_ else ["r1"]
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", code, *runs],
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        while len(list(tmp_path.glob("ready-*"))) < 4 * (round_ + 1):  # every worker imported, waiting
            time.sleep(0.01)
        go.touch()
        outcomes = [(*worker.communicate(timeout=60), worker.returncode) for worker in workers]
        for out, err, returncode in outcomes:
            assert returncode == 0, err[-2000:]
            assert out.split() == [word for run in runs for word in (run, "True")]
        assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == runs


def test_a_process_changes_the_shared_cache_only_while_no_other_does(
    moto_endpoint, artifact_dir, tmp_path, monkeypatch
):
    # a download settling could delete another process's whole copy under its loader (model.json not
    # found, one CI run in many): deleting, settling and reading a model in now hold the cache's lock
    _upload(artifact_dir, "r1")
    cache = tmp_path / "cache"
    monkeypatch.setattr(pricing, "CACHE_DIR", cache)
    code = (
        "from pathlib import Path\n"
        "from models import pricing\n"
        f"pricing.CACHE_DIR = Path({str(cache)!r})\n"
        "model = pricing.load_model('s3://models/price_rank/r1/model/', 'r1')\n"
        f"print('r1', model.estimate(pricing.{FEATURES!r}).p50 > 0, flush=True)\n"
    )
    root = Path(__file__).resolve().parents[2]
    with pricing._cache_held():  # as another process would, making room or settling a download
        worker = subprocess.Popen(
            [sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        with pytest.raises(subprocess.TimeoutExpired):
            worker.wait(timeout=5)  # imported, and waiting for the lock
        assert not cache.exists() or not any(cache.iterdir())  # nothing written meanwhile
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err[-2000:]
    assert out.split() == ["r1", "True"] and sorted(p.name for p in cache.iterdir()) == ["r1"]


def test_another_live_processs_download_is_left_alone_and_a_dead_ones_goes(
    moto_endpoint, artifact_dir, cache
):
    _upload(artifact_dir, "r2")
    cache.mkdir(parents=True)
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        under_way = cache / f"r1{pricing.PARTIAL}{sleeper.pid}"
        left_over = cache / f"r0{pricing.PARTIAL}{int(ended.stdout)}"
        for directory in (under_way, left_over, cache / "r0"):
            directory.mkdir()
            (directory / "index_all.ann").write_bytes(b"x" * 100)
        pricing.load_model("s3://models/price_rank/r2/model/", "r2")
        assert sorted(p.name for p in cache.iterdir()) == ["r1" + pricing.PARTIAL + str(sleeper.pid), "r2"]
    finally:
        sleeper.kill()
        sleeper.wait()
