"""The benchmarks' own helpers."""

from pathlib import Path

from jobs.local import services
from tests.conftest import free_port, run_python


def test_a_benchmarks_scratch_directory_goes_when_it_exits():
    made = run_python(
        "from bench.db import scratch_dir; d = scratch_dir('nook-test-scratch-'); "
        "(d / 'artifact.bin').write_bytes(b'x' * 1000); print(d)"
    )
    assert made.returncode == 0, made.stderr
    path = Path(made.stdout.strip())
    assert path.name.startswith("nook-test-scratch-") and not path.exists()


def test_repeated_stream_rounds_report_the_median_rate_and_its_range():
    from bench.stream import over_rounds

    def round_(rate, own, seconds):
        return [{"database": "empty", "records/s": rate, "records/s without them": own, "seconds": seconds}]

    rows = over_rounds(
        [round_("2,317", "3,188", "4.32"), round_("1,766", "2,385", "5.66"), round_("1,690", "2,274", "5.92")]
    )
    assert rows == [
        {
            "database": "empty",
            "records/s": "1,766 (1,690-2,317)",
            "records/s without them": "2,385 (2,274-3,188)",
            "seconds": "5.92",  # the last round's
        }
    ]
    once = [round_("2,000", "3,000", "5.00")]
    assert over_rounds(once) == once[0] and over_rounds(once) is not once[0]


def test_time_spent_counts_a_modules_functions_while_it_runs_and_puts_them_back():
    import time
    from types import SimpleNamespace

    from bench.results import time_spent

    def nap(seconds):
        time.sleep(seconds)
        return seconds

    module = SimpleNamespace(nap=nap)
    with time_spent(module, ["nap"]) as spent:
        assert module.nap(0.02) == 0.02 and module.nap(0.01) == 0.01  # callers see the same results
        assert module.nap is not nap
    assert module.nap is nap
    assert 0.03 <= spent["nap"] < 0.5


def test_cpu_seconds_count_the_handler_postgresql_and_moto(tmp_path):
    """bench.stream's CPU columns: this process, the postmaster's backends, and moto, each moved by work
    done in it alone."""
    from sqlalchemy import text

    from bench.stream import cpu_seconds
    from models.session import get_engine

    pids = services.server_pids()
    assert "postgres" in pids  # the tests' database is the services' cluster's
    port = free_port()
    pids["moto"] = services.start_moto(port, tmp_path / "moto.log")
    connection = get_engine().connect()  # its backend lives on until the end: counted live, not reaped
    try:
        connection.execute(text("SELECT 1"))
        before = cpu_seconds(pids)
        assert connection.scalar(text("SELECT count(*) FROM generate_series(1, 3000000)")) == 3_000_000
        between = cpu_seconds(pids)
        for _ in range(100):  # ~0.6 ms of moto's CPU each, measured: several clock ticks (10 ms)
            assert services.moto_responding(port)
        after_moto = cpu_seconds(pids)
        assert sum(n * n for n in range(2_000_000)) > 0
        after = cpu_seconds(pids)
    finally:
        connection.close()
        services.stop_pid(pids["moto"])
    counted = between["PostgreSQL"] - before["PostgreSQL"]
    assert counted >= 0.05
    assert between["handler"] - before["handler"] < counted / 2  # it waited for the backend's count
    assert after_moto["moto"] - between["moto"] > 0
    assert after["handler"] - after_moto["handler"] >= 0.05
