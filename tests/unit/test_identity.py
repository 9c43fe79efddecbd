"""Identity rules: which listed file is which known generation (``make_plan``)."""

from __future__ import annotations

import itertools

import pytest

from shipper.identity import FileJob, JobKind, Plan, make_plan
from shipper.listing import LogFile
from shipper.name_check import name_still_holds
from shipper.names import active_names, family, stamp
from shipper.state import Generation, InstanceState
from shipper.windows import HOUR_MS, TINY_GENERATION

T0 = 1_704_164_400_000  # 2024-01-02T03:00:00Z
MIN_MS = 60_000
_ids = itertools.count()


def gen(name: str, size: int, lw: int, offset: int | None = None, *, active: bool = False,
        marker: str | None = None, marker_name: str | None = None,
        missing_since_ms: int | None = None) -> Generation:
    """A generation last listed as (size, lw) under ``name``, shipped up to ``offset``."""
    return Generation(
        gen_id=f"{next(_ids):020x}", name=name, first_name=name, first_seen_ms=T0,
        offset=size if offset is None else offset, seen_size=size, seen_last_written_ms=lw,
        active=active,
        marker=marker, marker_name=marker_name, missing_since_ms=missing_since_ms,
    )


def state_of(*gens: Generation) -> InstanceState:
    return InstanceState("db-1", "eu-west-1", "123456789012",
                         generations={g.gen_id: g for g in gens})


def job_for(plan: Plan, name: str) -> FileJob:
    jobs = [j for j in plan.jobs if j.name == name]
    assert len(jobs) == 1, f"expected one job for {name}, got {plan.jobs}"
    return jobs[0]


def _about(job: FileJob, kind: JobKind) -> Generation | None:
    return job.gen if job.kind is kind else None


def known(job: FileJob) -> Generation | None:
    """The generation a KNOWN job certainly is."""
    return _about(job, JobKind.KNOWN)


def grown(job: FileJob) -> Generation | None:
    """The generation a GROWN job may be (its name's last)."""
    return _about(job, JobKind.GROWN)


def same_size(job: FileJob) -> Generation | None:
    """The generation a SAME_SIZE job waits for."""
    return _about(job, JobKind.SAME_SIZE)


def named(plan: Plan) -> set[str]:
    return {j.name for j in plan.jobs}


# --- family ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("error/postgresql.log.2024-01-02-03", "error/postgresql.log"),
    ("error/postgresql.log.2024-01-02-0315", "error/postgresql.log"),  # Aurora -HHMM
    ("error/postgresql.log.2024-01-02-03.gz", "error/postgresql.log"),
    ("error/postgresql.log.2024-01-02-0315.gz", "error/postgresql.log"),
    ("error/postgres.log", "error/postgres.log"),
    ("error/mysql-error-running.log", "error/mysql-error-running.log"),
    ("error/mysql-error-running.log.2024-01-02.03", "error/mysql-error-running.log"),
    ("slowquery/mysql-slowquery.log", "slowquery/mysql-slowquery.log"),
    ("slowquery/mysql-slowquery.log.7", "slowquery/mysql-slowquery.log"),
    ("slowquery/mysql-slowquery.log.23", "slowquery/mysql-slowquery.log"),
    ("general/mysql-general.log.0", "general/mysql-general.log"),
    ("audit/audit.log.0.2024-01-02-03-04.00001", "audit/audit.log.0"),
    ("audit/audit.log.3.2024-01-02-03-04.12", "audit/audit.log.3"),
    ("log/ERROR", "log/ERROR"),
    ("log/ERROR.1", "log/ERROR"),
    ("log/ERROR.12", "log/ERROR"),
    ("trace/alert_ORCL.log", "trace/alert_ORCL.log"),
    ("trace/alert_ORCL.log.2024-01-01", "trace/alert_ORCL.log"),  # rotated daily
    ("error/postgresql.log.2024-01-02", "error/postgresql.log"),  # daily log_filename
    ("log/SQLAGENT.OUT", "log/SQLAGENT"),  # the agent log chain
    ("log/SQLAGENT.1", "log/SQLAGENT"),
    ("log/SQLAGENT.9", "log/SQLAGENT"),
    ("audit/server_audit.log", "audit/server_audit.log"),  # MariaDB Audit Plugin chain
    ("audit/server_audit.log.3", "audit/server_audit.log"),
    ("trace/ORCL_ora_1234.trc", "trace/ORCL_ora_1234.trc"),
])
def test_family_strips_one_rotation_suffix(name: str, expected: str) -> None:
    assert family(name) == expected


def test_audit_writer_slots_are_distinct_families() -> None:
    assert family("audit/audit.log.0.2024-01-02-03-04.00001") != \
        family("audit/audit.log.1.2024-01-02-03-04.00001")


# --- active names ---------------------------------------------------------------------------


