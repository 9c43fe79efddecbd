"""The measurements of issues 4 and 12. Each returns a ``Phase`` for the report; none asserts.
Contention (neighbour, several accounts and regions) is in ``bench.contention``, the fleet cost
in ``bench.cost``."""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench import workloads
from bench.harness import SHIPPER_DEFAULT, SHIPPER_FIXED, SHIPPER_FULL, Lab, Run
from bench.measure import Phase, fmt, fmt_range, interleave, median
from shipper.simulator.oracle import verify

PREFIX = "rds-logs/"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Profile:
    """Workload sizes and repetitions; ``quick`` shrinks every one of them."""

    name: str
    reps: int
    tp_instances: int
    tp_files: int
    tp_file_bytes: int
    incr_fraction: float
    incr_reps: int
    idle_sizes: tuple[int, ...]
    idle_reps: int
    mem_big_bytes: int
    mem_many: tuple[int, int, int]  # instances, files per instance, bytes per file
    mem_many_concurrency: int
    so_instances: int
    so_file_bytes: int
    so_processes: tuple[int, ...]
    so_reps: int
    floor_workers: tuple[int, ...] = (8,)
    reps_fast: int = 1
    idle_large_reps: int = 1
    nb_instances: int = 30  # neighbour: a backfill of this many one-file instances
    nb_file_bytes: int = 20_000
    nb_reps: int = 1
    pair_instances: int = 10  # accounts and regions: per (account, region)
    pair_files: int = 4
    pair_file_bytes: int = 10_000
    pair_reps: int = 1
    api_instances: int = 4  # the API-bound backfill (bench.api_bound): many small files
    api_files: int = 6
    api_file_bytes: int = 20_000
    api_reps: int = 1
    steady_instances: int = 5  # the steady 15-minute schedule (bench.api_bound.steady)
    steady_runs: int = 2


FULL = Profile("full", reps=3, tp_instances=20, tp_files=6, tp_file_bytes=3_000_000,
               incr_fraction=0.01, incr_reps=3, idle_sizes=(10, 100, 1000), idle_reps=3,
               mem_big_bytes=1 << 30, mem_many=(10, 10, 10_000_000), mem_many_concurrency=64,
               so_instances=200, so_file_bytes=20_000, so_processes=(1, 2, 4), so_reps=2,
               floor_workers=(4, 8, 16, 32), reps_fast=5, idle_large_reps=2,
               nb_instances=250, nb_reps=2, pair_instances=20, pair_files=30,
               pair_file_bytes=50_000, pair_reps=3,
               api_instances=20, api_files=30, api_file_bytes=50_000, api_reps=3,
               steady_instances=20, steady_runs=8)
QUICK = Profile("quick", reps=1, tp_instances=5, tp_files=3, tp_file_bytes=1_000_000,
                incr_fraction=0.01, incr_reps=1, idle_sizes=(5, 20), idle_reps=1,
                mem_big_bytes=64 * MIB, mem_many=(2, 5, 2_000_000), mem_many_concurrency=64,
                so_instances=20, so_file_bytes=5_000, so_processes=(1, 2), so_reps=1)


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def oracle(lab: Lab, world: Any, bucket: str) -> tuple[bool, str]:
    report = verify(lab.s3.client(), bucket, PREFIX, world)
    return report.ok, report.summary().splitlines()[0]


# --- 1. throughput ------------------------------------------------------------------------


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    command: list[str]
    settings: dict[str, str] = field(default_factory=dict)
    fast: bool = False  # cheap enough to repeat more often (profile.reps_fast)

    @property
    def is_shipper(self) -> bool:
        return self.command[0] == "bench.shipper_run"


CONTENDERS = (
    Contender("shipper-default", "shipper, defaults (adaptive rate from the documented budget: "
              "burst 300, 12/s; concurrency 8)", ["bench.shipper_run", "run"], SHIPPER_DEFAULT,
              fast=True),
    Contender("shipper-full", "shipper, ceilings at the full account budget (SHIPPER_RATE=12, "
              "SHIPPER_BURST=300, concurrency 8)", ["bench.shipper_run", "run"], SHIPPER_FULL,
              fast=True),
    Contender("floor", "floor: stateless parallel REST + gzip + put (12/s, burst 300)",
              ["bench.contenders", "floor"], fast=True),
    Contender("baseline", "baseline: public samples (serial, portions from marker \"0\", "
              "whole file, put)", ["bench.contenders", "baseline"]),
)


def _shipped_bytes(contender: Contender, run: Run) -> int:
    summary = run.summary()
    key = "bytes_shipped" if contender.is_shipper else "bytes"
    return int(summary.get(key, -1))


