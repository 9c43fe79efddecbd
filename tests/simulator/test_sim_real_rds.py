"""Real RDS behaviours (shipper/simulator/FIDELITY.md) and the ambiguity switches, over HTTP.

Each test drives the world and asks through boto3 (or the signed REST call), as the shipper
does: what a real client would see is what is checked.
"""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from botocore.exceptions import ClientError
from simhelpers import read_all, rest_get

from shipper.simulator.engines import REAL_OPTIONS, SERVER_AUDIT
from shipper.simulator.faults import (
    AMBIGUITIES,
    BINARY_MESSAGE,
    Faults,
    draw_variants,
    variant_params,
)
from shipper.simulator.server import SimulatorServer
from shipper.simulator.world import DEFAULT_START, World

HOUR = 3600
DAY = 24 * HOUR


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    resp = exc.value.response
    return (resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"],
            resp["Error"]["Message"])


def listed(rds: Any, ident: str) -> dict[str, dict[str, Any]]:
    out = rds.describe_db_log_files(DBInstanceIdentifier=ident)["DescribeDBLogFiles"]
    return {f["LogFileName"]: f for f in out}


# --- binary data: an error response, not page data -------------------------------------------


def test_binary_data_is_a_400_error_not_page_data(world: World, faults: Faults,
                                                  rds: Any) -> None:
    faults.binary_as_error = True
    world.add_instance("ss", "sqlserver-se", bytes_per_hour=100_000)
    world.advance(600)
    with pytest.raises(ClientError) as exc:
        rds.download_db_log_file_portion(DBInstanceIdentifier="ss", LogFileName="log/log_0.trc",
                                         Marker="0")
    assert error_of(exc) == ("InvalidParameterValue", 400, BINARY_MESSAGE)
    assert BINARY_MESSAGE == ("This file contains binary data and should be downloaded "
                              "instead of viewed.")


def test_binary_error_applies_to_the_page_holding_the_bytes(world: World, faults: Faults,
                                                           rds: Any) -> None:
    faults.binary_as_error = True
    faults.page_bytes = 64
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    good = b"good text line\n"
    pg.add_file("b.log", good * 5 + b"bad \xff\x00 bytes\n" + good)
    first = rds.download_db_log_file_portion(DBInstanceIdentifier="pg", LogFileName="b.log",
                                             Marker="0")
    assert first["LogFileData"].encode() == good * 4  # text before the bad bytes is served
    with pytest.raises(ClientError) as exc:
        read_all(rds, "pg", "b.log", marker=first["Marker"])
    assert error_of(exc)[:2] == ("InvalidParameterValue", 400)


def test_binary_files_still_download_complete_over_rest(world: World, faults: Faults,
                                                        server: SimulatorServer) -> None:
    faults.binary_as_error = True
    ss = world.add_instance("ss", "sqlserver-se", bytes_per_hour=100_000)
    world.advance(600)
    resp = rest_get(server, "ss", "log/log_0.trc", "v19")
    assert resp.status == 200 and resp.body == ss.file("log/log_0.trc").read()


# --- Oracle: the text alert log is rotated daily, kept 30 days --------------------------------


def test_oracle_alert_log_rotates_daily_to_a_dated_name(world: World, rds: Any) -> None:
    ora = world.add_instance("ora", "oracle-ee", bytes_per_hour=24_000, traces_per_hour=0,
                             alert_daily_rotation=True)
    world.advance(DAY + 6 * HOUR)
    files = listed(rds, "ora")
    assert "trace/alert_ORCL.log.2026-11-20" in files
    dated = ora.file("trace/alert_ORCL.log.2026-11-20")
    assert dated.names == ("trace/alert_ORCL.log", "trace/alert_ORCL.log.2026-11-20")
    assert dated.size == 24 * 24_000
    assert files["trace/alert_ORCL.log.2026-11-20"]["LastWritten"] < (DEFAULT_START + DAY) * 1000
    fresh = ora.file("trace/alert_ORCL.log")
    assert fresh.truth_id != dated.truth_id and fresh.size == 6 * 24_000