def test_active_is_the_newest_file_of_each_family() -> None:
    listing = [
        LogFile("error/postgresql.log.2024-01-02-03", 10, T0),
        LogFile("error/postgresql.log.2024-01-02-04", 10, T0 + HOUR_MS),
        LogFile("slowquery/mysql-slowquery.log", 5, T0 + 2),
        LogFile("slowquery/mysql-slowquery.log.3", 5, T0 + 1),
    ]
    assert active_names(listing) == {"error/postgresql.log.2024-01-02-04",
                                     "slowquery/mysql-slowquery.log"}


def test_compressed_files_are_never_active() -> None:
    listing = [LogFile("error/postgresql.log.2024-01-02-03.gz", 10, T0 + 5),
               LogFile("error/postgresql.log.2024-01-02-02.gz", 10, T0)]
    assert active_names(listing) == set()


def test_equally_new_files_are_all_active() -> None:
    listing = [LogFile("log/ERROR", 1, T0), LogFile("log/ERROR.1", 2, T0)]
    assert active_names(listing) == {"log/ERROR", "log/ERROR.1"}


# --- unchanged and growing files ------------------------------------------------------------


def test_unchanged_fully_shipped_file_needs_no_job() -> None:
    g = gen("error/postgresql.log.2024-01-02-03", 500, T0)
    plan = make_plan(state_of(g), [LogFile(g.name, 500, T0)])
    assert plan.jobs == []
    assert plan.unchanged == [g]
    assert plan.displaced == []


def test_unchanged_listing_with_unshipped_bytes_resumes_that_generation() -> None:
    name = "error/postgresql.log.2024-01-02-03"
    g = gen(name, 500, T0, offset=300, active=True, marker="3:300", marker_name=name)
    plan = make_plan(state_of(g), [LogFile(name, 500, T0)])
    job = job_for(plan, name)
    assert known(job) is g and job.resume_portion and job.candidates == []


def test_file_grown_under_its_name_is_tried_as_the_same_generation() -> None:
    name = "error/postgresql.log.2024-01-02-03"
    g = gen(name, 500, T0, active=True, marker="3:500", marker_name=name)
    plan = make_plan(state_of(g), [LogFile(name, 900, T0 + MIN_MS)])
    job = job_for(plan, name)
    assert grown(job) is g
    assert known(job) is None and same_size(job) is None and job.candidates == []
    assert job.active is True
    assert plan.unchanged == []


def test_grown_file_is_grown_whatever_its_marker() -> None:
    """Whether the stored marker may be resumed is decided when shipping, not when planning."""
    name = "error/mysql-error-running.log"
    g = gen(name, 500, T0, active=True, marker="3:500",
            marker_name="error/mysql-error-running.log.2024-01-02.02")
    job = job_for(make_plan(state_of(g), [LogFile(name, 900, T0 + 1)]), name)
    assert grown(job) is g and job.resume_portion is False


def test_same_size_but_newer_last_written_is_held() -> None:
    name = "trace/alert_ORCL.log"
    g = gen(name, 500, T0, active=True)
    job = job_for(make_plan(state_of(g), [LogFile(name, 500, T0 + MIN_MS)]), name)
    assert same_size(job) is g
    assert grown(job) is None and known(job) is None and job.candidates == []


def test_tiny_closed_generation_is_not_held_an_hour_later() -> None:
    name = f"{SLOW}.3"
    g = gen(name, 600, T0)
    job = job_for(make_plan(state_of(g), [LogFile(name, 600, T0 + 24 * HOUR_MS)]), name)
    assert same_size(job) is None and grown(job) is None


def test_file_recreated_smaller_under_the_same_name_is_a_new_generation() -> None:
    name = "trace/alert_ORCL.log"
    g = gen(name, 5000, T0, active=True)
    plan = make_plan(state_of(g), [LogFile(name, 100, T0 + MIN_MS)])
    job = job_for(plan, name)
    # Smaller than what was shipped: a new file, or a listing whose Size lags. Not trusted
    # either way: the stream proves it (it is too short to hold g when the file is new).
    assert (known(job), grown(job), same_size(job), job.candidates) == (None, None, None, [g])
    assert plan.displaced == [g]


def test_file_older_than_what_was_seen_is_neither_grown_nor_same_size() -> None:
    name = "trace/alert_ORCL.log"
    g = gen(name, 500, T0 + HOUR_MS, active=True)
    job = job_for(make_plan(state_of(g), [LogFile(name, 900, T0)]), name)
    assert grown(job) is None and same_size(job) is None


def test_missing_generation_must_be_proven_by_content() -> None:
    name = "trace/alert_ORCL.log"
    g = gen(name, 500, T0, active=True, marker="1:500", marker_name=name,
            missing_since_ms=T0 + 1)
    job = job_for(make_plan(state_of(g), [LogFile(name, 900, T0 + 2)]), name)
    assert grown(job) is None and known(job) is None and not job.resume_portion
    assert job.candidates == [g]


def test_brand_new_file_is_a_job_without_anything_to_prove() -> None:
    plan = make_plan(state_of(), [LogFile("error/postgresql.log.2024-01-02-03", 10, T0)])
    job = job_for(plan, "error/postgresql.log.2024-01-02-03")
    assert (known(job), grown(job), same_size(job), job.candidates) == (None, None, None, [])
    assert job.active


