"""Scenario 8: a 1 GiB log file ships within 128 MiB of resident memory, byte for byte."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import AwsWorld
from tests.scenarios.helpers import describe, finish, kill, spawn_python

GIB = 1 << 30
RSS_LIMIT_KIB = 128 * 1024

# The real CLI in a child process; it reports its own peak RSS (VmHWM) when it is done.
CHILD = """
import sys
from shipper.cli import main
code = main(["run"])
sys.stdout.flush()
with open("/proc/self/status") as status:
    hwm = next(line for line in status if line.startswith("VmHWM:"))
print("PEAK_RSS_KIB", hwm.split()[1], flush=True)
sys.exit(code)
"""


@pytest.mark.slow
def test_one_gib_file_within_128_mib(aws_world: AwsWorld) -> None:
    w = aws_world.world
    pg = w.add_instance("big", "postgres", bytes_per_hour=100_000)
    w.advance(30 * 60)
    name = "error/postgresql.log.2026-11-19-23"
    pg.add_file(name, GIB, last_written=w.now - 1800)  # lazily generated content
    s = run_measured(aws_world)
    assert s["bytes_shipped"] >= GIB
    assert s["bytes_downloaded"] < 1.05 * s["bytes_shipped"]
    report = aws_world.verify()
    print(report.summary())
    report.assert_ok()
    # The growing file then gains 300 MB at once: more than portions should carry.
    (active,) = [n for n in pg.files() if n != name]
    pg.append_generated(active, 300_000_000)
    w.advance(60)
    s = run_measured(aws_world)
    assert 300_000_000 <= s["bytes_shipped"] < 301_000_000
    assert s["bytes_downloaded"] < 1.05 * s["bytes_shipped"]
    aws_world.verify().assert_ok()


def run_measured(aws: AwsWorld) -> dict[str, Any]:
    proc = spawn_python(aws, CHILD)
    try:
        res = finish(proc, timeout=300)
    finally:
        if proc.poll() is None:
            kill(proc)
    assert res.code == 0, describe(res)
    peak = [int(line.split()[1]) for line in res.stdout.splitlines()
            if line.startswith("PEAK_RSS_KIB")]
    assert len(peak) == 1, describe(res)
    s = res.summary
    print(f"peak RSS {peak[0] / 1024:.1f} MiB; shipped {s['bytes_shipped']} bytes in "
          f"{s['objects_written']} objects, downloaded {s['bytes_downloaded']}, "
          f"{s['seconds']} s")
    assert peak[0] <= RSS_LIMIT_KIB, f"peak RSS {peak[0]} KiB > {RSS_LIMIT_KIB} KiB"
    return s
