"""The lean stages import without pandas, numpy, scipy, statsmodels, GX or matplotlib."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import blocking, run_python

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "numpy", "scipy", "statsmodels", "great_expectations", "matplotlib", "sklearn")

# Each entry point of a lean stage: the web app and the stream handler.
LEAN_ENTRY_POINTS = ["app.wsgi", "jobs.stream"]


def _import_blocked(module: str) -> subprocess.CompletedProcess:
    code = blocking(HEAVY) + textwrap.dedent(
        f"""
        import {module}
        leaked = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} and sys.modules[m] is not None)
        assert not leaked, leaked
        print("ok")
        """
    )
    return run_python(code)


@pytest.mark.parametrize("module", LEAN_ENTRY_POINTS)
def test_lean_entry_point_imports_without_heavy_packages(module):
    result = _import_blocked(module)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_the_block_really_blocks():
    """Guard against a check that cannot fail: importing pandas under the block must fail."""
    result = _import_blocked("pandas")
    assert result.returncode != 0
    assert "ImportError" in result.stderr or "ModuleNotFoundError" in result.stderr


def test_no_module_level_heavy_import_in_app_or_models():
    offenders = []
    for folder in ("app", "models"):
        for path in (ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                stripped = line.strip()
                if stripped.startswith(("import ", "from ")):
                    root = stripped.split()[1].split(".")[0]
                    if root in HEAVY:
                        offenders.append(f"{path.relative_to(ROOT)}:{number}: {stripped}")
    assert not offenders, offenders