# --- MySQL slow/general logs: renamed to .N hourly, names reused daily ---------------------

SLOW = "slowquery/mysql-slowquery.log"
RUNNING = "error/mysql-error-running.log"


def test_rotated_slow_log_is_recognised_by_size_and_last_written() -> None:
    g = gen(SLOW, 800, T0, active=True, marker="3:800", marker_name=SLOW)
    listing = [LogFile(f"{SLOW}.7", 800, T0), LogFile(SLOW, 300, T0 + HOUR_MS)]
    plan = make_plan(state_of(g), listing)
    assert plan.unchanged == [g]
    assert named(plan) == {SLOW}
    fresh = job_for(plan, SLOW)
    assert fresh.kind is JobKind.NEW and fresh.gen is None and fresh.candidates == []
    assert plan.displaced == []


def test_rotated_slow_log_with_unshipped_tail_is_finished_under_its_new_name() -> None:
    g = gen(SLOW, 800, T0, offset=600, active=True, marker="3:600", marker_name=SLOW)
    listing = [LogFile(f"{SLOW}.7", 800, T0), LogFile(SLOW, 300, T0 + HOUR_MS)]
    plan = make_plan(state_of(g), listing)
    job = job_for(plan, f"{SLOW}.7")
    assert known(job) is g
    assert job.resume_portion is False  # the marker belonged to the old name
    assert job.active is False


def test_slow_log_that_grew_before_rotation_becomes_a_content_candidate() -> None:
    g = gen(SLOW, 800, T0, active=True, marker="3:800", marker_name=SLOW)
    listing = [LogFile(f"{SLOW}.7", 1200, T0 + 30 * MIN_MS), LogFile(SLOW, 300, T0 + HOUR_MS)]
    plan = make_plan(state_of(g), listing)
    rotated = job_for(plan, f"{SLOW}.7")
    assert known(rotated) is None and grown(rotated) is None and rotated.candidates == [g]
    fresh = job_for(plan, SLOW)
    # smaller than what we shipped of g: proven by its stream, never trusted to be g
    assert fresh.candidates == [g] and grown(fresh) is None


def test_daily_reuse_of_a_dot_n_name_by_a_smaller_file_is_a_new_generation() -> None:
    yesterday = gen(f"{SLOW}.3", 10_000, T0)
    day = 24 * HOUR_MS
    listing = [LogFile(f"{SLOW}.3", 2_000, T0 + day), LogFile(SLOW, 100, T0 + day + HOUR_MS)]
    plan = make_plan(state_of(yesterday), listing)
    reused = job_for(plan, f"{SLOW}.3")
    assert (known(reused), grown(reused), same_size(reused)) == (None, None, None)
    # Only provable under its own name (the new file is too short to hold it, so the proof
    # fails and the file is a new generation); never a candidate for another name.
    assert reused.candidates == [yesterday]
    assert all(yesterday not in j.candidates for j in plan.jobs if j is not reused)
    assert plan.displaced == [yesterday]


# --- SQL Server rename chain ----------------------------------------------------------------


def test_sql_server_error_chain_shift_is_recognised_without_download() -> None:
    current = gen("log/ERROR", 100, T0 + 5 * MIN_MS, active=True)
    older = gen("log/ERROR.1", 50, T0)
    listing = [
        LogFile("log/ERROR", 10, T0 + HOUR_MS),
        LogFile("log/ERROR.1", 100, T0 + 5 * MIN_MS),
        LogFile("log/ERROR.2", 50, T0),
    ]
    plan = make_plan(state_of(current, older), listing)
    assert sorted(g.gen_id for g in plan.unchanged) == sorted([current.gen_id, older.gen_id])
    assert named(plan) == {"log/ERROR"}
    assert job_for(plan, "log/ERROR").candidates == []
    assert plan.displaced == []


def test_empty_files_are_never_matched_by_size_and_time_alone() -> None:
    empty = gen("log/ERROR", 0, T0)
    plan = make_plan(state_of(empty), [LogFile("log/ERROR.1", 0, T0),
                                       LogFile("log/ERROR", 0, T0 + HOUR_MS)])
    assert empty not in plan.unchanged


@pytest.mark.parametrize(("name", "expected"), [
    ("error/postgresql.log.2024-01-02-03", ".2024-01-02-03"),
    ("error/postgresql.log.2024-01-02-03.gz", ".2024-01-02-03"),
    ("error/postgresql.log.2024-01-02-0315", ".2024-01-02-0315"),
    ("error/mysql-error-running.log.2024-01-02.03", ".2024-01-02.03"),
    ("audit/audit.log.0.2024-01-02-03-00.00001", ".2024-01-02-03-00.00001"),
    ("error/mysql-error-running.log", None),
    ("slowquery/mysql-slowquery.log.3", None),
    ("log/ERROR.2", None),
    ("trace/ORCL_ora_101.trc", None),
    ("trace/alert_ORCL.log.2024-01-01", ".2024-01-01"),
    ("log/SQLAGENT.OUT", None),
])
def test_stamp_is_the_timestamp_a_rotated_name_carries(name: str, expected: str | None) -> None:
    assert stamp(name) == expected


