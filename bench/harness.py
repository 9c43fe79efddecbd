"""The lab: our RDS simulator and LocalS3 over HTTP, and contenders run as child processes.

The simulator and LocalS3 run in this (the benchmark's) process; every contender (the shipper,
the floor, the baseline) runs in its own process, so they all pay the same interpreter start,
imports and HTTP stacks, and none of them shares a GIL with the servers. Every simulator shares
one ``Faults.realistic()``: 20 ms + 10 ms/MB latency per request and the account throttle
(burst 300, 12 requests/s), which every contender's requests draw from.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipper.simulator.faults import Faults
from shipper.simulator.harness import (
    inherited_environment,
    json_lines,
    run_summary,
    simulated_environment,
)
from shipper.simulator.s3server import LocalS3
from shipper.simulator.server import SimulatorServer
from shipper.simulator.world import World

REGION = "us-east-1"
ACCOUNT = World().account_id  # every workload's world, unless it says otherwise
REPO = Path(__file__).resolve().parent.parent
# What every measured run is given beside the workload's settings: JSON logs to read the
# summary from, no EMF line, no runtime budget.
BENCH_SETTINGS = {"SHIPPER_LOG_FORMAT": "json", "SHIPPER_EMF": "false",
                  "SHIPPER_MAX_RUNTIME": "0"}
# Settings of the shipper's own that the benchmark pins (everything else: the defaults).
# The defaults: no ceiling, the adaptive rate starts from the documented budget.
SHIPPER_DEFAULT = {"SHIPPER_CONCURRENCY": "8"}
# Ceilings at the account's full documented budget (the rate cannot grow past 12/s).
SHIPPER_FULL = {"SHIPPER_RATE": "12", "SHIPPER_BURST": "300", "SHIPPER_CONCURRENCY": "8"}
# The former default: a fixed 5 requests/s after a burst of 10 (still cut on a throttle).
SHIPPER_FIXED = {"SHIPPER_RATE": "5", "SHIPPER_BURST": "10", "SHIPPER_CONCURRENCY": "8"}
# Only for preparing state (never measured): no client-side limit.
SHIPPER_SETUP = {"SHIPPER_RATE": "100", "SHIPPER_BURST": "300", "SHIPPER_CONCURRENCY": "16"}


def _cpu_busy_seconds() -> float:
    """Busy CPU seconds of the whole machine so far (all processes), from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()[1:]
    except OSError:
        return float("nan")
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    guest = sum(ticks[8:10]) if len(ticks) > 9 else 0  # already counted in user/nice
    return (sum(ticks) - idle - guest) / os.sysconf("SC_CLK_TCK")


class S3Busy:
    """Seconds LocalS3 spends handling requests (it serves one at a time, so this is the
    time S3 is a serial bottleneck). Reads LocalS3's middleware; None if it changed."""

    def __init__(self, s3: LocalS3) -> None:
        self.seconds = 0.0
        self.ok = False
        middleware = getattr(getattr(s3, "_server", None), "app", None)
        inner = getattr(middleware, "app", None)
        if inner is None or not hasattr(middleware, "lock"):
            return

        def timed(environ: Any, start_response: Any) -> Any:
            started = time.perf_counter()
            try:
                return list(inner(environ, start_response))
            finally:
                self.seconds += time.perf_counter() - started  # under the middleware's lock

        middleware.app = timed
        self.ok = True

    def read(self) -> float | None:
        return self.seconds if self.ok else None