def _floor(workers: int) -> Contender:
    return Contender("floor", f"floor: stateless parallel REST + gzip + put ({workers} workers, "
                     "12/s, burst 300)", ["bench.contenders", "floor", "--workers", str(workers)],
                     fast=True)


def _measured_run(lab: Lab, work: workloads.Workload, command: list[str],
                  settings: dict[str, str]) -> Run:
    """A clean start: empty bucket, a fresh simulator (no sessions left by another
    contender), the account's burst available."""
    bucket = lab.new_bucket()
    lab.fresh_server(work.world)
    lab.fill_account_bucket()
    run = lab.run(work.world, bucket, [command], {"SHIPPER_LOG_LEVEL": "INFO", **settings})
    run.bucket = bucket
    return run


def calibrate_floor(lab: Lab, work: workloads.Workload, profile: Profile,
                    phase: Phase) -> Contender:
    """The floor is the fastest we can make it: try a few worker counts, keep the best."""
    if len(profile.floor_workers) == 1:
        return _floor(profile.floor_workers[0])
    walls: dict[int, list[float]] = {w: [] for w in profile.floor_workers}
    for _rep, workers in interleave(2, profile.floor_workers):
        run = _measured_run(lab, work, _floor(workers).command, {})
        if run.ok:
            walls[workers].append(run.wall)
    best = min(walls, key=lambda w: median(walls[w]) if walls[w] else float("inf"))
    phase.notes.append("Floor calibration (2 interleaved runs each, median wall s): " + ", ".join(
        f"{w} workers {fmt(median(v))}" for w, v in walls.items()) + f"; the floor uses {best}.")
    say(f"floor calibration: {', '.join(f'{w}: {median(v):.2f}s' for w, v in walls.items())}")
    return _floor(best)


def _schedule(profile: Profile, contenders: list[Contender]) -> list[tuple[int, Contender]]:
    """Rounds of every contender still due (slow ones ``reps`` times, fast ones
    ``reps_fast``), alternating direction each round."""
    order: list[tuple[int, Contender]] = []
    for rnd in range(max(profile.reps, profile.reps_fast)):
        due = [c for c in contenders if rnd < (profile.reps_fast if c.fast else profile.reps)]
        order.extend((rnd, c) for c in (due if rnd % 2 == 0 else reversed(due)))
    return order


