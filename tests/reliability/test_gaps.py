"""Losses are reported, never silent: gap bytes for what a run listed, suspected gaps for what no
run could see.

When RDS deletes a log file (retention, a rename chain) before all of it reached S3, the bytes
are gone. A run that had listed the file knows how many bytes it lost (``gap_bytes`` in the
summary, ``GapBytes`` in the EMF record, an entry in the state's ``gaps``). Files created and
deleted between two runs cannot be counted, but the break in continuity can: the state gets a
``{"kind": "unseen", "family": ...}`` gap and the run counts ``suspected_gaps``
(``SuspectedGaps``). These tests pin both; the cases the shipper used to miss stay here as
regression tests.
"""

from __future__ import annotations

from typing import Any

import pytest

from shipper.simulator.s3server import LocalS3
from shipper.simulator.world import DEFAULT_START
from tests.reliability.harness import run_failing_on, run_stopped_by_access_denied, states
from tests.support.runs import Run, run_inproc
from tests.support.world import AwsWorld, fresh_aws

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

HOUR = 3600
ERROR = "error/mysql-error-running.log"


def ok(run: Run) -> Run:
    assert run.code == 0 and run.crashed is None, run.describe()
    return run


def reported(run: Run) -> tuple[int, int]:
    """(gap bytes, suspected gaps) of a run, checked equal in its summary and EMF record."""
    summary, emf = run.summary, run.emf
    assert summary is not None and emf is not None, run.describe()
    assert emf["GapBytes"] == summary["gap_bytes"]
    assert emf["SuspectedGaps"] == summary["suspected_gaps"]
    return int(summary["gap_bytes"]), int(summary["suspected_gaps"])


def unseen_families(aws: AwsWorld, instance: str) -> set[str]:
    gaps: list[dict[str, Any]] = states(aws)[instance].get("gaps", [])
    return {str(g.get("family")) for g in gaps if g.get("kind") == "unseen"}


def test_listed_bytes_deleted_before_shipping_are_gap_bytes(aws_world: AwsWorld) -> None:
    """A file listed (and recorded) by a run that could not download it, then deleted by
    retention: the next run reports exactly its size as gap bytes."""
    w = aws_world.world
    inst = w.add_instance("pg", "postgres", bytes_per_hour=120_000, retention_hours=1)
    w.advance(HOUR + 600)  # -00 closed with 120 KB, -01 being written
    closed = "error/postgresql.log.2026-11-20-00"
    size = inst.file(closed).size

    run_failing_on(aws_world, lambda info: info.log_file == closed)
    w.advance(2 * HOUR)  # retention deletes -00 (and -01, fully shipped meanwhile? no: unseen)
    second = run_inproc(aws_world, "run")
    gap_bytes, _ = reported(second)
    assert gap_bytes == size, second.describe()
    gaps = states(aws_world)["pg"]["gaps"]
    assert any(g.get("file") == closed and g.get("bytes") == size for g in gaps), gaps


def test_files_created_and_deleted_between_runs_are_a_suspected_gap(
        aws_world: AwsWorld) -> None:
    """Two hourly PostgreSQL files come and go between two runs: no byte count is possible,
    but the run says a gap is suspected, in the summary, the EMF record and the state."""
    w = aws_world.world
    w.add_instance("pg", "postgres", bytes_per_hour=120_000, retention_hours=1)
    w.advance(1800)
    ok(run_inproc(aws_world, "run"))
    w.advance(4 * HOUR)
    second = ok(run_inproc(aws_world, "run"))
    assert reported(second)[1] >= 1, second.describe()
    assert "error/postgresql.log" in unseen_families(aws_world, "pg")


def test_an_empty_file_seen_once_is_not_found_again_in_a_later_file(
        aws_world: AwsWorld) -> None:
    """Was a bug, fixed in 2304241: a generation last seen empty (checks == []) is 'proven' by
    content in any later file of its family (RangeVerifier with no checks matches
    everything), so the files between them are lost without a suspected gap; the new file's
    bytes are archived under the old generation's id and dt= partition
    (instance_job.FileShipper._ship_rest_candidates / identity._plausible)"""
    w = aws_world.world
    w.add_instance("pg", "postgres", bytes_per_hour=100_000, retention_hours=1)
    ok(run_inproc(aws_world, "run"))  # at 00:00: error/postgresql.log.2026-11-20-00 is empty
    w.advance(3 * HOUR)  # -00 and -01 (100 KB each) deleted unseen; -02 listed, -03 empty
    second = ok(run_inproc(aws_world, "run"))
    doc = states(aws_world)["pg"]
    owner = [g for g in doc["generations"].values()
             if g["name"] == "error/postgresql.log.2026-11-20-02"]
    assert owner and owner[0]["first_name"] == "error/postgresql.log.2026-11-20-02", owner
    assert reported(second)[1] >= 1, second.describe()


