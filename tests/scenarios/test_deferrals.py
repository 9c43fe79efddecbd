"""No silent deferral (issue 28): a listed file a run leaves for the next listing is counted,
and the same file left again by the next run for the same reason fails that run, loudly.

The stuck file is made the way main made it: the name check's family listing misses the
file (main read only its first page), so the check takes the name for handed on after the
listing, every run.
"""

from __future__ import annotations

import pytest

from shipper.listing import Listing
from shipper.rdsapi import RdsApi
from shipper.state import InstanceState
from tests.scenarios.helpers import HOUR, describe, error_lines, ok_run, state_key
from tests.support.world import AwsWorld

SLOW = "slowquery/mysql-slowquery.log"


def blind_to_slow_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    """The family listing of the name check never shows the slow log's ``.N`` files."""
    real = RdsApi.log_files_like

    def listing(self: RdsApi, instance: str, text: str) -> Listing:
        files = real(self, instance, text)
        return Listing([f for f in files if not f.name.startswith(f"{SLOW}.")], files.complete)

    monkeypatch.setattr(RdsApi, "log_files_like", listing)


def stored_state(aws: AwsWorld, instance: str) -> InstanceState:
    key = state_key(aws, instance)
    body = aws.s3_client().get_object(Bucket=aws.bucket, Key=key)["Body"].read()
    return InstanceState.from_bytes(body, key)


def test_a_file_deferred_twice_for_the_same_reason_fails_the_second_run(
        aws_world: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    w = aws_world.world
    w.add_instance("my", "mysql", bytes_per_hour=20_000)
    w.advance(2 * HOUR + 300)  # slowquery .0 and .1: closed slots, checked before shipping
    blind_to_slow_slots(monkeypatch)

    first = ok_run(aws_world)
    assert first.summary["files_deferred"] == 2 and first.summary["files_stuck"] == 0
    assert [d.name for d in stored_state(aws_world, "my").deferred] == [f"{SLOW}.0",
                                                                        f"{SLOW}.1"]

    second = aws_world.run()
    assert second.code == 1, describe(second)
    s = second.summary
    assert s["files_stuck"] == 2 and s["failures"] == 2 and s["run_failed"] == 1, s
    stuck = [x for x in second.lines if x.get("level") == "ERROR" and x.get("file")]
    assert sorted(x["file"] for x in stuck) == [f"{SLOW}.0", f"{SLOW}.1"]
    assert {(x["reason"], x["runs"]) for x in stuck} == {("handed-on", 2)}
    assert any("2 runs in a row" in e for e in error_lines(second))
    assert second.emf is not None and second.emf["FilesStuck"] == 2
    assert second.emf["Failures"] == 2

    monkeypatch.undo()  # the check reads the whole family again: the files ship
    healed = ok_run(aws_world)
    assert healed.summary["files_deferred"] == 0 and healed.summary["files_stuck"] == 0
    assert stored_state(aws_world, "my").deferred == []
    aws_world.verify().assert_ok()


def test_a_deferral_the_next_run_resolves_is_not_an_error(
        aws_world: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once is a race the next listing settles: counted, never an error."""
    w = aws_world.world
    w.add_instance("my", "mysql", bytes_per_hour=20_000)
    w.advance(2 * HOUR + 300)
    with monkeypatch.context() as patch:
        blind_to_slow_slots(patch)
        assert ok_run(aws_world).summary["files_deferred"] == 2
    res = ok_run(aws_world)
    assert res.summary["files_stuck"] == 0 and not error_lines(res), describe(res)
    assert res.emf is not None and res.emf["FilesDeferred"] == 0
    aws_world.verify().assert_ok()
