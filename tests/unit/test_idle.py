"""The idle check: a pass writes nothing only when its plan is empty and no bookkeeping is due
(each case below is one a pass would write for)."""

from __future__ import annotations

from shipper.idle import nothing_to_write
from shipper.listing import LogFile
from shipper.losses import MISSING_KEEP_MS
from shipper.state import Generation, Sighting
from shipper.windows import HOUR_MS
from tests.unit.test_continuity import MIN_MS, PG, T0, gen, state_of

NOW = T0 + 3 * HOUR_MS
OLD = f"{PG}.2024-01-02-03"


def listed_as_seen(*gens: Generation) -> list[LogFile]:
    return [LogFile(g.name, g.seen_size, g.seen_last_written_ms)
            for g in gens]


def test_a_listing_as_the_state_last_saw_it_writes_nothing() -> None:
    old = gen(OLD, 9_000, T0 + 59 * MIN_MS)
    running = gen(PG, 500, T0 + 2 * HOUR_MS, active=True)
    state = state_of(old, running)
    assert nothing_to_write(state, listed_as_seen(old, running), NOW)


def test_an_empty_listing_writes_nothing() -> None:
    assert nothing_to_write(state_of(gen(OLD, 9_000, T0)), [], NOW)


def test_a_grown_file_is_work() -> None:
    running = gen(PG, 500, T0 + 2 * HOUR_MS, active=True)
    listing = [LogFile(PG, 800, T0 + 2 * HOUR_MS + MIN_MS)]
    assert not nothing_to_write(state_of(running), listing, NOW)


def test_a_new_file_is_work() -> None:
    old = gen(OLD, 9_000, T0 + 59 * MIN_MS)
    listing = [*listed_as_seen(old), LogFile(f"{PG}.2024-01-02-04", 10, T0 + 61 * MIN_MS)]
    assert not nothing_to_write(state_of(old), listing, NOW)


def test_a_run_that_did_not_end_clean_is_work_for_the_adoption() -> None:
    old = gen(OLD, 9_000, T0 + 59 * MIN_MS)
    state = state_of(old)
    state.last_run_clean = False
    assert not nothing_to_write(state, listed_as_seen(old), NOW)


def test_a_vanished_file_is_work_until_it_is_marked_missing() -> None:
    old = gen(OLD, 9_000, T0 + 59 * MIN_MS)
    running = gen(PG, 500, T0 + 2 * HOUR_MS, active=True)
    state = state_of(old, running)
    listing = listed_as_seen(running)
    assert not nothing_to_write(state, listing, NOW)
    old.missing_since_ms = NOW - HOUR_MS
    assert nothing_to_write(state, listing, NOW)
    old.missing_since_ms = NOW - MISSING_KEEP_MS - 1  # due to be forgotten: a write
    assert not nothing_to_write(state, listing, NOW)


def test_a_pending_break_this_listing_decides_is_work_and_is_not_decided_here() -> None:
    old = gen(OLD, 9_000, T0 + 59 * MIN_MS)
    state = state_of(old)
    state.pending_breaks = {PG: [old.gen_id]}
    assert not nothing_to_write(state, listed_as_seen(old), NOW)
    assert state.pending_breaks == {PG: [old.gen_id]}  # the check changed nothing


def test_unread_sightings_are_work_and_are_left_for_the_pass_that_judges_them() -> None:
    """``replace`` copied only the pending baselines: judging the copy cleared the caller's
    unread sightings, so the pass that followed judged the listing without them."""
    old = gen(OLD, 9_000, T0 + 59 * MIN_MS)
    state = state_of(old)
    seen = Sighting(f"{PG}.2024-01-02-04", 300, T0 + 61 * MIN_MS)
    state.unread = [seen]
    assert not nothing_to_write(state, listed_as_seen(old), NOW)
    assert state.unread == [seen]  # the check changed nothing
