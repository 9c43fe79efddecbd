"""Minimal reproductions of exactly-once bugs the reliability suite found (the property-based
schedules and the no-leak runs), kept as deterministic regression tests.

Each one drives the real CLI against the simulator; the faults are seeded and single-threaded
where they matter, so the reproduction does not depend on timing.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

import shipper.ledger
from shipper.simulator.world import DEFAULT_START
from tests.reliability.harness import S3Faults, key_kind, run_stopped_by_access_denied, states
from tests.support.runs import Run, run_inproc
from tests.support.world import AwsWorld

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

HOUR = 3600


def ok(run: Run) -> Run:
    assert run.code == 0 and run.crashed is None, run.describe()
    return run


def test_a_lagging_listed_size_does_not_reship_the_file(aws_world: AwsWorld) -> None:
    w = aws_world.world
    w.add_instance("pg", "postgres", bytes_per_hour=60_000)
    w.advance(1800)
    ok(run_inproc(aws_world, "run"))  # ships the 30 KB of -00 written so far
    w.advance(10)  # a few bytes more; the file is "recently written"
    faults = aws_world.sim.faults
    faults.size_lag_rate = 1.0  # the listing says up to 64 KB less than the file holds
    ok(run_inproc(aws_world, "run"))
    faults.size_lag_rate = 0.0
    ok(run_inproc(aws_world, "run"))
    aws_world.verify().assert_ok()


def test_two_runs_back_to_back_ship_once(aws_world: AwsWorld) -> None:
    """The same trigger without the quirk: nothing written between two runs."""
    w = aws_world.world
    w.add_instance("pg", "postgres", bytes_per_hour=60_000)
    w.add_instance("my", "mysql", bytes_per_hour=60_000)
    w.advance(1800)
    ok(run_inproc(aws_world, "run"))
    idle = ok(run_inproc(aws_world, "run"))
    assert idle.summary is not None and idle.summary["objects_written"] == 0
    aws_world.verify().assert_ok()


def test_a_header_only_running_log_continues_under_its_rotated_name(
        aws_world: AwsWorld) -> None:
    w = aws_world.world
    w.add_instance("m", "mariadb", bytes_per_hour=100_000)
    first = ok(run_inproc(aws_world, "run"))  # a fresh instance: the logs hold the header only
    assert first.summary is not None and first.summary["bytes_shipped"] > 0
    w.advance(HOUR + 420)  # renamed to .0 at 01:00 with an hour of queries; new running logs
    second = ok(run_inproc(aws_world, "run"))
    aws_world.verify().assert_ok()
    assert second.summary is not None and second.summary["gap_bytes"] == 0, second.describe()


def test_a_run_that_stops_early_records_no_gap_for_files_it_did_not_reach(
        aws_world: AwsWorld) -> None:
    w = aws_world.world
    inst = w.add_instance("pg", "postgres", bytes_per_hour=60_000)
    w.advance(1800)
    ok(run_inproc(aws_world, "run"))  # -00 shipped up to 30 KB, still being written
    w.advance(1200)  # -00 grew: a 'stay' job, run after the first round
    stopped = run_stopped_by_access_denied(aws_world, inst.identifier, "other/new.log",
                                           b"a new file: a first-round job\n" * 100)
    after = ok(run_inproc(aws_world, "run"))
    aws_world.verify().assert_ok()
    gaps = [g for g in states(aws_world)["pg"]["gaps"] if g.get("bytes")]
    assert stopped.summary is not None and stopped.summary["gap_bytes"] == 0, (
        stopped.describe())
    assert not gaps, (gaps, after.describe())


def test_a_file_first_shipped_under_its_rotated_name_is_no_gap(aws_world: AwsWorld) -> None:
    w = aws_world.world
    w.add_instance("my", "mysql", bytes_per_hour=200_000)
    w.advance(420)
    failed = run_inproc(aws_world, "run", SHIPPER_MAX_ATTEMPTS="1",
                        s3_faults=S3Faults(1.0, kinds=("data",), modes=("500",)))
    assert failed.code == 1, failed.describe()
    w.advance(90 * 60)  # the logs seen at 00:07 are renamed .0 at 01:00
    after = ok(run_inproc(aws_world, "run"))
    report = aws_world.verify()
    report.assert_ok()
    assert not [m for m in report.partial], report.details()
    gaps = [g for g in states(aws_world)["my"]["gaps"] if g.get("bytes")]
    assert after.summary is not None and after.summary["gap_bytes"] == 0, (gaps,
                                                                          after.describe())


def test_a_stale_empty_generation_does_not_hide_the_one_being_shipped(
        aws_world: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stopped run leaves an empty generation under the running log's name next to the one
    it shipped the new file under; with the listed Size lagging below the shipped offset, the
    stale one was taken for the file and the file shipped again (found by test_schedules)."""
    # Generation ids are random, and which same-named generation make_plan meets first follows
    # them: ids that grow with time make the older one come first, every time.
    ids = itertools.count(1)
    monkeypatch.setattr(shipper.ledger, "new_generation_id",
                        lambda: f"{next(ids):020x}")
    w = aws_world.world
    inst = w.add_instance("my", "mysql", bytes_per_hour=200_000)
    ok(run_inproc(aws_world, "run"))  # 00:00: the running error log is empty
    w.advance(2 * HOUR + 1200)  # renamed twice since; a new running error log of 6.6 KB
    # ships the new running log, stops early
    run_stopped_by_access_denied(aws_world, inst.identifier)
    inst.delete_file("other/denied.log")
    w.advance(10)
    aws_world.sim.faults.size_lag_rate = 1.0
    ok(run_inproc(aws_world, "run"))
    aws_world.sim.faults.size_lag_rate = 0.0
    ok(run_inproc(aws_world, "run"))
    aws_world.verify().assert_ok()