def throughput(lab: Lab, profile: Profile) -> Phase:
    phase = Phase("throughput", "1. Throughput")
    work = workloads.throughput(profile.tp_instances, profile.tp_files, profile.tp_file_bytes)
    phase.data["workload"] = work.label
    mb = work.mb
    floor = calibrate_floor(lab, work, profile, phase)
    contenders = [floor if c.key == "floor" else c for c in CONTENDERS]
    phase.data["floor"] = floor.label
    rows: dict[str, list[dict[str, Any]]] = {c.key: [] for c in contenders}
    verified: list[str] = []
    for rnd, contender in _schedule(profile, contenders):
        run = _measured_run(lab, work, contender.command, contender.settings)
        shipped = _shipped_bytes(contender, run)
        problem = None
        if not run.ok:
            problem = run.describe_failure()
        elif shipped != work.nbytes:
            problem = f"shipped {shipped} of {work.nbytes} bytes"
        if problem is None and contender.key == "shipper-full" and not verified:
            ok, line = oracle(lab, work.world, run.bucket)
            verified.append(line)
            if not ok:
                problem = f"oracle: {line}"
        summary = run.summary()
        rows[contender.key].append({
            "round": rnd, "wall": run.wall, "mbps": mb / run.wall, "rds": run.rds_requests,
            "rds_by_action": run.rds["requests"], "throttles": run.throttles,
            "puts": run.s3_puts, "s3": run.s3_requests, "s3_methods": run.s3["methods"],
            "s3_busy": run.s3_busy, "cpu_client": run.cpu_contender,
            "cpu_servers": run.cpu_servers, "cpu_foreign": run.cpu_foreign,
            "rss_kib": run.vmhwm_kib(), "problem": problem,
            "bytes_served": run.rds["bytes_served"],
            "rate_wait": summary.get("rate_wait_seconds"),
            "rate_limits": summary.get("rate_limits"),
            "s3_bytes_in": run.s3["bytes_in"],
        })
        say(f"throughput round {rnd + 1} {contender.key}: {run.wall:.2f}s "
            f"{mb / run.wall:.1f} MB/s, {run.rds_requests} RDS requests, "
            f"{run.throttles} throttled, other load {run.cpu_foreign:.1f} CPU-s"
            f"{'; PROBLEM ' + problem if problem else ''}")
    phase.data["rows"] = rows
    phase.data["mb"] = mb

    def med(key: str, field_: str) -> float:
        return median([r[field_] for r in rows[key] if r[field_] is not None])

    def paired(num: str, den: str) -> list[float]:
        """Ratios of runs from the same round (neighbours in time), over shared rounds in which
        both runs succeeded (a run that crashed early has a short wall time, not a fast one)."""
        by_round = {r["round"]: r for r in rows[den] if r["problem"] is None}
        return [a["wall"] / by_round[a["round"]]["wall"] for a in rows[num]
                if a["round"] in by_round and a["problem"] is None]

    table = []
    for c in contenders:
        rs = rows[c.key]
        actions = rs[0]["rds_by_action"]
        busy = [r["s3_busy"] for r in rs if r["s3_busy"] is not None]
        table.append([
            c.label, str(len(rs)), fmt_range([r["wall"] for r in rs]), fmt(med(c.key, "mbps"), 1),
            fmt(med(c.key, "rds") / mb, 3),
            ", ".join(f"{k} {v}" for k, v in sorted(actions.items()) if v),
            fmt(med(c.key, "throttles"), 0), fmt(med(c.key, "puts") / mb, 3),
            ", ".join(f"{k} {v}" for k, v in sorted(rs[0]["s3_methods"].items()) if v),
            fmt(median(busy), 2) if busy else "n/a",
            fmt(med(c.key, "cpu_client"), 1), fmt(med(c.key, "cpu_servers"), 1),
            fmt(med(c.key, "cpu_foreign"), 1),
            fmt(median([r["rss_kib"] or 0 for r in rs]) / 1024, 0),
            "; ".join(sorted({r["problem"] for r in rs if r["problem"]})) or "ok",
        ])
    phase.table(
        f"Workload: {work.label} = {mb:.0f} MB in {work.files} files ({len(work.growing)} of them "
        f"growing: the newest of their family), mixed engines "
        f"({', '.join(workloads.ENGINE_MIX)}). Interleaved rounds; medians (min-max). "
        "RDS requests include throttled ones; 'LocalS3 busy' is the time the (one request at a "
        "time) S3 spent serving the run; 'other load' is CPU used by unrelated processes on "
        "the machine during the run (noise).",
        ["contender", "runs", "wall s", "MB/s", "RDS req/MB", "RDS requests (first run)",
         "throttled", "S3 PUT/MB", "S3 requests (first run)", "LocalS3 busy s",
         "contender CPU s", "simulator+S3 CPU s", "other load CPU s", "peak RSS MiB", "check"],
        table,
    )
    if verified:
        phase.notes.append(f"Oracle check of the first full-budget shipper run: {verified[0]}")

    vs_floor = paired("shipper-full", "floor")
    vs_floor_default = paired("shipper-default", "floor")
    base_vs_full = paired("baseline", "shipper-full")
    base_vs_default = paired("baseline", "shipper-default")
    phase.data["ratios"] = {"full/floor": vs_floor, "default/floor": vs_floor_default,
                            "baseline/full": base_vs_full, "baseline/default": base_vs_default}
    phase.figure("shipper (full budget) MB/s", fmt_range([r["mbps"] for r in
                                                          rows["shipper-full"]], 1))
    phase.figure("shipper (defaults) MB/s", fmt_range([r["mbps"] for r in
                                                       rows["shipper-default"]], 1))
    phase.figure("floor MB/s", fmt_range([r["mbps"] for r in rows["floor"]], 1))
    phase.figure("baseline MB/s", fmt_range([r["mbps"] for r in rows["baseline"]], 1))
    phase.figure("wall time shipper (full budget) / floor, paired by round",
                 fmt_range(vs_floor, 2, "x"), "≤ 1.15x", median(vs_floor) <= 1.15)
    phase.figure("wall time shipper (defaults) / floor, paired by round",
                 fmt_range(vs_floor_default, 2, "x"), "≤ 1.3x",
                 median(vs_floor_default) <= 1.3)
    phase.figure("baseline / shipper (full budget) wall time: speed-up",
                 fmt_range(base_vs_full, 2, "x"), "≥ 5x", median(base_vs_full) >= 5)
    phase.figure("baseline / shipper (defaults) wall time: speed-up",
                 fmt_range(base_vs_default, 2, "x"), "≥ 5x", median(base_vs_default) >= 5)
    for key, label in (("shipper-full", "shipper (full budget)"),
                       ("shipper-default", "shipper (defaults)"),
                       ("floor", "floor"), ("baseline", "baseline")):
        phase.figure(f"{label}: RDS requests/MB, S3 PUTs/MB, throttled",
                     f"{fmt(med(key, 'rds') / mb, 3)}, {fmt(med(key, 'puts') / mb, 3)}, "
                     f"{fmt(med(key, 'throttles'), 0)}")
    _profile_shipper(lab, work, phase)
    _diagnose_throughput(phase, rows, mb)
    _diagnose_active(phase, work, rows["shipper-full"][0]["rds_by_action"])
    return phase


