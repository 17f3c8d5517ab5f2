"""Zappa's app_function for the `app` stage."""

from app import create_app

app = create_app()