def test_oracle_dated_alert_logs_outlive_trace_retention(world: World) -> None:
    ora = world.add_instance("ora", "oracle-se2", bytes_per_hour=100, traces_per_hour=1,
                             alert_daily_rotation=True)
    world.advance(10 * DAY)
    names = set(ora.files())
    assert {f"trace/alert_ORCL.log.2026-11-{d}" for d in range(20, 30)} <= names
    traces = world.generations("ora", where=lambda g: g.names[0].endswith(".trc"))
    assert any(g.current_name is None for g in traces)  # 7-day trace retention still applies
    world.advance(25 * DAY)
    assert "trace/alert_ORCL.log.2026-11-20" not in ora.files()  # gone after 30 days
    assert "trace/alert_ORCL.log.2026-11-30" in ora.files()


def test_oracle_alert_log_without_the_option_never_rotates(world: World) -> None:
    ora = world.add_instance("ora", "oracle-ee", bytes_per_hour=100, traces_per_hour=0,
                             alert_daily_rotation=False)
    world.advance(2 * DAY)
    assert [n for n in ora.files() if "alert" in n] == ["trace/alert_ORCL.log"]


# --- SQL Server: the agent log chain ---------------------------------------------------------


def test_sqlserver_agent_log_cycles_to_numbered_names(world: World, rds: Any) -> None:
    ss = world.add_instance("ss", "sqlserver-ee", bytes_per_hour=10_000, agent_log=True,
                            trace_files=False)
    world.advance(600)
    first = ss.file("log/SQLAGENT.OUT")
    assert first.size > 0
    world.advance(12 * DAY)
    agent = sorted(n for n in listed(rds, "ss") if n.startswith("log/SQLAGENT"))
    assert agent == ["log/SQLAGENT.1", "log/SQLAGENT.2", "log/SQLAGENT.3", "log/SQLAGENT.4",
                     "log/SQLAGENT.5", "log/SQLAGENT.6", "log/SQLAGENT.7", "log/SQLAGENT.8",
                     "log/SQLAGENT.9", "log/SQLAGENT.OUT"]  # at most 10 agent logs
    gone = world.generation(first.truth_id)
    assert gone.names[:3] == ("log/SQLAGENT.OUT", "log/SQLAGENT.1", "log/SQLAGENT.2")
    assert gone.names[-1] == "log/SQLAGENT.9" and gone.current_name is None
    assert b"\r\n" in ss.file("log/SQLAGENT.1").read()


# --- MySQL: filtered error logs --------------------------------------------------------------


def filtered_mysql(world: World, ratio: float = 0.5) -> str:
    my = world.add_instance("my", "mysql", bytes_per_hour=100_000, slow_log=False,
                            general_log=False, error_log_filtered_ratio=ratio)
    for _ in range(70):  # minute by minute: filtered-out runs sit between visible lines
        world.advance(60)
    assert my.file("error/mysql-error-running.log.2026-11-20.00").size > 0
    return "error/mysql-error-running.log.2026-11-20.00"


def test_filtered_error_log_lists_more_than_any_download_returns(world: World, rds: Any,
                                                                 server: SimulatorServer
                                                                 ) -> None:
    name = filtered_mysql(world)
    truth = world.instance("my").file(name)
    size = listed(rds, "my")[name]["Size"]
    assert size == 100_000  # the hour's bytes; about half of them are filtered out
    assert 49_000 < truth.size < 51_000
    data, responses = read_all(rds, "my", name)
    assert data == truth.read()
    assert responses[-1]["AdditionalDataPending"] is False
    assert rest_get(server, "my", name, "v19").body == truth.read()


def test_fully_filtered_error_log_downloads_as_zero_bytes(world: World, rds: Any) -> None:
    my = world.add_instance("my", "mysql", bytes_per_hour=100_000, slow_log=False,
                            general_log=False, error_log_filtered_ratio=1.0)
    world.advance(HOUR + 60)
    name = "error/mysql-error-running.log.2026-11-20.00"
    assert listed(rds, "my")[name]["Size"] > 0
    data, _ = read_all(rds, "my", name)
    assert data == b"" and my.file(name).size == 0


