"""Scenario 1: a fresh ship of every engine is byte-exact; an idle run then costs one listing
page per instance and downloads and writes nothing."""

from __future__ import annotations

import pytest

from tests.scenarios.helpers import DOWNLOAD_ACTIONS, ENGINES, HOUR, ok_run, request_log
from tests.support.world import AwsWorld

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it


@pytest.mark.parametrize("engine", ENGINES)
def test_fresh_ship_then_idle(aws_world: AwsWorld, engine: str) -> None:
    w = aws_world.world
    options = {"audit_rotate_bytes": 40_000} if engine == "aurora-mysql" else {}
    w.add_instance("db-a", engine, bytes_per_hour=250_000, **options)
    w.add_instance("db-b", engine, bytes_per_hour=150_000, **options)
    w.advance(2 * HOUR + 600)

    fresh = ok_run(aws_world)
    report = aws_world.verify()
    print(engine, fresh.summary, report.summary())
    report.assert_ok()
    # every byte but the unfinished last lines of growing files (shipper.lines)
    assert report.bytes == sum(g.size for g in w.generations()) - report.held_back_bytes \
        > 100_000
    assert fresh.summary["bytes_shipped"] == report.bytes
    assert fresh.summary["objects_written"] == report.objects
    keys_before = sorted(aws_world.data_keys())

    before = aws_world.sim.stats.snapshot()["requests"]
    with request_log(aws_world) as rec:
        idle = ok_run(aws_world)
    after = aws_world.sim.stats.snapshot()["requests"]
    s = idle.summary
    assert s["portion_calls"] == 0 and s["complete_downloads"] == 0, s
    assert s["objects_written"] == 0 and s["bytes_shipped"] == 0, s
    assert s["bytes_downloaded"] == 0 and s["state_commits"] == 0, s
    for action in DOWNLOAD_ACTIONS:
        assert after.get(action, 0) == before.get(action, 0), (action, before, after)
    assert rec.downloads() == []
    listings = rec.by_instance("DescribeDBLogFiles")
    assert set(listings) == {"db-a", "db-b"}, listings
    assert max(listings.values()) == 1, listings
    assert sorted(aws_world.data_keys()) == keys_before
    aws_world.verify().assert_ok()


def test_more_than_one_page_of_instances(aws_world: AwsWorld) -> None:
    """DescribeDBInstances answers at most 100 per page: the 101st instance is found too."""
    w = aws_world.world
    for i in range(101):
        w.add_instance(f"i{i:03d}", "postgres", bytes_per_hour=3_000)
    w.advance(20 * 60)
    wanted = {"i000", "i100"}  # first and last page; the include filter keeps the test cheap
    with request_log(aws_world) as rec:
        res = ok_run(aws_world, SHIPPER_INCLUDE="i000,i100")
    assert res.summary["instances"] == 2
    # Discovery walks both pages (the other DescribeDBInstances name one identifier: each
    # instance with work confirms its identity before its commits).
    markers = [i.params.get("Marker") for i in rec.seen if i.action == "DescribeDBInstances"
               and "DBInstanceIdentifier" not in i.params]
    assert len(markers) == 2 and markers[0] is None and markers[1], markers
    assert set(rec.by_instance("DescribeDBLogFiles")) == wanted
    aws_world.verify(instances=wanted).assert_ok()
    assert {k.split("/instance=")[1].split("/")[0] for k in aws_world.data_keys()} == wanted
