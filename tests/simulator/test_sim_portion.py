"""DownloadDBLogFilePortion: paging, markers, tails, and each quirk, through boto3."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from botocore.exceptions import ClientError
from simhelpers import read_all

from shipper.simulator.faults import BINARY_MESSAGE, Faults, RequestInfo
from shipper.simulator.server import SimulatorServer
from shipper.simulator.world import World

MSG = "[Your log message was truncated]\n"


def portion(rds: Any, name: str, ident: str = "pg", **kwargs: Any) -> dict[str, Any]:
    return dict(rds.download_db_log_file_portion(DBInstanceIdentifier=ident, LogFileName=name,
                                                 **kwargs))


def test_reading_from_zero_returns_every_byte(world: World, rds: Any) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=3_500_000)
    world.advance(3600)
    name = "error/postgresql.log.2026-11-20-00"
    truth = pg.file(name).read()
    data, responses = read_all(rds, "pg", name)
    assert data == truth
    assert len(responses) == 4
    offset = 0
    for resp in responses:
        page = resp["LogFileData"].encode()
        assert len(page) <= 1_048_576
        assert resp["Marker"] == f"0:{offset + len(page)}"
        offset += len(page)
        if resp["AdditionalDataPending"]:
            assert page.endswith(b"\n")
    assert [r["AdditionalDataPending"] for r in responses] == [True, True, True, False]


def test_pages_end_on_line_boundaries(world: World, faults: Faults, rds: Any) -> None:
    faults.page_bytes = 1000
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    lines = b"".join(f"line {i} {'x' * (i % 97)}\n".encode() for i in range(300))
    pg.add_file("a.log", lines)
    data, responses = read_all(rds, "pg", "a.log")
    assert data == lines
    for resp in responses:
        page = resp["LogFileData"].encode()
        assert 0 < len(page) <= 1000 and page.endswith(b"\n")


def test_marker_hour_is_the_generation_creation_hour(world: World, rds: Any) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=1000)
    world.advance(17 * 3600 + 60)
    resp = portion(rds, "error/postgresql.log.2026-11-20-17", Marker="0")
    assert resp["Marker"] == f"17:{pg.file('error/postgresql.log.2026-11-20-17').size}"
    with pytest.raises(ClientError) as exc:
        portion(rds, "error/postgresql.log.2026-11-20-17", Marker="garbage")
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_tail_without_marker(world: World, rds: Any) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    lines = [f"{i:07d} some log text\n".encode() for i in range(15_000)]
    pg.add_file("t.log", b"".join(lines))
    size = pg.file("t.log").size
    resp = portion(rds, "t.log")
    assert resp["LogFileData"].encode() == b"".join(lines[-10_000:])
    assert resp["Marker"] == f"0:{size}"
    assert resp["AdditionalDataPending"] is False
    resp = portion(rds, "t.log", NumberOfLines=3)
    assert resp["LogFileData"].encode() == b"".join(lines[-3:])


def test_tail_is_bounded_by_the_page(world: World, faults: Faults, rds: Any) -> None:
    faults.page_bytes = 200
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    pg.add_file("t.log", b"".join(f"{i:09d}\n".encode() for i in range(100)))
    data = portion(rds, "t.log")["LogFileData"].encode()
    assert len(data) <= 200 and data.endswith(b"000000099\n") and data.startswith(b"0")


def test_number_of_lines_with_marker(world: World, rds: Any) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    pg.add_file("n.log", b"a\nbb\nccc\ndddd\n")
    resp = portion(rds, "n.log", Marker="0", NumberOfLines=2)
    assert resp["LogFileData"] == "a\nbb\n" and resp["Marker"] == "0:5"
    assert resp["AdditionalDataPending"] is True
    resp = portion(rds, "n.log", Marker=resp["Marker"], NumberOfLines=5)
    assert resp["LogFileData"] == "ccc\ndddd\n" and resp["AdditionalDataPending"] is False


def test_empty_file_and_end_of_file(world: World, rds: Any) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    pg.add_file("empty.log", b"")
    resp = portion(rds, "empty.log", Marker="0")
    assert "LogFileData" not in resp  # botocore leaves the key out when the element is absent
    assert resp["Marker"] == "0:0" and resp["AdditionalDataPending"] is False
    pg.add_file("short.log", b"abc\n")
    resp = portion(rds, "short.log", Marker="0:4")
    assert "LogFileData" not in resp and resp["Marker"] == "0:4"
    resp = portion(rds, "short.log", Marker="0:400")
    assert resp["Marker"] == "0:400" and resp["AdditionalDataPending"] is False


def test_unknown_file_and_instance(world: World, rds: Any) -> None:
    world.add_instance("pg", "postgres")
    with pytest.raises(ClientError) as exc:
        portion(rds, "nope.log", Marker="0")
    assert exc.value.response["Error"]["Code"] == "DBLogFileNotFoundFault"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as exc:
        portion(rds, "nope.log", ident="ghost", Marker="0")
    assert exc.value.response["Error"]["Code"] == "DBInstanceNotFound"


def test_text_survives_crlf_and_non_ascii(world: World, rds: Any) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    raw = "café ünï 日本 🎉\r\nline <two> & 'three'\r\n\ttab\n".encode()
    pg.add_file("u.log", raw)
    data, _ = read_all(rds, "pg", "u.log")
    assert data == raw


LONG = b"L" * 3000 + b"\n"


def long_line_file(world: World, faults: Faults) -> bytes:
    faults.page_bytes = 1024
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    content = b"short one\n" + LONG + b"after 1\nafter 2\n"
    pg.add_file("long.log", content)
    return content


def test_quirk1_long_line_is_truncated_and_skipped(world: World, faults: Faults,
                                                   rds: Any) -> None:
    long_line_file(world, faults)
    first = portion(rds, "long.log", Marker="0")
    assert first["LogFileData"] == "short one\n" and first["Marker"] == "0:10"
    cut = portion(rds, "long.log", Marker=first["Marker"])
    text = cut["LogFileData"]
    assert text == "L" * (1024 - len(MSG)) + MSG
    assert cut["Marker"] == f"0:{10 + len(LONG)}"  # past the whole line: the rest is lost
    assert cut["AdditionalDataPending"] is True
    rest = portion(rds, "long.log", Marker=cut["Marker"])
    assert rest["LogFileData"] == "after 1\nafter 2\n"


def test_quirk1_with_the_real_one_mebibyte_page(world: World, rds: Any) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    huge = b"H" * 1_500_000 + b"\n"
    pg.add_file("huge.log", b"before\n" + huge + b"after\n")
    data, responses = read_all(rds, "pg", "huge.log")
    assert data == b"before\n" + b"H" * (1_048_576 - len(MSG)) + MSG.encode() + b"after\n"
    assert responses[-1]["Marker"] == f"0:{7 + len(huge) + 6}"


def test_quirk1_off_serves_the_long_line_in_pieces(world: World, faults: Faults,
                                                   rds: Any) -> None:
    content = long_line_file(world, faults)
    faults.truncate_long_lines = False
    data, responses = read_all(rds, "pg", "long.log")
    assert data == content
    assert all(len(r.get("LogFileData", "")) <= 1024 for r in responses)


def test_quirk2_shrinking_number_of_lines_never_passes_a_long_line(
        world: World, faults: Faults, rds: Any) -> None:
    long_line_file(world, faults)
    marker = "0:10"
    for lines in (100, 10, 5, 2, 1, 1, 1):
        resp = portion(rds, "long.log", Marker=marker, NumberOfLines=lines)
        assert resp["LogFileData"].endswith(MSG)
        assert resp["Marker"] == marker and resp["AdditionalDataPending"] is True
        marker = resp["Marker"]
    faults.stuck_with_number_of_lines = False
    resp = portion(rds, "long.log", Marker=marker, NumberOfLines=1)
    assert resp["Marker"] == f"0:{10 + len(LONG)}"


def test_quirk3_early_end(world: World, faults: Faults, rds: Any,
                          server: SimulatorServer) -> None:
    faults.page_bytes = 100
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    pg.add_file("e.log", b"".join(f"{i:019d}\n".encode() for i in range(50)))
    faults.early_end_rate = 1.0
    resp = portion(rds, "e.log", Marker="0")
    assert resp["AdditionalDataPending"] is False and resp["Marker"] == "0:100"
    assert server.stats.snapshot()["early_ends"] == 1
    faults.early_end_rate = 0.0
    data, _ = read_all(rds, "pg", "e.log", marker=resp["Marker"])
    assert resp["LogFileData"].encode() + data == pg.file("e.log").read()


def test_quirk4_second_response_after_a_tail_lacks_pending(world: World, faults: Faults,
                                                           rds: Any) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    pg.add_file("q.log", b"x\n" * 100)
    first = portion(rds, "q.log")
    assert "AdditionalDataPending" in first
    second = portion(rds, "q.log", Marker="0")
    assert "AdditionalDataPending" not in second
    third = portion(rds, "q.log", Marker="0")
    assert "AdditionalDataPending" in third
    faults.omit_pending_after_tail = False
    portion(rds, "q.log")
    assert "AdditionalDataPending" in portion(rds, "q.log", Marker="0")


def test_quirk5_overlap_repeats_bytes_before_the_marker(world: World, faults: Faults,
                                                        rds: Any, server: SimulatorServer
                                                        ) -> None:
    faults.page_bytes = 500
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    pg.add_file("o.log", b"".join(f"{i:039d}\n".encode() for i in range(100)))
    truth = pg.file("o.log").read()
    first = portion(rds, "o.log", Marker="0")
    end = int(first["Marker"].split(":")[1])
    faults.overlap_rate = 1.0
    faults.overlap_max_bytes = 100
    second = portion(rds, "o.log", Marker=first["Marker"])
    data = second["LogFileData"].encode()
    new_end = int(second["Marker"].split(":")[1])
    extra = len(data) - (new_end - end)
    assert 0 < extra <= 100
    assert data == truth[end - extra:new_end]
    assert server.stats.snapshot()["overlapping_pages"] == 1


def test_quirk6_binary_page_placeholder(world: World, faults: Faults, rds: Any) -> None:
    """The old guess, kept as a switch: the placeholder served as page data."""
    faults.binary_as_error = False
    faults.page_bytes = 64
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    good = b"good text line\n"
    content = good * 5 + b"bad \xff\xfe\x00 bytes\n" + good * 5
    pg.add_file("b.log", content)
    data, responses = read_all(rds, "pg", "b.log")
    texts = [r["LogFileData"] for r in responses]
    assert BINARY_MESSAGE in texts
    assert int(responses[-1]["Marker"].split(":")[1]) == len(content)  # the marker moved on
    assert data.replace(BINARY_MESSAGE.encode(), b"").replace(good, b"") == b""
    faults.binary_placeholder = False
    data, _ = read_all(rds, "pg", "b.log")
    assert BINARY_MESSAGE.encode() not in data and "\ufffd".encode() in data


def test_quirk6_binary_files(world: World, faults: Faults, rds: Any) -> None:
    world.add_instance("ss", "sqlserver-se", bytes_per_hour=100_000)
    world.advance(600)
    with pytest.raises(ClientError) as refused:  # real RDS: an error response (the default)
        portion(rds, "log/log_0.trc", ident="ss", Marker="0")
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert refused.value.response["Error"]["Message"] == BINARY_MESSAGE
    faults.binary_as_error = False  # the old guess: the placeholder as page data
    resp = portion(rds, "log/log_0.trc", ident="ss", Marker="0")
    assert resp["LogFileData"] == BINARY_MESSAGE


def test_quirk8_stale_marker_is_applied_to_the_new_generation(
        world: World, faults: Faults, server: SimulatorServer, rds: Any) -> None:
    faults.page_bytes = 2000
    my = world.add_instance("my", "mysql", bytes_per_hour=0, slow_log=False,
                            general_log=False)
    running = "error/mysql-error-running.log"
    my.append_generated(running, 10_000)
    old = my.file(running)
    world.advance(1800)
    calls = []

    def rotate_on_third(info: RequestInfo) -> None:
        if info.action == "DownloadDBLogFilePortion":
            calls.append(info)
            if len(calls) == 3:
                world.advance(1800)  # the hour boundary renames the running log
                my.append_generated(running, 20_000)

    server.add_hook(rotate_on_third)
    first = portion(rds, running, ident="my", Marker="0")
    second = portion(rds, running, ident="my", Marker=first["Marker"])
    assert second["Marker"].startswith("0:")
    offset = int(second["Marker"].split(":")[1])
    third = portion(rds, running, ident="my", Marker=second["Marker"])
    new = my.file(running)
    assert new.truth_id != old.truth_id and new.hour == 1
    assert third["Marker"].startswith("1:")
    assert third["LogFileData"].encode() == new.read(offset, int(third["Marker"][2:]))
    assert world.generation(old.truth_id).current_name == f"{running}.2026-11-20.00"
    faults.stale_marker_follows_name = False
    with pytest.raises(ClientError) as exc:
        portion(rds, running, ident="my", Marker=second["Marker"])
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_quirk10_gz_is_served_decompressed(world: World, faults: Faults, rds: Any) -> None:
    pg = world.add_instance("pg", "postgres", gz_archives=1, gz_archive_bytes=3_000_000)
    name = "error/postgresql.log.2026-11-19-23.gz"
    stored = pg.file(name)
    listed = {f["LogFileName"]: f["Size"] for f in
              rds.describe_db_log_files(DBInstanceIdentifier="pg")["DescribeDBLogFiles"]}
    assert listed[name] == stored.size
    data, responses = read_all(rds, "pg", name)
    assert data == gzip.decompress(stored.read())
    assert len(data) == 3_000_000 > stored.size
    assert responses[-1]["Marker"] == "23:3000000"
    faults.gz_served_decompressed = False
    with pytest.raises(ClientError, match="binary data"):
        portion(rds, name, Marker="0")


def test_portion_reads_a_growing_file_incrementally(world: World, rds: Any) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=360_000)
    name = "error/postgresql.log.2026-11-20-00"
    collected = b""
    marker = "0"
    for _ in range(5):
        world.advance(600)
        data, responses = read_all(rds, "pg", name, marker=marker)
        collected += data
        marker = responses[-1]["Marker"]
    assert collected == pg.file(name).read() and len(collected) == 300_000