def test_a_stale_empty_generation_does_not_take_over_a_shipped_file(
        aws_world: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same as above without size lag: the stale empty generation 'stayed' with the grown file
    and shipped it from byte 0 a second time (the no-leak test's duplicate)."""
    ids = itertools.count(1)
    monkeypatch.setattr(shipper.ledger, "new_generation_id",
                        lambda: f"{next(ids):020x}")
    w = aws_world.world
    inst = w.add_instance("my", "mysql", bytes_per_hour=100_000)
    w.advance(HOUR + 2400)  # 01:40
    failed = run_inproc(aws_world, "run", SHIPPER_MAX_ATTEMPTS="1",
                        s3_faults=S3Faults(1.0, kinds=("data",), modes=("500",)))
    assert failed.code == 1, failed.describe()  # generations recorded, nothing shipped
    w.advance(3000)  # 02:30: the slow log was rotated at 02:00; the new one is smaller
    # ships the new slow log, stops early
    run_stopped_by_access_denied(aws_world, inst.identifier)
    inst.delete_file("other/denied.log")
    w.advance(900)  # 02:45: the slow log grew past what the stale generation was seen at
    ok(run_inproc(aws_world, "run"))
    aws_world.verify().assert_ok()


class StateWritesRefusedAfterData:
    """A run that dies after a data object became durable and before the commit recording it,
    in process: every state write after the first data write is refused."""

    def __init__(self) -> None:
        self.data_written = False

    def register(self, session: Any) -> None:
        session.events.register("before-call.s3.PutObject", self._before_call,
                                unique_id="rel-refuse-state-after-data")

    def _before_call(self, params: dict[str, Any], **_: Any) -> None:
        url = str(params.get("url", ""))
        if key_kind(url) == "data":
            self.data_written = True
        elif key_kind(url) == "state" and self.data_written:
            raise EndpointConnectionError(endpoint_url=url)


def _die_after_the_general_logs_header(aws_world: AwsWorld,
                                       **env: str) -> dict[str, str]:
    """00:07, a fresh Aurora MySQL instance: a run ships the general log's header and dies
    before the commit that records it. Returns the settings that ship the general log only."""
    w = aws_world.world
    w.advance(420)
    w.add_instance("am", "aurora-mysql", bytes_per_hour=100_000, retention_hours=1.0)
    only_general = {"SHIPPER_FILE_INCLUDE": "general/*", "SHIPPER_MAX_ATTEMPTS": "1", **env}
    refuse = StateWritesRefusedAfterData()
    died = run_inproc(aws_world, "run", session_hook=refuse.register, **only_general)
    assert died.code != 0 and refuse.data_written, died.describe()
    return only_general


def _adopted(run: Run) -> bool:
    return any(line.get("message", "").startswith("adopted objects") for line in run.lines)


def test_an_adopted_header_only_object_proves_no_later_hour(aws_world: AwsWorld) -> None:
    """A run died after shipping the general log's header at 00:07, before committing it; the
    next run, at 03:07, adopted that object. Adopted, the generation was not marked
    header-only, so the hour-2 file (same header, renamed .2 at 03:00) was proven to be it
    and continued: bytes right, identity and dt= partition wrong (test_schedules, seed
    36062)."""
    only_general = _die_after_the_general_logs_header(aws_world)
    aws_world.world.advance(3 * HOUR)  # hours 0, 1 deleted by retention; 2 is .2, 3 running
    after = ok(run_inproc(aws_world, "run", **only_general))
    assert _adopted(after), after.describe()
    ok(run_inproc(aws_world, "run"))  # the other logs
    aws_world.verify().assert_ok()
    # The generation seen at 00:07 holds its header and nothing of a later file.
    early = [g for g in states(aws_world)["am"]["generations"].values()
             if g["first_seen_ms"] < (DEFAULT_START + HOUR) * 1000]
    assert [(g["name"], g["header_only"], g["offset"] < 400) for g in early] == [
        ("general/mysql-general.log", True, True)], early


@pytest.mark.parametrize("portion_max_mib", ["8", "0"])
def test_an_adopted_header_only_object_resumes_within_its_hour(
        aws_world: AwsWorld, portion_max_mib: str) -> None:
    """The same crash, the next run in the same hour. The header's bytes are any hour's
    header: the portion marker the object carries tells that the running log is still its
    file; an object downloaded over REST carries none (portions off), then only the listing
    can: no file of its family was closed since. Either way, without it the file was
    shipped again from byte 0."""
    only_general = _die_after_the_general_logs_header(
        aws_world, SHIPPER_PORTION_MAX_MIB=portion_max_mib)
    aws_world.world.advance(2400)  # 00:47: the same general log, grown
    after = ok(run_inproc(aws_world, "run", **only_general))
    assert _adopted(after), after.describe()
    ok(run_inproc(aws_world, "run"))  # the other logs
    aws_world.verify().assert_ok()
    gens = states(aws_world)["am"]["generations"].values()
    assert sorted(g["name"] for g in gens if g["name"].startswith("general/")) == [
        "general/mysql-general.log"], gens


def test_a_data_write_whose_answer_was_lost_is_adopted(aws_world: AwsWorld) -> None:
    """S3 stored the objects but the answers were lost (ConnectionClosedError), and the run
    gave up on them. It still ended with a clean commit, so no later run looked for them:
    the files were shipped again from byte 0 under new generations, the stored headers left
    as duplicates (test_schedules, random seed 809)."""
    w = aws_world.world
    w.advance(420)
    w.add_instance("am", "aurora-mysql", bytes_per_hour=100_000, retention_hours=4.0)
    lost = run_inproc(aws_world, "run", SHIPPER_MAX_ATTEMPTS="1",
                      s3_faults=S3Faults(1.0, kinds=("data",), modes=("lost",)))
    assert lost.code == 1, lost.describe()
    assert states(aws_world)["am"]["last_run_clean"] is False
    w.advance(150 * 60)  # 02:37: the logs seen at 00:07 are .0 now
    after = ok(run_inproc(aws_world, "run"))
    assert _adopted(after), after.describe()
    aws_world.verify().assert_ok()