@dataclass
class Run:
    """One contender process (or several started together), with the servers' counters."""

    wall: float
    codes: list[int]
    outputs: list[str]
    rds: dict[str, Any]
    s3: dict[str, Any]
    stderr: list[str] = field(default_factory=list)
    cpu_contender: float = 0.0  # CPU seconds of the contender process(es)
    cpu_servers: float = 0.0  # CPU seconds of this process: simulator + LocalS3
    cpu_foreign: float = 0.0  # CPU seconds of everything else on the machine meanwhile
    s3_busy: float | None = None  # seconds LocalS3 was handling a request
    bucket: str = ""

    @property
    def ok(self) -> bool:
        return all(c == 0 for c in self.codes)

    def json_lines(self, index: int = 0) -> list[dict[str, Any]]:
        return json_lines(self.outputs[index])

    def summary(self, index: int = 0) -> dict[str, Any]:
        """The shipper's "run finished" summary, or a contender's result line."""
        lines = self.json_lines(index)
        found = run_summary(lines)
        if found is not None:
            return found
        return next((line for line in reversed(lines) if "contender" in line), {})

    def vmhwm_kib(self, index: int = 0) -> int | None:
        for line in reversed(self.json_lines(index)):
            if "bench_vmhwm_kib" in line:
                value = line["bench_vmhwm_kib"]
                return int(value) if value is not None else None
        return None

    @property
    def rds_requests(self) -> int:
        return int(sum(self.rds["requests"].values()))

    @property
    def throttles(self) -> int:
        return int(self.rds["throttled"])

    @property
    def s3_puts(self) -> int:
        return int(self.s3["methods"].get("PUT", 0))

    @property
    def s3_requests(self) -> int:
        return int(sum(self.s3["methods"].values()))

    def describe_failure(self) -> str:
        tails = [f"exit {c}: {err[-600:]} {out[-600:]}"
                 for c, out, err in zip(self.codes, self.outputs, self.stderr, strict=False)
                 if c != 0]
        return "; ".join(tails)


