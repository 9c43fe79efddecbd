"""Scenario 7: two and three runs started together split the instances through their leases;
every instance is shipped by exactly one of them and nothing is duplicated."""

from __future__ import annotations

import json
import time
from typing import Any
from unittest import mock

import pytest

import shipper.runner
from tests.scenarios.helpers import (
    ENGINES,
    load_state,
    ok_run,
    request_log,
    runs_started_together,
)
from tests.support.runs import describe, run_inproc
from tests.support.world import AwsWorld

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

INSTANCES = 12


@pytest.mark.parametrize("runs", [2, 3])
def test_concurrent_runs_split_the_instances(aws_world: AwsWorld, runs: int) -> None:
    w = aws_world.world
    idents = [f"db{i:02d}" for i in range(INSTANCES)]
    for i, ident in enumerate(idents):
        w.add_instance(ident, ENGINES[i % len(ENGINES)], bytes_per_hour=100_000)
    w.advance(80 * 60)
    aws_world.sim.faults.latency_ms = 60
    run_ids = [f"run-{chr(ord('a') + k)}" for k in range(runs)]
    results, skipped_by = runs_started_together(aws_world, run_ids, INSTANCES)

    # Each instance's state was committed by exactly one run, and that run did not skip it;
    # the others either skipped it or found nothing left to do.
    writers = {}
    for ident in idents:
        state = load_state(aws_world, ident)
        writers[ident] = state["last_run_id"]
        assert state["last_run_id"] in run_ids
        assert ident not in skipped_by[state["last_run_id"]]
    assert len(set(writers.values())) >= 2, writers
    # No object was written twice: the objects the runs wrote are exactly the objects in S3.
    keys = aws_world.data_keys()
    assert sum(r.summary["objects_written"] for r in results) == len(keys)
    report = aws_world.verify()
    report.assert_ok()
    # every byte but the unfinished last lines of growing files, held back (shipper.lines)
    assert sum(r.summary["bytes_shipped"] for r in results) == sum(
        g.size for g in w.generations()) - report.held_back_bytes


def test_an_instance_held_by_a_silent_holder_fails_the_run(aws_world: AwsWorld) -> None:
    """Issue 18: a lease held by a run gone silent for over twice the TTL (written with a far
    expiry) is not a success to skip: exit 1, counted in the summary and in the metric; a
    live holder's lease is skipped with exit 0 and counted the same way."""
    w = aws_world.world
    w.add_instance("db-a", "postgres", bytes_per_hour=50_000)
    w.add_instance("db-b", "mysql", bytes_per_hour=50_000)
    w.advance(3600)
    ok_run(aws_world, "run")
    w.advance(600)  # new bytes: an idle instance takes no lease at all (shipper.idle)
    client = aws_world.s3_client()
    key = aws_world.lease_key("db-a")
    now = time.time()

    def hold(silent_for: float) -> None:
        body = {"holder": "gone", "expires_at": now + 3600, "released": False,
                "written_at": now - silent_for}
        client.put_object(Bucket=aws_world.bucket, Key=key, Body=json.dumps(body).encode())

    hold(silent_for=10)  # a live holder (renews every TTL/3)
    live = run_inproc(aws_world, "run", SHIPPER_LEASE_SECONDS="120")
    assert live.code == 0, describe(live)
    assert live.summary["instances_leased_elsewhere"] == 1
    assert live.emf is not None and live.emf["InstancesLeasedElsewhere"] == 1
    hold(silent_for=241)  # silent over twice the TTL of 120 s
    stale = run_inproc(aws_world, "run", SHIPPER_LEASE_SECONDS="120")
    assert stale.code == 1, describe(stale)
    assert stale.summary["instances_leased_elsewhere"] == 1
    assert stale.emf is not None and stale.emf["InstancesLeasedElsewhere"] == 1
    assert any("stopped renewing the lease" in str(x.get("message")) and
               x.get("instance") == "db-a" for x in stale.lines), describe(stale)


def test_an_instance_shipped_since_this_run_started_costs_no_listing(aws_world: AwsWorld
                                                                      ) -> None:
    """Runs started together (TaskCount > 1) list an instance before taking its lease; one
    that another run finished after this run started is skipped on its state alone, before
    any RDS call: the other run listed it later than this run could have."""
    w = aws_world.world
    for i in range(3):
        w.add_instance(f"db{i}", ENGINES[i], bytes_per_hour=100_000)
    w.advance(70 * 60)
    real_init = shipper.runner.Runner.__init__

    def started_an_hour_ago(self: shipper.runner.Runner, *a: Any, **k: Any) -> None:
        real_init(self, *a, **k)
        self.started_at -= 3600  # before the other run's commits

    ok_run(aws_world)
    w.advance(10 * 60)  # new bytes: not idle
    with mock.patch.object(shipper.runner.Runner, "__init__", started_an_hour_ago), \
            request_log(aws_world) as rec:
        res = run_inproc(aws_world)
    assert res.code == 0, describe(res)
    assert rec.actions()["DescribeDBLogFiles"] == 0, rec.actions()
    assert res.summary["instances_leased_elsewhere"] == 3
    assert res.summary["objects_written"] == 0
    ok_run(aws_world)  # the next run ships what was left
    aws_world.verify().assert_ok()


def test_each_run_walks_the_instances_in_an_order_of_its_own() -> None:
    idents = [f"db{i:03d}" for i in range(50)]
    order = shipper.runner.in_run_order(idents, "run-a")
    assert sorted(order) == idents and order == shipper.runner.in_run_order(idents, "run-a")
    assert order != shipper.runner.in_run_order(idents, "run-b")
