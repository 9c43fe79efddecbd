"""What a run costs per instance in requests (shipper.ledger's docstring has the protocol).

An idle run (every listing matches its state) costs one DescribeDBLogFiles page and one state
GET per instance, and writes nothing: no lease, no state. A run with work costs one state GET,
one lease PUT, its data objects and its state commits (the last of which closes the run: no
lease GET, no release PUT). The local S3 counts requests by HTTP method; the run itself adds
one ListObjectsV2 (a GET) for its start-up bucket check.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from tests.scenarios.helpers import HOUR, ok_run, request_log
from tests.support.runs import Run, describe, finish, run_inproc
from tests.support.world import AwsWorld

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

BUCKET_CHECK_GETS = 1  # the run's one start-up ListObjectsV2


def _fleet(aws: AwsWorld, instances: int) -> None:
    for i in range(instances):
        aws.world.add_instance(f"db-{i:04d}", "postgres", bytes_per_hour=2_000)
    aws.world.advance(HOUR)


def _idle_run_costs(aws: AwsWorld, instances: int) -> None:
    _fleet(aws, instances)
    ok_run(aws)
    keys_before = sorted(aws.data_keys())
    aws.s3.stats.reset()
    with request_log(aws) as rec:
        idle = ok_run(aws)
    methods = aws.s3.stats.methods
    print(instances, "instances, idle run:", methods, dict(rec.actions()))
    assert methods.get("PUT", 0) == 0, methods
    assert methods.get("GET", 0) <= instances + BUCKET_CHECK_GETS, methods
    assert set(methods) <= {"GET"}, methods  # no HEAD, no DELETE, no POST either
    listings = rec.by_instance("DescribeDBLogFiles")
    assert len(listings) == instances and max(listings.values()) == 1, listings
    per_instance = {a: n for a, n in rec.actions().items() if a != "DescribeDBInstances"}
    assert per_instance == {"DescribeDBLogFiles": instances}, rec.actions()
    assert idle.summary["state_commits"] == 0 and idle.summary["objects_written"] == 0
    assert sorted(aws.data_keys()) == keys_before


@pytest.mark.parametrize("instances", [10, pytest.param(100, marks=pytest.mark.slow)])
def test_idle_run_writes_nothing(aws_world: AwsWorld, instances: int) -> None:
    _idle_run_costs(aws_world, instances)


@pytest.mark.slow
def test_idle_run_writes_nothing_at_1000_instances(aws_world: AwsWorld) -> None:
    _idle_run_costs(aws_world, 1000)


def test_run_with_work_costs_one_get_and_one_lease_put_per_instance(
        aws_world: AwsWorld) -> None:
    """Old protocol, per instance: GET lease, PUT lease, GET state, the commits (intent,
    between objects, final), PUT release. Now: GET state, PUT lease (If-Match on the ETag the
    last run's final commit recorded), the commits; the final commit is the release."""
    instances = 10
    _fleet(aws_world, instances)
    ok_run(aws_world)
    aws_world.world.advance(HOUR + 600)  # every file grows, and each instance rotates
    aws_world.s3.stats.reset()
    work = ok_run(aws_world)
    methods = aws_world.s3.stats.methods
    s = work.summary
    print("run with work:", methods, {k: s[k] for k in ("objects_written", "state_commits")})
    assert s["objects_written"] >= instances, s
    assert methods.get("GET", 0) == instances + BUCKET_CHECK_GETS, methods
    lease_puts = methods.get("PUT", 0) - s["objects_written"] - s["state_commits"]
    assert lease_puts == instances, (methods, s)
    assert set(methods) <= {"GET", "PUT"}, methods
    aws_world.verify().assert_ok()


def test_a_run_that_shipped_between_the_state_read_and_the_lease_is_not_repeated(
        aws_world: AwsWorld) -> None:
    """Run B reads the state, then run A ships the instance and its lease expires, then the
    files grow; B's lease PUT on the recorded ETag fails, B reads the lease (expired: taken
    over), reads the state again, finds A's commit and plans from it and a new listing.
    Planning from the state it read first would rewrite A's objects with longer ones."""
    w = aws_world.world
    w.add_instance("db-a", "postgres", bytes_per_hour=200_000)
    w.advance(HOUR)
    ok_run(aws_world)
    w.advance(HOUR)
    interleaved: list[Run] = []

    def ship_first(params: dict[str, Any], **_: Any) -> None:
        if interleaved or "/_leases/" not in params["Key"]:
            return
        interleaved.append(finish(aws_world.spawn("run", SHIPPER_LEASE_SECONDS="1"), timeout=60))
        time.sleep(1.5)  # A's lease expires unreleased: B may take it over
        w.advance(600)

    def hook(session: Any) -> None:
        session.events.register("before-parameter-build.s3.PutObject", ship_first)

    second = run_inproc(aws_world, "run", session_hook=hook)
    assert second.code == 0, describe(second)
    assert len(interleaved) == 1 and interleaved[0].code == 0, describe(interleaved[0])
    assert interleaved[0].summary["objects_written"] >= 1
    assert "state changed since it was read; listing again" in second.messages()
    assert second.summary["objects_written"] >= 1  # what grew after A, from A's offsets
    aws_world.verify().assert_ok()


def _confirmations(rec: Any) -> Counter[str]:
    """DescribeDBInstances by identifier asked: the discovery walk (no identifier) left out."""
    return Counter({k: n for k, n in rec.by_instance("DescribeDBInstances").items()
                    if k != "None"})


def test_identity_is_confirmed_only_when_something_was_read_since(aws_world: AwsWorld) -> None:
    """Issue 25: a commit's confirmation (one DescribeDBInstances naming the identifier) is
    skipped when no request for the instance's log files came back since the identifier was
    last seen naming it. A first run commits three times (the state under its resource id
    before the name record, the intent, the final commit) but reads nothing between the
    first two: two confirmations. A later run with work: the intent after its listing and
    the final commit, two. One instance at a time, so that no two confirmations wait
    together (they would share a request: the next test)."""
    instances = 6
    _fleet(aws_world, instances)
    with request_log(aws_world) as rec:
        first = ok_run(aws_world, SHIPPER_CONCURRENCY="1")
    assert first.summary["state_commits"] == 3 * instances, first.summary
    assert sorted(_confirmations(rec).values()) == [2] * instances, rec.seen
    aws_world.world.advance(HOUR + 600)
    with request_log(aws_world) as rec:
        later = ok_run(aws_world, SHIPPER_CONCURRENCY="1")
    assert later.summary["state_commits"] >= 2 * instances, later.summary
    assert sorted(_confirmations(rec).values()) == [2] * instances
    aws_world.verify().assert_ok()


def test_confirmations_that_wait_together_share_an_instance_page(aws_world: AwsWorld) -> None:
    """Issue 25: instances whose commits wait for a confirmation at once are answered by one
    walk of the instance pages (here one page for every instance) instead of one request
    each; the archive is exact all the same."""
    instances = 8
    _fleet(aws_world, instances)
    with request_log(aws_world) as rec:
        ok_run(aws_world)
    walks = sum(1 for i in rec.seen if i.action == "DescribeDBInstances"
                and i.instance is None) - 1  # the run's discovery walk
    by_name = sum(_confirmations(rec).values())
    print("confirmations: walks", walks, "by name", by_name)
    assert walks >= 1 and walks + by_name < 2 * instances, (walks, by_name)
    aws_world.verify().assert_ok()
