"""The benchmarks' own helpers."""

from pathlib import Path

from tests.conftest import run_python


def test_a_benchmarks_scratch_directory_goes_when_it_exits():
    made = run_python(
        "from bench.db import scratch_dir; d = scratch_dir('nook-test-scratch-'); "
        "(d / 'artifact.bin').write_bytes(b'x' * 1000); print(d)"
    )
    assert made.returncode == 0, made.stderr
    path = Path(made.stdout.strip())
    assert path.name.startswith("nook-test-scratch-") and not path.exists()