def test_a_file_named_for_a_later_hour_is_never_a_candidate_for_an_earlier_one() -> None:
    h3, h4 = "error/postgresql.log.2024-01-02-03", "error/postgresql.log.2024-01-02-04"
    old = gen(h3, 9_000, T0 + 50 * MIN_MS, active=True)
    plan = make_plan(state_of(old), [LogFile(h4, 20_000, T0 + 70 * MIN_MS)])
    assert job_for(plan, h4).candidates == []


def test_a_running_log_may_be_found_again_under_its_timestamped_name() -> None:
    running = gen(RUNNING, 9_000, T0 + 50 * MIN_MS, active=True)
    renamed = f"{RUNNING}.2024-01-02.03"
    plan = make_plan(state_of(running), [LogFile(renamed, 12_000, T0 + 59 * MIN_MS)])
    assert job_for(plan, renamed).candidates == [running]


# --- header-only generations: the engine's common header proves nothing --------------------


@pytest.mark.parametrize(("quiet_ms", "marker", "grows"), [
    (30 * MIN_MS, None, True),                      # within the header's reach: tried as before
    (2 * HOUR_MS, f"3:{TINY_GENERATION}", True),   # a marker of its name may still prove it
    (2 * HOUR_MS, None, False),                     # nothing could prove it: a new file
    (25 * HOUR_MS, f"3:{TINY_GENERATION}", False),  # a day later the marker hour repeats
])
def test_header_only_generation_is_grown_only_while_something_could_prove_it(
        quiet_ms: int, marker: str | None, grows: bool) -> None:
    header = gen(SLOW, 900, T0, active=True, marker=marker, marker_name=SLOW if marker else None)
    header.header_only = True
    job = job_for(make_plan(state_of(header), [LogFile(SLOW, 50_000, T0 + quiet_ms)]), SLOW)
    assert (grown(job) is header) is grows


def _header_only_running(marker: str | None = None) -> Generation:
    header = gen(SLOW, 187, T0 + 7 * MIN_MS, active=True, marker=marker,
                 marker_name=SLOW if marker else None)
    header.header_only = True
    return header


def test_a_header_without_a_marker_proves_the_running_log_while_no_rotation_is_listed() -> None:
    header = _header_only_running()
    listing = [LogFile(SLOW, 40_000, T0 + 47 * MIN_MS), LogFile(f"{SLOW}.2", 22_000, T0)]
    job = job_for(make_plan(state_of(header), listing), SLOW)
    assert (grown(job), job.header_proves) == (header, True)


@pytest.mark.parametrize("rotated", [
    LogFile(f"{SLOW}.3", 22_000, T0 + 60 * MIN_MS),  # closed by a rotation after it was seen
    LogFile(f"{SLOW}.3", 187, T0 + 7 * MIN_MS),      # renamed as it was seen
])
def test_a_header_without_a_marker_proves_nothing_once_its_name_was_rotated(
        rotated: LogFile) -> None:
    header = _header_only_running()
    listing = [LogFile(SLOW, 40_000, T0 + 67 * MIN_MS), rotated]
    job = job_for(make_plan(state_of(header), listing), SLOW)
    assert job.header_proves is False


def test_a_header_proves_nothing_past_its_reach_or_under_a_rotated_name() -> None:
    header = _header_only_running()
    late = job_for(make_plan(state_of(header), [LogFile(SLOW, 40_000, T0 + 2 * HOUR_MS)]),
                   SLOW)
    assert (grown(late), late.header_proves) == (None, False)
    closed = _header_only_running()
    closed.active = False
    job = job_for(make_plan(state_of(closed), [LogFile(SLOW, 40_000, T0 + 47 * MIN_MS)]), SLOW)
    assert job.header_proves is False
    slot = gen(f"{SLOW}.3", 187, T0 + 7 * MIN_MS, active=True)
    slot.header_only = True
    job = job_for(make_plan(state_of(slot), [LogFile(f"{SLOW}.3", 900, T0 + 9 * MIN_MS)]),
                  f"{SLOW}.3")
    assert (grown(job), job.header_proves) == (slot, False)  # a .N slot is no running log


# --- empty generations: nothing to prove them by -------------------------------------------

def test_empty_running_log_renamed_within_the_hour_is_not_continued_by_the_next_one() -> None:
    empty = gen(RUNNING, 0, T0, active=True)
    listing = [LogFile(f"{RUNNING}.2024-01-02.03", 0, T0),  # the rename kept its mtime
               LogFile(RUNNING, 300, T0 + 62 * MIN_MS)]
    fresh = job_for(make_plan(state_of(empty), listing), RUNNING)
    assert fresh.kind is JobKind.NEW and fresh.gen is None and fresh.candidates == []


def test_empty_running_log_that_grew_and_was_rotated_is_not_continued_by_the_next_one() -> None:
    empty = gen(RUNNING, 0, T0 + 5 * MIN_MS, active=True)
    listing = [LogFile(f"{RUNNING}.2024-01-02.03", 700, T0 + 59 * MIN_MS),
               LogFile(RUNNING, 0, T0 + 60 * MIN_MS)]
    fresh = job_for(make_plan(state_of(empty), listing), RUNNING)
    assert (grown(fresh), same_size(fresh)) == (None, None)


