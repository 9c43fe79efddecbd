"""A real SQL engine reads the archive: DuckDB's ``read_csv`` over a copy of ``data/`` on disk
(shipper.archive_query) returns every line the databases wrote, whole, once, and ``dt`` finds
them by the day they were written.

The runs straddle midnight: one in the last millisecond of the first day, the next ones on
the second day. A line belongs to the day its last byte was written (a growing file's
unfinished line is held back until it is complete), so the ground truth of a day is: the lines
that ended before the world's size at that run, and every line of a file last written on day
one (a rotation at midnight ends the file's last line with a LastWritten of day one), for day
one; the rest for day two.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest

from shipper.archive_query import NotAnArchiveCopy, copy_archive, read_lines_sql
from shipper.simulator.oracle import OracleReport
from shipper.simulator.world import DEFAULT_START, GenerationRecord
from tests.scenarios.helpers import ok_run
from tests.support.s3 import LocalS3
from tests.support.world import PREFIX, AwsWorld, fresh_aws

HOUR = 3600
MIDNIGHT = DEFAULT_START + 24 * HOUR
DAY_ONE, DAY_TWO = "2026-11-20", "2026-11-21"

Line = str | None  # as DuckDB returns it: no line ending, NULL for an empty line


def as_rows(data: bytes) -> list[tuple[int, Line]]:
    """(end offset, row) of each line of ``data``: lines end after ``\\n``; the last one may
    be a closed file's final bytes."""
    rows = []
    pos = 0
    while pos < len(data):
        cut = data.find(b"\n", pos)
        end = len(data) if cut < 0 else cut + 1
        text = data[pos:end].removesuffix(b"\n").removesuffix(b"\r").decode("utf-8")
        assert "\r" not in text, "a lone CR also ends a row in DuckDB's reader (README)"
        rows.append((end, text or None))
        pos = end
    return rows


def truth_by_day(report: OracleReport, day_one_sizes: dict[int, int]
                 ) -> dict[str, Counter[Line]]:
    """The lines the archive must hold (what the oracle found shipped: all of a generation,
    or all but its held-back unfinished line), by the day their last byte was written."""
    days: dict[str, Counter[Line]] = {DAY_ONE: Counter(), DAY_TWO: Counter()}
    shipped: list[tuple[GenerationRecord, int]] = [
        *((m.truth, m.truth.size) for m in report.complete),
        *((m.truth, m.shipped_bytes) for m in report.held_back)]
    for g, upto in shipped:
        closed_on_day_one = g.last_written < MIDNIGHT  # its last bytes: LastWritten says when
        for end, row in as_rows(g.read(0, upto)):
            on_day_one = closed_on_day_one or end <= day_one_sizes.get(g.truth_id, 0)
            days[DAY_ONE if on_day_one else DAY_TWO][row] += 1
    return days


def query(con: duckdb.DuckDBPyConnection, root: Path, where: str = "") -> Counter[Line]:
    return Counter(row for (row,) in con.execute(
        f"SELECT line FROM {read_lines_sql(root)} {where}").fetchall())


@pytest.mark.slow
def test_duckdb_reads_every_line_whole_once_and_by_the_day_it_was_written(
        local_s3: LocalS3, tmp_path: Path) -> None:
    with fresh_aws(local_s3, start=DEFAULT_START + 18 * HOUR) as aws:
        day_one_sizes = ship_across_midnight(aws)
        report = aws.verify()
        report.assert_ok()
        assert report.split_lines == [] and report.objects > 0
        copied = copy_archive(aws.s3_client(), aws.bucket, PREFIX, tmp_path)
        assert copied == report.objects

    root = tmp_path / PREFIX  # the folder that holds data/
    truth = truth_by_day(report, day_one_sizes)
    every_line = truth[DAY_ONE] + truth[DAY_TWO]
    con = duckdb.connect()
    rows = query(con, root)
    # rows = lines, and no row is a fragment: the same multiset of whole lines
    assert sum(rows.values()) == sum(every_line.values()) > 1000
    assert rows == every_line
    for day, lines in truth.items():
        assert sum(lines.values()) > 0, day
        assert query(con, root, f"WHERE dt = DATE '{day}'") == lines, day
    # a generation written on both days has objects in both partitions, found by its id
    (spanning,) = con.execute(
        f"SELECT count(*) FROM (SELECT regexp_extract(filename, '/([0-9a-f]{{20}})/', 1) AS g "
        f"FROM {read_lines_sql(root)} GROUP BY g HAVING count(DISTINCT dt) = 2)"
    ).fetchone() or (0,)
    assert spanning > 0

    # a second copy replaces the first: a query never counts a line twice
    with fresh_aws(local_s3) as aws:
        aws.world.add_instance("other-pg", "postgres", bytes_per_hour=50_000)
        aws.world.advance(HOUR)
        ok_run(aws)
        again = copy_archive(aws.s3_client(), aws.bucket, PREFIX, tmp_path)
        expected = sum(len(as_rows(m.truth.read())) for m in aws.verify().complete)
    assert again > 0 and sum(query(con, root).values()) == expected


def ship_across_midnight(aws: AwsWorld) -> dict[int, int]:
    """Runs at 21:00 and 23:59:59.999 of day one, 03:00 and 06:00 of day two; returns each
    generation's size at the second run."""
    w = aws.world
    w.add_instance("orders-pg", "postgres", bytes_per_hour=150_000)
    w.add_instance("shop-mysql", "mysql", bytes_per_hour=150_000)
    # SQL Server writes CRLF lines; its binary trace files are not lines (README). Its ERROR
    # log cycles every four days here, so one generation is written on both days.
    w.add_instance("erp-sql", "sqlserver-se", bytes_per_hour=150_000, trace_files=False,
                   rotation_minutes=4 * 24 * 60)
    w.advance(3 * HOUR)
    ok_run(aws)
    w.advance(3 * HOUR - 0.001)  # the last millisecond of day one: nothing is written after
    ok_run(aws)                  # this run on day one (dt is the LastWritten day)
    sizes = {g.truth_id: g.size for g in w.generations()}
    for _ in range(2):
        w.advance(3 * HOUR + 20)
        ok_run(aws)
    return sizes


def test_a_copy_never_replaces_a_folder_with_other_files(tmp_path: Path) -> None:
    stray = tmp_path / "rds-logs" / "data" / "notes.txt"
    stray.parent.mkdir(parents=True)
    stray.write_text("mine")
    with pytest.raises(NotAnArchiveCopy, match=r"notes\.txt"):
        copy_archive(object(), "bucket", "rds-logs/", tmp_path)
    assert stray.read_text() == "mine"
