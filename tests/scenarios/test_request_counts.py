"""What a run costs per instance in requests (shipper.ledger's docstring has the protocol).

An idle run (every listing matches its state) costs one DescribeDBLogFiles page and one state
GET per instance, and writes nothing: no lease, no state. A run with work costs one state GET,
one lease PUT, its data objects and its state commits (the last of which closes the run: no
lease GET, no release PUT). The local S3 counts requests by HTTP method; the run itself adds
one ListObjectsV2 (a GET) for its start-up bucket check.
"""

from __future__ import annotations

import pytest

from tests.scenarios.helpers import HOUR, ok_run, request_log
from tests.support.world import AwsWorld

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


@pytest.mark.parametrize("instances", [10, 100])
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
