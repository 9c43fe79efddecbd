"""Test harness: a simulated RDS account (our simulator) and S3 (moto's server), both over HTTP.

``aws_world`` gives each test its own world, bucket and environment. ``run()`` calls the real
CLI entry point in-process and returns its exit code with the parsed JSON log lines;
``spawn()`` starts the real console script in a subprocess for signal and crash tests.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import boto3
import pytest

from shipper.cli import main
from shipper.simulator.faults import Faults
from shipper.simulator.oracle import OracleReport, verify
from shipper.simulator.s3server import LocalS3
from shipper.simulator.server import SimulatorServer
from shipper.simulator.world import World

REGION = "us-east-1"
PREFIX = "rds-logs/"
BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "SHIPPER_LOG_FORMAT": "json",
    "SHIPPER_RATE": "100",
    "SHIPPER_BURST": "300",
    "SHIPPER_MAX_RUNTIME": "0",
    "SHIPPER_CONCURRENCY": "4",
}


@dataclass
class RunResult:
    code: int
    lines: list[dict[str, Any]]
    stdout: str
    stderr: str

    @property
    def summary(self) -> dict[str, Any]:
        for line in reversed(self.lines):
            if line.get("message") == "run finished":
                return dict(line["summary"])
        raise AssertionError(f"no summary line in output:\n{self.stdout}\n{self.stderr}")

    def messages(self, level: str | None = None) -> list[str]:
        return [str(x.get("message")) for x in self.lines
                if level is None or x.get("level") == level]


def parse_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for raw in text.splitlines():
        raw = raw.strip()
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


@dataclass
class AwsWorld:
    world: World
    sim: SimulatorServer
    s3: LocalS3
    bucket: str
    env: dict[str, str] = field(default_factory=dict)

    def s3_client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.s3.endpoint_url, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def run(self, *argv: str, **env: str) -> RunResult:
        """The real CLI in this process (env applied to os.environ for its duration)."""
        out, err = io.StringIO(), io.StringIO()
        merged = {**self.env, **env}
        with mock.patch.dict(os.environ, merged, clear=False), \
                contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            for name in [k for k, v in merged.items() if v == ""]:
                os.environ.pop(name, None)
            code = main(list(argv) or ["run"])
        return RunResult(code, parse_lines(out.getvalue()), out.getvalue(), err.getvalue())

    def spawn(self, *argv: str, **env: str) -> subprocess.Popen[str]:
        """The console script in a child process (for SIGTERM, SIGKILL and RSS tests)."""
        child_env = {**os.environ, **self.env, **env}
        return subprocess.Popen(
            [sys.executable, "-m", "shipper", *(argv or ("run",))],
            env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def verify(self, **kwargs: Any) -> OracleReport:
        return verify(self.s3_client(), self.bucket, PREFIX, self.world, **kwargs)

    def data_keys(self) -> list[str]:
        client = self.s3_client()
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{PREFIX}data/"):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        return keys


@pytest.fixture(scope="session")
def local_s3() -> Iterator[LocalS3]:
    with LocalS3() as s3:
        yield s3


@pytest.fixture
def aws_world(local_s3: LocalS3) -> Iterator[AwsWorld]:
    world = World(seed=1)
    faults = Faults()
    with SimulatorServer(world, faults) as sim:
        bucket = f"logs-{uuid.uuid4().hex[:12]}"
        local_s3.create_bucket(bucket)
        env = {
            **BASE_ENV,
            "SHIPPER_BUCKET": bucket,
            "AWS_ENDPOINT_URL_RDS": sim.endpoint_url,
            "AWS_ENDPOINT_URL_S3": local_s3.endpoint_url,
        }
        yield AwsWorld(world, sim, local_s3, bucket, env)
