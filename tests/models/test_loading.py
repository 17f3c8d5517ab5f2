"""Cold starts load the lean stages' modules with the cyclic collector paused, then frozen."""

from __future__ import annotations

import gc
import json
import textwrap

import pytest

from models.loading import collector_paused
from tests.conftest import run_python


def test_the_collector_is_paused_in_the_block_and_back_after_it_even_on_error():
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("a failed import")
    assert gc.isenabled()


def test_nested_blocks_leave_the_collector_to_the_outermost():
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()  # the inner block did not turn it back on
    assert gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off():
    gc.disable()
    try:
        with collector_paused(freeze=True):
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_freeze_moves_what_was_loaded_out_of_the_collectors_sight():
    before = gc.get_freeze_count()
    loaded = [{"n": n} for n in range(1000)]
    with collector_paused(freeze=True):
        pass
    assert gc.get_freeze_count() >= before + len(loaded)
    assert gc.isenabled()


def _collections_while_importing(module: str) -> dict:
    code = textwrap.dedent(
        f"""
        import gc, json, sys
        import zappa.handler  # what Lambda loads first: Zappa's handler then imports the stage's module
        collections = []
        gc.callbacks.append(lambda phase, info: phase == "stop" and collections.append(info["generation"]))
        import {module}
        print(json.dumps({{"collections": collections, "enabled": gc.isenabled(),
                           "frozen": gc.get_freeze_count()}}))
        """
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["app.wsgi", "jobs.stream"])
def test_lean_entry_points_load_without_full_collections(module):
    """Without the pause, importing app.wsgi ran 162 collections (2 full), jobs.stream 123 (1 full)."""
    seen = _collections_while_importing(module)
    assert seen["enabled"] is True
    assert seen["frozen"] > 20_000  # the stack's modules, classes and functions
    assert 2 not in seen["collections"] and len(seen["collections"]) < 40, seen["collections"]


def test_the_count_can_fail():
    """Guard: a module that loads the same stack without the pause does run full collections."""
    seen = _collections_while_importing("sqlalchemy.orm, geoalchemy2, flask, marshmallow")
    assert seen["frozen"] == 0
    assert len(seen["collections"]) >= 40 and 2 in seen["collections"], seen["collections"]
