"""``python -m shipper.simulator serve`` prints working endpoints."""

from __future__ import annotations

import pytest

from shipper.simulator.__main__ import build_world, main


def test_serve_prints_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--instances", "2", "--duration", "0.1", "--bucket", "demo-bkt"]) == 0
    out = capsys.readouterr().out
    env = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines()
               if line.startswith("export "))
    assert env["AWS_ENDPOINT_URL_RDS"].startswith("http://127.0.0.1:")
    assert env["AWS_ENDPOINT_URL_S3"].startswith("http://127.0.0.1:")
    assert env["SHIPPER_BUCKET"] == "demo-bkt"
    assert "docker run --network host" in out


def test_demo_world_has_mixed_engines() -> None:
    world = build_world(7, seed=1, bytes_per_hour=10_000)
    assert len({i.engine for i in world.instances()}) == 7
    assert all(i.files() for i in world.instances())