def test_a_header_only_running_log_is_not_found_again_hours_later(
        aws_world: AwsWorld) -> None:
    """Was a bug, fixed in 2304241: a MySQL running log seen with nothing but its header (active,
    offset <= 4096) is 'proven' by that common header in the running file of a later hour,
    so the hours between are lost without a suspected gap (identity.make_plan 'stay' +
    FileShipper._try_stay: _quiet_tiny exempts active generations)"""
    w = aws_world.world
    inst = w.add_instance("my", "mysql", bytes_per_hour=100_000, retention_hours=1)
    ok(run_inproc(aws_world, "run"))  # the slow and general logs hold only the header
    w.advance(3 * HOUR + 600)  # .0, .1 deleted unseen; .2 listed; running files grown
    second = ok(run_inproc(aws_world, "run"))
    assert [g for g in inst.generations() if not g.exists and g.names[-1].endswith(".1")]
    families = unseen_families(aws_world, "my")
    assert {"slowquery/mysql-slowquery.log", "general/mysql-general.log"} <= families, (
        families, second.describe())


def test_oracle_traces_deleted_unseen_are_a_suspected_gap(aws_world: AwsWorld) -> None:
    """Was a bug, fixed in 2304241: Oracle trace files (and SQL Server .trc/.xel) are each their
    own family (identity.family strips no suffix), and the continuity check skipped families
    with nothing listed: traces created and deleted between runs vanish without a suspected
    gap"""
    w = aws_world.world
    inst = w.add_instance("ora", "oracle-ee", bytes_per_hour=100_000, retention_hours=1,
                          traces_per_hour=2.0, trace_bytes=4096)
    w.advance(1800)
    ok(run_inproc(aws_world, "run"))
    seen = {r.truth_id for r in inst.files().values()}
    w.advance(4 * HOUR)
    second = ok(run_inproc(aws_world, "run"))
    lost = [g for g in inst.generations() if not g.exists and g.truth_id not in seen]
    assert lost, "the scenario must delete traces nobody listed"
    assert reported(second)[1] >= 1, second.describe()


def test_an_empty_listing_is_not_a_gap(aws_world: AwsWorld) -> None:
    """Was a bug, fixed in 2304241: when DescribeDBLogFiles comes back empty twice (the API's
    'empty for a moment' quirk), InstanceJob._account_for_missing treats every known file
    as vanished and records its unshipped bytes as a gap; the files are back at the next
    run and get shipped, but the gap stays in the state and was counted in
    gap_bytes/GapBytes: a false alarm"""
    w = aws_world.world
    inst = w.add_instance("pg", "postgres", bytes_per_hour=120_000)
    w.advance(HOUR + 600)
    closed = "error/postgresql.log.2026-11-20-00"

    run_failing_on(aws_world, lambda info: info.log_file == closed)
    aws_world.sim.faults.empty_listing_rate = 1.0
    blind = run_inproc(aws_world, "run")
    aws_world.sim.faults.empty_listing_rate = 0.0
    assert blind.code in (0, 1), blind.describe()
    after = ok(run_inproc(aws_world, "run"))
    aws_world.verify().assert_ok()
    assert inst.file(closed).size > 0
    assert reported(blind)[0] == 0 and reported(after)[0] == 0, blind.describe()
    assert not [g for g in states(aws_world)["pg"]["gaps"] if g.get("bytes")], (
        states(aws_world)["pg"]["gaps"])


def test_bytes_listed_by_a_failed_run_are_counted_when_lost(aws_world: AwsWorld) -> None:
    """Was a bug, fixed in 2304241: a known generation's listed size is recorded only when its
    download succeeds (InstanceContext.settle): when the download fails and the file is
    then deleted, the gap is computed from the older seen_size, so bytes a run listed are
    lost with gap_bytes 0 (only a suspected gap is reported)"""
    w = aws_world.world
    inst = w.add_instance("pg", "postgres", bytes_per_hour=120_000, retention_hours=1)
    name = "error/postgresql.log.2026-11-20-00"
    w.advance(1800)
    ok(run_inproc(aws_world, "run"))  # ships the first 60 KB of -00
    shipped = inst.file(name).size
    w.advance(1200)
    listed = inst.file(name).size  # 100 KB listed by the next run, which cannot download it

    run_failing_on(aws_world, lambda info: info.log_file == name
                   and info.action != "DescribeDBLogFiles")
    w.advance(5400)  # retention deletes -00
    after = ok(run_inproc(aws_world, "run"))
    assert name not in inst.files()
    gap_bytes, _ = reported(after)
    assert gap_bytes >= listed - shipped, after.describe()


def test_an_empty_running_log_is_not_continued_by_a_later_file_of_its_name(
        aws_world: AwsWorld) -> None:
    w = aws_world.world
    inst = w.add_instance("my", "mysql", bytes_per_hour=100_000, retention_hours=1)
    ok(run_inproc(aws_world, "run"))  # 00:00: error/mysql-error-running.log is empty
    w.advance(3 * HOUR + 600)  # its .00 and .01 renames are deleted before anyone lists them
    second = ok(run_inproc(aws_world, "run"))
    assert [g for g in inst.generations()
            if not g.exists and g.names[-1].endswith("2026-11-20.01")]
    running = inst.file("error/mysql-error-running.log")
    owner = [g for g in states(aws_world)["my"]["generations"].values()
             if g["name"] == "error/mysql-error-running.log" and g["missing_since_ms"] is None]
    assert owner and owner[0]["first_seen_ms"] >= int(running.created_at * 1000), owner
    assert "error/mysql-error-running.log" in unseen_families(aws_world, "my"), (
        second.describe())


