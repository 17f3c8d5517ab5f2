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
