"""An instance's identity is its DbiResourceId (issue 24): renames, blue/green switchovers and
re-created names keep every byte exactly once.

The oracle reassembles the archive per physical instance (the ``db-resource-id`` metadata):
a byte shipped twice under two names, or one instance's bytes appended to another's
generation, fails it. Every run exits 0, and the idle run after downloads nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shipper.simulator.faults import RequestInfo
from tests.scenarios.helpers import HOUR, describe, ok_run, request_log
from tests.support.runs import run_cli
from tests.support.world import AwsWorld

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

ENGINES = {"pg": "postgres", "my": "mysql"}


def hourly(aws: AwsWorld, hours: int) -> list[dict[str, Any]]:
    summaries = []
    for _ in range(hours):
        aws.world.advance(HOUR)
        summaries.append(ok_run(aws).summary)
    return summaries


def messages(res: Any, text: str) -> list[dict[str, Any]]:
    return [x for x in res.lines if x.get("message", "").startswith(text)]


def assert_idle(aws: AwsWorld) -> None:
    with request_log(aws) as rec:
        res = ok_run(aws)
    assert rec.downloads() == [], [(i.instance, i.log_file) for i in rec.downloads()]
    assert res.summary["objects_written"] == 0, res.summary


def test_a_renamed_instance_continues_where_it_was(aws_world: AwsWorld) -> None:
    w = aws_world.world
    for name, engine in ENGINES.items():
        w.add_instance(name, engine, bytes_per_hour=30_000)
    hourly(aws_world, 3)
    rid = w.instance("pg").resource_id
    w.advance(600)
    w.rename_instance("pg", "pg-renamed")
    res = ok_run(aws_world)
    assert res.summary["instances_renamed"] == 1, res.summary
    renamed = messages(res, "instance renamed")
    assert [(x["instance"], x["former_identifier"], x["resource_id"]) for x in renamed] == [
        ("pg-renamed", "pg", rid)]
    hourly(aws_world, 3)
    aws_world.verify().assert_ok()
    keys = aws_world.data_keys()
    assert any("/instance=pg/" in k for k in keys) and any("/instance=pg-renamed/" in k
                                                            for k in keys)
    assert_idle(aws_world)
    status = run_cli(aws_world, "status", "--json")
    row = next(r for r in json.loads(status.stdout)
               if r["instance"] == "pg-renamed")
    assert row["resource_id"] == rid and row["former_identifiers"] == ["pg"]


def test_a_blue_green_switchover_keeps_both_archives_exact(aws_world: AwsWorld) -> None:
    w = aws_world.world
    for name, engine in ENGINES.items():
        w.add_instance(name, engine, bytes_per_hour=30_000)
        w.add_instance(f"{name}-green-abc123", engine, bytes_per_hour=30_000)
    hourly(aws_world, 3)
    blue, green = w.instance("pg").resource_id, w.instance("pg-green-abc123").resource_id
    w.advance(900)
    for name in ENGINES:
        assert w.switchover(name, f"{name}-green-abc123") == f"{name}-old1"
    res = ok_run(aws_world)
    assert res.summary["instances_renamed"] == 4, describe(res)
    assert res.summary["identifiers_reused"] == 0 and res.summary["gap_bytes"] == 0
    assert w.instance("pg").resource_id == green and w.instance("pg-old1").resource_id == blue
    hourly(aws_world, 3)  # the old blue goes on logging, under -old1
    aws_world.verify().assert_ok()
    assert_idle(aws_world)


def test_a_new_instance_under_an_old_identifier_starts_afresh(aws_world: AwsWorld) -> None:
    """Created again within the hour, its PostgreSQL log has exactly the name of the old
    instance's last one: nothing of it may be appended to the old generation."""
    w = aws_world.world
    w.add_instance("db", "postgres", bytes_per_hour=60_000)
    w.advance(HOUR + 20 * 60)
    ok_run(aws_world)
    old = w.instance("db").resource_id
    w.advance(5 * 60)
    w.remove_instance("db")
    w.add_instance("db", "postgres", bytes_per_hour=90_000)
    w.advance(10 * 60)
    res = ok_run(aws_world)
    reused = messages(res, "identifier reused")
    assert [(x["former_resource_id"], x["resource_id"]) for x in reused] == [
        (old, w.instance("db").resource_id)]
    assert res.summary["identifiers_reused"] == 1
    hourly(aws_world, 2)
    # The old instance's files are gone: what was listed of them is in S3, nothing more.
    aws_world.verify(require=lambda g: g.exists).assert_ok()
    assert_idle(aws_world)


def test_a_switchover_in_the_middle_of_a_run_commits_nothing_read_under_the_moved_name(
        aws_world: AwsWorld) -> None:
    w = aws_world.world
    w.add_instance("my", "mysql", bytes_per_hour=30_000)
    w.add_instance("my-green-abc123", "mysql", bytes_per_hour=30_000)
    hourly(aws_world, 2)
    w.advance(HOUR)
    switched: list[str] = []

    def switch_after_listing(info: RequestInfo) -> None:
        if info.action == "DescribeDBLogFiles" and info.instance == "my" and not switched:
            switched.append(w.switchover("my", "my-green-abc123"))
        return None

    remove = aws_world.sim.add_hook(switch_after_listing)
    try:
        res = ok_run(aws_world)
    finally:
        remove()
    assert switched == ["my-old1"]
    assert res.summary["instances_moved"] >= 1, describe(res)
    moved = messages(res, "identifier my names another instance now")
    assert moved and all(x["level"] == "WARNING" for x in moved)
    hourly(aws_world, 2)
    aws_world.verify().assert_ok()
    assert_idle(aws_world)
