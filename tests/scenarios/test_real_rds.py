"""Real RDS, not our simulator (issue 10): one scenario per behaviour of real RDS that the
simulator used to lack (sources: shipper/simulator/FIDELITY.md), each on the real shape of the
behaviour and under every variant of the ambiguities it touches.
"""

from __future__ import annotations

from typing import Any

import pytest

from shipper.simulator.faults import AMBIGUITIES, variant_params
from shipper.simulator.world import World
from tests.scenarios.helpers import (
    HOUR,
    describe,
    error_lines,
    ok_run,
    request_log,
)
from tests.support.world import AwsWorld

DAY = 24 * HOUR


def every_variant() -> list[Any]:
    """The simulator's defaults, then each other variant of every ambiguity alone (slow)."""
    return [pytest.param({}, id="defaults"), *(
        pytest.param({name: variant}, id=f"{name}={variant}", marks=pytest.mark.slow)
        for name, variant in variant_params() if variant != AMBIGUITIES[name].default)]


def variants_of(name: str, but: str | None = None) -> list[Any]:
    """Every variant of one ambiguity (except ``but``): the default, or else the first, in
    the fast tier; the others slow."""
    chosen = [v for v in AMBIGUITIES[name].variants if v != but]
    fast = AMBIGUITIES[name].default if AMBIGUITIES[name].default in chosen else chosen[0]
    return [pytest.param(v, id=v, marks=() if v == fast else pytest.mark.slow)
            for v in chosen]


def set_variants(aws: AwsWorld, variants: dict[str, str]) -> None:
    for name, variant in variants.items():
        setattr(aws.sim.faults, name, variant)


def assert_idle(aws: AwsWorld) -> None:
    """A run with nothing new: no download, no object, no gap, exit 0."""
    keys = sorted(aws.data_keys())
    with request_log(aws) as rec:
        res = ok_run(aws)
    s = res.summary
    assert rec.downloads() == [], [(i.action, i.log_file) for i in rec.downloads()]
    assert s["objects_written"] == 0 and s["bytes_downloaded"] == 0, s
    assert s["gap_bytes"] == 0 and s["suspected_gaps"] == 0, s
    assert sorted(aws.data_keys()) == keys


# --- rules outside the core --------------------------------------------------------------------


def test_documentdb_and_neptune_instances_in_the_account(aws_world: AwsWorld) -> None:
    """DescribeDBInstances also returns DocumentDB, Neptune and RDS Custom instances; the log
    API does not serve them. The run skips each with one info line and ships the rest."""
    w = aws_world.world
    w.add_instance("docs", "docdb", cluster="docs-cluster")
    w.add_instance("graph", "neptune", cluster="graph-cluster")
    w.add_instance("custom", "custom-oracle-ee")
    w.add_instance("pg", "postgres", bytes_per_hour=100_000)
    w.add_instance("my", "mysql", bytes_per_hour=100_000)
    w.advance(HOUR + 600)
    with request_log(aws_world) as rec:
        res = ok_run(aws_world)
    assert res.summary["instances"] == 2 and res.summary["instances_skipped"] == 3, res.summary
    assert set(rec.by_instance("DescribeDBLogFiles")) == {"pg", "my"}
    skipped = [x for x in res.lines if x.get("message") == "engine has no RDS log files; skipping"]
    assert sorted((x["instance"], x["engine"]) for x in skipped) == [
        ("custom", "custom-oracle-ee"), ("docs", "docdb"), ("graph", "neptune")]
    assert all(x["level"] == "INFO" for x in skipped)
    aws_world.verify().assert_ok()
    assert_idle(aws_world)


