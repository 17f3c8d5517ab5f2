"""Local services recover from a crashed run instead of failing."""

from __future__ import annotations

import os
import shutil
import signal
import time
import uuid
from pathlib import Path

import psycopg2
import pytest

from jobs.local import services
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
