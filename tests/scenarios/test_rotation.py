"""Scenario 2: incremental runs across more than 24 simulated hours of rotation.

One world holds every engine, tuned so each rotation pattern happens several times: MySQL's
running error log renamed hourly and its ``.N`` slow/general names reused at the day change,
a SQL Server ERROR chain shifting every 6 hours (and binary ``.trc`` files rotating by size),
PostgreSQL's hourly names, Aurora MySQL audit files rotating at 30 kB, Oracle's ever-growing
alert log plus short trace files. The schedule mixes 15-minute stretches (across both
midnights) with irregular gaps, and lands runs both exactly on hour boundaries and mid-hour.
"""

from __future__ import annotations

from typing import Any

import pytest

from shipper.simulator.world import DEFAULT_START, GenerationRecord
from tests.scenarios.helpers import ENGINES, ok_run
from tests.support.world import AwsWorld

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

OPTIONS: dict[str, dict[str, Any]] = {
    "aurora-mysql": {"audit_rotate_bytes": 30_000},
    "sqlserver-se": {"rotation_minutes": 360, "trace_rotate_bytes": 15_000},
    "oracle-ee": {"traces_per_hour": 2.0, "trace_bytes": 4096},
}

# Minutes since 2026-11-20T00:00Z at which a run happens.
SCHEDULE = [
    15, 30, 45, 60, 75,                  # every 15 minutes, one exactly on 01:00
    97, 180, 420, 613, 1000, 1350,       # irregular, some exactly on the hour
    1380, 1395, 1410, 1425, 1440, 1455, 1470,  # every 15 minutes across midnight (00:00 too)
    1531, 1607,                          # mid-hour, past 26 hours
]


def test_incremental_runs_across_rotations_for_26_hours(aws_world: AwsWorld) -> None:
    w = aws_world.world
    for i, engine in enumerate(ENGINES):
        w.add_instance(f"db{i}-{engine}", engine, bytes_per_hour=150_000,
                       **OPTIONS.get(engine, {}))
    assert SCHEDULE[-1] > 26 * 60
    totals = {"portion_calls": 0, "complete_downloads": 0, "bytes_downloaded": 0,
              "bytes_shipped": 0, "objects_written": 0, "rds_requests": 0}
    # truth id -> sizes it had when some run listed it: every generation a run could see in
    # its final form must end up in S3 completely, even if retention deleted it later.
    seen_sizes: dict[int, set[int]] = {}
    start = w.now
    for minute in SCHEDULE:
        w.advance_to(start + minute * 60)
        for g in w.generations(where=lambda g: g.exists):
            seen_sizes.setdefault(g.truth_id, set()).add(g.size)
        res = ok_run(aws_world)
        assert res.summary["failures"] == 0 and res.summary["gap_bytes"] == 0, res.summary
        for k in totals:
            totals[k] += res.summary[k]

    def seen_final(g: GenerationRecord) -> bool:
        return g.exists or g.size in seen_sizes.get(g.truth_id, set())

    report = aws_world.verify(require=seen_final)
    ratio = totals["bytes_downloaded"] / totals["bytes_shipped"]
    print(totals, f"downloaded/shipped = {ratio:.2f}", report.summary())
    report.assert_ok()

    gens = w.generations()
    deleted_seen = [g for g in gens if not g.exists and seen_final(g)]
    assert deleted_seen, "retention or name reuse should have deleted shipped generations"
    assert report.bytes == totals["bytes_shipped"]
    assert report.objects == totals["objects_written"]
    # Every rotation pattern happened (so the proof above covers it).
    names = {n for g in gens for n in g.names}
    assert any(n.startswith("slowquery/mysql-slowquery.log.0") for n in names)
    assert sum(1 for g in gens if "slowquery/mysql-slowquery.log.0" in g.names) >= 4
    assert any(n == "log/ERROR.4" for n in names)
    assert sum(1 for g in gens if g.names[0].startswith("audit/")) > 40
    assert any(len(g.names) > 1 and g.names[0] == "error/mysql-error-running.log" for g in gens)
    assert totals["bytes_downloaded"] < 4 * totals["bytes_shipped"], totals
    # With a day of generations in the state, an idle run still downloads nothing.
    idle = ok_run(aws_world)
    assert idle.summary["portion_calls"] == idle.summary["complete_downloads"] == 0
    assert idle.summary["objects_written"] == 0
    assert idle.summary["rds_requests"] <= 1 + len(ENGINES)


def test_header_only_logs_renamed_by_rotation_are_not_shipped_again(aws_world: AwsWorld
                                                                    ) -> None:
    """A fresh MySQL instance's slow and general logs hold only the common header when the
    first run ships them; the hourly rotation renames them (grown) to ``.0``. The header must
    not be shipped a second time under a new generation."""
    w = aws_world.world
    w.add_instance("my", "mysql", bytes_per_hour=150_000)
    ok_run(aws_world)
    w.advance(90 * 60)
    ok_run(aws_world)
    aws_world.verify().assert_ok()


def test_reused_name_a_day_later_is_no_gap(aws_world: AwsWorld) -> None:
    """MySQL reuses ``….log.0`` every day. The day-old generation it replaces was shipped in
    full, so no gap may be reported for it, even when the new ``.0`` is larger."""
    w = aws_world.world
    my = w.add_instance("my", "mysql", bytes_per_hour=150_000)
    gaps: dict[int, int] = {}
    for minute, rate in ((30, None), (90, None), (24 * 60, 300_000), (24 * 60 + 90, None),
                         (24 * 60 + 100, None)):
        w.advance_to(DEFAULT_START + minute * 60)
        if rate:
            my.bytes_per_hour = rate  # the next day's hour 0 is busier
            continue
        gaps[minute] = ok_run(aws_world).summary["gap_bytes"]
    reused = [g for g in w.generations() if "slowquery/mysql-slowquery.log.0" in g.names]
    assert len(reused) == 2 and not reused[0].exists and reused[1].size > reused[0].size
    # The replaced generation is in S3 completely, so any reported gap is a false alarm.
    aws_world.verify(require=lambda g: g.exists or g in reused[:1]).assert_ok()
    assert set(gaps.values()) == {0}, gaps
