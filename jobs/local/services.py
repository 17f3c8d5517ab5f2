"""Private local services: a PostgreSQL + PostGIS cluster and a moto server.

Everything lives under `.local/` in the project. Services survive between
commands (`up` is idempotent and fast when they already run), `down` stops
them cleanly, and a stale pid file or socket left by a crashed run is cleared
instead of being fatal. When `DATABASE_URL` is set by the user, no cluster is
started and that database is used as is.

Usable as `python -m jobs.local.services up|down|status|env`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCAL_DIR = Path(os.environ.get("NOOK_LOCAL_DIR", PROJECT_ROOT / ".local"))
PG_PORT = int(os.environ.get("NOOK_PG_PORT", "54329"))
MOTO_PORT = int(os.environ.get("NOOK_MOTO_PORT", "54330"))
PG_BIN = Path(os.environ.get("NOOK_PG_BIN", "/usr/lib/postgresql/15/bin"))
DEFAULT_DB = "nook"
LOCAL_BUCKET = "nook-local"
MOTO_MODULE = "jobs.local.moto_server"  # moto's server, its Kinesis look-ups made constant-time


class ServiceError(RuntimeError):
    """A local service could not be started or reached."""


@dataclass(frozen=True)
class Paths:
    """Where the local services keep their files.

    `root` is the project's `.local/`. The cluster lives in `root/pg` unless the
    postgres user cannot reach it (a checkout inside a 0700 directory), in which
    case `pg_dir` is a per-project directory under /var/tmp.
    """

    root: Path
    pg_dir: Path

    @property
    def data(self) -> Path:
        return self.pg_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.pg_dir / "run"

    @property
    def pg_log(self) -> Path:
        return self.pg_dir / "postgres.log"

    @property
    def moto_pid(self) -> Path:
        return self.root / "moto.pid"

    @property
    def moto_log(self) -> Path:
        return self.root / "moto.log"


def paths_for(root: Path) -> Paths:
    """Paths under `root`, with the cluster moved out if postgres cannot reach it."""
    root.mkdir(parents=True, exist_ok=True)
    if _as_postgres(["test", "-x", str(root)]).returncode == 0:
        return Paths(root, root / "pg")
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]
    return Paths(root, Path("/var/tmp") / f"nook-pg-{digest}")


@functools.cache
def default_paths() -> Paths:
    """The project's own service paths (resolved on first use)."""
    return paths_for(LOCAL_DIR)


def local_database_url(dbname: str = DEFAULT_DB) -> str:
    """The URL of a database in the private cluster."""
    return f"postgresql://postgres@127.0.0.1:{PG_PORT}/{dbname}"


def moto_url(port: int = MOTO_PORT) -> str:
    """The endpoint of the local moto server."""
    return f"http://127.0.0.1:{port}"


LOCAL_MAIL_FROM = "nook <alerts@nook.localhost>"
LOCAL_FEEDBACK = "nook-mail-feedback"  # the SNS topic SES tells of bounces and complaints, and its queue


def local_environment(dbname: str = DEFAULT_DB, moto_port: int = MOTO_PORT) -> dict[str, str]:
    """Environment that points nook at the local services (user values win)."""
    env = {
        "DATABASE_URL": os.environ.get("DATABASE_URL") or local_database_url(dbname),
        "AWS_ENDPOINT_URL": os.environ.get("AWS_ENDPOINT_URL") or moto_url(moto_port),
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID") or "testing",
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY") or "testing",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        "NOOK_BUCKET": os.environ.get("NOOK_BUCKET") or LOCAL_BUCKET,
        "GX_ANALYTICS_ENABLED": os.environ.get("GX_ANALYTICS_ENABLED") or "false",
        # moto's SES keeps what it is sent (flask mail outbox): email alerts work locally
        "NOOK_MAIL_FROM": os.environ.get("NOOK_MAIL_FROM") or LOCAL_MAIL_FROM,
        # SES's bounces and complaints, through SNS into this queue (moto's SES makes them for its
        # simulator's addresses, bounce@simulator.amazonses.com and complaint@...)
        "NOOK_MAIL_FEEDBACK_QUEUE": os.environ.get("NOOK_MAIL_FEEDBACK_QUEUE") or LOCAL_FEEDBACK,
        # anyone may sign up; their link lands in moto's SES (flask mail outbox)
        "NOOK_OPEN_SIGN_UP": os.environ.get("NOOK_OPEN_SIGN_UP") or "true",
        # links in messages (a listing on the map page, unsubscribe) lead to the demo's app
        "NOOK_PUBLIC_URL": os.environ.get("NOOK_PUBLIC_URL")
        or f"http://127.0.0.1:{os.environ.get('NOOK_DEMO_PORT') or 5000}",
    }
    return env


