"""Scenario 4: throttling and injected faults. Runs succeed, or fail cleanly (exit 1) when
retries run out and a later clean run completes; the archive is exact at the end."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from shipper.simulator.faults import ApiError, RequestInfo
from tests.scenarios.helpers import DOWNLOAD_ACTIONS, ok_run
from tests.support.runs import assert_no_traceback, describe, run_cli
from tests.support.world import AwsWorld

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

MINUTE = 60


def small_world(aws: AwsWorld) -> None:
    w = aws.world
    w.add_instance("pg", "postgres", bytes_per_hour=200_000)
    w.add_instance("my", "mysql", bytes_per_hour=200_000)
    w.add_instance("ms", "sqlserver-se", bytes_per_hour=150_000, trace_rotate_bytes=20_000)


def test_throttled_runs_back_off_and_succeed(aws_world: AwsWorld) -> None:
    small_world(aws_world)
    faults = aws_world.sim.faults
    faults.set_throttle(3, rate=15.0)  # the shipper is allowed 100/s with a burst of 300
    throttles = retries = 0
    for _ in range(3):
        aws_world.world.advance(40 * MINUTE)
        res = ok_run(aws_world, SHIPPER_MAX_ATTEMPTS="12")
        throttles += res.summary["throttles"]
        retries += res.summary["retries"]
        assert res.summary["failures"] == 0, res.summary
    print("throttles", throttles, "retries", retries, aws_world.sim.stats.snapshot())
    assert aws_world.sim.stats.throttled > 0
    assert throttles > 0 and retries >= throttles
    aws_world.verify().assert_ok()


FAULTS: dict[str, dict[str, Any]] = {
    "error": {"error_rate": 0.15},
    "drop": {"drop_rate": 0.1},
    "drop-mid-stream": {"drop_mid_stream_rate": 0.5},
    "empty-listing": {"empty_listing_rate": 0.5},
    # Lags smaller than any file's growth between two runs here; a lag that reaches below
    # the shipped offset is its own test (test_listed_size_lagging_below_the_shipped_offset).
    "size-lag": {"size_lag_rate": 0.6, "size_lag_max_bytes": 2_000},
    "everything": {"error_rate": 0.05, "drop_rate": 0.05, "drop_mid_stream_rate": 0.3,
                   "empty_listing_rate": 0.2, "size_lag_rate": 0.3, "size_lag_max_bytes": 2_000,
                   "overlap_rate": 0.2, "early_end_rate": 0.1},
}


def fired(aws: AwsWorld, name: str, counts: dict[str, int]) -> bool:
    stats = aws.sim.stats
    if name == "error":
        return stats.errors_injected > 0
    if name in ("drop", "drop-mid-stream"):
        return stats.dropped > 0
    if name == "everything":
        return stats.errors_injected > 0 and stats.dropped > 0 and len(counts) == 2
    return counts.get(name, 0) > 0


@pytest.mark.parametrize("name", list(FAULTS))
def test_faults_then_a_clean_run_completes(aws_world: AwsWorld, name: str) -> None:
    small_world(aws_world)
    faults = aws_world.sim.faults
    faults.page_bytes = 16_384
    counts: dict[str, int] = {}
    original = faults.chance

    def chance(rate: float) -> bool:  # count the listing quirks as they fire
        hit = original(rate)
        if hit and rate == faults.empty_listing_rate:
            counts["empty-listing"] = counts.get("empty-listing", 0) + 1
        if hit and rate == faults.size_lag_rate:
            counts["size-lag"] = counts.get("size-lag", 0) + 1
        return hit

    faults.chance = chance  # type: ignore[method-assign]
    for key, value in FAULTS[name].items():
        setattr(faults, key, value)
    codes = []
    retries = 0
    for _ in range(3):
        aws_world.world.advance(30 * MINUTE)
        res = aws_world.run(SHIPPER_MAX_ATTEMPTS="4")
        assert res.code in (0, 1), describe(res)
        assert_no_traceback(res)
        if res.code == 1:
            assert res.summary["failures"] > 0 and any(
                x.get("level") == "ERROR" for x in res.lines), describe(res)
        assert res.summary["gap_bytes"] == 0, "a fault was mistaken for lost data"
        codes.append(res.code)
        retries += res.summary["retries"]
    assert fired(aws_world, name, counts), f"{name} never fired"
    if name in ("error", "drop", "drop-mid-stream"):
        assert retries > 0
    for key in FAULTS[name]:
        setattr(faults, key, 0.0)
    clean = ok_run(aws_world)
    assert clean.summary["failures"] == 0
    print(name, codes, "retries", retries, aws_world.sim.stats.snapshot())
    aws_world.verify().assert_ok()


@pytest.mark.parametrize("engine,name", [
    ("postgres", None),
    ("sqlserver-se", "log/log_0.trc"),
])
def test_listed_size_lagging_below_the_shipped_offset(aws_world: AwsWorld, engine: str,
                                                      name: str | None) -> None:
    """The file grew a little since the last run, and the listing reports it smaller than
    what was already shipped (as ``Faults.size_lag_rate`` does at random for recent files)."""
    w = aws_world.world
    inst = w.add_instance("db", engine, bytes_per_hour=200_000)
    w.advance(30 * MINUTE)
    first = ok_run(aws_world)
    target = name or max(inst.files(), key=lambda n: inst.file(n).created_at)
    shipped = inst.file(target).size
    total_before = sum(g.size for g in w.generations())
    w.advance(2 * MINUTE)  # a little growth, well inside the listing's "recent" window
    grown = inst.file(target).size
    growth = sum(g.size for g in w.generations()) - total_before  # every file's, not only ours
    assert 0 < grown - shipped < 10_000
    real_list = w.list_files

    def lagging(ident: str, recent_seconds: float = 300.0) -> list[Any]:
        return [replace(e, size=shipped - 100) if e.name == target else e
                for e in real_list(ident, recent_seconds)]

    w.list_files = lagging  # type: ignore[method-assign]
    try:
        res = ok_run(aws_world)
    finally:
        w.list_files = real_list  # type: ignore[method-assign]
    # the growth, and the unfinished last lines the first run held back (shipper.lines): not
    # the ``shipped`` bytes of the target again
    assert res.summary["bytes_shipped"] <= growth + first.summary["bytes_held_back"], res.summary
    ok_run(aws_world)
    aws_world.verify().assert_ok()


def test_empty_listings_are_not_taken_for_lost_files(aws_world: AwsWorld) -> None:
    """Regression: an empty listing, answered twice in a row, was believed, and every unshipped
    remainder became a permanent gap (state, summary, metric) although the next run listed the
    files again and shipped them completely."""
    w = aws_world.world
    w.add_instance("db", "mysql", bytes_per_hour=200_000)
    w.advance(30 * MINUTE)
    broken = "slowquery/mysql-slowquery.log"

    def fail_one_file(info: RequestInfo) -> ApiError | None:
        if info.log_file == broken and info.action in DOWNLOAD_ACTIONS:
            return ApiError("InternalFailure", "An internal error has occurred.", 500)
        return None

    remove = aws_world.sim.add_hook(fail_one_file)
    try:
        failed = aws_world.run(SHIPPER_MAX_ATTEMPTS="2")  # that file stays behind
    finally:
        remove()
    assert failed.code == 1, describe(failed)
    behind = [r for r in json.loads(run_cli(aws_world, "status", "--json").stdout)
              if r["bytes_behind"] > 0]
    assert behind, "the failed file should be behind"

    w.advance(5 * MINUTE)
    empty = aws_world.sim.faults
    empty.empty_listing_rate = 1.0  # every page empty for this run (the retry too)
    try:
        blind = aws_world.run()
    finally:
        empty.empty_listing_rate = 0.0
    assert blind.code in (0, 1), describe(blind)
    later = ok_run(aws_world)
    aws_world.verify().assert_ok()  # everything arrived after all
    status = json.loads(run_cli(aws_world, "status", "--json").stdout)
    assert [r["gap_bytes"] for r in status] == [0]
    assert blind.summary["gap_bytes"] == later.summary["gap_bytes"] == 0