def test_empty_running_log_that_grew_in_place_is_continued() -> None:
    empty = gen(RUNNING, 0, T0 + 5 * MIN_MS, active=True)
    listing = [LogFile(f"{RUNNING}.2024-01-02.02", 900, T0 - MIN_MS),  # rotated before
               LogFile(RUNNING, 300, T0 + 30 * MIN_MS)]
    assert grown(job_for(make_plan(state_of(empty), listing), RUNNING)) is empty


def test_empty_hourly_named_log_is_continued_whatever_its_family_does() -> None:
    # PostgreSQL never hands a name to another file: a newer hour says nothing about this one.
    h3, h4 = "error/postgresql.log.2024-01-02-03", "error/postgresql.log.2024-01-02-04"
    empty = gen(h3, 0, T0 + MIN_MS, active=True)
    listing = [LogFile(h3, 400, T0 + 59 * MIN_MS), LogFile(h4, 10, T0 + 61 * MIN_MS)]
    assert grown(job_for(make_plan(state_of(empty), listing), h3)) is empty


def test_the_newest_of_two_generations_under_one_name_is_the_one_that_grew() -> None:
    # A run that stopped early may leave a stale empty generation under the name next to the
    # one it shipped the new file under; the stale one must not take the file over.
    stale = gen(SLOW, 0, T0 + 40 * MIN_MS, active=True)
    shipped = gen(SLOW, 6_000, T0 + 80 * MIN_MS, active=True)
    longer = [LogFile(SLOW, 9_000, T0 + 95 * MIN_MS)]
    for order in ((stale, shipped), (shipped, stale)):
        assert grown(job_for(make_plan(state_of(*order), longer), SLOW)) is shipped


def test_the_newest_of_two_generations_under_one_name_is_proven_under_size_lag() -> None:
    stale = gen(SLOW, 0, T0 + 40 * MIN_MS, active=True)
    shipped = gen(SLOW, 6_000, T0 + 80 * MIN_MS, active=True)
    lagging = [LogFile(SLOW, 5_000, T0 + 81 * MIN_MS)]  # listed Size below what we shipped
    job = job_for(make_plan(state_of(stale, shipped), lagging), SLOW)
    assert (grown(job), same_size(job), job.candidates) == (None, None, [shipped])


# --- PostgreSQL: a new name every hour ------------------------------------------------------


def test_postgres_new_hour_is_new_and_the_previous_hour_grew() -> None:
    h3, h4 = "error/postgresql.log.2024-01-02-03", "error/postgresql.log.2024-01-02-04"
    g = gen(h3, 500, T0 + 50 * MIN_MS, active=True, marker="3:500", marker_name=h3)
    listing = [LogFile(h3, 800, T0 + 59 * MIN_MS), LogFile(h4, 100, T0 + 61 * MIN_MS)]
    plan = make_plan(state_of(g), listing)
    new_hour = job_for(plan, h4)
    assert (known(new_hour), grown(new_hour), new_hour.candidates) == (None, None, [])
    assert new_hour.active
    previous = job_for(plan, h3)
    assert previous.active is False
    assert grown(previous) is g and previous.candidates == []


# --- the tiny closed generation rule --------------------------------------------------------


@pytest.mark.parametrize(("offset", "active", "quiet_ms", "is_candidate"), [
    (TINY_GENERATION, False, HOUR_MS + 1, False),   # tiny, closed, an hour later: new file
    (600, False, 2 * HOUR_MS, False),
    (600, False, HOUR_MS, True),                     # exactly an hour: still plausible
    (600, False, 30 * MIN_MS, True),                 # soon after: plausible
    (600, True, 2 * HOUR_MS, True),                  # still active: plausible
    (TINY_GENERATION + 1, False, 2 * HOUR_MS, True),  # not tiny: plausible
])
def test_tiny_closed_generation_is_not_a_candidate_an_hour_later(
    offset: int, active: bool, quiet_ms: int, is_candidate: bool
) -> None:
    old = gen(f"{SLOW}.3", offset, T0, active=active)
    listing = [LogFile(SLOW, offset + 500, T0 + quiet_ms)]
    plan = make_plan(state_of(old), listing)
    assert (old in job_for(plan, SLOW).candidates) is is_candidate


def _reused_slot_after_quiet_day() -> tuple[Generation, Generation, Plan]:
    """Day 1: ``.3`` closed holding only the slow log's common header (600 bytes). Day 2, 03:00
    to 04:00: the active slow log, shipped up to 4000 bytes, is renamed to ``.3`` at 04:00."""
    day = 24 * HOUR_MS
    header_only = gen(f"{SLOW}.3", 600, T0 + HOUR_MS - 1)
    hour = gen(SLOW, 4000, T0 + day + 50 * MIN_MS, active=True, marker="3:4000",
               marker_name=SLOW)
    listing = [LogFile(f"{SLOW}.3", 5000, T0 + day + HOUR_MS - 1),
               LogFile(SLOW, 700, T0 + day + HOUR_MS + 5 * MIN_MS)]
    return header_only, hour, make_plan(state_of(header_only, hour), listing)