# --- PostgreSQL -------------------------------------------------------------


def _as_postgres(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command as the postgres user (PostgreSQL refuses to run as root)."""
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, check=False, capture_output=True, text=True, **kwargs)


def _chown_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def _postgres_can_reach(path: Path) -> bool:
    return _as_postgres(["test", "-w", str(path)]).returncode == 0


def _prepare_dirs(paths: Paths) -> None:
    for directory in (paths.root, paths.pg_dir, paths.socket_dir):
        directory.mkdir(parents=True, exist_ok=True)
    for directory in (paths.pg_dir, paths.socket_dir):
        _chown_postgres(directory)
    if not _postgres_can_reach(paths.pg_dir):
        raise ServiceError(
            f"the postgres user cannot write {paths.pg_dir}. Set NOOK_LOCAL_DIR to a "
            "directory postgres can reach, or DATABASE_URL to an existing database."
        )


def _initdb(paths: Paths) -> None:
    if (paths.data / "PG_VERSION").exists():
        return
    paths.data.mkdir(parents=True, exist_ok=True)
    _chown_postgres(paths.data)
    result = _as_postgres(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(paths.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]
    )
    if result.returncode != 0:
        raise ServiceError(f"initdb failed:\n{result.stdout}\n{result.stderr}")


def _process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _postmaster_pid(paths: Paths) -> int | None:
    try:
        return int((paths.data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _pg_running(paths: Paths) -> bool:
    """A live postmaster owns the pid file (a reused pid of another program does not count)."""
    pid = _postmaster_pid(paths)
    return pid is not None and _process_name(pid).startswith("postgres")


def _clear_stale_pg_files(paths: Paths) -> list[str]:
    """Remove a pid file and socket locks left behind by a crashed server."""
    cleared = []
    pid_file = paths.data / "postmaster.pid"
    candidates = [pid_file, *paths.socket_dir.glob(".s.PGSQL.*")]
    for path in candidates:
        if path.exists() or path.is_symlink():
            path.unlink()
            cleared.append(path.name)
    return cleared


def postgres_up(paths: Paths | None = None, port: int = PG_PORT) -> str:
    """Start the private cluster if it is not running; return what happened."""
    paths = paths or default_paths()
    if _pg_running(paths):
        return "already running"
    _prepare_dirs(paths)
    _initdb(paths)
    cleared = _clear_stale_pg_files(paths)
    if not paths.pg_log.exists():
        paths.pg_log.touch()
    _chown_postgres(paths.pg_log)
    options = (
        f"-k {paths.socket_dir} -p {port} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        "-c max_connections=200 -c shared_buffers=256MB"
    )
    result = _as_postgres(
        [
            str(PG_BIN / "pg_ctl"),
            "-w",
            "-t",
            "60",
            "start",
            "-D",
            str(paths.data),
            "-l",
            str(paths.pg_log),
            "-o",
            options,
        ]
    )
    if result.returncode != 0:
        tail = paths.pg_log.read_text(errors="replace")[-2000:]
        raise ServiceError(f"postgres did not start:\n{result.stderr}\n{tail}")
    return "started" + (f" (cleared stale {', '.join(cleared)})" if cleared else "")


def postgres_down(paths: Paths | None = None) -> str:
    """Stop the private cluster (fast shutdown)."""
    paths = paths or default_paths()
    if not _pg_running(paths):
        return "not running"
    result = _as_postgres([str(PG_BIN / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(paths.data)])
    if result.returncode != 0:
        raise ServiceError(f"postgres did not stop: {result.stderr}")
    return "stopped"


def ensure_database(url: str) -> None:
    """Create the database in `url` if missing, with the PostGIS extension."""
    import psycopg2
    from psycopg2 import sql
    from psycopg2.extensions import make_dsn, parse_dsn

    dsn = parse_dsn(url)
    dbname = dsn["dbname"]
    admin = psycopg2.connect(make_dsn(url, dbname="postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    finally:
        admin.close()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    finally:
        conn.close()


def drop_database(url: str) -> None:
    """Drop the database in `url` (used to give a test session a clean slate)."""
    import psycopg2
    from psycopg2 import sql
    from psycopg2.extensions import make_dsn, parse_dsn

    dbname = parse_dsn(url)["dbname"]
    admin = psycopg2.connect(make_dsn(url, dbname="postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
    finally:
        admin.close()


# --- moto -------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def moto_responding(port: int = MOTO_PORT) -> bool:
    """Whether a moto server answers on the port."""
    try:
        # /moto-api/config is tiny; data.json dumps every resource (seconds once a stream holds 20k records)
        with urllib.request.urlopen(f"{moto_url(port)}/moto-api/config", timeout=2) as resp:
            return 200 <= resp.status < 300
    except OSError:
        return False


def start_moto(port: int, log_path: Path) -> int:
    """Start a detached moto server on loopback, wait until it answers; return its pid."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    launched = subprocess.run(
        [
            "sh",
            "-c",
            '"$0" -m "$1" -H 127.0.0.1 -p "$2" >>"$3" 2>&1 </dev/null & echo $!',
            sys.executable,
            MOTO_MODULE,
            str(port),
            str(log_path),
        ],
        check=True,
        capture_output=True,
        text=True,
        start_new_session=True,
        cwd=PROJECT_ROOT,
    )
    pid = int(launched.stdout.strip())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if moto_responding(port):
            return pid
        if not _pid_alive(pid):
            raise ServiceError(f"moto_server exited early; see {log_path}")
        time.sleep(0.1)
    stop_pid(pid)
    raise ServiceError(f"moto_server did not answer on port {port}; see {log_path}")