def _diagnose_active(phase: Phase, work: workloads.Workload, actions: dict[str, int]) -> None:
    """Which files the shipper itself considers growing (its own ``active_names``), compared
    with the files that really grow in this workload."""
    try:
        from shipper.listing import LogFile
        from shipper.names import active_names
    except ImportError:
        return
    growing = set(work.growing)
    treated: list[tuple[str, str]] = []
    for inst in work.world.instances():
        listing = [LogFile(name, rec.size, int(rec.last_written * 1000))
                   for name, rec in inst.files().items()]
        treated.extend((inst.identifier, name) for name in active_names(listing)
                       if any(f.name == name and f.size for f in listing))
    extra = [t for t in treated if t not in growing]
    by_engine: dict[str, int] = {}
    for ident, _name in extra:
        engine = work.world.instance(ident).engine
        by_engine[engine] = by_engine.get(engine, 0) + 1
    portions = actions.get("DownloadDBLogFilePortion", 0)
    phase.notes.append(
        f"{portions} DownloadDBLogFilePortion calls in a fresh full run: one per file the "
        f"shipper treats as growing (after streaming such a file over REST it asks for a tail "
        f"marker; a file of one page is read with that one call): the newest file of its name "
        f"family ("
        f"`shipper.names.active_names`), i.e. {len(treated)} files, of which "
        f"{len(growing)} really grow here"
        + (f" and {len(extra)} are closed files that are each alone in their family ("
           + ", ".join(f"{n} on {e}" for e, n in sorted(by_engine.items()))
           + f", e.g. `{extra[0][1]}`)" if extra else "")
        + ". A tail-marker call costs a request and a read of up to 1 MB at the end of the file "
        "on the RDS side.")


def _profile_shipper(lab: Lab, work: workloads.Workload, phase: Phase) -> None:
    """One extra, untimed run of the full-budget shipper with per-operation timers."""
    run = _measured_run(lab, work, ["bench.profiled_run", "run"], SHIPPER_FULL)
    profile: dict[str, list[float]] = {}
    for line in run.json_lines():
        if "bench_profile" in line:
            profile = line["bench_profile"]
    if not profile:
        phase.notes.append(f"Per-operation profile unavailable ({run.describe_failure()}).")
        return
    rows = sorted(profile.items(), key=lambda kv: -kv[1][1])
    phase.table(
        f"Where the full-budget shipper's threads wait (one extra run with per-operation timers, "
        f"`python -m bench.profiled_run`; wall {run.wall:.2f} s). Thread-seconds are summed over "
        "the worker threads; outer operations include inner ones (a file job includes its "
        "stream, which includes its data PUTs).",
        ["operation", "calls", "thread-seconds", "mean ms"],
        [[name, str(int(calls)), fmt(secs, 2), fmt(secs / calls * 1000 if calls else 0, 1)]
         for name, (calls, secs) in rows])
    phase.data["profile"] = profile


def _diagnose_throughput(phase: Phase, rows: dict[str, list[dict[str, Any]]], mb: float) -> None:
    """Notes computed from the measurements (the report states numbers, not hopes)."""

    def med(key: str, field_: str) -> float:
        return median([r[field_] for r in rows[key] if r[field_] is not None])

    default_wall = med("shipper-default", "wall")
    default_rds = med("shipper-default", "rds")
    limits = [lim for r in rows["shipper-default"] for lim in (r["rate_limits"] or [])]
    phase.notes.append(
        f"Shipper (defaults): {fmt(default_rds, 0)} RDS requests in {fmt(default_wall, 1)} s = "
        f"{fmt(default_rds / default_wall, 1)} requests/s, all inside the account's documented "
        f"burst of 300, which the adaptive rate starts with (the former default, 5/s after a "
        f"burst of 10, needed ≥ {fmt(max(0.0, (default_rds - 10) / 5), 1)} s for them). "
        f"Throttles per run: {', '.join(str(lim['throttles']) for lim in limits) or 'n/a'}; "
        f"rate at the end: {', '.join(str(lim['rate']) for lim in limits) or 'n/a'}/s.")
    full_actions = rows["shipper-full"][0]["rds_by_action"]
    floor_actions = rows["floor"][0]["rds_by_action"]
    extra = {k: full_actions.get(k, 0) - floor_actions.get(k, 0)
             for k in set(full_actions) | set(floor_actions)}
    extra = {k: v for k, v in extra.items() if v}
    phase.notes.append(
        "Full-budget shipper vs floor, RDS requests: " + (", ".join(
            f"{'+' if v > 0 else ''}{v} {k}" for k, v in sorted(extra.items())) or "the same")
        + f" ({fmt(med('shipper-full', 'rds'), 0)} vs {fmt(med('floor', 'rds'), 0)}); S3 "
        f"requests: {fmt(med('shipper-full', 's3'), 0)} vs {fmt(med('floor', 's3'), 0)} "
        f"({fmt(med('shipper-full', 'puts'), 0)} vs {fmt(med('floor', 'puts'), 0)} PUTs: the "
        "extra ones are lease takes, intent commits and final commits: shipper.ledger; GETs "
        "are state reads, and lease reads where a take on the recorded ETag failed). The extra "
        "DescribeDBLogFiles are the name checks before the first object of a new generation "
        "under a running log's or a chain slot's name (shipper.identity).")
    busy_full, busy_floor = med("shipper-full", "s3_busy"), med("floor", "s3_busy")
    if busy_full == busy_full:
        phase.notes.append(
            f"LocalS3 serves one request at a time: it was busy {fmt(busy_full, 2)} s during a "
            f"full-budget shipper run ({fmt(100 * busy_full / med('shipper-full', 'wall'), 0)}% "
            f"of its wall time) and {fmt(busy_floor, 2)} s during a floor run; on real S3 the "
            "small state and lease requests would run in parallel, so this lab over-charges "
            "the shipper's per-instance S3 round trips.")
    cpu_full = med("shipper-full", "cpu_client") + med("shipper-full", "cpu_servers")
    cpu_floor = med("floor", "cpu_client") + med("floor", "cpu_servers")
    phase.notes.append(
        f"CPU per run (contender + simulator + LocalS3): shipper {fmt(cpu_full, 1)} s, floor "
        f"{fmt(cpu_floor, 1)} s, on {os.cpu_count()} cores; wall "
        f"{fmt(med('shipper-full', 'wall'), 2)} s vs {fmt(med('floor', 'wall'), 2)} s.")


