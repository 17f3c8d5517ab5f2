"""Build what Zappa packages so every compiled extension loads on Lambda's python3.11 (glibc 2.26).

    python -m callbacks.lambda_wheels deploy-venv    # .local/deploy-venv: the lock's runtime packages only

numpy/scipy/statsmodels/pandas/psycopg2-binary come as manylinux2014 wheels
(glibc <= 2.17) at the pinned versions. annoy has no wheels, and its default
build adds -march=native (the build host's CPU) and links the host's glibc:
here it is compiled with the C++ compiler of the `ziglang` PyPI package for
x86_64-linux-gnu.2.17, with portable flags, and cached under .local/wheels.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCAL = Path(os.environ.get("NOOK_LOCAL_DIR", ROOT / ".local"))
WHEELS = LOCAL / "wheels"
DEPLOY_VENV = LOCAL / "deploy-venv"
GLIBC_TARGET = "x86_64-linux-gnu.2.17"
# Wheels pip may pick for Lambda's python3.11 runtime (Amazon Linux 2, glibc 2.26): never this host's.
LAMBDA_PLATFORMS = ["manylinux2014_x86_64", *(f"manylinux_2_{minor}_x86_64" for minor in range(17, 27))]
ANNOY_FLAGS = "-D_CRT_SECURE_NO_WARNINGS,-O3,-std=c++14,-DANNOYLIB_MULTITHREADED_BUILD"


def _run(args: list[str], **kwargs: object) -> None:
    subprocess.run(args, check=True, **kwargs)  # type: ignore[call-overload]


def locked_version(package: str) -> str:
    """The version Pipfile.lock pins for a package."""
    import json

    return json.loads((ROOT / "Pipfile.lock").read_text())["default"][package]["version"].lstrip("=")


def portable_annoy() -> Path:
    """The annoy wheel built for glibc 2.17 without host-specific CPU flags (built once, then cached)."""
    version = locked_version("annoy")
    WHEELS.mkdir(parents=True, exist_ok=True)
    cached = sorted(WHEELS.glob(f"annoy-{version}-*.whl"))
    if cached:
        return cached[0]
    with tempfile.TemporaryDirectory(prefix="nook-annoy-") as tmp:
        work = Path(tmp)
        _run([sys.executable, "-m", "venv", str(work / "zig")])
        _run([str(work / "zig/bin/pip"), "install", "--quiet", "ziglang", "setuptools", "wheel"])
        zig = str(work / "zig/bin/python")
        for name, tool in (("zcc", "cc"), ("zcxx", "c++")):
            script = work / name
            script.write_text(f'#!/bin/sh\nexec {zig} -m ziglang {tool} -target {GLIBC_TARGET} "$@"\n')
            script.chmod(0o755)
        _run(
            [
                zig,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-binary",
                ":all:",
                "--no-deps",
                f"annoy=={version}",
                "-d",
                str(work / "src"),
            ]
        )
        env = {
            **os.environ,
            # annoy is C++ only, and setuptools compiles .cc files with CC: make CC the C++ driver so
            # the libc++ headers are found and libc++ is linked in
            "CC": str(work / "zcxx"),
            "CXX": str(work / "zcxx"),
            "LDSHARED": f"{work / 'zcxx'} -shared",
            "LDCXXSHARED": f"{work / 'zcxx'} -shared",
            "ANNOY_COMPILER_ARGS": ANNOY_FLAGS,
            "ANNOY_LINKER_ARGS": "",
        }
        sdist = next((work / "src").glob("annoy-*.tar.gz"))
        _run(
            [
                zig,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "-w",
                str(work / "dist"),
                str(sdist),
            ],
            env=env,
        )
        built = next((work / "dist").glob("annoy-*.whl"))
        target = WHEELS / built.name
        shutil.copy(built, target)
        return target


def runtime_requirements(exclude: tuple[str, ...] = ("annoy",)) -> str:
    """The lock's default (runtime) packages as pinned, hash-checked requirements."""
    import json

    lines = []
    for name, entry in sorted(json.loads((ROOT / "Pipfile.lock").read_text())["default"].items()):
        if name in exclude:
            continue
        marker = f"; {entry['markers']}" if entry.get("markers") else ""
        hashes = " ".join(f"--hash={h}" for h in entry.get("hashes", []))
        lines.append(f"{name}{entry['version']}{marker} {hashes}".strip())
    return "\n".join(lines) + "\n"


def lambda_wheelhouse(requirements: list[str], pip: str, wheelhouse: Path) -> None:
    """Download binary wheels for Lambda's platform; build the few sdist-only (pure Python) ones here."""
    import re

    platforms = [arg for platform in LAMBDA_PLATFORMS for arg in ("--platform", platform)]
    binary, source = list(requirements), []
    for _ in range(20):
        listing = wheelhouse / "binary.txt"
        listing.write_text("\n".join(binary) + "\n")
        done = subprocess.run(
            [
                pip,
                "download",
                "--quiet",
                "--require-hashes",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                "--abi",
                "cp311",
                "--abi",
                "abi3",
                "--abi",
                "none",
                *platforms,
                "-r",
                str(listing),
                "-d",
                str(wheelhouse),
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode == 0:
            break
        missing = re.search(r"No matching distribution found for ([A-Za-z0-9_.\-]+)==", done.stderr)
        if not missing:
            raise RuntimeError(f"pip download for Lambda failed:\n{done.stderr[-3000:]}")
        name = missing.group(1).lower()
        source += [r for r in binary if r.lower().startswith(f"{name}==")]
        binary = [r for r in binary if not r.lower().startswith(f"{name}==")]
    if source:
        listing = wheelhouse / "source.txt"
        listing.write_text("\n".join(source) + "\n")
        _run(
            [
                pip,
                "wheel",
                "--quiet",
                "--require-hashes",
                "--no-deps",
                "-r",
                str(listing),
                "-w",
                str(wheelhouse),
            ]
        )
    compiled = [
        w.name for w in wheelhouse.glob("*.whl") if "linux_x86_64" in w.name and "manylinux" not in w.name
    ]
    if compiled:
        raise RuntimeError(f"no Lambda-compatible wheels for compiled packages: {', '.join(compiled)}")


def deploy_venv() -> Path:
    """.local/deploy-venv: runtime packages only (what Zappa packages), wheels chosen for Lambda."""
    import hashlib

    stamp = DEPLOY_VENV / ".nook-lock"
    lock_hash = hashlib.sha256((ROOT / "Pipfile.lock").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == lock_hash:
        return DEPLOY_VENV
    shutil.rmtree(DEPLOY_VENV, ignore_errors=True)
    _run([sys.executable, "-m", "venv", str(DEPLOY_VENV)])
    pip = str(DEPLOY_VENV / "bin/pip")
    wheelhouse = DEPLOY_VENV / "wheelhouse"
    wheelhouse.mkdir()
    lambda_wheelhouse(runtime_requirements().splitlines(), pip, wheelhouse)
    _run(
        [
            pip,
            "install",
            "--quiet",
            "--no-index",
            "--no-deps",
            *map(str, sorted(wheelhouse.glob("*.whl"))),
            str(portable_annoy()),
        ]
    )
    shutil.rmtree(wheelhouse)
    stamp.write_text(lock_hash)
    return DEPLOY_VENV


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "deploy-venv"
    if command == "annoy":
        print(portable_annoy())
    elif command == "deploy-venv":
        print(deploy_venv())
    else:
        sys.exit("usage: python -m callbacks.lambda_wheels [deploy-venv|annoy]")