def stop_pid(pid: int, timeout: float = 5.0) -> bool:
    """SIGTERM a process we started and wait for it; return whether it was running."""
    if not _pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.05)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def _moto_server_on(port: int) -> int | None:
    """The pid of a moto server started for `port` with this project's interpreter, if one runs."""
    wanted = ["-p", str(port)]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        ours = argv[:3] == [sys.executable, "-m", MOTO_MODULE]
        if ours and any(argv[i : i + 2] == wanted for i in range(len(argv) - 1)):
            return int(entry.name)
    return None


def server_pids(paths: Paths | None = None) -> dict[str, int]:
    """The pids of the local servers that run: "postgres" (the postmaster) and "moto"."""
    paths = paths or default_paths()
    found = {}
    postmaster = _postmaster_pid(paths)
    if postmaster is not None and _pg_running(paths):
        found["postgres"] = postmaster
    moto = _read_pid(paths.moto_pid)
    if moto and _pid_alive(moto):
        found["moto"] = moto
    return found


def moto_up(paths: Paths | None = None, port: int = MOTO_PORT) -> str:
    """Start the shared moto server unless one already answers."""
    paths = paths or default_paths()
    pid = _read_pid(paths.moto_pid)
    if pid and _pid_alive(pid) and moto_responding(port):
        return "already running"
    if moto_responding(port):
        orphan = _moto_server_on(port)
        if orphan is None:
            raise ServiceError(
                f"port {port} answers like moto but is not ours; stop it or set NOOK_MOTO_PORT"
            )
        paths.root.mkdir(parents=True, exist_ok=True)
        paths.moto_pid.write_text(str(orphan))  # ours, its pid file lost: adopt it rather than fail
        return f"already running (adopted pid {orphan})"
    cleared = " (cleared stale pid file)" if paths.moto_pid.exists() else ""
    paths.moto_pid.unlink(missing_ok=True)
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.moto_pid.write_text(str(start_moto(port, paths.moto_log)))
    return "started" + cleared


def moto_down(paths: Paths | None = None) -> str:
    """Stop the shared moto server."""
    paths = paths or default_paths()
    pid = _read_pid(paths.moto_pid)
    paths.moto_pid.unlink(missing_ok=True)
    return "stopped" if pid and stop_pid(pid) else "not running"