@pytest.mark.parametrize("variant", AMBIGUITIES["filtered_marker_offsets"].variants)
def test_filtered_marker_offsets_variants(world: World, faults: Faults, rds: Any,
                                          variant: str) -> None:
    faults.filtered_marker_offsets = variant
    faults.page_bytes = 4096
    name = filtered_mysql(world)
    truth = world.instance("my").file(name).read()
    size = listed(rds, "my")[name]["Size"]
    data, responses = read_all(rds, "my", name)
    assert data == truth  # paging by returned markers never loses or repeats a byte
    end = int(responses[-1]["Marker"].split(":")[1])
    assert end == (len(truth) if variant == "visible" else size)
    first_end = int(responses[0]["Marker"].split(":")[1])
    first_len = len(responses[0]["LogFileData"].encode())
    assert (first_end == first_len) is (variant == "visible")


# --- MariaDB Audit Plugin: server_audit.log rename chain -------------------------------------


def test_server_audit_log_rotates_by_size_down_a_chain(world: World, rds: Any) -> None:
    md = world.add_instance("md", "mariadb", bytes_per_hour=1_000_000, slow_log=False,
                            general_log=False, server_audit=True,
                            server_audit_rotate_bytes=20_000, server_audit_rotations=3)
    world.advance(60)
    first = md.file(SERVER_AUDIT)
    world.advance(HOUR)
    names = sorted(n for n in listed(rds, "md") if n.startswith("audit/"))
    assert names == [SERVER_AUDIT, f"{SERVER_AUDIT}.1", f"{SERVER_AUDIT}.2", f"{SERVER_AUDIT}.3"]
    assert all(md.file(f"{SERVER_AUDIT}.{k}").size == 20_000 for k in (1, 2, 3))
    history = world.generation(first.truth_id)
    assert history.names[:2] == (SERVER_AUDIT, f"{SERVER_AUDIT}.1")
    assert history.current_name is None  # pushed off the end of the chain


# --- PostgreSQL: log_filename and log_rotation_age -------------------------------------------


def test_postgres_daily_log_filename_is_one_file_a_day(world: World, rds: Any) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=1000, log_filename="daily")
    world.advance(DAY + 2 * HOUR)
    assert sorted(listed(rds, "pg")) == ["error/postgresql.log.2026-11-20",
                                         "error/postgresql.log.2026-11-21"]
    assert pg.file("error/postgresql.log.2026-11-20").size == 24_000


def test_postgres_rotation_age_other_than_an_hour(world: World, rds: Any) -> None:
    world.add_instance("pg", "postgres", bytes_per_hour=1000, rotation_minutes=1440)
    world.add_instance("pg5", "postgres", bytes_per_hour=1000, rotation_minutes=5)
    world.advance(DAY + 60)
    assert sorted(listed(rds, "pg")) == ["error/postgresql.log.2026-11-20-0000",
                                         "error/postgresql.log.2026-11-21-0000"]
    assert len(listed(rds, "pg5")) == 100  # one page: 12 an hour for 24 h, and one more
    with pytest.raises(ValueError):
        world.add_instance("bad", "postgres", log_filename="weekly")


# --- MySQL rotated names: both public forms --------------------------------------------------


def test_mysql_rotated_name_forms(world: World) -> None:
    old = world.add_instance("old", "mysql", bytes_per_hour=1000, error_log_naming="hour")
    new = world.add_instance("new", "mysql", bytes_per_hour=1000, slow_general_naming="dated")
    world.advance(2 * HOUR + 60)
    assert "error/mysql-error-running.log.1" in old.files()
    assert "slowquery/mysql-slowquery.log.2026-11-20.01" in new.files()
    assert "general/mysql-general.log.2026-11-20.00" in new.files()


