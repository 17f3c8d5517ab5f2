"""Read zappa_settings.json the way Zappa does: stages with `extends` resolved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SETTINGS_PATH = Path(__file__).resolve().parents[2] / "zappa_settings.json"
BASE_STAGE = "base"


def load_all(path: Path = SETTINGS_PATH) -> dict[str, dict[str, Any]]:
    """Every stage of the file, raw."""
    return json.loads(path.read_text())


def resolve_stage(stage: str, raw: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A stage's settings with its `extends` chain merged (the stage wins)."""
    if stage not in raw:
        raise KeyError(f"no stage {stage!r} in zappa_settings.json")
    settings = dict(raw[stage])
    parent = settings.pop("extends", None)
    if parent is None:
        return settings
    return {**resolve_stage(parent, raw), **settings}


def deployable_stages(raw: dict[str, dict[str, Any]]) -> list[str]:
    """The stages meant for deployment (all but the shared base)."""
    return [name for name in raw if name != BASE_STAGE]


def lambda_name(project_name: str, stage: str) -> str:
    """The Lambda function name Zappa gives a stage."""
    from slugify import slugify  # type: ignore[import-untyped]  (Zappa's own slugifier)

    return slugify(f"{project_name}-{stage}")
