"""Flask configuration, from the environment only."""

from __future__ import annotations

from typing import Any

from models.settings import get_settings

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'


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
        # the map page: tiles (empty: none), their attribution, and where the map opens
        "TILE_URL": os.environ.get("NOOK_TILE_URL", OSM_TILES),
        "TILE_ATTRIBUTION": os.environ.get("NOOK_TILE_ATTRIBUTION", OSM_ATTRIBUTION),
        "MAP_CENTER": os.environ.get("NOOK_MAP_CENTER", "43.665,-79.37"),
        # how often the page asks for new alerts (0: only on load)
        "ALERT_POLL_SECONDS": _seconds("NOOK_ALERT_POLL_SECONDS", "60"),
    }


def _seconds(name: str, default: str) -> float:
    import os

    raw = os.environ.get(name, default)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f"{name} must be a number of seconds >= 0, got {raw!r}")
    return value
