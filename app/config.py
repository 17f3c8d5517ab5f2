"""Flask configuration, from the environment only."""

from __future__ import annotations

from typing import Any

from models.settings import get_settings


def config_from_environment() -> dict[str, Any]:
    """Flask config keys derived from the shared settings; fails fast if any are missing."""
    import os

    settings = get_settings()
    return {
        "CORS_ORIGINS": os.environ.get("NOOK_CORS_ORIGINS", ""),
        "NOOK_STAGE": settings.stage,
        "NOOK_LOG_LEVEL": settings.log_level,
        "MAX_CONTENT_LENGTH": 256 * 1024,
        "JSON_SORT_KEYS": False,
    }
