"""Continuity: which listings show a break, which leave it pending, and how a pass settles it."""

from __future__ import annotations

import itertools

from shipper.continuity import Break, decide_pending, judge_listing, presence
from shipper.identity import make_plan
from shipper.listing import LogFile
from shipper.state import Generation, InstanceState, Sighting
from shipper.windows import HOUR_MS

T0 = 1_704_164_400_000  # 2024-01-02T03:00:00Z
MIN_MS = 60_000
PG = "error/postgresql.log"
SLOW = "slowquery/mysql-slowquery.log"
RUNNING = "error/mysql-error-running.log"
_ids = itertools.count()


def gen(name: str, size: int, lw: int, offset: int | None = None, *,
        active: bool = False) -> Generation:
    return Generation(gen_id=f"{next(_ids):020x}", name=name, first_name=name,
                      first_seen_ms=lw, offset=size if offset is None else offset,
                      seen_size=size, seen_last_written_ms=lw, active=active)


def state_of(*gens: Generation) -> InstanceState:
    return InstanceState("db-1", "eu-west-1", "123456789012",
                         generations={g.gen_id: g for g in gens})


def judge(state: InstanceState, listing: list[LogFile]) -> tuple[list[Break], bool]:
    known = [g for g in state.generations.values() if g.missing_since_ms is None]
    return judge_listing(state, known, make_plan(state, listing), listing)


def test_a_family_with_a_known_file_unchanged_is_continuous() -> None:
    old = gen(f"{PG}.2024-01-02-03", 9_000, T0 + 59 * MIN_MS)
    state = state_of(old)
    breaks, changed = judge(state, [LogFile(old.name, 9_000, old.seen_last_written_ms),
                                    LogFile(f"{PG}.2024-01-02-05", 100, T0 + 2 * HOUR_MS)])
    assert (breaks, changed, state.pending_breaks) == ([], False, {})


def test_a_family_whose_known_files_cannot_be_listed_is_a_certain_break() -> None:
    old = gen(f"{PG}.2024-01-02-03", 9_000, T0 + 59 * MIN_MS, active=True)
    state = state_of(old)
    breaks, _ = judge(state, [LogFile(f"{PG}.2024-01-02-06", 20_000, T0 + 3 * HOUR_MS)])
    assert breaks == [Break(PG, old.seen_last_written_ms)] and state.pending_breaks == {}


def test_a_grown_file_under_a_name_that_carries_its_hour_is_certainly_the_same() -> None:
    old = gen(f"{PG}.2024-01-02-03", 9_000, T0 + 30 * MIN_MS, active=True)
    state = state_of(old)
    breaks, changed = judge(state, [LogFile(old.name, 12_000, T0 + 59 * MIN_MS)])
    assert (breaks, changed, state.pending_breaks) == ([], False, {})


def test_known_files_that_are_only_candidates_leave_the_family_pending() -> None:
    running = gen(SLOW, 9_000, T0 + 50 * MIN_MS, active=True)
    state = state_of(running)
    listing = [LogFile(f"{SLOW}.3", 12_000, T0 + 59 * MIN_MS), LogFile(SLOW, 10, T0 + 61 * MIN_MS)]
    breaks, changed = judge(state, listing)
    assert breaks == [] and not changed  # written with the newer files, by their commit
    assert state.pending_breaks == {SLOW: [running.gen_id]}


def test_a_pending_baseline_outlives_the_files_a_stopped_run_recorded() -> None:
    running = gen(SLOW, 9_000, T0 + 50 * MIN_MS, active=True)
    state = state_of(running)
    state.pending_breaks = {SLOW: [running.gen_id]}
    newer = gen(f"{SLOW}.3", 12_000, T0 + 59 * MIN_MS)  # recorded by the stopped run
    state.generations[newer.gen_id] = newer
    breaks, _ = judge(state, [LogFile(newer.name, newer.seen_size, newer.seen_last_written_ms)])
    # the newer file is listed unchanged, but the question is about the baseline
    assert breaks == [Break(SLOW, running.seen_last_written_ms)] and state.pending_breaks == {}


def test_an_empty_generation_is_present_when_what_it_could_have_become_is_listed() -> None:
    empty = gen(RUNNING, 0, T0, active=True)
    state = state_of(empty)
    listing = [LogFile(f"{RUNNING}.2024-01-02.03", 700, T0 + 59 * MIN_MS),
               LogFile(RUNNING, 40, T0 + 64 * MIN_MS)]
    certain, _ = presence(make_plan(state, listing), [empty], listing)
    assert empty.gen_id in certain
    assert judge(state, listing) == ([], False)


def test_an_empty_generation_whose_hour_was_deleted_is_a_break() -> None:
    empty = gen(RUNNING, 0, T0, active=True)
    state = state_of(empty)
    listing = [LogFile(f"{RUNNING}.2024-01-02.05", 700, T0 + 179 * MIN_MS),
               LogFile(RUNNING, 40, T0 + 184 * MIN_MS)]
    assert judge(state, listing)[0] == [Break(RUNNING, T0)]


def test_a_family_not_listed_at_all_says_nothing() -> None:
    old = gen(f"{PG}.2024-01-02-03", 9_000, T0)
    state = state_of(old)
    assert judge(state, [LogFile("trace/alert_ORCL.log", 10, T0 + HOUR_MS)]) == ([], False)
    assert judge(state, []) == ([], False)


