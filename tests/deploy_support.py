"""Building and inspecting Zappa packages for the deployability tests and benchmark."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("app", "batch", "price_rank", "stream", "checks")
LEAN = ("app", "stream")
# What Lambda's python3.11 runtime (Amazon Linux 2) puts on the path itself.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")
RUNTIME_GLIBC = (2, 26)
RUNTIME_GLIBCXX = (3, 4, 24)  # libstdc++ of Amazon Linux 2's gcc 7


@dataclass
class Package:
    """A stage's packages: the Lambda zip and, with slim_handler, the project archive."""

    stage: str
    zip_path: Path
    archive_path: Path | None
    seconds: float


def zappa_env(venv: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the deploy venv's zappa."""
    env = {**os.environ, "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    return {**env, **(extra or {})}


def package_stage(stage: str, venv: Path, out: Path, env: dict[str, str] | None = None) -> Package:
    """Run `zappa package` for one stage (`env` added to the packaging environment); collect its zip
    (and slim archive)."""
    started = time.monotonic()
    before = set(ROOT.glob("nook-*.tar.gz"))
    target = out / f"{stage}.zip"
    done = subprocess.run(
        [str(venv / "bin/zappa"), "package", stage, "-o", str(target)],
        cwd=ROOT,
        env=zappa_env(venv, env),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(f"zappa package {stage} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    slug = stage.replace("_", "-")
    archives = [p for p in set(ROOT.glob(f"nook-{slug}-*.tar.gz")) - before]
    archive = None
    if archives:
        archive = out / f"{stage}.tar.gz"
        shutil.move(str(archives[0]), archive)
    return Package(stage, target, archive, time.monotonic() - started)


def package_all(
    venv: Path, out: Path, stages: Iterable[str] = STAGES, env: dict[str, str] | None = None
) -> dict[str, Package]:
    """Package the stages, two at a time."""
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {stage: pool.submit(package_stage, stage, venv, out, env) for stage in stages}
        return {stage: future.result() for stage, future in futures.items()}


def members(path: Path) -> list[tuple[str, int]]:
    """(name, size) of every file in a .zip or .tar.gz."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            return [(i.filename, i.file_size) for i in archive.infolist() if not i.is_dir()]
    with tarfile.open(path) as archive:
        return [(m.name, m.size) for m in archive.getmembers() if m.isfile()]


def top_levels(path: Path) -> set[str]:
    """Top-level entries of an archive."""
    return {name.split("/", 1)[0] for name, _ in members(path)}


def extract(path: Path, target: Path) -> Path:
    """Unpack an archive (zip members keep their permissions)."""
    target.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            archive.extractall(target)
    else:
        with tarfile.open(path) as archive:
            archive.extractall(target, filter="data")
    return target


def runtime_dir(venv: Path, target: Path) -> Path:
    """Stand-in for Lambda's /var/runtime: the SDK the runtime bundles, from the deploy venv."""
    site = next((venv / "lib").glob("python3.*/site-packages"))
    target.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PROVIDED:
        source = site / name
        if source.is_dir():
            shutil.copytree(source, target / name, dirs_exist_ok=True)
        elif source.exists():
            shutil.copy(source, target / name)
    return target


VERSION_NEED = re.compile(r"\b(GLIBC|GLIBCXX)_(\d+(?:\.\d+)+)\b")


def required_versions(shared_object: Path) -> dict[str, tuple[int, ...]]:
    """The newest GLIBC_x.y and GLIBCXX_x.y.z an ELF file needs (readelf -V)."""
    output = subprocess.run(
        ["readelf", "-V", "--wide", str(shared_object)], capture_output=True, text=True
    ).stdout
    needs: dict[str, tuple[int, ...]] = {}
    in_needs = False
    for line in output.splitlines():
        if line.startswith("Version needs section"):
            in_needs = True
        elif line.startswith("Version") and in_needs:
            in_needs = False
        if in_needs and "Name:" in line:
            for symbol, version in VERSION_NEED.findall(line):
                parsed = tuple(int(p) for p in version.split("."))
                needs[symbol] = max(needs.get(symbol, parsed), parsed)
    return needs


def too_new(needs: dict[str, tuple[int, ...]]) -> list[str]:
    """Which of the needs the Lambda runtime cannot meet."""
    limits = {"GLIBC": RUNTIME_GLIBC, "GLIBCXX": RUNTIME_GLIBCXX}
    return [f"{symbol}_{'.'.join(map(str, v))}" for symbol, v in needs.items() if v > limits[symbol]]


def isolated_python(
    code: str, path: list[Path], env: dict[str, str], stdin: str = "", timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run code in `python -I -S -B` with only `path` importable (and the standard library).

    -B: Lambda's /var/task is read-only, so a cold start cannot cache what it compiles; without it the
    first run here would write __pycache__ and every later one would start faster than Lambda does."""
    boot = f"import sys; sys.path[:0] = {[str(p) for p in path]!r}\n" + code
    return subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", boot],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=path[0],
        input=stdin,
    )


HANDLER_RUNNER = """
import json, sys, time, uuid
started = time.perf_counter()
from handler import lambda_handler

class Context:
    function_name = "nook-isolated"
    memory_limit_in_mb = 512
    aws_request_id = str(uuid.uuid4())
    def get_remaining_time_in_millis(self):
        return 300_000

calls = []
for event in json.loads(sys.stdin.read()):
    began = time.perf_counter()
    try:
        calls.append({"ok": True, "result": lambda_handler(event, Context())})
    except Exception as exc:
        calls.append({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    calls[-1]["seconds"] = time.perf_counter() - began
first_call = time.perf_counter() - started
# modules of the package (not the standard library, not the runtime's SDK) and those of them that had
# no bytecode shipped (sourceless .pyc or __pycache__), so this cold start compiled them from source
import os
own = tuple(os.path.realpath(p) + os.sep for p in (sys.base_prefix, sys.prefix, sys.path[1]))
loaded = [
    (name, module) for name, module in list(sys.modules.items())
    if (getattr(module, "__file__", None) or "").endswith((".py", ".pyc"))
    and not os.path.realpath(module.__file__).startswith(own)
]
from_source = sorted(
    n for n, m in loaded
    if m.__file__.endswith(".py") and not os.path.exists(getattr(m, "__cached__", None) or "")
)
importable = {}
for name in ("pandas", "numpy", "scipy", "statsmodels", "great_expectations", "matplotlib", "sklearn"):
    try:
        __import__(name)
        importable[name] = True
    except ImportError:
        importable[name] = False
result = {"calls": calls, "cold_start": first_call, "importable": importable,
          "from_source": from_source, "loaded_from_package": sorted(n for n, _ in loaded)}
print("__RESULT__" + json.dumps(result, default=str))
"""


FLOOR_CODE = """
import time
started = time.perf_counter()
import zappa.handler, flask, sqlalchemy, geoalchemy2, psycopg2
print(time.perf_counter() - started)
"""


def run_handler(directory: Path, runtime: Path, events: list[dict], env: dict[str, str]) -> dict:
    """Call Zappa's handler from an unpacked package, in a fresh isolated interpreter, with events."""
    import json

    done = isolated_python(HANDLER_RUNNER, [directory, runtime], env, stdin=json.dumps(events))
    if "__RESULT__" not in done.stdout:
        raise AssertionError(f"handler process crashed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.rsplit("__RESULT__", 1)[1])
    result["stdout"], result["stderr"] = done.stdout, done.stderr
    return result
