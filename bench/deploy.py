"""Package sizes of every stage, and cold starts of the lean stages from their real packages.

    .venv/bin/python -m bench.deploy

Packages every stage with Zappa from the deploy venv. Cold start: a fresh
`python -I -S -B` whose path holds only the unpacked package and the SDK Lambda's
runtime provides, timing Zappa's handler import + the first call (app: GET
/health through API Gateway v2; stream: one Kinesis record, with a 100k-listing
model artifact loaded) — beside the floor, measured in turn with them in each of
9 rounds (only zappa.handler, flask, sqlalchemy, geoalchemy2 and psycopg2 imported).
Targets: app and stream <= 1.5x the floor and <= 0.6 s (stream with its artifact: <= 0.8 s).
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

from bench.results import table, write_section

MB = 1_000_000
ROUNDS = 9


def main() -> None:
    """Package, measure, record."""
    from bench.db import current_model, scratch_database, scratch_dir

    scratch_database("nook_bench_deploy")
    from callbacks.lambda_wheels import deploy_venv
    from jobs.local.services import bootstrap_aws, local_environment
    from tests import deploy_support as ds

    bootstrap_aws(local_environment())
    work = scratch_dir("nook-bench-deploy-")
    venv = deploy_venv()
    packages = ds.package_all(venv, work / "packages")
    bare_packages = ds.package_all(venv, work / "bare", ("app", "stream"), {"NOOK_PACKAGE_BYTECODE": "0"})
    rows = []
    for stage, package in packages.items():
        zipped, unzipped = package.zip_path.stat().st_size, sum(s for _, s in ds.members(package.zip_path))
        project = sum(s for _, s in ds.members(package.archive_path)) if package.archive_path else None
        rows.append(
            {
                "stage": stage,
                "zip MB": f"{zipped / MB:.1f}",
                "unzipped MB": f"{unzipped / MB:.1f}",
                "slim project MB (unzipped, /tmp)": f"{project / MB:.0f}" if project else "—",
                "packaging s": f"{package.seconds:.0f}",
            }
        )
        print(rows[-1])
    current_model(100_000, "bench-deploy", sources=("partner",))
    runtime = ds.runtime_dir(venv, work / "var_runtime")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    health = json.loads((ds.ROOT / "tests/events/apigw_v2_health.json").read_text())
    kinesis = json.loads((ds.ROOT / "tests/events/kinesis_listing_event.json").read_text())
    dirs = {}
    for stage in ("app", "stream"):
        dirs[stage] = ds.extract(packages[stage].zip_path, work / stage)
        # the same stage packaged without bytecode, as Zappa alone builds it: every cold start compiles
        dirs[f"{stage} without bytecode"] = ds.extract(
            bare_packages[stage].zip_path, work / f"{stage}-without-bytecode"
        )
    events = {"app": health, "stream": kinesis}
    runs = interleaved_cold_starts(dirs, events, runtime, env, ROUNDS)
    floor = statistics.median(runs["floor"])
    cold = {stage: statistics.median(runs[stage]) for stage in events}
    uncompiled = {stage: statistics.median(runs[f"{stage} without bytecode"]) for stage in events}
    ratios = {
        stage: sorted(s / f for s, f in zip(runs[stage], runs["floor"], strict=True)) for stage in events
    }
    for stage, seconds in cold.items():
        print(
            f"cold start {stage}: {seconds:.3f} s; {statistics.median(ratios[stage]):.2f}x the floor "
            f"({ratios[stage][0]:.2f}-{ratios[stage][-1]:.2f}, floor {floor:.3f} s); "
            f"without bytecode {uncompiled[stage]:.3f} s"
        )
    write_section(
        "deploy",
        "`python -m bench.deploy` — `zappa package` of every stage from the deploy venv "
        "(runtime packages only; wheels for Lambda's glibc 2.26; annoy built for glibc 2.17).\n\n"
        + table(rows)
        + "\n\nCold start from the unpacked package in a fresh `python -I -S -B` (only the package and "
        "the SDK Lambda's runtime bundles on the path; -B because /var/task is read-only, so nothing "
        "compiled is cached between cold starts), Zappa's handler import + first call. "
        f"{ROUNDS} rounds, each running the floor and every package once in turn, so load on the machine "
        "hits all of them alike; medians, and the ratio to the floor within each round (median, range). "
        "The packages ship bytecode (callbacks/zip.py); the last column is the stage packaged with "
        "`NOOK_PACKAGE_BYTECODE=0`, as `zappa package` alone builds it:\n\n"
        + table(
            [
                {
                    "stage": s,
                    "cold start s": f"{v:.3f}",
                    "x floor (median of rounds)": f"{statistics.median(ratios[s]):.2f}",
                    "x floor (range)": f"{ratios[s][0]:.2f}-{ratios[s][-1]:.2f}",
                    "without bytecode s": f"{uncompiled[s]:.3f}",
                }
                for s, v in cold.items()
            ]
        )
        + f"\n\nFloor in the same rounds (zappa.handler, flask, sqlalchemy, geoalchemy2, psycopg2 only): "
        f"{floor:.3f} s (median; {min(runs['floor']):.3f}-{max(runs['floor']):.3f}). `app`: GET /health "
        "through API Gateway v2; `stream`: one Kinesis record with a 100k-listing model "
        "artifact loaded from a local directory.\n\n"
        "Targets: app and stream ≤ 1.5× the floor and ≤ 0.6 s (stream with its artifact ≤ 0.8 s).",
    )


def interleaved_cold_starts(
    dirs: dict[str, Path], events: dict[str, dict], runtime: Path, env: dict[str, str], rounds: int
) -> dict[str, list[float]]:
    """Cold start seconds per package (and the floor), measured round by round in turn."""
    from tests import deploy_support as ds

    runs: dict[str, list[float]] = {"floor": [], **{name: [] for name in dirs}}
    for _ in range(rounds):
        runs["floor"].append(float(ds.isolated_python(ds.FLOOR_CODE, [dirs["app"], runtime], env).stdout))
        for name, directory in dirs.items():
            event = events[name.split()[0]]
            runs[name].append(ds.run_handler(directory, runtime, [event], env)["cold_start"])
    return runs


if __name__ == "__main__":
    main()