# --- 2. incremental -----------------------------------------------------------------------


def incremental(lab: Lab, profile: Profile) -> Phase:
    phase = Phase("incremental", "2. Incremental")
    work = workloads.throughput(profile.tp_instances, profile.tp_files, profile.tp_file_bytes)
    bucket = lab.new_bucket()
    say(f"incremental: shipping {work.label} once (setup, unthrottled)")
    lab.setup_ship(work.world, bucket)
    rows = []
    for rep in range(profile.incr_reps):
        appended = workloads.grow(work, profile.incr_fraction)
        lab.fill_account_bucket()
        run = lab.shipper(work.world, bucket, SHIPPER_DEFAULT)
        s = run.summary()
        served = int(run.rds["bytes_served"])
        rows.append({"rep": rep, "appended": appended, "served": served,
                     "ratio": served / appended, "shipped": s.get("bytes_shipped"),
                     "wall": run.wall, "rds": run.rds_requests, "by_action": run.rds["requests"],
                     "puts": run.s3_puts, "s3": run.s3["methods"], "ok": run.ok,
                     "instances": work.instances})
        say(f"incremental rep {rep + 1}: appended {appended} B, RDS served {served} B "
            f"({served / appended:.3f}x), {run.wall:.2f}s")
    ok, line = oracle(lab, work.world, bucket)
    ratios = [r["ratio"] for r in rows]
    phase.table(
        f"{work.label}, shipped once; then {profile.incr_reps}x append "
        f"{profile.incr_fraction:.0%} of the shipped bytes across the {len(work.growing)} growing "
        "files (`append_generated`, clock +60 s) and run the shipper (defaults). Bytes "
        "re-downloaded = log bytes the simulator served (portions + REST).",
        ["rep", "appended B", "re-downloaded B", "ratio", "shipped B", "wall s",
         "RDS requests", "S3 PUTs", "exit ok"],
        [[str(r["rep"] + 1), str(r["appended"]), str(r["served"]), fmt(r["ratio"], 3),
          str(r["shipped"]), fmt(r["wall"]),
          f"{r['rds']} ({', '.join(f'{k} {v}' for k, v in sorted(r['by_action'].items()))})",
          str(r["puts"]), str(r["ok"])] for r in rows],
    )
    phase.notes.append(f"Oracle check of the archive after the incremental runs: {line}")
    phase.figure("re-downloaded / appended", fmt_range(ratios, 3, "x"), "≤ 1.05x",
                 median(ratios) <= 1.05 and ok)
    phase.figure("incremental run wall time (defaults)", fmt_range([r["wall"] for r in rows],
                                                                    2, " s"))
    phase.data["rows"] = rows
    return phase


# --- 3. idle --------------------------------------------------------------------------------