@pytest.mark.parametrize("answer", variants_of("retired_rest_answer"))
def test_after_v13_is_retired(aws_world: AwsWorld, answer: str) -> None:
    """After 2027-03-01 only /v19/ serves. v19 is tried first, and whatever a retired path
    answers, the run moves on instead of failing."""
    w = aws_world.world
    faults = aws_world.sim.faults
    faults.rest_versions = frozenset({"v19"})
    faults.retired_rest_answer = answer
    w.add_instance("pg", "postgres", bytes_per_hour=3_000_000)  # files over a page: REST
    w.advance(2 * HOUR + 600)
    with request_log(aws_world) as rec:
        ok_run(aws_world)
    versions = [i.rest_version for i in rec.seen if i.action == "DownloadCompleteLogFile"]
    assert versions and set(versions) == {"v19"}, versions
    aws_world.verify().assert_ok()
    # An operator who pinned v13 first still gets data: the refusal moves on to v19.
    w.advance(HOUR)
    with request_log(aws_world) as rec:
        ok_run(aws_world, SHIPPER_COMPLETE_FILE_VERSIONS="v13,v19")
    versions = [i.rest_version for i in rec.seen if i.action == "DownloadCompleteLogFile"]
    assert versions[:2] == ["v13", "v19"] and versions.count("v13") == 1, versions
    aws_world.verify().assert_ok()


# --- rules of the core ---------------------------------------------------------------------------


@pytest.mark.parametrize("variants", every_variant())
def test_binary_data_refusal_is_an_error_response(aws_world: AwsWorld,
                                                  variants: dict[str, str]) -> None:
    """Real RDS refuses binary files with an error (the simulator's default): the file goes
    to the REST download, and the growing trace file again each run, exactly once."""
    set_variants(aws_world, variants)
    assert aws_world.sim.faults.binary_as_error
    w = aws_world.world
    w.add_instance("ss", "sqlserver-se", bytes_per_hour=200_000, trace_rotate_bytes=400_000)
    w.advance(1800)
    first = aws_world.run()
    assert first.code == 0, describe(first) + "\n" + "\n".join(error_lines(first))
    aws_world.verify().assert_ok()
    w.advance(1800)  # the growing .trc file grows: the next run pages it again
    second = aws_world.run()
    assert second.code == 0, describe(second) + "\n" + "\n".join(error_lines(second))
    aws_world.verify().assert_ok()


@pytest.mark.parametrize("variants", every_variant())
def test_oracle_alert_log_rotated_at_midnight(aws_world: AwsWorld,
                                              variants: dict[str, str]) -> None:
    set_variants(aws_world, variants)
    w = aws_world.world
    w.add_instance("ora", "oracle-ee", bytes_per_hour=200_000, traces_per_hour=1,
                   alert_daily_rotation=True)
    w.advance(23 * HOUR + 1800)
    ok_run(aws_world)
    w.advance(HOUR)  # 00:30: yesterday's alert log now has a dated name, same bytes
    ok_run(aws_world)
    assert "trace/alert_ORCL.log.2026-11-20" in w.instance("ora").files()
    aws_world.verify().assert_ok()  # the renamed alert log is not a second generation
    assert_idle(aws_world)


@pytest.mark.parametrize("variants", every_variant())
def test_sqlserver_agent_log_cycles(aws_world: AwsWorld, variants: dict[str, str]) -> None:
    set_variants(aws_world, variants)
    w = aws_world.world
    w.add_instance("ss", "sqlserver-se", bytes_per_hour=200_000, agent_log=True,
                   trace_files=False, rotation_minutes=60)
    w.advance(1800)
    ok_run(aws_world)
    w.advance(HOUR)  # ERROR -> ERROR.1 and SQLAGENT.OUT -> SQLAGENT.1
    ok_run(aws_world)
    aws_world.verify().assert_ok()
    assert_idle(aws_world)


