"""Scenario 8: a 1 GiB log file ships within 128 MiB of resident memory, byte for byte, even
when SIGTERM interrupts its complete-file stream half-way and a later run resumes it."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

import pytest

from tests.scenarios.helpers import dangling_objects, kill, spawn_python, wait_for
from tests.support.runs import Run, describe, finish
from tests.support.world import AwsWorld

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

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


def measured(proc: subprocess.Popen[str], expect: int) -> dict[str, Any]:
    try:
        res: Run = finish(proc, timeout=300)
    finally:
        if proc.poll() is None:
            kill(proc)
    assert res.code == expect, describe(res)
    peak = [int(line.split()[1]) for line in res.stdout.splitlines()
            if line.startswith("PEAK_RSS_KIB")]
    assert len(peak) == 1, describe(res)
    s = res.summary
    print(f"exit {res.code}: peak RSS {peak[0] / 1024:.1f} MiB; shipped {s['bytes_shipped']} "
          f"bytes in {s['objects_written']} objects, downloaded {s['bytes_downloaded']}, "
          f"{s['seconds']} s")
    assert peak[0] <= RSS_LIMIT_KIB, f"peak RSS {peak[0]} KiB > {RSS_LIMIT_KIB} KiB"
    return dict(s)


@pytest.mark.slow
def test_one_gib_file_within_128_mib(aws_world: AwsWorld) -> None:
    w = aws_world.world
    pg = w.add_instance("big", "postgres", bytes_per_hour=100_000)
    w.advance(30 * 60)
    name = "error/postgresql.log.2026-11-19-23"
    pg.add_file(name, GIB, last_written=w.now - 1800)  # lazily generated content
    faults = aws_world.sim.faults

    # 1. SIGTERM in the middle of the complete-file stream: a clean, committed stop.
    faults.latency_ms_per_mb = 15  # ~15 s for the whole file
    proc = spawn_python(aws_world, CHILD)
    wait_for(lambda: len(aws_world.data_keys()) >= 3, 120, "a few 16 MiB objects", proc)
    kill(proc, signal.SIGTERM)
    signalled = time.monotonic()
    first = measured(proc, 143)
    assert time.monotonic() - signalled < 20
    assert 0 < first["bytes_shipped"] < GIB
    assert dangling_objects(aws_world) == []
    partial = aws_world.verify()
    assert not partial.problems

    # 2. The next run proves the shipped prefix by content and ships the rest.
    faults.latency_ms_per_mb = 0
    second = measured(spawn_python(aws_world, CHILD), 0)
    assert first["bytes_shipped"] + second["bytes_shipped"] >= GIB
    assert second["bytes_downloaded"] < 1.05 * GIB + 1_000_000
    report = aws_world.verify()
    print(report.summary())
    report.assert_ok()

    # 3. The growing file then gains 300 MB at once: more than portions should carry.
    (active,) = [n for n in pg.files() if n != name]
    pg.append_generated(active, 300_000_000)
    w.advance(60)
    third = measured(spawn_python(aws_world, CHILD), 0)
    assert 300_000_000 <= third["bytes_shipped"] < 301_000_000
    assert third["bytes_downloaded"] < 1.05 * third["bytes_shipped"]
    aws_world.verify().assert_ok()