def _idle_schedule(profile: Profile, fleets: list[Any]) -> list[tuple[int, Any]]:
    """Interleaved rounds; the largest fleets (rate-bound, about a minute each) get
    ``idle_large_reps`` rounds, the others ``idle_reps``."""
    order: list[tuple[int, Any]] = []
    for rnd in range(max(profile.idle_reps, profile.idle_large_reps)):
        due = [f for f in fleets if rnd < (profile.idle_large_reps if f[0] >= 1000
                                           else profile.idle_reps)]
        order.extend((rnd, f) for f in (due if rnd % 2 == 0 else reversed(due)))
    return order


def idle(lab: Lab, profile: Profile) -> Phase:
    phase = Phase("idle", "3. Idle run cost")
    lab.s3.reset()
    fleets = []
    for n in profile.idle_sizes:
        work = workloads.idle_fleet(n)
        bucket = lab.new_bucket(reset=False)
        say(f"idle: shipping {n} instances once (setup, unthrottled)")
        lab.setup_ship(work.world, bucket)
        fleets.append((n, work, bucket))
    rows: dict[int, list[dict[str, Any]]] = {n: [] for n in profile.idle_sizes}
    for rnd, (n, work, bucket) in _idle_schedule(profile, fleets):
        lab.fill_account_bucket()
        run = lab.shipper(work.world, bucket, SHIPPER_FULL)
        s = run.summary()
        by = run.rds["requests"]
        rows[n].append({
            "round": rnd, "wall": run.wall, "rds": run.rds_requests,
            "accepted": run.rds_requests - run.throttles, "by_action": by,
            "downloads": by.get("DownloadDBLogFilePortion", 0)
            + by.get("DownloadCompleteLogFile", 0),
            "listings": by.get("DescribeDBLogFiles", 0),
            "pages": by.get("DescribeDBInstances", 0), "throttles": run.throttles,
            "s3": run.s3["methods"], "objects": s.get("objects_written"), "ok": run.ok,
            "cpu_foreign": run.cpu_foreign,
        })
        say(f"idle round {rnd + 1} n={n}: {run.wall:.2f}s, {run.rds_requests} RDS requests, "
            f"{run.throttles} throttled")
    table = []
    per_instance = {}
    for n in profile.idle_sizes:
        rs = rows[n]
        allowed = n + math.ceil(n / 100)
        accepted = median([r["accepted"] for r in rs])
        downloads = max(r["downloads"] for r in rs)
        wall = median([r["wall"] for r in rs])
        objects = max(int(r["objects"] or 0) for r in rs)
        met = downloads == 0 and objects == 0 and all(r["ok"] for r in rs) \
            and max(r["accepted"] for r in rs) <= allowed
        per_instance[n] = {"rds": accepted / n, "wall": wall / n}
        s3 = rs[0]["s3"]
        table.append([
            str(n), str(len(rs)), fmt(accepted, 0), fmt(accepted / n, 3), str(allowed),
            str(int(median([r["listings"] for r in rs]))),
            str(int(median([r["pages"] for r in rs]))), str(downloads), str(objects),
            fmt(median([r["throttles"] for r in rs]), 0),
            fmt_range([r["wall"] for r in rs], 2), fmt(wall / n * 1000, 1),
            fmt(max(0.0, (accepted - 10) / 5), 1),
            ", ".join(f"{k} {v}" for k, v in sorted(s3.items()) if v)
            + f" ({sum(s3.values()) / n:.1f}/instance)",
            "met" if met else "**not met**",
        ])
        phase.figure(f"idle, {n} instances: accepted RDS requests (per instance), downloads",
                     f"{fmt(accepted, 0)} ({fmt(accepted / n, 3)}), {downloads}",
                     f"0 downloads, ≤ {allowed} requests", met)
        phase.figure(f"idle, {n} instances: wall time (per instance)",
                     f"{fmt(wall, 2)} s ({fmt(wall / n * 1000, 1)} ms)", "linear in instances",
                     None)
    phase.table(
        "Nothing changed since the last run. Each instance has one closed 2 kB file and one "
        "growing 1 kB file (mixed engines), shipped once before (unmeasured). Shipper with the "
        "full account budget (rate 12/s, burst 300), account burst available; the former default "
        "5/s would need at least (requests - 10) / 5 s ('at 5/s'). Allowed = one listing page "
        "per instance + one DescribeDBInstances page per 100. Accepted = RDS requests minus "
        "throttled ones (a throttled request is retried, not an extra page). Interleaved "
        "rounds; medians.",
        ["instances", "runs", "accepted RDS requests", "per instance", "allowed",
         "DescribeDBLogFiles", "DescribeDBInstances", "downloads", "objects written",
         "throttled", "wall s", "wall ms/instance", "s at 5/s", "S3 requests (first run)",
         "target"],
        table,
    )
    sizes = sorted(per_instance)
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        phase.notes.append(
            f"RDS requests per instance: {fmt(per_instance[lo]['rds'], 3)} at {lo} instances, "
            f"{fmt(per_instance[hi]['rds'], 3)} at {hi}, i.e. linear: one DescribeDBLogFiles "
            "page per instance plus one DescribeDBInstances page per 100, no downloads. The "
            "wall time per instance is not linear, and that is the account limit, not the "
            "shipper: up to 300 requests ride the burst (about "
            f"{fmt(per_instance[sizes[min(1, len(sizes) - 1)]]['wall'] * 1000, 0)} ms per "
            f"instance at {sizes[min(1, len(sizes) - 1)]}), beyond it the sustained 12/s sets "
            f"the pace: {hi} instances need at least "
            f"({hi + math.ceil(hi / 100)} - 300) / 12 = "
            f"{fmt(max(0.0, (hi + math.ceil(hi / 100) - 300) / 12), 0)} s.")
        phase.notes.append(
            "S3 per idle instance: the state GET, nothing written (no lease is taken when "
            "nothing changed: shipper.idle).")
    phase.data["rows"] = {str(k): v for k, v in rows.items()}
    for _n, work, _bucket in fleets:
        lab.drop(work.world)
    return phase


