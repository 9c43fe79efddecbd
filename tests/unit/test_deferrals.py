"""The rule that makes a deferral loud (shipper.deferrals), and how the state keeps them."""

from __future__ import annotations

import json

import pytest

from shipper.deferrals import Deferral, Reason, RunDeferrals, carry_forward
from shipper.exceptions import StateCorruptError
from shipper.state import InstanceState

A, B = "slowquery/mysql-slowquery.log.5", "log/ERROR.1"


def test_the_same_file_for_the_same_reason_twice_is_stuck() -> None:
    before = [Deferral(A, "handed-on", 100, runs=1)]
    kept, stuck = carry_forward(before, [Deferral(A, "handed-on", 100)], pass_complete=True)
    assert stuck == kept == [Deferral(A, "handed-on", 100, runs=2)]


def test_another_reason_or_another_file_starts_counting_again() -> None:
    before = [Deferral(A, "handed-on", 100, runs=3)]
    now = [Deferral(A, "changed-while-read", 100), Deferral(B, "handed-on", 7)]
    kept, stuck = carry_forward(before, now, pass_complete=True)
    assert stuck == [] and [d.runs for d in kept] == [1, 1]


def test_a_shipped_file_is_forgotten_unless_the_pass_stopped_before_it() -> None:
    before = [Deferral(A, "handed-on", 100)]
    assert carry_forward(before, [], pass_complete=True) == ([], [])
    assert carry_forward(before, [], pass_complete=False) == (before, [])


def test_a_run_keeps_the_first_reason_per_file() -> None:
    run = RunDeferrals()
    run.add(B, Reason.ROTATED_WHILE_READ, 5)
    run.add(A, Reason.HANDED_ON, 9)
    run.add(A, Reason.CHANGED_WHILE_READ, 9)
    assert run.all() == [Deferral(B, "rotated-while-read", 5), Deferral(A, "handed-on", 9)]


def test_the_state_keeps_deferrals_and_writes_nothing_new_without_them() -> None:
    state = InstanceState("db", "us-east-1", "123")
    assert "deferred" not in json.loads(state.to_bytes())  # older states read back unchanged
    state.deferred = [Deferral(A, "handed-on", 100, runs=2)]
    again = InstanceState.from_bytes(state.to_bytes(), "k")
    assert again.deferred == state.deferred


@pytest.mark.parametrize("entry", [
    [A, "no-such-reason", 1, 1], [A, "handed-on", -1, 1], [A, "handed-on", 1, 0],
    [A, "handed-on", 1], {"name": A}, [A, "handed-on", True, 1],
])
def test_a_malformed_deferral_is_a_corrupt_state(entry: object) -> None:
    doc = json.loads(InstanceState("db", "us-east-1", "123").to_bytes())
    doc["deferred"] = [entry]
    with pytest.raises(StateCorruptError, match="malformed"):
        InstanceState.from_bytes(json.dumps(doc).encode(), "k")


def test_an_empty_listing_is_stuck_only_the_fourth_run_in_a_row() -> None:
    """An empty family listing is an API glitch of a moment: four in a row are an error."""
    previous: list[Deferral] = []
    for runs in range(1, 5):
        previous, stuck = carry_forward(previous, [Deferral(A, "listing-empty", 1)], True)
        assert [d.runs for d in previous] == [runs]
        assert bool(stuck) is (runs == 4)


def test_a_running_log_listed_anew_is_another_file_not_a_stuck_one() -> None:
    """Two runs that each race a rotation of the running log (runs started together) each
    leave the file then under its name: two files, listed with two LastWritten."""
    before = [Deferral("error/mysql-error-running.log", "handed-on", 100)]
    now = [Deferral("error/mysql-error-running.log", "handed-on", 200)]
    kept, stuck = carry_forward(before, now, pass_complete=True)
    assert stuck == [] and kept == [Deferral("error/mysql-error-running.log", "handed-on", 200)]
