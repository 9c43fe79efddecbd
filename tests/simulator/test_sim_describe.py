"""DescribeDBInstances and DescribeDBLogFiles through boto3 over HTTP."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shipper.simulator.faults import Faults
from shipper.simulator.server import SimulatorServer
from shipper.simulator.world import World


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    resp = exc.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"]


def test_describe_instances_fields(world: World, rds: Any) -> None:
    world.add_instance("db-a", "aurora-postgresql", cluster="clu", tags={"env": "prod",
                                                                          "team": "x&y<z>"})
    world.add_instance("db-b", "sqlserver-ex", status="stopped")
    out = rds.describe_db_instances()["DBInstances"]
    assert [i["DBInstanceIdentifier"] for i in out] == ["db-a", "db-b"]
    a = out[0]
    assert a["DBInstanceArn"] == "arn:aws:rds:us-east-1:123456789012:db:db-a"
    assert a["Engine"] == "aurora-postgresql" and a["EngineVersion"]
    assert a["DBInstanceStatus"] == "available"
    assert a["DBClusterIdentifier"] == "clu"
    assert a["TagList"] == [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "x&y<z>"}]
    assert a["InstanceCreateTime"] == datetime(2026, 11, 20, tzinfo=timezone.utc)
    assert "DBClusterIdentifier" not in out[1] and out[1]["DBInstanceStatus"] == "stopped"


def test_describe_instances_paginates(world: World, rds: Any) -> None:
    for i in range(45):
        world.add_instance(f"db-{i:03d}", "postgres", bytes_per_hour=0)
    seen: list[str] = []
    pages = 0
    for page in rds.get_paginator("describe_db_instances").paginate(
            PaginationConfig={"PageSize": 20}):
        pages += 1
        seen += [i["DBInstanceIdentifier"] for i in page["DBInstances"]]
    assert pages == 3
    assert seen == [f"db-{i:03d}" for i in range(45)]


@pytest.mark.parametrize("max_records", [19, 101])
def test_describe_instances_max_records_bounds(rds: Any, max_records: int) -> None:
    with pytest.raises(ClientError) as exc:
        rds.describe_db_instances(MaxRecords=max_records)
    assert error_of(exc) == ("InvalidParameterValue", 400)


def test_describe_instances_by_id_and_filter(world: World, rds: Any) -> None:
    world.add_instance("pg", "postgres")
    world.add_instance("my", "mysql")
    one = rds.describe_db_instances(DBInstanceIdentifier="my")["DBInstances"]
    assert [i["Engine"] for i in one] == ["mysql"]
    filtered = rds.describe_db_instances(Filters=[{"Name": "engine", "Values": ["postgres"]}])
    assert [i["DBInstanceIdentifier"] for i in filtered["DBInstances"]] == ["pg"]
    with pytest.raises(ClientError) as exc:
        rds.describe_db_instances(DBInstanceIdentifier="nope")
    assert error_of(exc) == ("DBInstanceNotFound", 404)


def list_names(rds: Any, ident: str, **kwargs: Any) -> list[str]:
    out = rds.describe_db_log_files(DBInstanceIdentifier=ident, **kwargs)
    return [f["LogFileName"] for f in out["DescribeDBLogFiles"]]


def test_describe_log_files_entries(world: World, rds: Any) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=3600)
    world.advance(5400)
    files = rds.describe_db_log_files(DBInstanceIdentifier="pg")["DescribeDBLogFiles"]
    truth = pg.files()
    assert [f["LogFileName"] for f in files] == list(truth)
    for f in files:
        rec = truth[f["LogFileName"]]
        assert f["Size"] == rec.size
        assert f["LastWritten"] == int(rec.last_written * 1000)
        assert isinstance(f["LastWritten"], int) and f["LastWritten"] > 10**12  # milliseconds


def test_describe_log_files_paginates_and_filters(world: World, rds: Any) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    for i in range(130):
        pg.add_file(f"extra/file-{i:03d}.log", b"x" * i)
        world.advance(1)
    seen: list[str] = []
    for page in rds.get_paginator("describe_db_log_files").paginate(
            DBInstanceIdentifier="pg", PaginationConfig={"PageSize": 50}):
        assert len(page["DescribeDBLogFiles"]) <= 50
        seen += [f["LogFileName"] for f in page["DescribeDBLogFiles"]]
    assert seen == sorted(pg.files())
    assert len(list_names(rds, "pg")) == 100  # default MaxRecords
    assert list_names(rds, "pg", FilenameContains="file-12") == [
        f"extra/file-12{i}.log" for i in range(10)]
    assert list_names(rds, "pg", FileSize=128) == ["extra/file-128.log", "extra/file-129.log"]
    since = pg.file("extra/file-127.log").last_written
    assert list_names(rds, "pg", FileLastWritten=int(since * 1000)) == [
        "extra/file-127.log", "extra/file-128.log", "extra/file-129.log"]


def test_describe_log_files_errors(world: World, rds: Any) -> None:
    world.add_instance("pg", "postgres")
    world.add_instance("stopped", "mysql", status="stopped")
    world.add_instance("creating", "mysql", status="creating")
    world.add_instance("asleep", "aurora-postgresql", paused=True)
    cases = {
        "nope": ("DBInstanceNotFound", 404),
        "stopped": ("InvalidDBInstanceState", 400),
        "creating": ("InvalidDBInstanceState", 400),
        "asleep": ("DBInstanceNotReady", 400),
    }
    for ident, expected in cases.items():
        with pytest.raises(ClientError) as exc:
            rds.describe_db_log_files(DBInstanceIdentifier=ident)
        assert error_of(exc) == expected, ident
    with pytest.raises(ClientError) as exc:
        rds.describe_db_log_files(DBInstanceIdentifier="pg",
                                  Filters=[{"Name": "x", "Values": ["y"]}])
    assert error_of(exc) == ("InvalidParameterValue", 400)
    with pytest.raises(ClientError) as exc:
        rds.describe_db_log_files(DBInstanceIdentifier="pg", MaxRecords=5000)
    assert error_of(exc) == ("InvalidParameterValue", 400)


def test_oracle_ignores_max_records(world: World, rds: Any) -> None:
    ora = world.add_instance("ora", "oracle-ee", bytes_per_hour=0, traces_per_hour=0)
    for i in range(1500):
        ora.add_file(f"trace/ORCL_ora_{i}.trc", b"t\n")
    first = rds.describe_db_log_files(DBInstanceIdentifier="ora", MaxRecords=20)
    assert len(first["DescribeDBLogFiles"]) == 1000
    rest = rds.describe_db_log_files(DBInstanceIdentifier="ora", Marker=first["Marker"])
    assert len(rest["DescribeDBLogFiles"]) == 501 and "Marker" not in rest


def test_hostile_names_are_listed_exactly(world: World, rds: Any) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    hostile = ["error/../../etc/passwd", "/abs/path", "a b", "tab\tnl\ncr\r.log", "x" * 300,
               "ünï/日本.log", "<xml>&amp;", "del\x7f\x85"]
    for name in hostile:
        pg.add_file(name, b"x\n")
    assert set(hostile) <= set(list_names(rds, "pg"))


def test_empty_listing_and_size_lag_quirks(world: World, faults: Faults, rds: Any,
                                           server: SimulatorServer) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=100_000)
    world.advance(4000)
    faults.empty_listing_rate = 1.0
    out = rds.describe_db_log_files(DBInstanceIdentifier="pg")
    assert out["DescribeDBLogFiles"] == [] and "Marker" not in out
    faults.empty_listing_rate = 0.0
    faults.size_lag_rate = 1.0
    listed = {f["LogFileName"]: f["Size"] for f in
              rds.describe_db_log_files(DBInstanceIdentifier="pg")["DescribeDBLogFiles"]}
    truth = pg.files()
    active = "error/postgresql.log.2026-11-20-01"
    assert listed[active] < truth[active].size
    closed = "error/postgresql.log.2026-11-20-00"
    assert listed[closed] == truth[closed].size  # only recently written files lag
    snap = server.stats.snapshot()
    assert (snap["empty_listings"], snap["lagging_sizes"]) == (1, 1)


def test_unknown_action_and_wrong_version(server: SimulatorServer) -> None:
    import urllib.error
    import urllib.request

    for body in (b"Action=DeleteDBInstance&Version=2014-10-31",
                 b"Action=DescribeDBInstances&Version=2013-01-10"):
        req = urllib.request.Request(server.endpoint_url, data=body, method="POST")
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(req, timeout=5)
        assert exc.value.code == 400
        assert b"<ErrorResponse" in exc.value.read()


# --- an instance's identity: DbiResourceId, renames, switchovers, re-created names -------------


def _resource_ids(rds: Any) -> dict[str, str]:
    return {i["DBInstanceIdentifier"]: i["DbiResourceId"]
            for i in rds.describe_db_instances()["DBInstances"]}


def test_every_instance_has_its_own_immutable_resource_id(world: World, rds: Any) -> None:
    world.add_instance("a", "postgres")
    world.add_instance("b", "mysql")
    ids = _resource_ids(rds)
    assert len(set(ids.values())) == 2
    assert all(v.startswith("db-") and len(v) == 29 and v[3:].isalnum() and v[3:].isupper()
               for v in ids.values())
    found = rds.describe_db_instances(Filters=[{"Name": "dbi-resource-id",
                                                "Values": [ids["b"]]}])["DBInstances"]
    assert [i["DBInstanceIdentifier"] for i in found] == ["b"]


def test_a_rename_keeps_files_and_resource_id_and_changes_the_arn(world: World, rds: Any
                                                                   ) -> None:
    world.add_instance("old", "postgres", bytes_per_hour=10_000)
    world.advance(7200)
    before = _resource_ids(rds)["old"]
    files = [f["LogFileName"] for f in rds.describe_db_log_files(
        DBInstanceIdentifier="old")["DescribeDBLogFiles"]]
    world.rename_instance("old", "new")
    assert _resource_ids(rds) == {"new": before}
    out = rds.describe_db_instances(DBInstanceIdentifier="new")["DBInstances"][0]
    assert out["DBInstanceArn"].endswith(":db:new")
    assert [f["LogFileName"] for f in rds.describe_db_log_files(
        DBInstanceIdentifier="new")["DescribeDBLogFiles"]] == files
    with pytest.raises(ClientError) as exc:
        rds.describe_db_log_files(DBInstanceIdentifier="old")
    assert error_of(exc) == ("DBInstanceNotFound", 404)
    world.advance(3600)  # it goes on logging, and its truth follows its resource id
    assert len(world.instance("new").generations()) > len(files)


def test_a_switchover_renames_green_to_blue_and_blue_to_old1(world: World, rds: Any) -> None:
    world.add_instance("mydb", "mysql", bytes_per_hour=10_000)
    world.add_instance("mydb-green-abc123", "mysql", bytes_per_hour=10_000)
    ids = _resource_ids(rds)
    assert world.switchover("mydb", "mydb-green-abc123") == "mydb-old1"
    assert _resource_ids(rds) == {"mydb": ids["mydb-green-abc123"], "mydb-old1": ids["mydb"]}
    world.add_instance("mydb-green-def456", "mysql")
    assert world.switchover("mydb", "mydb-green-def456") == "mydb-old2"  # the next free N
    old1 = world.instance("mydb-old1")
    written = sum(g.size for g in old1.generations())
    world.advance(3600)
    assert sum(g.size for g in old1.generations()) > written, "the old blue keeps logging"


def test_a_name_reused_by_a_new_instance_gets_a_new_resource_id(world: World, rds: Any
                                                                ) -> None:
    world.add_instance("db", "postgres")
    first = _resource_ids(rds)["db"]
    world.remove_instance("db")
    world.add_instance("db", "postgres")
    assert _resource_ids(rds)["db"] != first
    assert {g.resource_id for g in world.generations(instance="db")} == {
        first, _resource_ids(rds)["db"]}
