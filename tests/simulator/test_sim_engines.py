"""Engines: naming, rotation, renames, name reuse, retention, and the ground truth they leave."""

from __future__ import annotations

import gzip
import re

import pytest

from shipper.simulator.engines import mysql_header
from shipper.simulator.world import DEFAULT_START, World

HOUR = 3600


def names(world: World, ident: str) -> list[str]:
    return sorted(world.instance(ident).files())


def test_postgres_new_name_every_hour(world: World) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=360_000)
    world.advance(2 * HOUR + 900)
    assert names(world, "pg") == [
        "error/postgresql.log.2026-11-20-00",
        "error/postgresql.log.2026-11-20-01",
        "error/postgresql.log.2026-11-20-02",
    ]
    files = pg.files()
    assert files["error/postgresql.log.2026-11-20-00"].size == 360_000
    assert files["error/postgresql.log.2026-11-20-02"].size == 90_000
    # The closed file was last written just before the hour, the new one now.
    assert files["error/postgresql.log.2026-11-20-00"].last_written == pytest.approx(
        DEFAULT_START + HOUR, abs=0.01)
    assert files["error/postgresql.log.2026-11-20-02"].last_written == world.now
    # Each hour is its own generation; nothing was ever renamed.
    gens = world.generations("pg")
    assert len(gens) == 3 and all(len(g.names) == 1 for g in gens)
    assert [g.hour for g in gens] == [0, 1, 2]


def test_aurora_postgres_uses_hhmm_and_rotation_minutes(world: World) -> None:
    world.add_instance("apg", "aurora-postgresql", bytes_per_hour=1000)
    world.add_instance("pg15", "postgres", bytes_per_hour=1000, rotation_minutes=15)
    world.advance(HOUR)
    assert names(world, "apg") == ["error/postgresql.log.2026-11-20-0000",
                                   "error/postgresql.log.2026-11-20-0100"]
    assert names(world, "pg15")[:3] == ["error/postgresql.log.2026-11-20-0000",
                                        "error/postgresql.log.2026-11-20-0015",
                                        "error/postgresql.log.2026-11-20-0030"]


def test_postgres_gz_archives_hold_real_gzip(world: World) -> None:
    pg = world.add_instance("pg", "postgres", gz_archives=2, gz_archive_bytes=20_000)
    archives = {n: r for n, r in pg.files().items() if n.endswith(".gz")}
    assert sorted(archives) == ["error/postgresql.log.2026-11-19-22.gz",
                                "error/postgresql.log.2026-11-19-23.gz"]
    for rec in archives.values():
        plain = gzip.decompress(rec.read())
        assert len(plain) == 20_000 and plain.endswith(b"\n")
        assert rec.size < 20_000  # the truth is the compressed bytes


def test_postgres_retention_deletes_after_three_days(world: World) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=100)
    world.advance(80 * HOUR)
    first = world.generations("pg")[0]
    assert first.current_name is None
    assert first.deleted_at is not None and first.names == ("error/postgresql.log.2026-11-20-00",)
    remaining = pg.files()
    assert len(remaining) == 73  # 72 hours kept plus the active file
    assert first.read() and first.size == 100  # the truth keeps deleted bytes
    pg.retention_hours = 1
    world.advance(1)
    assert len(pg.files()) == 2


def test_postgres_forced_rotation_in_same_hour_is_a_no_op(world: World) -> None:
    pg = world.add_instance("pg", "postgres")
    world.advance(600)
    pg.rotate()
    assert len(world.generations("pg")) == 1


def test_mysql_running_error_log_is_renamed_keeping_last_written(world: World) -> None:
    my = world.add_instance("my", "mysql", bytes_per_hour=100_000, slow_log=False,
                            general_log=False)
    world.advance(1800)
    before = my.file("error/mysql-error-running.log")
    world.advance(1800)  # the hour boundary
    after = my.files()
    renamed = after["error/mysql-error-running.log.2026-11-20.00"]
    assert renamed.truth_id == before.truth_id
    assert renamed.names == ("error/mysql-error-running.log",
                             "error/mysql-error-running.log.2026-11-20.00")
    assert renamed.last_written == pytest.approx(DEFAULT_START + HOUR, abs=0.01)
    assert renamed.read(0, before.size) == before.read()
    fresh = after["error/mysql-error-running.log"]
    assert fresh.truth_id != before.truth_id and fresh.size == 0 and fresh.hour == 1