def test_renamed_active_generation_is_a_candidate_for_the_reused_slot() -> None:
    _, hour, plan = _reused_slot_after_quiet_day()
    assert job_for(plan, f"{SLOW}.3").candidates == [hour]
    fresh = job_for(plan, SLOW)
    assert (grown(fresh), same_size(fresh), fresh.candidates) == (None, None, [hour])


def test_tiny_closed_generation_is_not_grown_when_its_name_is_reused_a_day_later() -> None:
    header_only, _, plan = _reused_slot_after_quiet_day()
    assert grown(job_for(plan, f"{SLOW}.3")) is not header_only


def test_other_family_is_never_a_candidate() -> None:
    old = gen("error/postgresql.log.2024-01-02-03", 10_000, T0)
    plan = make_plan(state_of(old), [LogFile("trace/alert_ORCL.log", 50_000, T0 + 1)])
    assert job_for(plan, "trace/alert_ORCL.log").candidates == []


def test_file_written_before_the_generation_was_last_seen_is_not_a_candidate() -> None:
    old = gen(f"{SLOW}.3", 10_000, T0 + HOUR_MS)
    plan = make_plan(state_of(old), [LogFile(SLOW, 50_000, T0)])
    assert job_for(plan, SLOW).candidates == []


def test_candidates_are_ordered_longest_shipped_first() -> None:
    short = gen(f"{SLOW}.1", 5_000, T0)
    long = gen(f"{SLOW}.2", 9_000, T0 + 1)
    plan = make_plan(state_of(short, long), [LogFile(f"{SLOW}.5", 20_000, T0 + 2),
                                             LogFile(SLOW, 10, T0 + 3)])
    assert job_for(plan, f"{SLOW}.5").candidates == [long, short]


def test_only_the_newest_trace_file_counts_as_being_written() -> None:
    listing = [LogFile("trace/ORCL_ora_101.trc", 4096, T0),
               LogFile("trace/ORCL_ora_202.trc", 4096, T0 + MIN_MS),
               LogFile("trace/alert_ORCL.log", 9000, T0 + 2 * MIN_MS),
               LogFile("audit/audit.log.0.2024-01-02-03-00.00001", 10, T0),
               LogFile("audit/audit.log.1.2024-01-02-03-00.00002", 10, T0 - MIN_MS)]
    active = active_names(listing)
    assert "trace/ORCL_ora_202.trc" in active and "trace/ORCL_ora_101.trc" not in active
    assert "trace/alert_ORCL.log" in active
    # audit writer slots are written at once: each slot's newest file is active
    assert {"audit/audit.log.0.2024-01-02-03-00.00001",
            "audit/audit.log.1.2024-01-02-03-00.00002"} <= active


def test_a_file_read_to_its_end_with_only_its_unfinished_line_left_is_not_read_again() -> None:
    name = "error/postgresql.log.2024-01-02-03"
    held = gen(name, 500, T0, offset=480, active=True, marker="3:0", marker_name=name)
    held.read_end = 500  # read whole; its last 20 bytes, an unfinished line, held back
    assert make_plan(state_of(held), [LogFile(name, 500, T0)]).unchanged == [held]
    # a write completes the line: read again; a stopped run's leftover is always resumed
    grew = make_plan(state_of(held), [LogFile(name, 510, T0 + MIN_MS)])
    assert grew.unchanged == [] and grown(job_for(grew, name)) is held
    stopped = gen(name, 500, T0, offset=480, active=True, marker="3:0", marker_name=name)
    assert known(job_for(make_plan(state_of(stopped), [LogFile(name, 500, T0)]), name)) \
        is stopped


# --- rotated names of real RDS, the listed Size as a hint, the marker hour as a hint ---------


ALERT = "trace/alert_ORCL.log"


def test_the_alert_log_renamed_at_midnight_is_found_by_size_and_last_written() -> None:
    day = gen(ALERT, 9000, T0, active=True)
    plan = make_plan(state_of(day), [LogFile(ALERT + ".2024-01-02", 9000, T0),
                                     LogFile(ALERT, 300, T0 + 60 * MIN_MS)])
    assert plan.unchanged == [day] and day.gen_id not in {g.gen_id for g in plan.displaced}
    assert job_for(plan, ALERT).kind is JobKind.NEW


def test_the_agent_log_cycled_is_found_by_size_and_last_written() -> None:
    agent = gen("log/SQLAGENT.OUT", 500, T0, active=True)
    plan = make_plan(state_of(agent), [LogFile("log/SQLAGENT.1", 500, T0),
                                       LogFile("log/SQLAGENT.OUT", 40, T0 + MIN_MS)])
    assert plan.unchanged == [agent]
    assert active_names([LogFile("log/SQLAGENT.1", 500, T0),
                         LogFile("log/SQLAGENT.OUT", 40, T0 + MIN_MS)]) == {"log/SQLAGENT.OUT"}