# --- all together -----------------------------------------------------------


# Kinesis takes at most 1,000 records/s into a shard, and listing_scores carries a record for every
# listing a stream process handles (>= 2,000/s): two shards, as in production (README, Deploying).
SCORES_SHARDS = 2


def bootstrap_aws(env: dict[str, str]) -> str:
    """Create the bucket, Kinesis streams and SES identity nook uses in the local AWS emulator
    (idempotent)."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )
    s3 = session.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
    created = []
    if env["NOOK_BUCKET"] not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=env["NOOK_BUCKET"])
        created.append(f"bucket {env['NOOK_BUCKET']}")
    kinesis = session.client("kinesis", endpoint_url=env["AWS_ENDPOINT_URL"])
    streams = set(kinesis.list_streams().get("StreamNames", []))
    for name, shards in (
        (os.environ.get("NOOK_LISTING_EVENTS_STREAM", "listing_events"), 1),
        (os.environ.get("NOOK_LISTING_SCORES_STREAM", "listing_scores"), SCORES_SHARDS),
    ):
        if name not in streams:
            kinesis.create_stream(StreamName=name, ShardCount=shards)
            created.append(f"stream {name}")
    # the sender's domain, verified: SES sends from a verified address or domain only
    from models.mail import sender_domain

    domain = sender_domain(env["NOOK_MAIL_FROM"])
    ses = session.client("sesv2", endpoint_url=env["AWS_ENDPOINT_URL"])
    if domain not in {i["IdentityName"] for i in ses.list_email_identities().get("EmailIdentities", [])}:
        ses.create_email_identity(EmailIdentity=domain)
        created.append(f"email identity {domain}")
    if _feedback_queue(session, env, domain):
        created.append(f"mail feedback queue {env['NOOK_MAIL_FEEDBACK_QUEUE']}")
    return "created " + ", ".join(created) if created else "bucket, streams, email identity and queue exist"


def _feedback_queue(session: Any, env: dict[str, str], domain: str) -> bool:
    """SES's bounces and complaints for `domain` published to an SNS topic that delivers them to the
    queue the notify job reads (as `flask mail feedback-setup` does on AWS); return whether it was made
    now."""
    from jobs.mail_feedback import wire

    name = env["NOOK_MAIL_FEEDBACK_QUEUE"]
    sqs = session.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"])
    if sqs.list_queues(QueueNamePrefix=name).get("QueueUrls"):
        return False
    clients = (session.client(kind, endpoint_url=env["AWS_ENDPOINT_URL"]) for kind in ("sns", "ses"))
    wire(name, domain, sqs, *clients)
    return True


def up(dbname: str = DEFAULT_DB) -> dict[str, str]:
    """Start what is missing and make sure the database exists; return a report."""
    report = {}
    if os.environ.get("DATABASE_URL"):
        report["postgres"] = "using DATABASE_URL (nothing started)"
    else:
        report["postgres"] = postgres_up()
    ensure_database(local_environment(dbname)["DATABASE_URL"])
    if os.environ.get("AWS_ENDPOINT_URL"):
        report["moto"] = "using AWS_ENDPOINT_URL (nothing started)"
    else:
        report["moto"] = moto_up()
    report["aws"] = bootstrap_aws(local_environment(dbname))
    return report


def down() -> dict[str, str]:
    """Stop the services this project started."""
    return {"moto": moto_down(), "postgres": postgres_down()}


def status() -> dict[str, str]:
    """Whether each local service is running."""
    return {
        "postgres": "running" if _pg_running(default_paths()) else "stopped",
        "moto": "running" if moto_responding() else "stopped",
    }


def main(argv: list[str]) -> int:
    """Command-line entry point."""
    command = argv[0] if argv else "status"
    if command == "env":
        for key, value in local_environment().items():  # quoted: a value may hold spaces or < >
            print(f"export {key}={shlex.quote(value)}")
        return 0
    actions = {"up": up, "down": down, "status": status}
    if command not in actions:
        print(f"usage: python -m jobs.local.services [{'|'.join([*actions, 'env'])}]", file=sys.stderr)
        return 2
    try:
        report = actions[command]()
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, state in report.items():
        print(f"{name:10} {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
