"""Sharing the RDS budget: a neighbour on the same account, and one task over several accounts
and regions (issue 12). Each phase returns a ``Phase`` for the report; none asserts."""

from __future__ import annotations

import time
from typing import Any

from bench import workloads
from bench.harness import SHIPPER_DEFAULT, SHIPPER_FIXED, Lab
from bench.measure import Phase, fmt, fmt_range, interleave, median
from bench.phases import Profile, oracle, say
from bench.router import PairRouter
from shipper.simulator.server import SimulatorServer

NEIGHBOUR_RATE = 3.0  # requests/s of the other tool
NEIGHBOUR_LEAD = 3.0  # seconds the neighbour runs alone first (interpreter start, steady pace)
ROLE = "arn:aws:iam::{account}:role/rds-log-reader"
PAIRS = (("111111111111", "us-east-1"), ("111111111111", "eu-west-1"),
         ("222222222222", "us-east-1"), ("222222222222", "eu-west-1"))


# --- 6. a neighbour ---------------------------------------------------------------------------


def neighbour(lab: Lab, profile: Profile) -> Phase:
    phase = Phase("neighbour", "6. A neighbour on the account")
    work = workloads.backfill_fleet(profile.nb_instances, profile.nb_file_bytes)
    contenders = (("adaptive", "shipper, defaults (adaptive rate)", SHIPPER_DEFAULT),
                  ("fixed", "shipper, fixed 5/s (SHIPPER_RATE=5, SHIPPER_BURST=10)",
                   SHIPPER_FIXED))
    rows: dict[str, list[dict[str, Any]]] = {key: [] for key, _, _ in contenders}
    checked: list[str] = []
    for rep, (key, _label, settings) in interleave(profile.nb_reps, contenders):
        bucket = lab.new_bucket()
        lab.fresh_server(work.world)
        lab.fill_account_bucket()
        other = lab.start_neighbour(work.world, bucket, NEIGHBOUR_RATE)
        try:
            time.sleep(NEIGHBOUR_LEAD)
            run = lab.shipper(work.world, bucket, settings)
        finally:
            result = lab.stop_neighbour(other)
        summary = run.summary()
        limits = summary.get("rate_limits") or [{}]
        # The neighbour alone (3/s against 12/s) is never throttled: its refusals all fall in
        # the shipper's run, during which it scheduled NEIGHBOUR_RATE x wall calls.
        during = NEIGHBOUR_RATE * run.wall
        row = {
            "rep": rep, "wall": run.wall, "ok": run.ok,
            "shipped": summary.get("bytes_shipped"), "requests": summary.get("rds_requests"),
            "throttles": summary.get("throttles"), "settled": limits[0].get("settled_rate"),
            "min_rate": limits[0].get("min_rate"), "cuts": limits[0].get("cuts"),
            "nb_requests": result["rds_requests"], "nb_throttled": result["throttles"],
            "nb_fraction": result["throttles"] / during,
        }
        rows[key].append(row)
        if rep == 0:
            ok, line = oracle(lab, work.world, bucket)
            checked.append(f"{key}: {line}")
            row["ok"] = row["ok"] and ok
        say(f"neighbour rep {rep + 1} {key}: {run.wall:.1f}s, shipper {row['requests']} requests "
            f"({row['throttles']} throttled, settled {row['settled']}/s); neighbour "
            f"{row['nb_throttled']} of {row['nb_requests']} throttled")
    table = []
    for key, label, _ in contenders:
        rs = rows[key]
        table.append([
            label, str(len(rs)), fmt_range([r["wall"] for r in rs], 1),
            fmt(median([float(r["requests"] or 0) for r in rs]), 0),
            fmt(median([float(r["throttles"] or 0) for r in rs]), 0),
            "; ".join(f"{r['settled']} (min {r['min_rate']}, {r['cuts']} cuts)" for r in rs),
            "; ".join(f"{r['nb_throttled']}/{r['nb_requests']}" for r in rs),
            fmt_range([100 * r["nb_fraction"] for r in rs], 2, "%"),
            "yes" if all(r["ok"] for r in rs) else "**no**",
        ])
    phase.table(
        f"Backfill of {work.label} ({work.mb:.1f} MB, about {2 * work.instances} RDS requests: "
        f"more than the account's burst of 300) while another client calls DescribeDBLogFiles "
        f"at a steady {NEIGHBOUR_RATE:g}/s on the same account (`python -m bench.contenders "
        f"neighbour`, one request per call, no retries), started {NEIGHBOUR_LEAD:g} s before "
        "the shipper. The account's bucket is full at the start (a 3/s neighbour alone never "
        "empties it). The neighbour's throttled fraction = its throttled calls / the calls it "
        "made during the shipper's run (3/s x wall). Interleaved; medians (min-max).",
        ["shipper", "runs", "wall s", "shipper RDS requests", "shipper throttled",
         "rate settled at, /s (lowest, cuts)", "neighbour throttled / calls",
         "neighbour throttled fraction", "exit 0 and oracle"], table)
    phase.notes.extend(f"Oracle ({c})" for c in checked)
    adaptive = median([r["wall"] for r in rows["adaptive"]])
    fixed = median([r["wall"] for r in rows["fixed"]])
    fractions = [r["nb_fraction"] for r in rows["adaptive"]]
    phase.figure("neighbour at 3/s: its throttled fraction beside the adaptive shipper",
                 fmt_range([100 * f for f in fractions], 2, "%"), "≤ 2%",
                 median(fractions) <= 0.02)
    phase.figure("neighbour at 3/s: wall time, adaptive shipper vs fixed 5/s",
                 f"{fmt(adaptive, 1)} s vs {fmt(fixed, 1)} s ({fmt(fixed / adaptive, 2)}x faster)",
                 "adaptive faster", adaptive < fixed)
    phase.figure("neighbour at 3/s: its throttled fraction beside the fixed 5/s shipper",
                 fmt_range([100 * r["nb_fraction"] for r in rows["fixed"]], 2, "%"))
    phase.data["rows"] = rows
    lab.drop(work.world)
    return phase


