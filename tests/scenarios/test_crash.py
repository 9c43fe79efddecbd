"""Scenario 5: a crash between the data write and the state commit.

The killed run leaves data objects that its state does not mention yet; the next holder of the
lease (after its time-to-live) adopts them instead of writing the same bytes again.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shipper.simulator.faults import DROP, RequestInfo
from tests.scenarios.helpers import DOWNLOAD_ACTIONS, dangling_objects, kill, ok_run, wait_for
from tests.support.runs import describe, finish
from tests.support.world import AwsWorld

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

LEASE = "3"
KILL_AT = 5  # mid-way through the first instance (mysql: six files, one request each)


def world_for_crash(aws: AwsWorld) -> None:
    w = aws.world
    w.add_instance("pg", "postgres", bytes_per_hour=250_000)
    w.add_instance("my", "mysql", bytes_per_hour=250_000)
    w.add_instance("ora", "oracle-ee", bytes_per_hour=250_000)
    w.advance(90 * 60)


def recover(aws: AwsWorld, killed_at: float) -> None:
    """After the crashed run's lease expired: adopt, verify, and prove nothing is left over."""
    left = dangling_objects(aws)
    assert left, "the crash left no uncommitted data object: the scenario did not happen"
    time.sleep(max(0.0, killed_at + float(LEASE) + 0.5 - time.monotonic()))
    res = ok_run(aws)
    assert "adopted objects written after the last commit of a crashed run" in res.messages()
    assert dangling_objects(aws) == []
    report = aws.verify()
    print(res.summary, report.summary())
    report.assert_ok()
    # A later increment continues from the adopted offsets.
    aws.world.advance(20 * 60)
    ok_run(aws)
    aws.verify().assert_ok()


def test_sigkill_at_the_nth_download_request(aws_world: AwsWorld) -> None:
    world_for_crash(aws_world)
    seen = {"n": 0}
    target: dict[str, Any] = {"pid": None, "at": None}
    lock = threading.Lock()

    def hook(info: RequestInfo) -> object:
        if info.action not in DOWNLOAD_ACTIONS:
            return None
        with lock:
            seen["n"] += 1
            if seen["n"] == KILL_AT and target["pid"] is not None:
                target["at"] = time.monotonic()
                kill(target["proc"], signal.SIGKILL)
                return DROP
        return None

    remove = aws_world.sim.add_hook(hook)
    try:
        proc = aws_world.spawn("run", SHIPPER_LEASE_SECONDS=LEASE, SHIPPER_CONCURRENCY="1",
                               SHIPPER_RUN_ID="doomed")
        target.update(pid=proc.pid, proc=proc)
        res = finish(proc, timeout=60)
    finally:
        remove()
    assert res.code == -signal.SIGKILL, describe(res)
    assert seen["n"] >= KILL_AT
    # Before the lease expires, another run keeps its hands off the crashed run's instance.
    early = ok_run(aws_world, SHIPPER_LEASE_SECONDS=LEASE)
    assert early.summary["instances_leased_elsewhere"] >= 1
    recover(aws_world, target["at"])


def test_sigkill_right_after_the_first_data_object(aws_world: AwsWorld) -> None:
    world_for_crash(aws_world)
    aws_world.sim.faults.latency_ms = 150  # a slow API leaves a wide window after the PUT
    proc = aws_world.spawn("run", SHIPPER_LEASE_SECONDS=LEASE, SHIPPER_CONCURRENCY="1")
    try:
        wait_for(lambda: bool(aws_world.data_keys()), 60, "the first data object", proc)
        kill(proc, signal.SIGKILL)
        killed_at = time.monotonic()
    finally:
        res = finish(proc, timeout=30)
    assert res.code == -signal.SIGKILL, describe(res)
    aws_world.sim.faults.latency_ms = 0
    assert len(aws_world.data_keys()) >= 1
    recover(aws_world, killed_at)


@contextlib.contextmanager
def failing_state_puts(aws: AwsWorld) -> Iterator[Callable[[bool], None]]:
    """Make LocalS3 answer 500 to PUTs of this bucket's state objects while armed."""
    server: Any = aws.s3._server  # the werkzeug server; its app is LocalS3's serialiser
    serialiser = server.app
    inner = serialiser.app
    armed = threading.Event()
    needle = f"/{aws.bucket}/rds-logs/_state/"

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        host = environ.get("HTTP_HOST", "")
        if armed.is_set() and environ.get("REQUEST_METHOD") == "PUT" and (
                needle in path or (host.startswith(aws.bucket) and "/rds-logs/_state/" in path)):
            start_response("500 Internal Server Error", [("Content-Type", "application/xml")])
            return [b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"]
        return inner(environ, start_response)

    serialiser.app = app

    def arm(on: bool) -> None:
        if on:
            armed.set()
        else:
            armed.clear()

    try:
        yield arm
    finally:
        serialiser.app = inner


def test_state_commit_fails_after_data_is_written(aws_world: AwsWorld) -> None:
    """The state PUT fails (S3 500s until retries run out): exit 1, data durable but not
    committed; the next run adopts it instead of shipping it again."""
    world_for_crash(aws_world)
    with failing_state_puts(aws_world) as arm:
        def hook(info: RequestInfo) -> None:
            if info.action in DOWNLOAD_ACTIONS:
                arm(True)  # after the generations were recorded, before any data

        remove = aws_world.sim.add_hook(hook)
        try:
            res = aws_world.run(SHIPPER_MAX_ATTEMPTS="2", SHIPPER_LEASE_SECONDS=LEASE)
        finally:
            remove()
            arm(False)
    assert res.code == 1, describe(res)
    assert any("could not commit state" in m for m in res.messages("ERROR")), describe(res)
    assert "Traceback" not in res.stdout + res.stderr
    recover(aws_world, time.monotonic())
