"""A simulated AWS account per test: our RDS simulator and a fresh bucket in the local S3,
with the environment a shipper run needs to use them."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from shipper.simulator.faults import Faults
from shipper.simulator.harness import offline_environment, simulated_environment
from shipper.simulator.oracle import OracleReport, verify
from shipper.simulator.s3server import LocalS3
from shipper.simulator.server import SimulatorServer
from shipper.simulator.world import DEFAULT_START, World
from tests.support.runs import Run, run_inproc
from tests.support.s3 import S3Server, new_bucket

REGION = "us-east-1"
PREFIX = "rds-logs/"
# The tests' settings: JSON logs to assert on, no runtime budget, a client-side rate well
# above the simulator's so that only the simulated throttling limits a run.
TEST_SETTINGS = {
    "SHIPPER_LOG_FORMAT": "json",
    "SHIPPER_RATE": "100",
    "SHIPPER_BURST": "300",
    "SHIPPER_MAX_RUNTIME": "0",
    "SHIPPER_CONCURRENCY": "4",
}
# For runs that must stop before any AWS call: no endpoint behind them.
BASE_ENV = offline_environment(REGION, TEST_SETTINGS)


@dataclass
class AwsWorld:
    world: World
    sim: SimulatorServer
    s3: S3Server
    bucket: str
    env: dict[str, str] = field(default_factory=dict)

    def s3_client(self) -> Any:
        return self.s3.client(region_name=self.env.get("AWS_REGION", REGION))

    def run(self, *argv: str, **env: str) -> Run:
        """The real CLI in this process (``tests.support.runs.run_inproc``)."""
        return run_inproc(self, *argv, **env)

    def spawn(self, *argv: str, **env: str) -> subprocess.Popen[str]:
        """The console script in a child process (for SIGTERM, SIGKILL and RSS tests)."""
        child_env = self.child_env(**env)
        return subprocess.Popen(
            [sys.executable, "-m", "shipper", *(argv or ("run",))],
            env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def child_env(self, **env: str) -> dict[str, str]:
        """The environment of a child process (an empty value unsets a variable)."""
        import os

        merged = {**os.environ, **self.env, **env}
        return {k: v for k, v in merged.items() if v != ""}

    def verify(self, **kwargs: Any) -> OracleReport:
        return verify(self.s3_client(), self.bucket, PREFIX, self.world, **kwargs)

    def state_key(self, instance: str) -> str:
        """The key of ``instance``'s state: under its DbiResourceId (shipper.layout)."""
        return self._owner_key("_state", instance)

    def lease_key(self, instance: str) -> str:
        return self._owner_key("_leases", instance)

    def _owner_key(self, kind: str, instance: str) -> str:
        rid = self.world.instance(instance).resource_id
        return (f"{PREFIX}{kind}/account={self.world.account_id}/region={self.world.region}/"
                f"resource={rid}.json")

    def data_keys(self) -> list[str]:
        client = self.s3_client()
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{PREFIX}data/"):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        return keys


@contextlib.contextmanager
def fresh_aws(local_s3: S3Server, seed: int = 1, faults: Faults | None = None,
              region: str = REGION, start: float = DEFAULT_START,
              **env: str) -> Iterator[AwsWorld]:
    """A world, its simulator and a fresh bucket (also usable inside a hypothesis example)."""
    world = World(seed=seed, region=region, start=start)
    with SimulatorServer(world, faults or Faults(seed=seed)) as sim:
        bucket = new_bucket(local_s3, "logs", region)
        merged = {**simulated_environment(sim.endpoint_url, local_s3.endpoint_url, bucket,
                                          region, TEST_SETTINGS), **env}
        yield AwsWorld(world, sim, local_s3, bucket, merged)


@pytest.fixture
def aws_world(local_s3: LocalS3) -> Iterator[AwsWorld]:
    with fresh_aws(local_s3, faults=Faults()) as aws:  # faults seeded 0
        yield aws
