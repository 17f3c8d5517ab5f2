"""nook's web stage: a Flask app factory.

The web stage stays lean: nothing here imports pandas, numpy, scipy,
statsmodels, great_expectations or matplotlib (tests/app/test_lean.py).
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from models.logs import configure_logging


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: config -> db hooks -> blueprints -> error handlers."""
    from app import (
        calendar,
        cli,
        confirm_email,
        cors,
        db,
        errors,
        health,
        new_key,
        shortlist,
        sign_up,
        unsubscribe,
        web,
    )
    from app.api import init_api
    from app.config import config_from_environment

    app = Flask(__name__)
    app.config.update(config_from_environment())
    app.config.update(test_config or {})
    configure_logging(app.config.get("NOOK_LOG_LEVEL", "INFO"))
    db.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(web.bp)
    app.register_blueprint(unsubscribe.bp)
    app.register_blueprint(confirm_email.bp)
    app.register_blueprint(shortlist.bp)
    app.register_blueprint(calendar.bp)
    app.register_blueprint(new_key.bp)
    app.register_blueprint(sign_up.bp)
    init_api(app)
    cors.init_app(app)
    errors.register_error_handlers(app)
    cli.register(app)
    return app
