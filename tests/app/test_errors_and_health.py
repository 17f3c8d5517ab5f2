"""The web skeleton: /health, and one problem+json shape for every error."""

from __future__ import annotations

import pytest
from flask import Blueprint
from sqlalchemy.orm import sessionmaker

from app import create_app
from app.errors import handle_unexpected

PROBLEM = "application/problem+json"


def test_health_reports_database_and_postgis(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["postgis"].startswith("3.")


def test_health_is_503_problem_when_database_unreachable(db_connection):
    from sqlalchemy import create_engine

    dead = create_engine("postgresql+psycopg2://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    app = create_app({"TESTING": True, "SESSION_FACTORY": sessionmaker(bind=dead)})
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert response.mimetype == PROBLEM
    assert response.get_json()["detail"] == "The database is not reachable."
    assert "127.0.0.1" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/no-such-thing", 404), ("POST", "/health", 405), ("DELETE", "/health", 405)],
)
def test_http_errors_are_problems(client, method, path, status):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status and body["title"] and body["type"] == "about:blank"
    if status == 405:
        assert "GET" in response.headers["Allow"]


def test_unexpected_exception_is_a_generic_500_problem(app):
    boom = Blueprint("boom", __name__)

    @boom.get("/boom")
    def explode():
        raise RuntimeError("secret internal detail: password=hunter2")

    app.register_blueprint(boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.mimetype == PROBLEM
    text = response.get_data(as_text=True)
    assert "hunter2" not in text and "RuntimeError" not in text
    assert response.get_json()["title"] == "Internal Server Error"
    with app.app_context():  # answered by the handler itself (it once failed, and Flask answered instead)
        answer = handle_unexpected(RuntimeError("boom"))
    assert answer.status_code == 500 and answer.get_json()["title"] == "Internal Server Error"


def test_oversized_body_is_413_problem():
    app = create_app({"TESTING": True, "MAX_CONTENT_LENGTH": 10})

    @app.post("/echo")
    def echo():
        from flask import request

        return {"n": len(request.get_data())}

    response = app.test_client().post("/echo", data=b"x" * 100)
    assert response.status_code == 413
    assert response.mimetype == PROBLEM


def test_an_api_request_without_its_database_is_a_503_to_retry_not_a_500(db_connection):
    from sqlalchemy import create_engine

    dead = create_engine("postgresql+psycopg2://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    app = create_app({"TESTING": True, "SESSION_FACTORY": sessionmaker(bind=dead)})
    response = app.test_client().get(
        "/v1/listings?bbox=-79.5,43.6,-79.3,43.7", headers={"Authorization": "Bearer nook_some-key"}
    )
    assert response.status_code == 503 and response.mimetype == PROBLEM  # was a 500, as for a bug
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["detail"] == "The database did not answer in time; try again shortly."
    assert "127.0.0.1" not in response.get_data(as_text=True)


def test_a_statement_outliving_the_stage_is_cut_off_and_answered_503():
    import dataclasses
    import time

    from sqlalchemy import text

    from app.db import get_db
    from models.session import build_engine
    from models.settings import get_settings

    engine = build_engine(dataclasses.replace(get_settings(), db_statement_timeout_s=0.2))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "200ms"
            assert conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar_one() == "200ms"
        app = create_app({"TESTING": True, "SESSION_FACTORY": sessionmaker(bind=engine)})
        slow = Blueprint("slow", __name__)

        @slow.get("/slow")
        def run_slowly():
            get_db().execute(text("SELECT pg_sleep(5)"))
            return {}

        app.register_blueprint(slow)
        began = time.monotonic()
        response = app.test_client().get("/slow")
        assert time.monotonic() - began < 3  # the database stopped it, not the 5 s sleep ending
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    finally:
        engine.dispose()