def test_mysql_slow_and_general_reuse_dot_n_names_every_day(world: World) -> None:
    my = world.add_instance("my", "mysql", bytes_per_hour=50_000)
    world.advance(6 * HOUR)
    day1 = my.file("slowquery/mysql-slowquery.log.5")
    header = mysql_header(my.engine_version, "mysql")
    assert day1.read().startswith(header)
    assert my.file("general/mysql-general.log.5").read().startswith(header)
    assert my.file("slowquery/mysql-slowquery.log").read() == header  # fresh file
    world.advance(24 * HOUR)
    day2 = my.file("slowquery/mysql-slowquery.log.5")
    assert day2.truth_id != day1.truth_id
    assert day2.read().startswith(header)
    old = world.generation(day1.truth_id)
    assert old.current_name is None and old.deleted_at is not None
    # Same name, same creation hour: the portion marker's H cannot tell them apart.
    assert old.hour == day2.hour == 5
    slow = sorted(n for n in my.files() if n.startswith("slowquery/"))
    assert len(slow) == 25  # .0 - .23 and the active file


def test_idle_mysql_slow_logs_are_identical_header_only_generations(world: World) -> None:
    my = world.add_instance("my", "mysql", bytes_per_hour=0)
    world.advance(3 * HOUR)
    slow = [g for g in world.generations("my") if g.names[0].startswith("slowquery/")]
    assert len(slow) == 4
    assert len({g.sha256() for g in slow}) == 1
    assert len({g.truth_id for g in slow}) == 4
    assert my.engine_version in slow[0].read().decode()


def test_mysql_forced_rotation_of_one_file(world: World) -> None:
    my = world.add_instance("my", "mysql", bytes_per_hour=10_000)
    world.advance(600)
    my.rotate("error/mysql-error-running.log")
    listed = names(world, "my")
    assert "error/mysql-error-running.log.2026-11-20.00" in listed
    assert "slowquery/mysql-slowquery.log.0" not in listed


def test_aurora_mysql_audit_logs_rotate_at_size(world: World) -> None:
    am = world.add_instance("am", "aurora-mysql", bytes_per_hour=400_000,
                            audit_rotate_bytes=40_000, audit_files=3)
    world.advance(HOUR)
    audit = {n: r for n, r in am.files().items() if n.startswith("audit/")}
    pattern = re.compile(r"^audit/audit\.log\.(\d)\.\d{4}-\d\d-\d\d-\d\d-\d\d\.\d{5}$")
    assert all(pattern.match(n) for n in audit), list(audit)
    assert {pattern.match(n).group(1) for n in audit} == {"0", "1", "2"}  # type: ignore[union-attr]
    full = [r for r in audit.values() if r.size >= 40_000]
    assert len(full) >= 3
    assert all(r.size == 40_000 for r in full)
    assert len({r.last_written for r in full}) > 1  # they fill up at different times
    assert "error/mysql-error-running.log.2026-11-20.00" in am.files()


def test_sqlserver_error_log_rename_chain(world: World) -> None:
    ss = world.add_instance("ss", "sqlserver-ee", bytes_per_hour=10_000, max_error_logs=3,
                            rotation_minutes=60)
    world.advance(1800)
    first = ss.file("log/ERROR")
    world.advance(1800)
    assert ss.file("log/ERROR.1").truth_id == first.truth_id
    world.advance(2 * HOUR)
    assert ss.file("log/ERROR.3").truth_id == first.truth_id
    assert world.generation(first.truth_id).names == (
        "log/ERROR", "log/ERROR.1", "log/ERROR.2", "log/ERROR.3")
    world.advance(HOUR)
    gone = world.generation(first.truth_id)
    assert gone.current_name is None
    assert sorted(n for n in ss.files() if n.startswith("log/ERROR")) == [
        "log/ERROR", "log/ERROR.1", "log/ERROR.2", "log/ERROR.3"]
    assert b"\r\n" in ss.file("log/ERROR.1").read()


def test_sqlserver_binary_trace_files(world: World) -> None:
    ss = world.add_instance("ss", "sqlserver-web", bytes_per_hour=1_000_000,
                            trace_rotate_bytes=30_000)
    world.advance(1800)
    files = ss.files()
    traces = [n for n in files if n.endswith(".trc")]
    assert len(traces) > 1
    xel = [n for n in files if n.endswith(".xel")]
    assert xel
    for name in [traces[0], xel[0]]:
        with pytest.raises(UnicodeDecodeError):
            files[name].read().decode("utf-8")


