"""The long horizon users live in (issue 28): three simulated days of scheduled runs over every
engine, every rotation and name-reuse pattern the simulator has, retention at each engine's
documented default.

Our suites of hours never saw a name come back: RDS reuses MySQL's ``….log.N`` names a day
later, and main lost those files from the second day on with exit 0. Here the oracle proves
every byte exactly once at the end, every run must exit 0 with no gap, no suspected gap and no
file deferred twice, and an idle run after it all downloads nothing. Variants: a run every
hour, a run every 3 hours, hourly runs broken by a 6-hour outage, and hourly runs with a real
S3 server (SeaweedFS) instead of moto.

Each hour's volume swings (``load_swing``), so a reused name holds more or fewer bytes than
the day before, and DescribeDBLogFiles pages hold 20 records (the page size is an ambiguity:
``Faults.log_files_max_records``; 20 is the variant that broke main, the property suite draws
all three); the other ambiguities are drawn from the seed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from shipper.simulator.faults import Faults, draw_variants
from shipper.simulator.world import GenerationRecord, World
from tests.scenarios.helpers import HOUR, describe, request_log
from tests.support.seaweed import SeaweedS3
from tests.support.world import AwsWorld, fresh_aws

DAYS = 3
BYTES_PER_HOUR = 24_000
# Every engine, and every rotation the simulator has: PostgreSQL's hourly names (RDS and
# Aurora), MySQL's dated error log and reused slow/general .N, MariaDB's audit chain
# (server_audit.log.1 ..), Aurora MySQL's audit files rotating by size, SQL Server's ERROR
# chain cycled every 48 h with SQLAGENT.OUT and binary traces, Oracle's daily alert log and
# short trace files. Retention is each engine's default (not passed).
INSTANCES: dict[str, tuple[str, dict[str, Any]]] = {
    "pg": ("postgres", {}),
    "apg": ("aurora-postgresql", {}),
    "my": ("mysql", {}),
    "maria": ("mariadb", {"server_audit": True, "server_audit_rotate_bytes": 12_000}),
    "amy": ("aurora-mysql", {"audit_rotate_bytes": 30_000}),
    "ss": ("sqlserver-se", {"rotation_minutes": 2880, "trace_rotate_bytes": 40_000}),
    "ora": ("oracle-ee", {"traces_per_hour": 1.0, "trace_bytes": 2048}),
}


@dataclass
class Soak:
    """What the runs of a soak added up to."""

    runs: int = 0
    totals: Counter[str] = field(default_factory=Counter)
    seen_sizes: dict[int, set[int]] = field(default_factory=dict)

    def note_world(self, world: World) -> None:
        for g in world.generations(where=lambda g: g.exists):
            self.seen_sizes.setdefault(g.truth_id, set()).add(g.size)

    def seen_final(self, g: GenerationRecord) -> bool:
        """Listed by some run in its final form: it must be in S3 completely, even if
        retention or a reused name deleted it since."""
        return g.exists or g.size in self.seen_sizes.get(g.truth_id, set())


def soak_world(aws: AwsWorld, seed: int) -> None:
    variants = {**draw_variants(seed), "log_files_max_records": "20"}
    for name, variant in variants.items():
        setattr(aws.sim.faults, name, variant)
    for ident, (engine, options) in INSTANCES.items():
        aws.world.add_instance(ident, engine, bytes_per_hour=BYTES_PER_HOUR, load_swing=0.6,
                               **options)


def clean_run(aws: AwsWorld, soak: Soak) -> None:
    soak.note_world(aws.world)
    res = aws.run()
    s = res.summary
    where = f"run {soak.runs + 1} at +{(aws.world.now - start_of(aws)) / HOUR:.0f} h"
    assert res.code == 0, f"{where}: {describe(res)}"
    assert s["failures"] == 0 and s.get("files_stuck", 0) == 0, (where, s)
    assert s["gap_bytes"] == 0 and s["suspected_gaps"] == 0, (where, s)
    soak.runs += 1
    soak.totals.update({k: int(s[k]) for k in (
        "rds_requests", "portion_calls", "complete_downloads", "objects_written",
        "bytes_shipped")})
    soak.totals["files_deferred"] += int(s.get("files_deferred", 0))


def start_of(aws: AwsWorld) -> float:
    return float(aws.world.instance("pg").created_at)


def assert_every_pattern_happened(world: World) -> None:
    gens = world.generations()
    by_name = Counter(n for g in gens for n in set(g.names))
    reused = {n for n, count in by_name.items() if count > 1}
    assert any(n.startswith("slowquery/mysql-slowquery.log.") for n in reused)
    assert any(n.startswith("general/mysql-general.log.") for n in reused)
    assert any(n.startswith("error/mysql-error-running.log.20") for n in by_name)
    assert "audit/server_audit.log.9" in by_name  # the MariaDB chain ran full
    assert sum(1 for n in by_name if n.startswith("audit/audit.log.")) > 10
    assert "log/ERROR.1" in reused and "log/SQLAGENT.1" in by_name
    assert any(n.startswith("trace/alert_") and n[-3] == "-" for n in by_name)  # dated
    assert sum(1 for n in by_name if n.startswith("error/postgresql.log.")) >= 2 * DAYS * 24
    deleted = [g for g in gens if not g.exists]
    assert deleted, "retention or a reused name should have deleted shipped files"


def assert_idle(aws: AwsWorld) -> None:
    with request_log(aws) as rec:
        res = aws.run()
    s = res.summary
    assert res.code == 0, describe(res)
    assert rec.downloads() == [], [(i.instance, i.log_file) for i in rec.downloads()]
    assert s["objects_written"] == 0 and s.get("files_deferred", 0) == 0, s


def report(soak: Soak, aws: AwsWorld, label: str) -> None:
    gens = aws.world.generations()
    print(f"soak {label}: {DAYS * 24} simulated hours, {soak.runs} runs, {len(gens)} "
          f"generations, {dict(soak.totals)}")


def soak(aws: AwsWorld, label: str, every_hours: int, outage: tuple[int, int] | None) -> None:
    soak_world(aws, seed=28 + every_hours)
    totals = Soak()
    start = start_of(aws)
    for hour in range(every_hours, DAYS * 24 + 1, every_hours):
        aws.world.advance_to(start + hour * HOUR + 5 * 60)  # 5 past: after the rotations
        if outage and outage[0] <= hour < outage[1]:
            continue  # no run: the task could not start (capacity, a failed deploy)
        clean_run(aws, totals)
    report(totals, aws, label)
    aws.verify(require=totals.seen_final).assert_ok()
    assert_every_pattern_happened(aws.world)
    assert_idle(aws)


@pytest.mark.slow
@pytest.mark.parametrize(("label", "every_hours", "outage"), [
    pytest.param("hourly", 1, None, id="hourly"),
    pytest.param("every-3h", 3, None, id="every-3h"),
    pytest.param("6h-outage", 1, (40, 46), id="6h-outage"),
])
def test_three_days_of_scheduled_runs(aws_world: AwsWorld, label: str, every_hours: int,
                                      outage: tuple[int, int] | None) -> None:
    soak(aws_world, label, every_hours, outage)


@pytest.mark.slow
def test_three_days_of_hourly_runs_on_a_real_s3_server(seaweed_s3: SeaweedS3) -> None:
    """The same soak with SeaweedFS under it instead of moto: a real S3 server's conditional
    writes, encryption and listings carry the exactly-once protocol for three days."""
    with fresh_aws(seaweed_s3, faults=Faults()) as aws:
        soak(aws, "hourly on SeaweedFS", 1, None)
