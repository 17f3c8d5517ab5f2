"""`make demo`: nook end to end on one machine.

Starts the local services, migrates, seeds the demo user, fires every
scheduled job once, then serves the API on http://127.0.0.1:5000 while the
local scheduler keeps the jobs going. Ctrl-C stops the API and scheduler;
`make services-down` stops the database and moto.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from sqlalchemy import select

DEMO_EMAIL = "demo@nook.local"
HOST, PORT = "127.0.0.1", int(os.environ.get("NOOK_DEMO_PORT", "5000"))


def demo_api_key(local_dir: Path) -> str:
    """The demo user's key: generated once, kept (0600) under .local/."""
    from models.user import new_api_key

    path = local_dir / "demo_api_key"
    if path.exists():
        return path.read_text().strip()
    key = new_api_key()
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def seed_demo_user(key: str) -> int:
    """Create the demo user, or point it at the current key; return its id."""
    from models.session import session_scope
    from models.user import User, create_user, hash_api_key

    with session_scope() as session:
        user = session.scalar(select(User).where(User.email == DEMO_EMAIL))
        if user is None:
            user, _ = create_user(session, DEMO_EMAIL, api_key=key)
        else:
            user.api_key_hash = hash_api_key(key)
            user.api_key_prefix = key[:12]
        session.flush()
        return user.id


def _start_scheduler(stop: threading.Event) -> threading.Thread:
    from jobs.cli import _report_fired
    from jobs.local import scheduler

    jobs = scheduler.scheduled_jobs()

    def loop() -> None:
        scheduler.run_once(jobs, _report_fired)
        scheduler.run_forever(jobs, stop, _report_fired)

    thread = threading.Thread(target=loop, name="scheduler", daemon=True)
    thread.start()
    return thread


def main() -> int:
    """Bring everything up and serve until interrupted."""
    from jobs.local import services

    print("nook demo: starting local services ...", flush=True)
    try:
        for name, state in services.up().items():
            print(f"  {name:10} {state}")
    except services.ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    os.environ.update(services.local_environment())
    os.environ.setdefault("NOOK_STAGE", "local")

    from models import migrate

    migrate.upgrade()
    key = demo_api_key(services.LOCAL_DIR)
    user_id = seed_demo_user(key)

    from werkzeug.serving import make_server

    from jobs.cli import create_app

    server = make_server(HOST, PORT, create_app(), threaded=True)
    stop = threading.Event()
    _start_scheduler(stop)
    base = f"http://{HOST}:{PORT}"
    print(
        f"""
nook is running.
  API          {base}   (health: {base}/health)
  demo user    {DEMO_EMAIL} (id {user_id}), API key: {key}
  try          curl -s {base}/health
  database     {os.environ["DATABASE_URL"]}
  AWS (moto)   {os.environ["AWS_ENDPOINT_URL"]}
  logs         JSON lines below; service logs in {services.LOCAL_DIR}/
Stop with Ctrl-C (API and scheduler); `make services-down` stops PostgreSQL and moto.
""",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopping ...")
    finally:
        stop.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