@pytest.mark.parametrize("offsets", variants_of("filtered_marker_offsets"))
def test_filtered_mysql_error_logs(aws_world: AwsWorld, offsets: str) -> None:
    aws_world.sim.faults.filtered_marker_offsets = offsets
    w = aws_world.world
    w.add_instance("my", "mysql", bytes_per_hour=200_000, slow_log=False, general_log=False,
                   error_log_filtered_ratio=0.5)
    w.advance(HOUR + 1200)
    ok_run(aws_world)
    aws_world.verify().assert_ok()
    assert_idle(aws_world)  # closed hourly files are not downloaded again
    w.advance(HOUR)
    ok_run(aws_world)
    aws_world.verify().assert_ok()
    assert_idle(aws_world)


@pytest.mark.parametrize("variant", variants_of("marker_hour", but="creation"))
def test_marker_prefix_moves_during_a_long_lived_file(aws_world: AwsWorld,
                                                      variant: str) -> None:
    resume_over_hours(aws_world, variant)


def test_marker_prefix_fixed_at_creation(aws_world: AwsWorld) -> None:
    """The old rule's variant (the hour the generation was created): the same resume."""
    resume_over_hours(aws_world, "creation")


def resume_over_hours(aws: AwsWorld, variant: str) -> None:
    """Oracle's alert log lives for days: each hourly run must resume it with portions,
    downloading only the new bytes, whatever the marker prefix does."""
    aws.sim.faults.marker_hour = variant
    w = aws.world
    ora = w.add_instance("ora", "oracle-ee", bytes_per_hour=60_000, traces_per_hour=0)
    w.advance(1800)
    ok_run(aws)
    for _ in range(3):
        before = ora.file("trace/alert_ORCL.log").size
        w.advance(HOUR)
        with request_log(aws) as rec:
            res = ok_run(aws)
        grown = ora.file("trace/alert_ORCL.log").size - before
        actions = [i.action for i in rec.downloads()]
        assert "DownloadCompleteLogFile" not in actions, actions
        assert res.summary["bytes_downloaded"] == grown, res.summary
    aws.verify().assert_ok()


@pytest.mark.slow  # ships 1,050 files
@pytest.mark.parametrize("listing_marker", AMBIGUITIES["oracle_listing_marker"].variants)
def test_oracle_listing_without_a_marker_after_1000(aws_world: AwsWorld,
                                                    listing_marker: str) -> None:
    """Oracle returns at most 1,000 records; with or without a Marker after them, every file
    is listed (by FilenameContains filters when there is none) and shipped."""
    aws_world.sim.faults.oracle_listing_marker = listing_marker
    w = aws_world.world
    ora = w.add_instance("ora", "oracle-ee", bytes_per_hour=10_000, traces_per_hour=0)
    for i in range(1050):
        ora.add_file(f"trace/ORCL_ora_{i:05d}.trc", b"trace line %d\n" % i)
    w.advance(600)
    res = aws_world.run()
    assert res.code == 0, describe(res)
    assert res.summary["incomplete_listings"] == 0, res.summary
    aws_world.verify().assert_ok()  # every existing file shipped
    assert_idle(aws_world)


@pytest.mark.slow  # a simulated day of every engine, 7 s
@pytest.mark.parametrize("variants", every_variant())
def test_idle_after_a_day_of_real_rds(aws_world: AwsWorld, variants: dict[str, str]) -> None:
    """The issue's 'done when': after a day of these behaviours an idle run downloads
    nothing, writes nothing and reports no gap."""
    set_variants(aws_world, variants)
    assert aws_world.sim.faults.binary_as_error  # the defaults are real RDS
    w: World = aws_world.world
    assert w.real_rotation
    w.add_instance("ora", "oracle-ee", bytes_per_hour=50_000, traces_per_hour=1)
    w.add_instance("ss", "sqlserver-se", bytes_per_hour=50_000, rotation_minutes=360)
    w.add_instance("my", "mysql", bytes_per_hour=50_000)
    w.add_instance("docs", "docdb")
    for _ in range(6):
        w.advance(4 * HOUR)
        res = aws_world.run()
        assert res.code == 0, describe(res) + "\n" + "\n".join(error_lines(res))
    aws_world.verify().assert_ok()
    assert_idle(aws_world)