# --- DocumentDB, Neptune, RDS Custom ---------------------------------------------------------


NO_LOGS = ("docdb", "neptune", "custom-oracle-ee", "custom-sqlserver-se")


@pytest.mark.parametrize("variant", AMBIGUITIES["no_log_files_error"].variants)
def test_engines_without_log_files(world: World, faults: Faults, rds: Any,
                                   server: SimulatorServer, variant: str) -> None:
    faults.no_log_files_error = variant
    for i, engine in enumerate(NO_LOGS):
        world.add_instance(f"x{i}", engine, cluster=f"c{i}")
    world.add_instance("pg", "postgres")
    engines = {i["DBInstanceIdentifier"]: i["Engine"]
               for i in rds.describe_db_instances()["DBInstances"]}
    assert engines == {**{f"x{i}": e for i, e in enumerate(NO_LOGS)}, "pg": "postgres"}
    expected = {"invalid-parameter-combination": ("InvalidParameterCombination", 400),
                "invalid-parameter-value": ("InvalidParameterValue", 400),
                "db-instance-not-found": ("DBInstanceNotFound", 404)}[variant]
    for i in range(len(NO_LOGS)):
        with pytest.raises(ClientError) as exc:
            rds.describe_db_log_files(DBInstanceIdentifier=f"x{i}")
        assert error_of(exc)[:2] == expected
        with pytest.raises(ClientError) as exc:
            rds.download_db_log_file_portion(DBInstanceIdentifier=f"x{i}", LogFileName="x",
                                             Marker="0")
        assert error_of(exc)[:2] == expected
        assert rest_get(server, f"x{i}", "x", "v19").status == expected[1]
    assert listed(rds, "pg")


# --- Oracle listing: 1,000 records, MaxRecords ignored ----------------------------------------


@pytest.mark.parametrize("variant", AMBIGUITIES["oracle_listing_marker"].variants)
def test_oracle_listing_stops_at_1000(world: World, faults: Faults, rds: Any,
                                      variant: str) -> None:
    faults.oracle_listing_marker = variant
    ora = world.add_instance("ora", "oracle-ee", bytes_per_hour=0, traces_per_hour=0)
    for i in range(1200):
        ora.add_file(f"trace/ORCL_ora_{i:05d}.trc", b"t\n")
    first = rds.describe_db_log_files(DBInstanceIdentifier="ora", MaxRecords=50)
    assert len(first["DescribeDBLogFiles"]) == 1000
    assert ("Marker" in first) is (variant == "marker")


# --- the marker's hour prefix ----------------------------------------------------------------


def marker_prefix(rds: Any, ident: str, name: str) -> int:
    resp = rds.download_db_log_file_portion(DBInstanceIdentifier=ident, LogFileName=name,
                                            Marker="0")
    return int(resp["Marker"].split(":")[0])


def test_marker_hour_variants(world: World, faults: Faults, rds: Any) -> None:
    world.add_instance("ora", "oracle-ee", bytes_per_hour=1000, traces_per_hour=0)
    world.advance(3 * HOUR + 1800)  # created 00:00, last written 03:30
    alert = "trace/alert_ORCL.log"
    faults.marker_hour = "creation"
    assert marker_prefix(rds, "ora", alert) == 0
    faults.marker_hour = "last_write_plus_one"
    assert marker_prefix(rds, "ora", alert) == 4
    world.advance(HOUR)
    assert marker_prefix(rds, "ora", alert) == 5  # the prefix moves during the file's life
    faults.marker_hour = "request_hour"
    world.instance("ora").status = "stopped"
    world.advance(2 * HOUR)
    world.instance("ora").status = "available"
    assert marker_prefix(rds, "ora", alert) == 6  # 06:30, last written 04:30