def test_settling_a_pending_family_after_a_complete_pass() -> None:
    found, lost, deferred = (gen(f"{SLOW}.{k}", 9_000, T0 + k) for k in range(3))
    state = state_of(found, lost, deferred)
    listing = [LogFile(SLOW, 10, T0 + HOUR_MS)]
    state.pending_breaks = {SLOW: [found.gen_id, lost.gen_id]}
    lost.missing_since_ms = T0 + HOUR_MS
    assert decide_pending(state, {found.gen_id}, listing) == ([], True)
    assert state.pending_breaks == {}

    found.missing_since_ms = T0 + HOUR_MS
    state.pending_breaks = {SLOW: [found.gen_id, lost.gen_id, "gone-from-state"]}
    assert decide_pending(state, set(), listing) == ([Break(SLOW, lost.seen_last_written_ms)], True)
    assert state.pending_breaks == {}

    state.pending_breaks = {SLOW: [lost.gen_id, deferred.gen_id]}  # one still undecided
    assert decide_pending(state, set(), listing) == ([], False)
    assert state.pending_breaks == {SLOW: [lost.gen_id, deferred.gen_id]}
    assert decide_pending(state, set(), []) == ([], False)  # nothing listed: nothing to say


def test_a_file_whose_generation_was_taken_back_keeps_its_family_continuous_once() -> None:
    """Found by the property suite at 10x (Q2): a run minted a generation for SQL Server's
    running ``log/ERROR``, and the log cycled before it was read: the generation was taken
    back. With one archive kept, the fully shipped ``ERROR.1`` was pushed out at the same
    cycle. The sighting of the file the generation was minted for is what shows that the
    new ``ERROR.1`` (written within the hour, not smaller) is that file: nothing between."""
    shipped = gen("log/ERROR.1", 160_000, T0 - MIN_MS)
    cycled = [LogFile("log/ERROR", 30_000, T0 + 70 * MIN_MS),
              LogFile("log/ERROR.1", 171_000, T0 + 59 * MIN_MS)]
    state = state_of(shipped)
    state.unread = [Sighting("log/ERROR", 150_000, T0 + 20 * MIN_MS)]
    breaks, changed = judge(state, cycled)
    assert (breaks, changed, state.pending_breaks, state.unread) == ([], True, {}, [])
    state = state_of(shipped)  # without it: pending, and a break once the proofs fail
    assert judge(state, cycled)[0] == [] and state.pending_breaks == {
        "log/ERROR": [shipped.gen_id]}


def test_a_sighting_does_not_cover_files_written_over_an_hour_later() -> None:
    """The lossy twin: the file seen could not have become anything listed now (its next
    slot was pushed out too), so files may have come and gone unseen."""
    shipped = gen("log/ERROR.1", 160_000, T0 - MIN_MS)
    state = state_of(shipped)
    state.unread = [Sighting("log/ERROR", 150_000, T0 + 20 * MIN_MS)]
    breaks, _ = judge(state, [LogFile("log/ERROR", 30_000, T0 + 4 * HOUR_MS),
                              LogFile("log/ERROR.1", 171_000, T0 + 3 * HOUR_MS)])
    assert breaks == [] and not state.unread  # undecided: the proofs decide, as without it
    assert state.pending_breaks == {"log/ERROR": [shipped.gen_id]}


def test_a_sighting_does_not_settle_a_family_left_undecided_before_it() -> None:
    """Found by the property suite at 10x (random draws, seed 129): a run after a day's gap
    left the slow log's family undecided (its known files only candidates), stopped, and
    took back a generation it had minted. The sighting vouches for the files from its own
    listing on, not for those between the pending baseline and it: the break must still be
    decided by the baseline's generations."""
    old = gen("slowquery/mysql-slowquery.log.3", 20_000, T0 - 25 * HOUR_MS)
    state = state_of(old)
    state.pending_breaks = {SLOW: [old.gen_id]}
    state.unread = [Sighting(SLOW, 200, T0 - 10 * MIN_MS)]
    listing = [LogFile(SLOW, 400, T0), LogFile(f"{SLOW}.3", 22_000, T0 - 30 * MIN_MS)]
    breaks, _ = judge(state, listing)
    assert breaks == [] and state.pending_breaks == {SLOW: [old.gen_id]} and not state.unread


AUDIT = "audit/audit.log.0.2024-01-02-03-07"


def test_an_empty_stamped_file_could_not_have_become_a_file_of_another_stamp() -> None:
    """Found by the property suite at 10x (issue 24, a switchover mid-run): the new holder's
    Aurora audit family was known only by empty stamped files. A file of another stamp 46
    minutes later is not one of them grown (a stamped name is never given to another file),
    so the four audit files retention deleted between them are a break."""
    empty = gen(f"{AUDIT}.00001", 0, T0, active=True)
    state = state_of(empty)
    later = [LogFile("audit/audit.log.1.2024-01-02-03-53.00009", 9_000, T0 + 46 * MIN_MS)]
    certain, _ = presence(make_plan(state, later), [empty], later)
    assert empty.gen_id not in certain
    assert judge(state, later)[0] == [Break("audit/audit.log.#", T0)]
    grown = [LogFile(f"{AUDIT}.00001", 9_000, T0 + 46 * MIN_MS)]  # the same file, grown
    assert judge(state_of(empty), grown) == ([], False)