def test_an_empty_running_log_is_not_continued_by_the_next_hours_file(local_s3: LocalS3) -> None:
    """MySQL's error log, empty at 00:07 and renamed at 01:00, must not be 'continued' at 01:05
    by the new running log: the rename is in the same listing (found by test_schedules)."""
    with fresh_aws(local_s3, start=DEFAULT_START + 420) as aws:
        aws.world.add_instance("my", "mariadb", bytes_per_hour=100_000)
        ok(run_inproc(aws, "run"))  # 00:07: a fresh instance, its error log is empty
        aws.world.advance(58 * 60)  # 01:05: renamed at 01:00, a new running log since
        ok(run_inproc(aws, "run"))
        aws.verify().assert_ok()
        running = aws.world.instance("my").file("error/mysql-error-running.log")
        owner = [g for g in states(aws)["my"]["generations"].values()
                 if g["name"] == "error/mysql-error-running.log"
                 and g["missing_since_ms"] is None]
        assert owner and owner[0]["first_seen_ms"] >= int(running.created_at * 1000), owner


def test_a_break_first_seen_by_a_run_that_stopped_early_is_still_reported(
        aws_world: AwsWorld) -> None:
    """The first run to list the files after a loss stops early (an access error): it records
    the new files, so the break must be recorded with them (found by test_schedules)."""
    w = aws_world.world
    inst = w.add_instance("pg", "postgres", bytes_per_hour=60_000, retention_hours=1)
    w.advance(1800)
    ok(run_inproc(aws_world, "run"))  # knows -00
    w.advance(3 * HOUR)  # -00 and -01 deleted; -02 and -03 listed, nobody saw -01
    run_stopped_by_access_denied(aws_world, inst.identifier)
    after = ok(run_inproc(aws_world, "run"))
    assert [g for g in inst.generations() if g.names[-1].endswith("-01") and not g.exists]
    assert "error/postgresql.log" in unseen_families(aws_world, "pg"), after.describe()


def test_an_undecided_break_survives_the_run_that_stopped_early(aws_world: AwsWorld) -> None:
    """A day later MySQL's reused slow log names hold new files: whether the generations known
    from yesterday are still there takes content proofs, which a run may stop before; that run
    records the newer files, so the question must be kept until a complete pass answers it
    (found by test_schedules: MariaDB, a day apart, a SIGTERM'd run)."""
    w = aws_world.world
    inst = w.add_instance("my", "mariadb", bytes_per_hour=100_000)
    w.advance(HOUR + 2220)  # 01:37: knows the slow log of hour 0 and the one being written
    ok(run_inproc(aws_world, "run"))
    w.advance(26 * HOUR + 1800)  # day 2, 04:07: .0 to .3 hold today's files (day 1's .2, .3
    stopped = run_stopped_by_access_denied(aws_world, inst.identifier)  # were never seen)
    pending = states(aws_world)["my"].get("pending_breaks", {})
    assert "slowquery/mysql-slowquery.log" in pending, (pending, stopped.describe())
    inst.delete_file("other/denied.log")
    after = ok(run_inproc(aws_world, "run"))
    assert "slowquery/mysql-slowquery.log" in unseen_families(aws_world, "my"), after.describe()
    assert "slowquery/mysql-slowquery.log" not in states(aws_world)["my"].get("pending_breaks",
                                                                               {})
    aws_world.verify().assert_ok()


def test_a_failed_proof_is_no_proof_of_continuity(aws_world: AwsWorld) -> None:
    """A day later the error log generation known from yesterday is only a candidate for
    today's renamed files. The pass whose download of them fails keeps the candidate claimed
    (no other file may take it meanwhile), but that is no proof it was found: the question
    stays open until a pass answers it (found by test_schedules under throttling)."""
    w = aws_world.world
    w.add_instance("my", "mariadb", bytes_per_hour=100_000)
    w.advance(HOUR + 2220)  # 01:37
    ok(run_inproc(aws_world, "run"))
    w.advance(26 * HOUR + 1800)  # day 2, 04:07: yesterday's 01, 02 and 03 error logs deleted

    failed = run_failing_on(aws_world, lambda info: (info.log_file or "").startswith(
        f"{ERROR}.") and info.action == "DownloadCompleteLogFile")
    pending = states(aws_world)["my"].get("pending_breaks", {})
    assert ERROR in pending and ERROR not in unseen_families(aws_world, "my"), (
        pending, failed.describe())
    after = ok(run_inproc(aws_world, "run"))
    assert ERROR in unseen_families(aws_world, "my"), after.describe()
    assert not states(aws_world)["my"].get("pending_breaks"), after.describe()
    aws_world.verify().assert_ok()