# --- 4. memory --------------------------------------------------------------------------------


def memory(lab: Lab, profile: Profile) -> Phase:
    phase = Phase("memory", "4. Memory")
    rows = []
    big = workloads.one_big_file(profile.mem_big_bytes)
    inst, files, nbytes = profile.mem_many
    many = workloads.many_files(inst, files, nbytes)
    cases = [
        (big, "one file", {**SHIPPER_FULL}, "< 128 MiB"),
        (many, f"concurrency {profile.mem_many_concurrency} (the maximum)",
         {**SHIPPER_FULL, "SHIPPER_CONCURRENCY": str(profile.mem_many_concurrency)}, ""),
        (many, "concurrency 8 (default)", {**SHIPPER_FULL}, ""),
    ]
    for work, how, settings, target in cases:
        bucket = lab.new_bucket()
        lab.fill_account_bucket()
        run = lab.shipper(work.world, bucket, settings)
        s = run.summary()
        rss = run.vmhwm_kib()
        mib = (rss or 0) / 1024
        ok = run.ok and int(s.get("bytes_shipped", -1)) == work.nbytes
        rows.append([work.label, how, fmt(mib, 1), fmt(run.wall, 1),
                     fmt(work.mb / run.wall, 1), str(s.get("objects_written")),
                     str(s.get("complete_downloads")), "ok" if ok else "**failed**"])
        say(f"memory {work.label} {how}: VmHWM {mib:.1f} MiB, {run.wall:.1f}s")
        met = (mib < 128 and ok) if target else None
        phase.figure(f"peak RSS, {work.label}, {how}", f"{fmt(mib, 1)} MiB", target, met)
    phase.table(
        "VmHWM of the shipper process (read from /proc/self/status just before exit by "
        "`python -m bench.shipper_run`), one run each, full-budget rate settings, object size "
        "SHIPPER_OBJECT_MIB=16 (default).",
        ["workload", "settings", "peak RSS MiB", "wall s", "MB/s", "objects", "REST downloads",
         "check"], rows)
    lab.drop(big.world)
    lab.drop(many.world)
    return phase


# --- 5. scale-out ---------------------------------------------------------------------------