def test_a_file_read_to_its_end_below_its_listed_size_is_complete_while_unchanged() -> None:
    """A filtered MySQL error log: the listed Size counts bytes no download returns."""
    read = gen(RUNNING, 600, T0, active=True)
    read.ended_below_listed = True
    assert make_plan(state_of(read), [LogFile(RUNNING, 1000, T0)]).jobs == []
    newer = make_plan(state_of(read), [LogFile(RUNNING, 1100, T0 + MIN_MS)])
    assert grown(job_for(newer, RUNNING)) is read
    partly = gen(RUNNING, 600, T0, active=True)  # a read that did not reach the end
    assert known(job_for(make_plan(state_of(partly), [LogFile(RUNNING, 1000, T0)]),
                         RUNNING)) is partly


def test_the_listing_proves_a_grown_name_only_when_it_cannot_hold_another_file() -> None:
    """The marker's hour is only a hint; the listing proves a grown file under a timestamped
    name, or under a running log's name no rotation of which is listed."""
    alert = gen(ALERT, 900, T0, active=True)
    alone = make_plan(state_of(alert), [LogFile(ALERT, 1900, T0 + 60 * MIN_MS)])
    assert job_for(alone, ALERT).name_proves
    rotated = make_plan(state_of(alert), [LogFile(ALERT, 1900, T0 + 120 * MIN_MS),
                                          LogFile(ALERT + ".2024-01-02", 1200, T0 + 59 * MIN_MS)])
    # The rotated file is the generation; the file under the name is a new one, which only
    # content could show to be it (never a marker resumed on the listing's word).
    assert grown(job_for(rotated, ALERT)) is None
    assert job_for(rotated, ALERT).candidates == [alert]
    slot = gen(SLOW + ".3", 900, T0, marker="4:900", marker_name=SLOW + ".3")
    later = make_plan(state_of(slot), [LogFile(SLOW + ".3", 1900, T0 + 60 * MIN_MS)])
    assert grown(job_for(later, SLOW + ".3")) is slot
    assert not job_for(later, SLOW + ".3").name_proves


def test_an_incomplete_listing_proves_no_grown_name() -> None:
    """Found by the property suite: a listing that ended on an empty page left out MySQL's
    rotated slow log, so it showed no rotation, and the grown running log was proven by its
    name to be the generation of the hour before: the new file's bytes were appended to it.
    A listing that may leave files out can show a rotation, never the absence of one."""
    running = gen(SLOW, 900, T0, active=True, marker="4:900", marker_name=SLOW)
    listing = [LogFile(SLOW, 1900, T0 + 60 * MIN_MS)]
    assert job_for(make_plan(state_of(running), listing), SLOW).name_proves
    cut = job_for(make_plan(state_of(running), listing, complete=False), SLOW)
    assert grown(cut) is running and not cut.name_proves and not cut.header_proves


def test_a_lagging_size_in_the_name_check_is_not_a_rotation() -> None:
    """Found by the property suite at 10x (Q): the name check's family listing showed SQL
    Server's running ``log/ERROR`` with a Size lagging below the plan's, the same
    LastWritten and no rotated file. Taken for a rotation, the empty generation was forgotten,
    and after the next cycle no file shipped before was listed: a false suspected gap. A new
    file under the name has a new LastWritten; a smaller one that also has one still fails."""
    planned = LogFile("log/ERROR", 5000, T0)
    older = LogFile("log/ERROR.1", 90_000, T0 - HOUR_MS)
    assert name_still_holds(planned, True, [LogFile("log/ERROR", 4200, T0), older])
    assert not name_still_holds(planned, True, [LogFile("log/ERROR", 300, T0 + MIN_MS), older])
    assert not name_still_holds(planned, True, [LogFile("log/ERROR", 5100, T0 + MIN_MS),
                                                LogFile("log/ERROR.1", 5000, T0)])
    slot = LogFile("log/ERROR.1", 5000, T0)
    assert name_still_holds(slot, False, [LogFile("log/ERROR.1", 4800, T0)])
    assert not name_still_holds(slot, False, [LogFile("log/ERROR.1", 5000, T0 + HOUR_MS)])


def test_a_rotated_file_keeps_the_listed_mtime_whatever_size_was_listed() -> None:
    """The plan's listing may have shown the running file with a lagging Size; rotated
    without another write, it keeps that LastWritten under its new name, with its true
    Size. That is still a rotation: the Size cannot tell it."""
    planned = LogFile("error/mysql-error-running.log", 4000, T0)  # lagging: 5000 on disk
    rotated = LogFile("error/mysql-error-running.log.2024-01-02.03", 5000, T0)
    new = LogFile("error/mysql-error-running.log", 6000, T0 + HOUR_MS)
    assert not name_still_holds(planned, True, [new, rotated])
    assert name_still_holds(planned, True, [LogFile(planned.name, 5000, T0),
                                            LogFile(rotated.name, 5000, T0 - MIN_MS)])