def test_oracle_alert_log_grows_forever_and_traces_come_and_go(world: World) -> None:
    ora = world.add_instance("ora", "oracle-se2", bytes_per_hour=100_000, sid="PROD",
                             traces_per_hour=4, retention_hours=2)
    world.advance(5 * HOUR)
    alert = ora.file("trace/alert_PROD.log")
    assert alert.size == 500_000
    assert len(world.generations("ora", where=lambda g: "alert" in g.names[0])) == 1
    traces = world.generations("ora", where=lambda g: g.names[0].endswith(".trc"))
    assert len(traces) == 20
    assert all(re.match(r"^trace/PROD_ora_\d+\.trc$", g.names[0]) for g in traces)
    assert sum(1 for g in traces if g.current_name is None) >= 10  # retention removed old ones
    ora.rotate()
    assert len(world.generations("ora", where=lambda g: g.names[0].endswith(".trc"))) == 21


def test_stopped_and_paused_instances_write_nothing(world: World) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=3600)
    pg.status = "stopped"
    world.advance(600)
    assert pg.file("error/postgresql.log.2026-11-20-00").size == 0
    pg.status = "available"
    pg.paused = True
    world.advance(600)
    assert pg.file("error/postgresql.log.2026-11-20-00").size == 0
    pg.paused = False
    world.advance(600)
    assert pg.file("error/postgresql.log.2026-11-20-00").size == 600


HOSTILE = [
    "error/../../etc/passwd",
    "/abs/path",
    "name with spaces.log",
    "tab\tnew\nline\rcr.log",
    "x" * 300,
    "ünïcødé/日本語.log",
    "emoji 🎉.log",
    "del\x7f.log",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_ordinary_files(world: World, name: str) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    pg.add_file(name, b"first\n")
    pg.append(name, b"\xff\xfe raw bytes \n")
    pg.append_generated(name, 5000)
    rec = pg.file(name)
    assert rec.read(0, 6) == b"first\n" and rec.size == 6 + 14 + 5000
    pg.rename_file(name, name + ".1")
    assert world.generation(rec.truth_id).names == (name, name + ".1")
    pg.delete_file(name + ".1")
    assert world.generation(rec.truth_id).current_name is None


def test_add_file_over_an_existing_name_is_a_new_generation(world: World) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    a = pg.add_file("x.log", b"a\n")
    b = pg.add_file("x.log", b"b\n")
    assert a.truth_id != b.truth_id
    assert world.generation(a.truth_id).current_name is None
    assert pg.file("x.log").read() == b"b\n"


def test_append_updates_last_written_and_rename_keeps_it(world: World) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    pg.add_file("a.log", b"x\n")
    world.advance(100)
    pg.append("a.log", b"y\n")
    assert pg.file("a.log").last_written == world.now
    world.advance(100)
    pg.rename_file("a.log", "b.log")
    assert pg.file("b.log").last_written == world.now - 100


def test_remove_instance_deletes_its_files_but_not_the_truth(world: World) -> None:
    world.add_instance("pg", "postgres", bytes_per_hour=1000)
    world.advance(HOUR)
    world.remove_instance("pg")
    gens = world.generations("pg")
    assert gens and all(g.current_name is None for g in gens)
    assert all(i.identifier != "pg" for i in world.instances())


def test_bad_engine_or_option_is_rejected(world: World) -> None:
    with pytest.raises(ValueError, match="unknown engine"):
        world.add_instance("x", "db2")
    with pytest.raises(TypeError, match="unknown engine option"):
        world.add_instance("y", "postgres", audit_files=3)


def test_advance_processes_boundaries_in_time_order(world: World) -> None:
    my = world.add_instance("my", "mysql", bytes_per_hour=3600, slow_log=False,
                            general_log=False, error_log_filtered_ratio=0.0)
    world.add_instance("pg", "postgres", bytes_per_hour=3600, rotation_minutes=20)
    world.advance(3 * HOUR)
    hourly = [my.file(f"error/mysql-error-running.log.2026-11-20.0{h}") for h in range(3)]
    assert [r.size for r in hourly] == [3600, 3600, 3600]
    assert len(world.generations("pg")) == 10
