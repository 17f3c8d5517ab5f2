"""Local services recover from a crashed run instead of failing."""

from __future__ import annotations

import os
import shutil
import signal
import time
import uuid
from collections import OrderedDict
from pathlib import Path

import boto3
import psycopg2
import pytest

from jobs.local import moto_server, services
from tests.conftest import free_port


@pytest.fixture
def scratch_paths():
    """A throwaway cluster directory the postgres user can reach (pytest's tmp is 0700)."""
    root = services.LOCAL_DIR / f"test-scratch-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True)
    paths = services.paths_for(root)
    yield paths
    services.postgres_down(paths)
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_postgres_recovers_from_a_crash_with_stale_pid_and_socket(scratch_paths):
    port = free_port()
    assert services.postgres_up(scratch_paths, port) == "started"
    assert services.postgres_up(scratch_paths, port) == "already running"
    pid = int((scratch_paths.data / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)  # a crash: pid file and socket stay behind
    for _ in range(50):
        if not services._pg_running(scratch_paths):
            break
        time.sleep(0.1)
    # Children may linger a moment after the postmaster dies; wait for the port to free.
    time.sleep(0.5)
    assert (scratch_paths.data / "postmaster.pid").exists()
    report = services.postgres_up(scratch_paths, port)
    assert report.startswith("started (cleared stale")
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    conn.close()
    assert services.postgres_down(scratch_paths) == "stopped"
    assert services.postgres_down(scratch_paths) == "not running"


def test_cluster_moves_out_of_a_directory_postgres_cannot_reach(tmp_path):
    hidden = tmp_path / "private"
    hidden.mkdir(mode=0o700)
    os.chmod(tmp_path, 0o700)
    paths = services.paths_for(hidden / ".local")
    assert paths.pg_dir.parent == Path("/var/tmp") and paths.pg_dir.name.startswith("nook-pg-")
    assert services.paths_for(services.LOCAL_DIR).pg_dir == services.LOCAL_DIR / "pg"


def test_pid_file_of_a_reused_pid_is_not_mistaken_for_postgres(scratch_paths):
    scratch_paths.data.mkdir(parents=True)
    (scratch_paths.data / "postmaster.pid").write_text(f"{os.getpid()}\n")  # a live, non-postgres pid
    assert not services._pg_running(scratch_paths)


def test_moto_recovers_from_a_stale_pid_file(tmp_path, monkeypatch):
    paths = services.Paths(tmp_path, tmp_path / "pg")
    paths.moto_pid.write_text("999999\n")  # no such process
    port = free_port()
    assert services.moto_up(paths, port).startswith("started (cleared stale")
    try:
        assert services.moto_responding(port)
        assert services.moto_up(paths, port) == "already running"
    finally:
        assert services.moto_down(paths) == "stopped"
    assert not paths.moto_pid.exists()


def test_moto_that_lost_its_pid_file_is_adopted_not_doubled(tmp_path):
    """A moto of ours still serving the port with its pid file gone (a crash between two commands):
    `up` takes it back instead of starting a second server that cannot bind the port."""
    paths = services.Paths(tmp_path, tmp_path / "pg")
    port = free_port()
    pid = services.start_moto(port, tmp_path / "moto.log")
    try:
        assert not paths.moto_pid.exists()
        assert services.moto_up(paths, port) == f"already running (adopted pid {pid})"
        assert paths.moto_pid.read_text() == str(pid)
        assert services.moto_up(paths, port) == "already running"
    finally:
        assert services.moto_down(paths) == "stopped"
    assert not services.moto_responding(port)


class _WalkedRecords(OrderedDict):
    """A shard's records that refuse to be listed whole, as moto's own look-ups list them."""

    def keys(self):
        raise AssertionError("listed every record of the shard")

    def values(self):
        raise AssertionError("listed every record of the shard")


def test_local_moto_reads_a_shard_s_ends_without_listing_its_records(monkeypatch):
    """moto listed a shard's every record to number each new one (PutRecords of 100 cost its server 13 ms
    over a two-shard stream's first 5,000 records, 28 ms at 15,000-20,000); ours reads the ends, with
    moto's answers."""
    from moto.kinesis.models import Shard

    for name in ("get_min_sequence_number", "get_max_sequence_number"):
        monkeypatch.setattr(Shard, name, getattr(Shard, name))  # put back after the test
    moto_min, moto_max = Shard.get_min_sequence_number, Shard.get_max_sequence_number
    reference = Shard(0, 0, 2**128 - 1)
    moto_server.patch()
    shard = Shard(0, 0, 2**128 - 1)
    shard.records = _WalkedRecords()
    for n in range(5):
        assert (shard.get_min_sequence_number(), shard.get_max_sequence_number()) == (
            moto_min(reference),
            moto_max(reference),
        )
        assert shard.put_record(f"key-{n}", "ZGF0YQ==", "1") == reference.put_record(
            f"key-{n}", "ZGF0YQ==", "1"
        )
    assert (shard.get_min_sequence_number(), shard.get_max_sequence_number()) == (1, 5)
    with pytest.raises(AssertionError, match="listed every record"):
        moto_max(shard)  # the check can fail: moto's own look-up lists them


def test_the_services_moto_is_the_patched_one_and_numbers_records_in_order(moto_endpoint):
    """The moto the tests (and `make demo`) run is started from jobs/local/moto_server.py; a stream on it
    still numbers records one after another across PutRecords calls and reads them back in order."""
    assert services._moto_server_on(int(moto_endpoint.rsplit(":", 1)[1])) is not None
    client = boto3.client("kinesis")
    client.create_stream(StreamName="ordered", ShardCount=1)
    sequence = []
    for part in range(3):
        response = client.put_records(
            StreamName="ordered",
            Records=[{"Data": f"{part}-{n}".encode(), "PartitionKey": str(n)} for n in range(50)],
        )
        sequence += [int(r["SequenceNumber"]) for r in response["Records"]]
    assert sequence == list(range(sequence[0], sequence[0] + 150))
    shard = client.list_shards(StreamName="ordered")["Shards"][0]["ShardId"]
    iterator = client.get_shard_iterator(
        StreamName="ordered", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    read = client.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    assert [r["Data"].decode() for r in read] == [f"{p}-{n}" for p in range(3) for n in range(50)]


def test_the_local_aws_gets_what_nook_uses_once_and_lets_it_send_mail(moto_endpoint):
    """The bucket, both streams, the sender's domain as an SES identity and its feedback queue: the local
    sender's mail is taken, another's is refused, a bounce comes back; a second bootstrap creates nothing."""
    from models.mail import Letter, Mailer, MailNotSent

    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "NOOK_BUCKET": "nook-bootstrap",
        "NOOK_MAIL_FROM": services.LOCAL_MAIL_FROM,
        "NOOK_MAIL_FEEDBACK_QUEUE": "nook-bootstrap-feedback",
    }
    assert services.bootstrap_aws(env) == (
        "created bucket nook-bootstrap, stream listing_events, stream listing_scores, "
        "email identity nook.localhost, mail feedback queue nook-bootstrap-feedback"
    )
    assert services.bootstrap_aws(env) == "bucket, streams, email identity and queue exist"
    letter = Letter("renter@example.com", "Hello", "text", "<p>html</p>")
    assert Mailer(services.LOCAL_MAIL_FROM).send(letter)
    with pytest.raises(MailNotSent, match="MessageRejected"):
        Mailer("nook <alerts@elsewhere.example>").send(letter)
    # SES's word on what the local sender sent comes back to the queue (moto's simulator's bounce)
    Mailer(services.LOCAL_MAIL_FROM).send(
        Letter("bounce@simulator.amazonses.com", "Hi", "text", "<p>html</p>")
    )
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="nook-bootstrap-feedback")["QueueUrl"]
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])) == 1


def test_the_printed_environment_is_what_a_shell_reads_back(tmp_path):
    """`eval "$(make -s env)"` (the README's way to point a shell at the local services): the sender
    `nook <alerts@nook.localhost>` printed bare was a shell syntax error, and nothing after it was set."""
    import subprocess
    import sys

    printed = subprocess.run(
        [sys.executable, "-m", "jobs.local.services", "env"],
        capture_output=True,
        text=True,
        check=True,
        cwd=services.PROJECT_ROOT,
        env={**os.environ, "NOOK_MAIL_FROM": "", "NOOK_PUBLIC_URL": "", "NOOK_DEMO_PORT": ""},
    ).stdout
    shell = subprocess.run(
        ["bash", "-c", 'eval "$1" && env -0', "-", printed], capture_output=True, check=True
    )
    seen = dict(line.split("=", 1) for line in shell.stdout.decode().split("\0") if "=" in line)
    assert seen["NOOK_MAIL_FROM"] == services.LOCAL_MAIL_FROM
    assert seen["NOOK_PUBLIC_URL"] == "http://127.0.0.1:5000"
    assert seen["DATABASE_URL"].startswith("postgresql")