def test_a_file_listed_before_with_the_same_mtime_is_not_a_rotation() -> None:
    """A new running file written in the same millisecond as the rotated one (the simulator's
    clock stands still during a run; tests/scenarios/test_quirks.py): the rotated file was
    in the plan's listing already, so it is not the planned file rotated since. Counted as
    one, every run would take the name for rotated and never ship the new file."""
    rotated = LogFile("slowquery/mysql-slowquery.log.0", 150_169, T0)
    planned = LogFile("slowquery/mysql-slowquery.log", 170, T0)
    assert name_still_holds(planned, True, [planned, rotated], before=[planned, rotated])
    assert not name_still_holds(planned, True, [planned, rotated], before=[planned])


def test_a_running_log_listed_smaller_after_a_listed_rotation_is_not_proven_against_it() -> None:
    """Found by the property suite at 10x (example N, under load): a header-only slow log
    seen under the running name at 55,669 bytes; the next listing shows it rotated (``.8``)
    and the name holding a new, smaller file. Both jobs had the generation as their one
    candidate, and the new file, proven first, matched its header: the next hour's bytes were
    appended to it. Only the rotated file may be it; a Size that lags leaves it a candidate
    while no rotation is listed."""
    header = gen(SLOW, 55_669, T0 + 50 * MIN_MS, offset=187, active=True)
    header.header_only = True
    rotated = LogFile(f"{SLOW}.8", 90_169, T0 + 60 * MIN_MS)
    running = LogFile(SLOW, 10_669, T0 + 70 * MIN_MS)
    plan = make_plan(state_of(header), [running, rotated])
    assert header not in job_for(plan, SLOW).candidates
    assert job_for(plan, f"{SLOW}.8").candidates == [header]
    lagging = job_for(make_plan(state_of(header), [running]), SLOW)  # no rotation listed
    assert lagging.candidates == [header]


def test_a_running_log_whose_rotation_is_listed_is_never_resumed_by_its_marker() -> None:
    """Example N of the property suite (under load): the slow log's generation, shipped to
    10,670 bytes with a marker, was listed grown under its name while the listing also showed
    it rotated (``.8``, written after it was seen). A GROWN job resumes from the stored
    marker, whose hour is only a hint, so the next hour's file would be continued from byte
    10,670. The file under the name is a new one: content decides, never the marker."""
    shipped = gen(SLOW, 10_670, T0 + 37 * MIN_MS, active=True, marker="8:10670",
                  marker_name=SLOW)
    listing = [LogFile(f"{SLOW}.8", 90_169, T0 + 60 * MIN_MS),
               LogFile(SLOW, 55_669, T0 + 97 * MIN_MS)]
    plan = make_plan(state_of(shipped), listing)
    running = job_for(plan, SLOW)
    assert grown(running) is None and running.kind is JobKind.PROVE
    assert job_for(plan, f"{SLOW}.8").candidates == [shipped]


def test_a_running_log_is_active_even_where_a_listing_across_a_rotation_shows_it_older() -> None:
    """Example N of the property suite (under load): a listing read page by page while the
    slow log rotated showed the running log at 07:37 and the rotated ``.7`` at 08:00. Taken
    for closed, its new generation was read with no name check, and the 08:00 file's bytes
    went to the generation of what the name held at 07:37."""
    from shipper.name_check import needs_name_check

    listing = [LogFile(SLOW, 10_669, T0 + 37 * MIN_MS), LogFile(f"{SLOW}.7", 90_169, T0 + HOUR_MS),
               LogFile("trace/ORCL_ora_1.trc", 500, T0), LogFile("trace/ORCL_ora_2.trc", 900,
                                                                 T0 + MIN_MS)]
    assert active_names(listing) == {SLOW, f"{SLOW}.7", "trace/ORCL_ora_2.trc"}
    job = job_for(make_plan(state_of(), listing), SLOW)
    assert job.active and job.kind is JobKind.NEW
    assert needs_name_check(gen(SLOW, 10_669, T0 + 37 * MIN_MS, offset=0), job)


def test_a_listing_read_across_a_rotation_does_not_vouch_for_the_running_log() -> None:
    """Example N (under load): the plan's listing, read page by page as the slow log rotated,
    showed the running log at 07:37 and the rotated ``.7`` at 08:00. The entry for the
    running log was the rotated file's, so the name no longer holds it; a file the plan's
    listing showed in the same millisecond is still no rotation since."""
    planned = LogFile(SLOW, 55_669, T0 + 37 * MIN_MS)
    torn = [planned, LogFile(f"{SLOW}.7", 90_169, T0 + HOUR_MS)]
    now = [LogFile(SLOW, 60_000, T0 + 97 * MIN_MS), LogFile(f"{SLOW}.7", 90_169, T0 + HOUR_MS)]
    assert not name_still_holds(planned, True, now, torn)
    same_ms = [planned, LogFile(f"{SLOW}.7", 90_169, T0 + 37 * MIN_MS)]
    now_same = [LogFile(SLOW, 60_000, T0 + 50 * MIN_MS), same_ms[1]]
    assert name_still_holds(planned, True, now_same, same_ms)
