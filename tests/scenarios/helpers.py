"""Shared pieces of the scenario tests: engine list, CLI capture, subprocess control, S3 reads.

Everything here talks to the real shipper through its CLI (in-process or as a child process)
and to the simulator only through its public test surface (world, faults, hooks, stats).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from shipper.simulator.faults import RequestInfo
from tests.support.runs import Run, describe, finish
from tests.support.world import PREFIX, AwsWorld

ENGINES = ["postgres", "aurora-postgresql", "mysql", "mariadb", "aurora-mysql",
           "sqlserver-se", "oracle-ee"]
DOWNLOAD_ACTIONS = ("DownloadDBLogFilePortion", "DownloadCompleteLogFile")
HOUR = 3600


# --- runs (tests.support.runs: one runner, one result type) ---------------------------------


def ok_run(aws: AwsWorld, *argv: str, **env: str) -> Run:
    res = aws.run(*argv, **env)
    assert res.code == 0, describe(res)
    return res


def error_lines(res: Run) -> list[str]:
    """Every error the run reported: ``rds-log-shipper: error:`` lines on stderr and ``error``
    log lines."""
    found = [line for line in res.stderr.splitlines() if line.strip()]
    found += [str(x.get("message")) for x in res.lines if x.get("level") == "ERROR"]
    return found


# --- simulator request accounting ------------------------------------------------------------


class RequestLog:
    """Records every request the simulator sees (action, instance, log file), thread-safe."""

    def __init__(self, aws: AwsWorld) -> None:
        self._lock = threading.Lock()
        self.seen: list[RequestInfo] = []
        self._remove = aws.sim.add_hook(self._hook)

    def _hook(self, info: RequestInfo) -> None:
        with self._lock:
            self.seen.append(info)

    def clear(self) -> None:
        with self._lock:
            self.seen.clear()

    def close(self) -> None:
        self._remove()

    def actions(self) -> Counter[str]:
        with self._lock:
            return Counter(i.action for i in self.seen)

    def downloads(self, instance: str | None = None,
                  log_file: str | None = None) -> list[RequestInfo]:
        with self._lock:
            return [i for i in self.seen if i.action in DOWNLOAD_ACTIONS
                    and (instance is None or i.instance == instance)
                    and (log_file is None or i.log_file == log_file)]

    def by_instance(self, action: str) -> Counter[str]:
        with self._lock:
            return Counter(str(i.instance) for i in self.seen if i.action == action)


@contextlib.contextmanager
def request_log(aws: AwsWorld) -> Iterator[RequestLog]:
    rec = RequestLog(aws)
    try:
        yield rec
    finally:
        rec.close()


# --- S3 reads --------------------------------------------------------------------------------


def head_all(aws: AwsWorld) -> dict[str, dict[str, str]]:
    """Every data object's user metadata, by key."""
    client = aws.s3_client()
    return {key: {k.lower(): v for k, v in client.head_object(
        Bucket=aws.bucket, Key=key)["Metadata"].items()} for key in aws.data_keys()}


def read_data(aws: AwsWorld, key: str) -> bytes:
    body = aws.s3_client().get_object(Bucket=aws.bucket, Key=key)["Body"].read()
    return gzip.decompress(body)


def state_keys(aws: AwsWorld) -> list[str]:
    """The states (keyed by resource id; the ``instance=`` keys beside them are name
    records)."""
    client = aws.s3_client()
    resp = client.list_objects_v2(Bucket=aws.bucket, Prefix=f"{PREFIX}_state/")
    return [o["Key"] for o in resp.get("Contents", [])
            if o["Key"].endswith(".json") and "/resource=" in o["Key"]]


def state_key(aws: AwsWorld, instance: str) -> str:
    key = aws.state_key(instance)
    assert key in state_keys(aws), (instance, state_keys(aws))
    return key


def load_state(aws: AwsWorld, instance: str) -> dict[str, Any]:
    client = aws.s3_client()
    body = client.get_object(Bucket=aws.bucket, Key=state_key(aws, instance))["Body"].read()
    doc: dict[str, Any] = json.loads(body)
    return doc


def dangling_objects(aws: AwsWorld) -> list[str]:
    """Data objects that lie beyond their generation's committed offset in the state."""
    metas = head_all(aws)
    states: dict[str, dict[str, Any]] = {}
    out = []
    for key, meta in metas.items():
        inst = meta["db-instance"]
        if inst not in states:
            states[inst] = load_state(aws, inst)
        gen = states[inst]["generations"].get(meta["generation"])
        if gen is None or int(meta["end-offset"]) > int(gen["offset"]):
            out.append(key)
    return out


def truth_bytes(aws: AwsWorld, instance: str | None = None) -> int:
    return sum(g.size for g in aws.world.generations(instance))


def shipped_bytes(aws: AwsWorld, instance: str | None = None) -> int:
    total = 0
    for meta in head_all(aws).values():
        if instance is None or meta["db-instance"] == instance:
            total += int(meta["end-offset"]) - int(meta["start-offset"])
    return total


# --- child processes -------------------------------------------------------------------------


def child_env(aws: AwsWorld, **env: str) -> dict[str, str]:
    return aws.child_env(**env)


def spawn_python(aws: AwsWorld, code: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], env=child_env(aws, **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill(proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str,
             proc: subprocess.Popen[str] | None = None, every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"child exited ({proc.returncode}) before {what}\n"
                                 f"{out[-4000:]}\n{err}")
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# --- runs started together -------------------------------------------------------------------

SKIPPED = ("instance is being shipped by another run; skipping",
           "instance was shipped by another run since this run started; skipping")


def runs_started_together(aws: AwsWorld, run_ids: list[str], instances: int,
                          timeout: float = 120) -> tuple[list[Run], dict[str, set[str]]]:
    """Child-process runs started at once over ``instances`` instances, each exit 0, each
    counting in ``instances_leased_elsewhere`` exactly the instances it logged as skipped;
    returns them and the instances each skipped (asserted to overlap at least once)."""
    procs = [aws.spawn("run", SHIPPER_RUN_ID=rid, SHIPPER_CONCURRENCY="2") for rid in run_ids]
    try:
        results = [finish(p, timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                kill(p)
    for res in results:
        assert res.code == 0, describe(res)
    skipped_by = {rid: {str(x.get("instance")) for x in res.lines if x.get("message") in SKIPPED}
                  for rid, res in zip(run_ids, results, strict=True)}
    for rid, res in zip(run_ids, results, strict=True):
        assert res.summary["instances_leased_elsewhere"] == len(skipped_by[rid])
        assert res.summary["instances"] == instances
    print({rid: sorted(s) for rid, s in skipped_by.items()},
          [r.summary["objects_written"] for r in results])
    assert sum(len(s) for s in skipped_by.values()) > 0, "the runs did not overlap"
    return results, skipped_by
