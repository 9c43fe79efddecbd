"""Phase "api": the API-bound shape (issue 25). Many instances, many small hourly files: more
RDS requests than the account's burst of 300, so the account's 12 requests/s, not bandwidth,
sets the wall time, and every request beyond the floor is time.

The floor is a count, not a contender: one DescribeDBInstances page per 100 instances, one
DescribeDBLogFiles listing per instance (every instance here has fewer than 1,000 files), one
download per file. Beside it run, interleaved, the shipper with its defaults, the stateless
floor contender (parallel REST, no state) and the public samples' approach (serial, portions
from marker "0"): wall time, RDS requests by action, requests per file.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from bench import workloads
from bench.harness import SHIPPER_DEFAULT, Lab
from bench.measure import Phase, fmt, fmt_range, interleave, median
from bench.phases import Contender, Profile, _measured_run, _shipped_bytes, oracle, say
from shipper.simulator.world import World

CONTENDERS = (
    Contender("shipper", "shipper, defaults (adaptive rate: burst 300, 12/s; concurrency 8)",
              ["bench.shipper_run", "run"], SHIPPER_DEFAULT),
    Contender("floor", "floor contender: stateless parallel REST + gzip + put (8 workers, "
              "12/s, burst 300)", ["bench.contenders", "floor", "--workers", "8"]),
    Contender("baseline", "baseline: public samples (serial, portions from marker \"0\", "
              "whole file, put)", ["bench.contenders", "baseline"]),
)


def floor_requests(instances: int, files: int) -> int:
    """Requests no correct archiver can do without on a first run."""
    return math.ceil(instances / 100) + instances + files


def api_bound(lab: Lab, profile: Profile) -> Phase:
    phase = Phase("api", "9. API-bound backfill")
    work = workloads.throughput(profile.api_instances, profile.api_files,
                                profile.api_file_bytes)
    floor = floor_requests(work.instances, work.files)
    rows: dict[str, list[dict[str, Any]]] = {c.key: [] for c in CONTENDERS}
    checked = ""
    for rnd, contender in interleave(profile.api_reps, CONTENDERS):
        run = _measured_run(lab, work, contender.command, contender.settings)
        problem = None
        if not run.ok:
            problem = run.describe_failure()
        elif _shipped_bytes(contender, run) != work.nbytes:
            problem = f"shipped {_shipped_bytes(contender, run)} of {work.nbytes} bytes"
        elif contender.key == "shipper" and not checked:
            ok, checked = oracle(lab, work.world, run.bucket)
            problem = None if ok else f"oracle: {checked}"
        rows[contender.key].append({"round": rnd, "wall": run.wall, "rds": run.rds_requests,
                                    "by_action": dict(run.rds["requests"]),
                                    "throttles": run.throttles, "problem": problem})
        say(f"api round {rnd + 1} {contender.key}: {run.wall:.1f}s, {run.rds_requests} RDS "
            f"requests ({run.throttles} throttled){'; PROBLEM ' + problem if problem else ''}")
    phase.data.update(rows=rows, floor=floor, files=work.files, instances=work.instances)
    table = []
    for c in CONTENDERS:
        rs = rows[c.key]
        table.append([c.label, str(len(rs)), fmt_range([r["wall"] for r in rs], 1),
                      fmt(median([r["rds"] for r in rs]), 0),
                      fmt(median([r["rds"] for r in rs]) / work.files, 2),
                      ", ".join(f"{k} {v}" for k, v in sorted(rs[0]["by_action"].items()) if v),
                      fmt(median([r["throttles"] for r in rs]), 0),
                      "; ".join(sorted({r["problem"] for r in rs if r["problem"]})) or "ok"])
    phase.table(
        f"Workload: {work.label} ({work.files} files, {work.mb:.1f} MB), mixed engines. The floor "
        f"count is {floor} requests ({floor / work.files:.2f} per file): "
        f"{math.ceil(work.instances / 100)} instance page(s), {work.instances} listings, "
        f"{work.files} downloads. Interleaved rounds; medians (min-max); requests include "
        "throttled ones.",
        ["contender", "runs", "wall s", "RDS requests", "per file", "by action (first run)",
         "throttled", "check"], table)
    ok = [r for r in rows["shipper"] if r["problem"] is None]
    ratios = [r["rds"] / floor for r in ok]
    by_round = {r["round"]: r for r in rows["shipper"] if r["problem"] is None}
    speedups = [b["wall"] / by_round[b["round"]]["wall"] for b in rows["baseline"]
                if b["problem"] is None and b["round"] in by_round]
    phase.figure("shipper RDS requests / floor count", fmt_range(ratios, 2, "x"), "≤ 1.15x",
                 bool(ratios) and median(ratios) <= 1.15)
    phase.figure("baseline / shipper wall time: speed-up, paired by round",
                 fmt_range(speedups, 2, "x"), "≥ 2x", bool(speedups) and median(speedups) >= 2)
    floor_speedups = [b["wall"] / f["wall"] for b, f in zip(rows["baseline"], rows["floor"],
                                                            strict=False)]
    phase.notes.append(
        "The speed-up any contender can reach here: the floor contender (the floor's requests, "
        f"no state, no checks) is {fmt_range(floor_speedups, 2, 'x')} faster than the "
        f"baseline. {floor} requests at the account's burst of 300 and then 12/s need "
        f"{max(0.0, (floor - 300) / 12):.1f} s of tokens whatever the client does, and the "
        "serial baseline is held back by latency, not by the rate.")
    if checked:
        phase.notes.append(f"Oracle check of the first shipper run: {checked}")
    steady(lab, profile, phase)
    return phase


def _sizes(world: World) -> dict[tuple[str, str], int]:
    return {(i.identifier, name): rec.size for i in world.instances()
            for name, rec in i.files().items()}


def steady(lab: Lab, profile: Profile, phase: Phase) -> None:
    """The steady 15-minute schedule: instances that log all the time (the simulator's
    engines, hourly rotations and their own file names), one run every 15 simulated minutes
    after a first run that shipped the backlog. The floor of a run: the instance pages, one
    listing per instance, one download per file that changed since the last run."""
    world = World(seed=29, start=workloads.START)
    for i in range(profile.steady_instances):
        engine = workloads.ENGINE_MIX[i % len(workloads.ENGINE_MIX)]
        ident = f"st-{i:04d}-{engine}"
        world.add_instance(ident, engine, bytes_per_hour=200_000,
                           cluster=f"{ident}-cluster" if engine.startswith("aurora") else None)
    world.advance(2 * 3600)
    bucket = lab.new_bucket()
    lab.fresh_server(world)
    lab.setup_ship(world, bucket)
    before = _sizes(world)
    table, ratios = [], []
    by_action: Counter[str] = Counter()
    floors = requests = 0
    for number in range(1, profile.steady_runs + 1):
        world.advance(900)
        now = _sizes(world)
        changed = sum(1 for key, size in now.items() if before.get(key) != size)
        before = now
        lab.fill_account_bucket()
        run = lab.shipper(world, bucket, SHIPPER_DEFAULT)
        floor = math.ceil(profile.steady_instances / 100) + profile.steady_instances + changed
        actions = {k: int(v) for k, v in dict(run.rds["requests"]).items() if v}
        by_action.update(actions)
        floors += floor
        requests += run.rds_requests
        ratios.append(run.rds_requests / floor)
        table.append([str(number), str(changed), str(floor), str(run.rds_requests),
                      fmt(run.rds_requests / floor, 2),
                      ", ".join(f"{k} {v}" for k, v in sorted(actions.items())),
                      "ok" if run.ok else run.describe_failure()])
        say(f"steady run {number}: {run.rds_requests} RDS requests, floor {floor}")
    ok, checked = oracle(lab, world, bucket)
    table.append(["all", "", str(floors), str(requests), fmt(requests / floors, 2),
                  ", ".join(f"{k} {v}" for k, v in sorted(by_action.items())),
                  "oracle ok" if ok else f"oracle: {checked}"])
    phase.table(
        f"Steady state: {profile.steady_instances} instances of mixed engines logging "
        "200 kB an hour each (the simulator's own files and hourly rotations), a first run "
        f"ships the two hours before, then {profile.steady_runs} runs 15 simulated minutes "
        "apart, each with the account's burst available. Floor of a run: the instance "
        "page(s), one listing per instance, one download per file that changed since the "
        "last run.",
        ["run", "files changed", "floor", "RDS requests", "/ floor", "by action", "check"],
        table)
    phase.figure("steady 15-minute schedule: RDS requests / floor", fmt_range(ratios, 2, "x"),
                 "≤ 1.15x", median(ratios) <= 1.15)
    phase.notes.append(f"Oracle check after the steady runs: {checked}")