@pytest.mark.parametrize("variant", AMBIGUITIES["marker_hour"].variants)
def test_any_marker_prefix_resumes_at_its_offset(world: World, faults: Faults, rds: Any,
                                                 variant: str) -> None:
    faults.marker_hour = variant
    faults.page_bytes = 5000
    pg = world.add_instance("pg", "postgres", bytes_per_hour=20_000, log_filename="daily")
    name = "error/postgresql.log.2026-11-20"
    collected, marker = b"", "0"
    for _ in range(4):
        world.advance(HOUR)
        data, responses = read_all(rds, "pg", name, marker=marker)
        collected += data
        marker = responses[-1]["Marker"]
    assert collected == pg.file(name).read()


# --- REST path versions ----------------------------------------------------------------------


@pytest.mark.parametrize("variant", AMBIGUITIES["retired_rest_answer"].variants)
def test_retired_rest_version_answers(world: World, faults: Faults, server: SimulatorServer,
                                      variant: str) -> None:
    world.add_instance("pg", "postgres")
    faults.rest_versions = frozenset({"v19"})
    faults.retired_rest_answer = variant
    name = "error/postgresql.log.2026-11-20-00"
    refused = rest_get(server, "pg", name, "v13")
    status = {"unknown-operation-404": 404, "forbidden-403": 403, "bad-request-400": 400}
    assert refused.status == status[variant]
    assert (b"<Code>" in refused.body) is (variant != "forbidden-403")
    assert rest_get(server, "pg", name, "v19").status == 200


# --- Multi-AZ failover -----------------------------------------------------------------------


def test_failover_replaces_every_file_with_the_new_hosts(world: World, rds: Any) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=10_000)
    world.advance(HOUR + 1200)
    before = pg.file("error/postgresql.log.2026-11-20-01")
    pg.failover()
    assert sorted(listed(rds, "pg")) == ["error/postgresql.log.2026-11-20-01"]
    after = pg.file("error/postgresql.log.2026-11-20-01")
    assert after.truth_id != before.truth_id and after.size == 0  # same name, other bytes
    assert world.generation(before.truth_id).current_name is None
    world.advance(600)
    assert pg.file("error/postgresql.log.2026-11-20-01").size > 0


# --- switches: drawn per seed, all valid -----------------------------------------------------


def test_variants_are_drawn_reproducibly_and_cover_every_value() -> None:
    draws = [draw_variants(seed) for seed in range(200)]
    assert draws[:5] == [draw_variants(seed) for seed in range(5)]
    for name, ambiguity in AMBIGUITIES.items():
        assert {d[name] for d in draws} == set(ambiguity.variants), name
    faults = Faults.drawn(17, marker_hour="creation")
    assert faults.variants() == {**draw_variants(17), "marker_hour": "creation"}
    assert Faults().variants() == {n: a.default for n, a in AMBIGUITIES.items()}
    assert len(variant_params()) == sum(len(a.variants) for a in AMBIGUITIES.values())


def test_an_unknown_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="marker_hour"):
        Faults(marker_hour="sometimes")


def test_a_world_has_the_real_rotations_and_refusals_by_default() -> None:
    world = World(seed=1)
    for engine, options in REAL_OPTIONS.items():
        inst = world.add_instance(f"i-{engine}", engine, bytes_per_hour=0)
        assert all(inst._engine.opts[k] == v for k, v in options.items()), engine
    override = world.add_instance("ora2", "oracle-ee", alert_daily_rotation=False)
    assert override._engine.opts["alert_daily_rotation"] is False
    simple = World(seed=1, real_rotation=False).add_instance("ora3", "oracle-ee")
    assert simple._engine.opts["alert_daily_rotation"] is False
    assert Faults().binary_as_error


def test_gz_archive_of_a_daily_postgres_log(world: World, rds: Any) -> None:
    """``.gz`` archives come back decompressed through the portion call (aws/aws-sdk#615)."""
    pg = world.add_instance("pg", "postgres", gz_archives=1, gz_archive_bytes=10_000)
    name = next(n for n in pg.files() if n.endswith(".gz"))
    data, _ = read_all(rds, "pg", name)
    assert data == gzip.decompress(pg.file(name).read())
