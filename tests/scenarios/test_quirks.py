"""Scenario 3: the portion API's quirks, renames, binary files and ``.gz`` archives.

Each test switches one quirk of ``Faults`` on (or drives one rotation pattern) and proves the
archive byte for byte against the simulator's ground truth.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from shipper.simulator.faults import Faults, RequestInfo
from shipper.simulator.world import Instance, World
from tests.scenarios.helpers import head_all, load_state, ok_run, read_data, request_log
from tests.support.runs import run_cli
from tests.support.world import AwsWorld

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

MINUTE = 60


@pytest.fixture
def small_pages(aws_world: AwsWorld) -> Iterator[Faults]:
    """8 KiB portion pages, so ordinary files take many DownloadDBLogFilePortion calls."""
    faults = aws_world.sim.faults
    faults.page_bytes = 8192
    yield faults


def count_draws(faults: Faults) -> dict[float, int]:
    """Count the probabilistic quirks that fired, by their rate (test rates are distinct)."""
    fired: dict[float, int] = {}
    original = faults.chance

    def chance(rate: float) -> bool:
        hit = original(rate)
        if hit:
            fired[rate] = fired.get(rate, 0) + 1
        return hit

    faults.chance = chance  # type: ignore[method-assign]
    return fired


def active_postgres(aws: AwsWorld, ident: str = "pg") -> str:
    files = aws.world.instance(ident).files()
    return max((n for n in files if not n.endswith(".gz")), key=lambda n: files[n].created_at)


def test_line_longer_than_a_page_arrives_intact(aws_world: AwsWorld, small_pages: Faults
                                                ) -> None:
    """Quirk 1: the portion API cuts the line and skips the rest; REST must fill it in."""
    w = aws_world.world
    pg = w.add_instance("pg", "postgres", bytes_per_hour=120_000)
    w.advance(20 * MINUTE)
    first = ok_run(aws_world)
    assert first.summary["portion_calls"] > 3  # the growing file was paged
    name = active_postgres(aws_world)
    long_line = b"2026-11-20 00:20:00 UTC::@:[1]:LOG:  statement: SELECT '" + b"x" * 20_000 \
        + b"'\n"
    pg.append(name, long_line)
    w.advance(5 * MINUTE)
    with request_log(aws_world) as rec:
        res = ok_run(aws_world)
    assert res.summary["recovered_truncations"] >= 1, res.summary
    assert rec.downloads(log_file=name), "the growing file was not read again"
    assert any(i.action == "DownloadCompleteLogFile" for i in rec.downloads(log_file=name))
    aws_world.verify().assert_ok()
    shipped = b"".join(read_data(aws_world, k) for k in sorted(aws_world.data_keys()))
    assert long_line in shipped
    assert b"[Your log message was truncated]" not in shipped
    # The next increment resumes cheaply again (a marker was remembered after REST).
    w.advance(10 * MINUTE)
    with request_log(aws_world) as rec:
        ok_run(aws_world)
    assert not [i for i in rec.downloads(log_file=name) if i.action != "DownloadDBLogFilePortion"]
    aws_world.verify().assert_ok()


def test_non_utf8_bytes_are_shipped_raw(aws_world: AwsWorld) -> None:
    """Quirk 6: a page with non-text bytes comes back as a placeholder sentence."""
    w = aws_world.world
    pg = w.add_instance("pg", "postgres", bytes_per_hour=120_000)
    w.advance(15 * MINUTE)
    ok_run(aws_world)
    name = active_postgres(aws_world)
    hostile = b"2026-11-20 00:15:00 UTC:LOG:  caf\xe9 \xff\xfe\x00\x01 \xc3\x28 \xed\xa0\x80\n"
    pg.append(name, hostile)
    pg.add_file("error/core.dump", bytes(range(256)) * 64)
    w.advance(5 * MINUTE)
    res = ok_run(aws_world)
    assert res.summary["complete_downloads"] >= 2, res.summary
    aws_world.verify().assert_ok()
    shipped = b"".join(read_data(aws_world, k) for k in aws_world.data_keys())
    assert hostile in shipped
    assert b"This file contains binary data" not in shipped


def test_gz_archives_are_shipped_compressed(aws_world: AwsWorld) -> None:
    """Quirk 10: ``.gz`` logs come back decompressed through portions; S3 must hold the raw
    ``.gz`` bytes (the oracle compares raw bytes; we also look at them directly)."""
    w = aws_world.world
    pg = w.add_instance("pg", "postgres", bytes_per_hour=100_000, gz_archives=3,
                        gz_archive_bytes=40_000)
    w.advance(30 * MINUTE)
    ok_run(aws_world)
    aws_world.verify().assert_ok()
    gz = {n: rec for n, rec in pg.files().items() if n.endswith(".gz")}
    assert len(gz) == 3
    metas = head_all(aws_world)
    for key, meta in metas.items():
        if meta["log-file"].endswith(".gz"):
            raw = read_data(aws_world, key)
            assert raw[:2] == b"\x1f\x8b", "a .gz log was shipped decompressed"
            assert raw == gz[meta["log-file"]].read()
    assert {m["log-file"] for m in metas.values()} >= set(gz)
    with request_log(aws_world) as rec:
        ok_run(aws_world)
    assert rec.downloads() == []


@pytest.mark.parametrize("quirk", [{"overlap_rate": 0.5}, {"early_end_rate": 0.3}],
                         ids=["overlap", "early-end"])
def test_overlapping_and_early_ending_portions(aws_world: AwsWorld, small_pages: Faults,
                                               quirk: dict[str, float]) -> None:
    """Quirks 3 and 5: data starting before the marker, AdditionalDataPending false early."""
    w = aws_world.world
    w.add_instance("pg", "postgres", bytes_per_hour=150_000)
    w.add_instance("my", "mysql", bytes_per_hour=150_000)
    w.add_instance("ora", "oracle-ee", bytes_per_hour=150_000)
    fired = count_draws(small_pages)
    for key, value in quirk.items():
        setattr(small_pages, key, value)
    for _ in range(4):
        w.advance(20 * MINUTE)
        ok_run(aws_world)
    for key, value in quirk.items():
        assert fired.get(value, 0) > 0, f"{key} never fired"
    aws_world.verify().assert_ok()


ROTATING = [
    ("mysql", "slowquery/mysql-slowquery.log"),
    ("mysql", "error/mysql-error-running.log"),
    ("sqlserver-se", "log/ERROR"),
]


def rotate_a_second_later(w: World, inst: Instance, name: str) -> None:
    """Rotate ``name`` one quiet second after the last write (the simulated clock stands still
    during a run; a real rotation never shares the millisecond of the last write)."""
    with w.lock:
        rate, inst.bytes_per_hour = inst.bytes_per_hour, 0
        w.advance(1)
        inst.bytes_per_hour = rate
        inst.rotate(name)


def rotate_mid_paging(aws: AwsWorld, engine: str, name: str, *, resumed: bool,
                      same_instant: bool = False) -> None:
    """Quirk 8: the file is renamed away between two portion calls of one sequence; the name
    (and the marker, applied to whatever the name holds now) point at a new generation."""
    w = aws.world
    options = {"trace_files": False} if engine.startswith("sqlserver") else {}
    inst = w.add_instance("db", engine, bytes_per_hour=400_000, **options)
    lock = threading.Lock()
    state: dict[str, Any] = {"armed": False, "markers": [], "rotated": 0}

    def hook(info: RequestInfo) -> None:
        if info.action != "DownloadDBLogFilePortion" or info.log_file != name:
            return
        with lock:
            if not state["armed"]:
                return
            state["markers"].append(info.params.get("Marker"))
            if len(state["markers"]) != 2:
                return
            if same_instant:
                inst.rotate(name)
            else:
                rotate_a_second_later(w, inst, name)
            state["rotated"] += 1

    remove = aws.sim.add_hook(hook)
    try:
        if resumed:
            w.advance(70 * MINUTE)
            ok_run(aws)
            w.advance(20 * MINUTE)
        else:
            w.advance(50 * MINUTE)
        state["armed"] = True
        try:
            res = aws.run()
        finally:
            state["armed"] = False
        assert res.code == 0, res.stdout[-4000:]
        markers = state["markers"]
        assert len(markers) >= 2, f"the file was not paged: {markers}"
        assert state["rotated"] == 1
        if resumed:
            assert markers[0] not in (None, "0")  # a sequence resumed from a stored marker
        else:
            assert markers[0] == "0"
    finally:
        remove()
    ok_run(aws)  # picks up what the rotation left for the next listing
    aws.verify().assert_ok()
    assert any(g.names[0] == name and len(g.names) > 1 for g in w.generations())
    w.advance(30 * MINUTE)
    ok_run(aws)
    aws.verify().assert_ok()


@pytest.mark.parametrize("engine,name", ROTATING)
def test_rotation_while_paging_from_the_start(aws_world: AwsWorld, small_pages: Faults,
                                              engine: str, name: str) -> None:
    rotate_mid_paging(aws_world, engine, name, resumed=False)


@pytest.mark.parametrize("engine,name", ROTATING)
def test_rotation_while_paging_from_a_stored_marker(aws_world: AwsWorld, small_pages: Faults,
                                                    engine: str, name: str) -> None:
    """Regression: the file now under the name was minted as a new generation but settled
    with the listing's Size/LastWritten of the old file, so the next run's rename rule gave
    the renamed old file to the new generation (bytes shipped twice); for SQL Server the
    marker-hour change was also misread as a first-page rotation."""
    rotate_mid_paging(aws_world, engine, name, resumed=True)


def test_rotation_while_paging_in_the_same_millisecond(aws_world: AwsWorld,
                                                       small_pages: Faults) -> None:
    """Regression: a new file written in the same millisecond as the old one's last write
    matched the old generation by (name, LastWritten) although it was smaller than the shipped
    offset: the new file was never shipped and the renamed one was shipped again from 0."""
    rotate_mid_paging(aws_world, "mysql", "slowquery/mysql-slowquery.log", resumed=False,
                      same_instant=True)


@pytest.mark.parametrize("engine,name", [
    ("sqlserver-se", "log/ERROR"),
    ("mysql", "error/mysql-error-running.log"),
])
def test_renamed_file_without_growth_is_not_downloaded(aws_world: AwsWorld, engine: str,
                                                       name: str) -> None:
    w = aws_world.world
    # A filtered MySQL error log (real RDS's default) was read to its end below its listed
    # Size: its rename is proven by content, one download (test_real_rds covers it).
    options = {"error_log_filtered_ratio": 0.0} if engine == "mysql" else {}
    inst = w.add_instance("db", engine, bytes_per_hour=200_000, **options)
    w.advance(40 * MINUTE)
    ok_run(aws_world)
    before = inst.file(name)
    assert before.size > 0
    gens_before = load_state(aws_world, "db")["generations"]
    rotate_a_second_later(w, inst, name)  # same bytes and LastWritten under a new name
    renamed = [n for n, r in inst.files().items() if r.truth_id == before.truth_id]
    assert renamed and renamed[0] != name
    with request_log(aws_world) as rec:
        res = ok_run(aws_world)
    assert rec.downloads(log_file=renamed[0]) == []
    assert res.summary["complete_downloads"] == 0, res.summary
    assert res.summary["objects_written"] == 0, res.summary
    aws_world.verify().assert_ok()
    # The renamed bytes kept their generation; the only new one is the fresh file's.
    gens_after = load_state(aws_world, "db")["generations"]
    assert set(gens_before) < set(gens_after)
    cycled = {name, *(["log/SQLAGENT.OUT"] if engine.startswith("sqlserver") else [])}
    assert sorted(g["name"] for k, g in gens_after.items() if k not in gens_before) \
        == sorted(cycled)  # the agent log cycles with the error log
    w.advance(30 * MINUTE)
    ok_run(aws_world)
    aws_world.verify().assert_ok()


def test_file_deleted_between_listing_and_download_is_a_reported_gap(aws_world: AwsWorld
                                                                     ) -> None:
    w = aws_world.world
    pg = w.add_instance("pg", "postgres", bytes_per_hour=200_000)
    w.advance(3 * 3600 + MINUTE)
    victim = sorted(pg.files())[0]  # an old hourly file, closed
    lost = pg.file(victim).size

    def hook(info: RequestInfo) -> None:
        if info.log_file == victim and info.action.startswith("Download") \
                and victim in pg.files():
            pg.delete_file(victim)  # retention strikes after the listing

    remove = aws_world.sim.add_hook(hook)
    try:
        res = ok_run(aws_world)
    finally:
        remove()
    assert ("log file vanished before it was read (retention or rotation)", victim) in {
        (str(x.get("message")), x.get("file")) for x in res.lines}
    aws_world.verify().assert_ok()  # everything that still exists is shipped
    later = ok_run(aws_world)
    gaps = res.summary["gap_bytes"] + later.summary["gap_bytes"]
    assert gaps == lost, (res.summary, later.summary)
    status = json.loads(run_cli(aws_world, "status", "--json").stdout)
    assert [r["gap_bytes"] for r in status] == [lost]
    again = ok_run(aws_world)
    assert again.summary["gap_bytes"] == 0  # reported once, not every run