def _sum(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """Counters of several servers added up (nested dicts key by key)."""
    out: dict[str, Any] = {}
    for snap in snapshots:
        for key, value in snap.items():
            if isinstance(value, dict):
                out[key] = _sum([out.get(key, {}), value])
            elif isinstance(value, (int, float)):
                out[key] = out.get(key, 0) + value
    return out


def _delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in after.items():
        if isinstance(value, dict):
            out[key] = _delta(value, before.get(key, {}))
        elif isinstance(value, (int, float)):
            out[key] = value - before.get(key, 0)
    return out


class Lab:
    """LocalS3 plus one simulator per world, all sharing one realistic ``Faults``."""

    def __init__(self) -> None:
        self.faults = Faults.realistic()
        self.s3 = LocalS3()
        self._servers: dict[int, SimulatorServer] = {}
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Lab:
        self._stack.enter_context(self.s3)
        self.s3_busy = S3Busy(self.s3)
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers.values():
            server.stop()
        self._servers.clear()
        self._stack.close()

    # --- worlds and buckets -------------------------------------------------------------

    def server(self, world: World) -> SimulatorServer:
        server = self._servers.get(id(world))
        if server is None:
            server = SimulatorServer(world, self.faults).start()
            self._servers[id(world)] = server
        return server

    def fresh_server(self, world: World) -> SimulatorServer:
        """A new simulator for ``world``: no per-connection or per-file session left over from
        another contender (e.g. the "no AdditionalDataPending after a tail call" quirk
        remembers the last call per file)."""
        self.drop(world)
        return self.server(world)

    def drop(self, world: World) -> None:
        server = self._servers.pop(id(world), None)
        if server is not None:
            server.stop()

    def new_bucket(self, reset: bool = True) -> str:
        """A fresh bucket; ``reset`` forgets every other bucket first (frees moto's memory)."""
        if reset:
            self.s3.reset()
        name = f"bench-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(name)
        return name

    # --- the account throttle -----------------------------------------------------------

    @contextlib.contextmanager
    def unthrottled(self) -> Iterator[None]:
        """For preparing state only: no throttle, no latency."""
        saved = (self.faults.latency_ms, self.faults.latency_ms_per_mb)
        self.faults.set_throttle(None)
        self.faults.latency_ms = self.faults.latency_ms_per_mb = 0.0
        try:
            yield
        finally:
            self.faults.latency_ms, self.faults.latency_ms_per_mb = saved
            self.fill_account_bucket()

    def fill_account_bucket(self) -> None:
        """The account's budget as after a quiet spell: burst 300 available, then 12/s."""
        realistic = Faults.realistic()
        self.faults.set_throttle(realistic.throttle_burst, realistic.throttle_rate)

    def empty_account_bucket(self, pairs: tuple[tuple[str, str], ...] = ((ACCOUNT, REGION),)
                             ) -> None:
        """The budget of each (account, region) in steady state: the burst already spent,
        12/s refill."""
        self.fill_account_bucket()
        for account, region in pairs:
            while self.faults.take_token(account, region):
                pass

    # --- contenders ---------------------------------------------------------------------

    def env(self, world: World, bucket: str, extra: Mapping[str, str] | None = None,
            endpoint: str | None = None) -> dict[str, str]:
        return {
            **inherited_environment(),
            **simulated_environment(endpoint or self.server(world).endpoint_url,
                                    self.s3.endpoint_url, bucket, REGION, BENCH_SETTINGS),
            **(extra or {}),
        }

    def run(self, world: World, bucket: str, commands: list[list[str]],
            extra: Mapping[str, str] | None = None, timeout: float = 1800, *,
            servers: list[SimulatorServer] | None = None, endpoint: str | None = None) -> Run:
        """Start every command at once (each ``python -m ...``), wait for all; the wall time
        runs from the first start to the last exit. ``servers``/``endpoint``: several
        simulators behind one endpoint (their counters are summed)."""
        servers = servers or [self.server(world)]
        env = self.env(world, bucket, extra, endpoint)
        rds0, s30 = [sv.stats.snapshot() for sv in servers], self.s3.stats.snapshot()
        busy0, busy_s3 = _cpu_busy_seconds(), self.s3_busy.read()
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        me0 = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        procs = [
            subprocess.Popen([sys.executable, "-m", *cmd], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for cmd in commands
        ]
        outputs, errors, codes = [], [], []
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            outputs.append(out)
            errors.append(err)
            codes.append(proc.returncode)
        wall = time.perf_counter() - started
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        me1 = resource.getrusage(resource.RUSAGE_SELF)
        contender = (kids1.ru_utime - kids0.ru_utime) + (kids1.ru_stime - kids0.ru_stime)
        cpu_servers = (me1.ru_utime - me0.ru_utime) + (me1.ru_stime - me0.ru_stime)
        foreign = max(0.0, _cpu_busy_seconds() - busy0 - contender - cpu_servers)
        busy1 = self.s3_busy.read()
        rds = _sum([_delta(sv.stats.snapshot(), before) for sv, before in zip(servers, rds0,
                                                                               strict=True)])
        return Run(wall, codes, outputs, rds,
                   _delta(self.s3.stats.snapshot(), s30), errors, contender, cpu_servers,
                   foreign, None if busy1 is None or busy_s3 is None else busy1 - busy_s3)

    def start_neighbour(self, world: World, bucket: str, rate: float) -> subprocess.Popen[str]:
        """Another tool on the account: steady ``rate`` DescribeDBLogFiles calls per second
        (``python -m bench.contenders neighbour``) until ``stop_neighbour``."""
        return subprocess.Popen(
            [sys.executable, "-m", "bench.contenders", "neighbour", "--rate", str(rate)],
            cwd=REPO, env=self.env(world, bucket), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)

    @staticmethod
    def stop_neighbour(proc: subprocess.Popen[str]) -> dict[str, Any]:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        for line in reversed(out.splitlines()):
            if line.startswith("{"):
                return dict(json.loads(line))
        raise RuntimeError(f"neighbour printed no result (exit {proc.returncode}): {err[-500:]}")

    def shipper(self, world: World, bucket: str, settings: Mapping[str, str],
                processes: int = 1, **kwargs: Any) -> Run:
        return self.run(world, bucket, [["bench.shipper_run", "run"]] * processes,
                        {"SHIPPER_LOG_LEVEL": "INFO", **settings}, **kwargs)

    def setup_ship(self, world: World, bucket: str) -> Run:
        """Ship everything once, unthrottled and without latency (state for later runs)."""
        with self.unthrottled():
            run = self.shipper(world, bucket, SHIPPER_SETUP)
        if not run.ok:
            raise RuntimeError(f"setup run failed: {run.describe_failure()}")
        return run
