"""The simulated worlds each benchmark ships from.

Every world starts at 00:30 UTC with ``bytes_per_hour=0``: nothing grows unless the benchmark
appends, and a small ``advance()`` never crosses an hourly rotation. Each instance holds files
named the way its engine names them: closed (rotated) files dated in the past hours and the
growing file(s) last written "now", so the shipper sees the same mix of closed and growing files
as on a real fleet (closed ones stream over REST, growing ones page with portions).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from shipper.simulator.world import DEFAULT_START, World

START = DEFAULT_START + 1800  # 2026-11-20T00:30:00Z: half an hour away from any rotation
HOUR = 3600
ENGINE_MIX = ("postgres", "aurora-postgresql", "mysql", "sqlserver-se", "oracle-ee")

# Engine options that keep each instance to the files we create (no extra traces, no general
# log, no engine writes).
_OPTIONS: dict[str, dict[str, object]] = {
    "postgres": {},
    "aurora-postgresql": {},
    "mysql": {"general_log": False},
    "sqlserver-se": {"trace_files": False},
    "oracle-ee": {"traces_per_hour": 0.0},
}
_SINGLE_FILE_OPTIONS: dict[str, dict[str, object]] = {
    **_OPTIONS,
    "mysql": {"general_log": False, "slow_log": False},
}


@dataclass
class Workload:
    """A world plus what the benchmark needs to know about it."""

    world: World
    label: str
    instances: int
    files: int
    nbytes: int
    growing: list[tuple[str, str]] = field(default_factory=list)  # (instance, file name)

    @property
    def mb(self) -> float:
        return self.nbytes / 1e6


def _fmt(ts: float, pattern: str) -> str:
    return time.strftime(pattern, time.gmtime(ts))


def engine_files(engine: str, count: int, now: float) -> list[tuple[str, float, bool]]:
    """``count`` (name, last_written, growing) for one instance, oldest first, realistic names.

    Closed files are dated in the hours before ``now``; the growing file(s) were last written
    ``now``. MySQL has two growing files (error log and slow query log); the others one.
    """
    hour0 = int(now // HOUR) * HOUR

    def closed_time(k: int) -> float:  # end of the k-th previous hour
        return hour0 - (k - 1) * HOUR - 1

    out: list[tuple[str, float, bool]] = []
    if engine in ("postgres", "aurora-postgresql"):
        pattern = "%Y-%m-%d-%H" if engine == "postgres" else "%Y-%m-%d-%H%M"
        for k in range(count - 1, 0, -1):
            out.append((f"error/postgresql.log.{_fmt(hour0 - k * HOUR, pattern)}",
                        closed_time(k), False))
        out.append((f"error/postgresql.log.{_fmt(hour0, pattern)}", now, True))
    elif engine == "mysql":
        growing = ["error/mysql-error-running.log", "slowquery/mysql-slowquery.log"][:count]
        closed = count - len(growing)
        for k in range(closed, 0, -1):
            label = hour0 - k * HOUR
            if k % 2:
                name = f"error/mysql-error-running.log.{_fmt(label, '%Y-%m-%d.%H')}"
            else:
                name = f"slowquery/mysql-slowquery.log.{int(_fmt(label, '%H'))}"
            out.append((name, closed_time(k), False))
        out.extend((name, now, True) for name in growing)
    elif engine == "sqlserver-se":
        for k in range(count - 1, 0, -1):
            out.append((f"log/ERROR.{k}", closed_time(k), False))
        out.append(("log/ERROR", now, True))
    elif engine == "oracle-ee":
        for k in range(count - 1, 0, -1):
            out.append((f"trace/ORCL_ora_{4000 + k}.trc", closed_time(k), False))
        out.append(("trace/alert_ORCL.log", now, True))
    else:
        raise ValueError(f"no file recipe for {engine}")
    return out


def fleet(instances: int, files: int, file_bytes: int, *, label: str, seed: int = 7,
          growing_bytes: int | None = None, single_file: bool = False,
          prefix: str = "db", account: str | None = None, region: str | None = None
          ) -> Workload:
    """``instances`` of mixed engines, each with ``files`` files of ``file_bytes`` (growing
    files get ``growing_bytes`` if given), in one account and region (World's defaults)."""
    where = {k: v for k, v in (("account_id", account), ("region", region)) if v}
    world = World(seed=seed, start=START, **where)
    work = Workload(world, label, instances, 0, 0)
    options = _SINGLE_FILE_OPTIONS if single_file else _OPTIONS
    for i in range(instances):
        engine = ENGINE_MIX[i % len(ENGINE_MIX)]
        ident = f"{prefix}-{i:04d}-{engine}"
        cluster = f"{ident}-cluster" if engine.startswith("aurora") else None
        inst = world.add_instance(ident, engine, bytes_per_hour=0, cluster=cluster,
                                  **options[engine])
        for name, last_written, grows in engine_files(engine, files, world.now):
            size = growing_bytes if grows and growing_bytes is not None else file_bytes
            inst.add_file(name, size, last_written=last_written)
            work.files += 1
            work.nbytes += size
            if grows:
                work.growing.append((ident, name))
    work.nbytes = total_bytes(world)
    work.files = sum(len(i.files()) for i in world.instances())
    return work


def total_bytes(world: World) -> int:
    return sum(rec.size for inst in world.instances() for rec in inst.files().values())


def throughput(instances: int, files: int, file_bytes: int) -> Workload:
    return fleet(instances, files, file_bytes,
                 label=f"{instances} instances x {files} files x {file_bytes / 1e6:g} MB")


def grow(work: Workload, fraction: float) -> int:
    """Append ``fraction`` of the shipped bytes to the growing files, one minute later.
    Returns the number of bytes appended."""
    world = work.world
    world.advance(60)
    per_file = max(1, int(work.nbytes * fraction / max(len(work.growing), 1)))
    appended = 0
    for ident, name in work.growing:
        world.instance(ident).append_generated(name, per_file)
        appended += per_file
    work.nbytes += appended
    return appended


def idle_fleet(instances: int) -> Workload:
    """Tiny files: one closed 2 kB file and one growing 1 kB file per instance."""
    return fleet(instances, 2, 2_000, growing_bytes=1_000, label=f"{instances} instances",
                 seed=11, prefix="idle")


def scaleout_fleet(instances: int, file_bytes: int) -> Workload:
    """One small growing file per instance (the cheapest instance to ship: two RDS calls)."""
    return fleet(instances, 1, file_bytes, label=f"{instances} instances x 1 file",
                 seed=13, single_file=True, prefix="so")


def backfill_fleet(instances: int, file_bytes: int) -> Workload:
    """A backfill that outlasts the account's burst: one small file per instance, so nearly
    every request is a listing or a download (RDS-bound, little S3)."""
    return fleet(instances, 1, file_bytes, label=f"{instances} instances x 1 file x "
                 f"{file_bytes / 1e3:g} kB", seed=23, single_file=True, prefix="bf")


def pair_fleet(instances: int, files: int, file_bytes: int, account: str,
               region: str) -> Workload:
    """One (account, region) of a multi-account, multi-region task."""
    return fleet(instances, files, file_bytes, label=f"{instances} instances x {files} files "
                 f"x {file_bytes / 1e3:g} kB", seed=29, prefix=f"p{account[-2:]}-{region}",
                 account=account, region=region)


def one_big_file(nbytes: int) -> Workload:
    """One PostgreSQL instance with one closed file of ``nbytes`` (lazy content)."""
    world = World(seed=17, start=START)
    inst = world.add_instance("big-0000-postgres", "postgres", bytes_per_hour=0)
    hour0 = int(world.now // HOUR) * HOUR
    inst.add_file(f"error/postgresql.log.{_fmt(hour0 - HOUR, '%Y-%m-%d-%H')}", nbytes,
                  last_written=hour0 - 1)
    return Workload(world, f"1 file x {nbytes / 2**30:g} GiB", 1, 1, total_bytes(world))


def many_files(instances: int, per_instance: int, nbytes: int) -> Workload:
    """Closed PostgreSQL files only (all stream over REST at once)."""
    world = World(seed=19, start=START)
    hour0 = int(world.now // HOUR) * HOUR
    for i in range(instances):
        inst = world.add_instance(f"many-{i:04d}-postgres", "postgres", bytes_per_hour=0)
        for k in range(per_instance, 0, -1):
            inst.add_file(f"error/postgresql.log.{_fmt(hour0 - k * HOUR, '%Y-%m-%d-%H')}",
                          nbytes, last_written=hour0 - (k - 1) * HOUR - 1)
    return Workload(world, f"{instances * per_instance} files x {nbytes / 1e6:g} MB",
                    instances, instances * per_instance, total_bytes(world))