# --- 7. several accounts and regions ----------------------------------------------------------


def _task(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    accounts = list(dict.fromkeys(account for account, _ in pairs))
    regions = list(dict.fromkeys(region for _, region in pairs))
    return {**SHIPPER_DEFAULT, "SHIPPER_REGIONS": ",".join(regions),
            "SHIPPER_ROLE_ARNS": ",".join(ROLE.format(account=a) for a in accounts)}


def pairs(lab: Lab, profile: Profile) -> Phase:
    phase = Phase("pairs", "7. Several accounts and regions")
    works = {pair: workloads.pair_fleet(profile.pair_instances, profile.pair_files,
                                        profile.pair_file_bytes, *pair) for pair in PAIRS}
    one = PAIRS[:1]
    cases = (("1 pair", one), (f"{len(PAIRS)} pairs", PAIRS))
    servers: dict[tuple[str, str], SimulatorServer] = {}
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in cases}
    checked: list[str] = []
    with PairRouter(servers) as router:
        for rep, (name, chosen) in interleave(profile.pair_reps, cases):
            for pair in PAIRS:  # fresh simulators: no per-file session left by the last run
                if pair in servers:
                    servers[pair].stop()
                servers[pair] = SimulatorServer(works[pair].world, lab.faults).start()
            bucket = lab.new_bucket()
            lab.empty_account_bucket(PAIRS)
            nbytes = sum(works[p].nbytes for p in chosen)
            run = lab.run(works[chosen[0]].world, bucket, [["bench.shipper_run", "run"]],
                          {"SHIPPER_LOG_LEVEL": "INFO", "AWS_ENDPOINT_URL_STS":
                           lab.s3.endpoint_url, **_task(chosen)},
                          servers=[servers[p] for p in chosen], endpoint=router.endpoint_url)
            summary = run.summary()
            shipped = int(summary.get("bytes_shipped", -1))
            limits = summary.get("rate_limits") or []
            row = {"rep": rep, "wall": run.wall, "ok": run.ok and shipped == nbytes,
                   "shipped": shipped, "mbps": shipped / 1e6 / run.wall,
                   "requests": run.rds_requests, "throttled": run.throttles,
                   "accepted_per_s": (run.rds_requests - run.throttles) / run.wall,
                   "limits": limits, "unrouted": router.unrouted}
            if rep == 0 and len(chosen) == 1:  # the oracle reads every object of the bucket
                ok, line = oracle(lab, works[chosen[0]].world, bucket)
                row["ok"] = row["ok"] and ok
                checked.append(f"{name}: {line}")
            rows[name].append(row)
            say(f"pairs rep {rep + 1} {name}: {run.wall:.1f}s, {row['mbps']:.2f} MB/s, "
                f"{run.rds_requests} RDS requests ({run.throttles} throttled), "
                f"{row['accepted_per_s']:.1f} accepted/s")
        for server in servers.values():
            server.stop()
    table = []
    for name, _chosen in cases:
        rs = rows[name]
        table.append([
            name, str(len(rs)), fmt_range([r["wall"] for r in rs], 1),
            fmt_range([r["mbps"] for r in rs], 2),
            fmt(median([r["requests"] for r in rs]), 0),
            fmt(median([r["throttled"] for r in rs]), 0),
            fmt(median([r["accepted_per_s"] for r in rs]), 1),
            "; ".join(", ".join(f"{lim['account'][-4:]}/{lim['region']} {lim['settled_rate']}"
                                for lim in r["limits"]) for r in rs),
            "yes" if all(r["ok"] for r in rs) else "**no**",
        ])
    label = works[PAIRS[0]].label
    phase.table(
        f"One shipper task (defaults, concurrency 8) with SHIPPER_ROLE_ARNS (roles assumed "
        f"through moto's STS) and SHIPPER_REGIONS, against one simulator per (account, region), "
        f"each {label} ({works[PAIRS[0]].mb:.1f} MB), behind one endpoint that routes by the "
        "request's SigV4 region and its access key's account (`bench/router.py`). Every pair's "
        "throttle bucket is its own (burst 300, 12/s) and already spent at the start (steady "
        "state), so each pair's 12/s is what bounds the run. Interleaved; medians (min-max).",
        ["task", "runs", "wall s", "MB/s", "RDS requests", "throttled", "accepted requests/s",
         "rate settled at, per account/region", "all shipped, exit 0, oracle"], table)
    phase.notes.extend(f"Oracle ({c})" for c in checked)
    single = median([r["mbps"] for r in rows[cases[0][0]]])
    several = median([r["mbps"] for r in rows[cases[1][0]]])
    ratio = several / single
    phase.figure(f"{len(PAIRS)} pairs (2 accounts x 2 regions) vs 1 pair: throughput",
                 f"{fmt(ratio, 2)}x ({fmt(several, 2)} vs {fmt(single, 2)} MB/s)", "≥ 3.5x",
                 ratio >= 3.5)
    phase.data["rows"] = rows
    return phase
