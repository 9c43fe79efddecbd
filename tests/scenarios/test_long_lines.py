"""Lines longer than the object limit (shipper.lines): held whole in an object of their own up
to the long-line bound (4 times the limit), cut there beyond it, and counted; the oracle
accepts only such pieces as objects that end inside a line."""

from __future__ import annotations

import pytest

from shipper.lines import LONG_LINE_FACTOR
from tests.scenarios.helpers import ok_run
from tests.support.world import AwsWorld

MIB = 1024 * 1024


@pytest.mark.slow
def test_long_lines_stay_whole_up_to_the_bound_and_are_cut_and_counted_beyond(
        aws_world: AwsWorld) -> None:
    w = aws_world.world
    pg = w.add_instance("pg", "postgres", bytes_per_hour=20_000)
    w.advance(600)
    name = next(n for n in pg.files() if not n.endswith(".gz"))
    pg.append(name, b"2026-11-20 00:10:00 UTC:LOG:  " + b"x" * (2 * MIB) + b"\n")
    pg.append(name, b"2026-11-20 00:10:01 UTC:LOG:  " + b"y" * (LONG_LINE_FACTOR + 1) * MIB
              + b"\n")
    w.advance(60)
    run = ok_run(aws_world, SHIPPER_OBJECT_MIB="1")
    report = aws_world.verify()
    report.assert_ok()  # byte for byte, and no other object ends inside a line
    assert run.summary["long_lines_split"] == 1 and report.long_line_pieces == 1
    assert report.split_lines == []