def scaleout(lab: Lab, profile: Profile) -> Phase:
    phase = Phase("scaleout", "5. Scale-out")
    work = workloads.scaleout_fleet(profile.so_instances, profile.so_file_bytes)
    pages = math.ceil(profile.so_instances / 100)
    rows: dict[int, list[dict[str, Any]]] = {n: [] for n in profile.so_processes}
    checked: list[str] = []
    for rep, n in interleave(profile.so_reps, profile.so_processes):
        bucket = lab.new_bucket()
        lab.fresh_server(work.world)
        lab.empty_account_bucket()
        run = lab.shipper(work.world, bucket, SHIPPER_FIXED, processes=n)
        summaries = [run.summary(i) for i in range(n)]
        worked = [int(s.get("instances", 0)) - int(s.get("instances_leased_elsewhere", 0))
                  - int(s.get("instances_skipped", 0)) for s in summaries]
        total = run.rds_requests
        if rep == 0:
            _ok, line = oracle(lab, work.world, bucket)
            checked.append(f"{n} process(es): {line}")
        rows[n].append({
            "rep": rep, "wall": run.wall, "worked": worked,
            "elsewhere": [int(s.get("instances_leased_elsewhere", 0)) for s in summaries],
            "files": [int(s.get("files_shipped", 0)) for s in summaries],
            "proc_rds": [int(s.get("rds_requests", 0)) for s in summaries],
            "rds": total, "throttles": run.throttles, "accepted": total - run.throttles,
            "ok_rps": (total - run.throttles) / run.wall, "ok": run.ok,
            "by_action": run.rds["requests"], "redundant": sum(worked) - profile.so_instances,
            "cpu_foreign": run.cpu_foreign,
        })
        say(f"scale-out rep {rep + 1} n={n}: {run.wall:.2f}s, split {worked}, {total} RDS "
            f"requests ({run.throttles} throttled), {(total - run.throttles) / run.wall:.1f} "
            f"accepted/s")
    base = median([r["wall"] for r in rows[profile.so_processes[0]]])
    table = []
    speedups = {}
    for n in profile.so_processes:
        rs = rows[n]
        wall = median([r["wall"] for r in rs])
        speedups[n] = base / wall
        ok_rps = median([r["ok_rps"] for r in rs])
        needed = 2 * profile.so_instances + n * pages
        table.append([
            str(n), fmt_range([r["wall"] for r in rs], 1), fmt(base / wall, 2),
            fmt(min(n, 12.0 / 5.0), 1),
            "; ".join("/".join(map(str, r["worked"])) for r in rs),
            "; ".join("/".join(map(str, r["elsewhere"])) for r in rs),
            "; ".join(str(r["redundant"]) for r in rs),
            "; ".join("/".join(map(str, r["proc_rds"])) for r in rs),
            f"{fmt(median([r['rds'] for r in rs]), 0)} (≥ {needed})",
            fmt(median([r["throttles"] for r in rs]), 0), fmt(ok_rps, 2),
            f"{min(5.0 * n, 12.0):g}", "yes" if all(r["ok"] for r in rs) else "no",
        ])
        near = speedups[n] >= 0.8 * min(n, 12.0 / 5.0)
        phase.figure(f"{n} process(es): wall time, speed-up, accepted RDS requests/s",
                     f"{fmt(wall, 1)} s, {fmt(base / wall, 2)}x, {fmt(ok_rps, 2)}/s",
                     "near-linear until 12/s binds (≥ 0.8 x min(N, 12/5))",
                     None if n == 1 else near)
        redundant = [r["redundant"] for r in rs]
        if n > 1:
            phase.figure(f"{n} processes: instances worked by two processes per run "
                         "(redundant passes), throttled requests",
                         f"{', '.join(map(str, redundant))}; "
                         f"{', '.join(str(r['throttles']) for r in rs)}")
    phase.table(
        f"{work.label} ({work.mb:.1f} MB; the cheapest instance to ship: one listing and one "
        "download). N shipper processes started together, each capped at the former default "
        "(SHIPPER_RATE=5, SHIPPER_BURST=10, concurrency 8; with the adaptive default one "
        "process alone takes the account's whole 12/s) against an account whose burst is "
        "already spent (steady state: 12/s refill), so the account limit binds once "
        "N x 5/s > 12/s. Splits, "
        "redundant passes and per-process requests are per run (runs separated by ';'); "
        "'instances worked' = instances - instances_leased_elsewhere - skipped, from each "
        "process's summary; 'redundant' = instances worked by more than one process "
        "(a lease released by the first holder is taken again by a later one).",
        ["processes", "wall s", "speed-up", "cap min(N, 12/5)", "instances worked per process",
         "instances_leased_elsewhere per process", "redundant passes",
         "RDS requests per process", "RDS requests (minimum)", "throttled",
         "accepted requests/s", "min(Nx5, 12)/s", "all exit 0"], table)
    phase.notes.extend(f"Oracle: {c}" for c in checked)
    over = [n for n in profile.so_processes if 5 * n > 12]
    if over:
        most = max(over)
        rs = rows[most]
        redundant = median([r["redundant"] for r in rs])
        phase.notes.append(
            f"With {most} processes the demand ({5 * most}/s) exceeds the account's 12/s: "
            f"accepted requests/s {fmt(median([r['ok_rps'] for r in rs]), 1)} and "
            f"{fmt(median([r['throttles'] for r in rs]), 0)} throttled requests per run (median; "
            f"each one a wasted round trip and a back-off), so the speed-up stops at about "
            f"12/5 = 2.4. "
            + (f"{fmt(redundant, 0)} instances per run were worked by two processes: a process "
               "that falls behind finds leases already released and lists those instances "
               "again (nothing left to ship), spending the shared budget on work another "
               "process has just done." if redundant > 0 else
               "No instance was worked by two processes."))
    phase.data["rows"] = {str(k): v for k, v in rows.items()}
    phase.data["speedups"] = {str(k): v for k, v in speedups.items()}
    phase.data["processes"] = list(profile.so_processes)
    lab.drop(work.world)
    return phase


PHASES = {
    "throughput": throughput,
    "incremental": incremental,
    "idle": idle,
    "memory": memory,
    "scaleout": scaleout,
}
