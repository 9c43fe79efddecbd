"""Scenario 10: ``status`` (table and ``--json``) after runs, and the built-in ``demo``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.scenarios.helpers import child_env, ok_run, shipped_bytes
from tests.support.runs import run_cli
from tests.support.world import AwsWorld

MINUTE = 60


def test_status_reports_each_instance(aws_world: AwsWorld) -> None:
    w = aws_world.world
    idents = {"orders-pg": "postgres", "shop-mysql": "mysql", "erp-sql": "sqlserver-se"}
    for ident, engine in idents.items():
        w.add_instance(ident, engine, bytes_per_hour=150_000)
    w.advance(45 * MINUTE)
    started = time.time()
    first = ok_run(aws_world)
    w.advance(30 * MINUTE)
    second = ok_run(aws_world, SHIPPER_INCLUDE="orders-pg,shop-mysql")  # erp-sql falls behind

    res = run_cli(aws_world, "status", "--json")
    assert res.code == 0, res.output
    rows = {r["instance"]: r for r in json.loads(res.stdout)}
    assert set(rows) == set(idents)
    for ident, row in rows.items():
        assert row["region"] == "us-east-1" and row["account"] == "123456789012"
        assert row["last_run_clean"] is True
        assert row["bytes_shipped"] == shipped_bytes(aws_world, ident) > 0
        assert row["gap_bytes"] == 0
        # behind: only the unfinished last lines held back (shipper.lines), as the oracle
        # sees them for the instances the last run read; the lag counts them as not shipped
        assert (row["lag_seconds"] > 0) == (row["bytes_behind"] > 0)
        if ident != "erp-sql":
            report = aws_world.verify(instances=[ident])
            assert row["bytes_behind"] == report.held_back_bytes, report.details()
        stamp = time.mktime(time.strptime(row["last_run_at"], "%Y-%m-%dT%H:%M:%SZ")) \
            - time.timezone
        assert started - 2 <= stamp <= time.time() + 1, row["last_run_at"]
    assert first.summary["run_id"] != second.summary["run_id"]

    table = run_cli(aws_world, "status")
    assert table.code == 0, table.output
    lines = table.stdout.splitlines()
    assert "lag" in lines[0] and "shipped" in lines[0]
    for ident in idents:
        (line,) = [x for x in lines if x.startswith(ident + " ")]
        assert str(rows[ident]["bytes_shipped"]) in line.split()


def test_status_before_any_run(aws_world: AwsWorld) -> None:
    res = run_cli(aws_world, "status")
    assert res.code == 0 and "no state" in res.stdout, res.output
    res = run_cli(aws_world, "status", "--json")
    assert res.code == 0 and json.loads(res.stdout) == []


def run_demo(aws_world: AwsWorld, out: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "shipper", "demo", "--instances", "3", "--hours", "6",
         "--out", str(out)],
        env=child_env(aws_world), capture_output=True, text=True, timeout=120, check=False)
    print(proc.stdout[-3000:], proc.stderr[-2000:])
    return proc


@pytest.mark.slow  # the whole demo, 9 s
def test_demo_runs_and_proves_the_archive(aws_world: AwsWorld, tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    proc = run_demo(aws_world, out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    verdict = [x for x in proc.stdout.splitlines() if "truth generations complete" in x]
    assert len(verdict) == 1 and verdict[0].rstrip().endswith(" OK."), proc.stdout
    assert "NOT OK" not in proc.stdout
    # Nothing was missing, so no run may warn that files were deleted unseen (issue 18).
    assert " 0 missing" in verdict[0], verdict
    assert "deleted unseen" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    copied = list(out.rglob("*.log.gz"))
    assert copied and all("/data/" in str(p) for p in copied)
    # it ends with a query over the copy and DuckDB's answer, one row per instance
    assert "FROM read_csv(" in proc.stdout and "hive_partitioning=true" in proc.stdout
    answer = proc.stdout[proc.stdout.index("instance    "):].splitlines()[1:]
    assert len(answer) == 3 and all(int(row.split()[1]) > 0 for row in answer), answer
    # a second demo replaces the first one's copy: the same number of objects, not twice
    again = run_demo(aws_world, out)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(list(out.rglob("*.log.gz"))) == len(copied)
    assert again.stdout[again.stdout.index("instance    "):] == \
        proc.stdout[proc.stdout.index("instance    "):]
