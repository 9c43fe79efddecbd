"""Scenario 6: SIGTERM mid-run and the max-runtime budget: a clean, committed stop, and the
next run ships the rest without duplicating anything."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable

import pytest

from shipper.simulator.faults import RequestInfo
from tests.scenarios.helpers import DOWNLOAD_ACTIONS, dangling_objects, kill, ok_run, wait_for
from tests.support.runs import describe, finish, run_cli
from tests.support.world import AwsWorld

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

ADOPTED = "adopted objects written after the last commit of a crashed run"


def slow_world(aws: AwsWorld) -> None:
    w = aws.world
    for i, engine in enumerate(["postgres", "mysql", "oracle-ee", "aurora-mysql"]):
        w.add_instance(f"db{i}", engine, bytes_per_hour=200_000, audit_rotate_bytes=60_000) \
            if engine == "aurora-mysql" else w.add_instance(f"db{i}", engine,
                                                            bytes_per_hour=200_000)
    w.advance(2 * 3600 + 600)
    aws.sim.faults.latency_ms = 250
    aws.sim.faults.page_bytes = 16_384


def test_sigterm_mid_run_commits_and_exits_143(aws_world: AwsWorld) -> None:
    slow_world(aws_world)
    downloads = {"n": 0}
    lock = threading.Lock()

    def hook(info: RequestInfo) -> None:
        if info.action in DOWNLOAD_ACTIONS:
            with lock:
                downloads["n"] += 1

    remove = aws_world.sim.add_hook(hook)
    proc = aws_world.spawn("run", SHIPPER_CONCURRENCY="2")
    try:
        wait_for(lambda: bool(aws_world.data_keys()) and downloads["n"] >= 6, 60,
                 "downloads and a first data object", proc)
        kill(proc, signal.SIGTERM)
        signalled = time.monotonic()
        res = finish(proc, timeout=25)
        stopped_after = time.monotonic() - signalled
    finally:
        remove()
        if proc.poll() is None:
            kill(proc)
    print(f"stopped {stopped_after:.2f}s after SIGTERM", res.summary)
    assert res.code == 143, describe(res)
    assert stopped_after < 20
    assert "Traceback" not in res.stderr
    messages = [m for m in res.messages() if m != "None"]  # the EMF record has no message
    assert "stop requested; committing what is durable" in messages
    assert messages.index("stop requested; committing what is durable") > messages.index(
        "run started")
    assert messages[-1] == "run finished" and res.summary["exit_code"] == 143
    assert not [m for m in res.messages("ERROR")], describe(res)
    # Durable progress is committed: no data object lies beyond its committed offset.
    assert aws_world.data_keys()
    assert dangling_objects(aws_world) == []
    report = aws_world.verify()
    assert not report.ok and not report.problems  # partial, but nothing wrong in it
    shipped_before = report.bytes

    aws_world.sim.faults.latency_ms = 0
    rest = ok_run(aws_world)
    assert ADOPTED not in rest.messages()
    final = aws_world.verify()
    final.assert_ok()
    assert rest.summary["bytes_shipped"] == final.bytes - shipped_before > 0


def slow_after_first_object(aws: AwsWorld, seconds: float) -> Callable[[], None]:
    """Once a data object has landed, every later download takes ``seconds``.

    The max-runtime stop must fall after something is committed and long before the backlog
    is done, on a fast laptop and on a loaded 2-core CI machine alike: a fixed latency with a
    short budget let a slow machine reach the budget before its first commit (status then
    had nothing to show). The first phase runs without latency; the rest takes minutes.
    """
    landed = threading.Event()

    def hook(info: RequestInfo) -> None:
        if info.action not in DOWNLOAD_ACTIONS:
            return
        if landed.is_set() or aws.data_keys():
            landed.set()
            time.sleep(seconds)

    return aws.sim.add_hook(hook)


def test_max_runtime_stops_cleanly_with_exit_5(aws_world: AwsWorld) -> None:
    slow_world(aws_world)
    aws_world.sim.faults.latency_ms = 0
    remove = slow_after_first_object(aws_world, 1.5)
    try:
        res = aws_world.run(SHIPPER_MAX_RUNTIME="6", SHIPPER_CONCURRENCY="2")
    finally:
        remove()
    assert res.code == 5, describe(res)
    assert "max runtime reached; stopping cleanly" in res.messages()
    assert res.summary["exit_code"] == 5 and res.summary["seconds"] < 20
    assert dangling_objects(aws_world) == []
    first = aws_world.verify()
    assert not first.problems
    # status shows who is behind, by how many bytes, since when (the simulated files were
    # written days before the wall clock's now).
    behind = json.loads(run_cli(aws_world, "status", "--json").stdout)
    lagging = [r for r in behind if r["bytes_behind"] > 0]
    assert lagging and all(r["lag_seconds"] > 3600 for r in lagging), behind
    assert all(r["last_run_clean"] is False for r in lagging)
    aws_world.sim.faults.latency_ms = 0
    rest = ok_run(aws_world)
    final = aws_world.verify()
    final.assert_ok()
    assert rest.summary["bytes_shipped"] == final.bytes - first.bytes > 0
    caught_up = json.loads(run_cli(aws_world, "status", "--json").stdout)
    assert all(r["bytes_behind"] == 0 and r["lag_seconds"] == 0 for r in caught_up), caught_up
    assert sum(r["bytes_shipped"] for r in caught_up) == final.bytes
