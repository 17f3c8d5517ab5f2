"""Zappa's app_function for the `app` stage."""

from models.loading import collector_paused

with collector_paused(freeze=True):  # once per container: the app's modules load (models/loading.py)
    from app import create_app

    app = create_app()
