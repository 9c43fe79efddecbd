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
from typing import Any

from bench import workloads
from bench.harness import SHIPPER_DEFAULT, Lab
from bench.measure import Phase, fmt, fmt_range, interleave, median
from bench.phases import Contender, Profile, _measured_run, _shipped_bytes, oracle, say

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
    if checked:
        phase.notes.append(f"Oracle check of the first shipper run: {checked}")
    return phase
