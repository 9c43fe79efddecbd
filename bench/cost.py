"""Monthly cost of three fleets, from the requests this benchmark counted and public list prices,
beside the same fleets through RDS -> CloudWatch Logs -> Firehose -> S3 (issue 12).

Nothing here is measured anew: the phase reads what the idle, incremental and throughput phases
of the same run counted (``MEASURED``). Prices are data, each with its source and the date it
was read; they are list prices of us-east-1 and are not tuned. Fleet volumes are per fleet:
"10 instances at 1 GB/day" is 1 GB of database logs per day from the 10 instances together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.harness import Lab
from bench.measure import Phase, fmt, median
from bench.phases import Profile

MEASURED: dict[str, Phase] = {}  # filled by ``python -m bench`` as phases finish

RUNS_PER_DAY = 24 * 4  # the schedule: every 15 minutes
DAYS = 30
HOURS_PER_MONTH = 730
TASK_VCPU, TASK_GB = 0.25, 0.5  # the task definition's defaults (TaskCpu 256, TaskMemory 512)
FIREHOSE_BUFFER_MB, FIREHOSE_BUFFER_S = 5, 300  # Firehose's S3 buffering defaults

# CapacityChoice EC2_SPOT_ASG: an instance is billed from its launch to its termination. A run
# on an empty group launches one (ECS managed scaling), the task starts once the instance has
# registered, and ECS removes the instance only after its capacity provider's reservation has
# stayed below target for about 15 minutes: the scale-in alarm of the target tracking policy
# ECS manages waits 15 one-minute datapoints (AWS re:Post "Accelerating Scaling for Amazon
# ECS Cluster Auto Scaling", and AWS Containers blog "Faster Scaling-in for Amazon ECS
# Cluster Auto Scaling"). When the next run comes sooner, the instance never leaves.
ASG_SCALE_IN_S = 15 * 60
# Assumptions, not measurements: launch to a registered ECS agent, image pull and container
# start, and the drain and shutdown after the scale-in decision.
ASG_LAUNCH_S, ASG_TASK_START_S, ASG_TERMINATE_S = 120, 30, 60
ASG_INTERVALS_MIN = (15, 30, 60)  # schedule intervals the ASG rows are priced at


@dataclass(frozen=True)
class Price:
    what: str
    usd: float
    unit: str
    source: str


READ = "read 2026-12-05 through the project's search tool"
PRICES = {
    "s3_storage": Price("S3 Standard storage, first 50 TB", 0.023, "per GB-month",
                        "devnotes.tech 'Understanding AWS S3 Pricing' (US East); "
                        "gist EverettBerry/a37438006529 (2022); " + READ),
    "s3_put": Price("S3 PUT, COPY, POST, LIST requests", 0.005, "per 1,000",
                    "devnotes.tech 'Understanding AWS S3 Pricing'; " + READ),
    "s3_get": Price("S3 GET and other requests", 0.0004, "per 1,000",
                    "devnotes.tech 'Understanding AWS S3 Pricing'; " + READ),
    "cw_ingest": Price("CloudWatch Logs ingestion, Standard class", 0.50, "per GB",
                       "c3x.dev 'CloudWatch Logs cost optimization' (us-east-1, June 2026); "
                       "the issue's $0.50/GB; " + READ),
    "cw_storage": Price("CloudWatch Logs storage (archival, compressed)", 0.03, "per GB-month",
                        "c3x.dev (us-east-1, June 2026); " + READ),
    "firehose": Price("Firehose ingestion, first 500 TB/month", 0.029, "per GB",
                      "public cost notes quoting the us-east-1 first tier (the AWS pricing page "
                      "itself, which bills in 5 KB increments, was not readable); " + READ),
    "fargate_vcpu": Price("Fargate Linux/x86 vCPU", 0.04048, "per vCPU-hour",
                          "vantage.sh 'AWS Fargate Pricing Explained' (us-east-1); wring.co "
                          "(March 2026); " + READ),
    "fargate_gb": Price("Fargate Linux/x86 memory", 0.004445, "per GB-hour",
                        "vantage.sh; wring.co (March 2026); " + READ),
    "fargate_spot_discount": Price("Fargate Spot discount (advertised maximum)", 0.70,
                                   "fraction off", "wring.co (March 2026): 'saves up to 70%'; "
                                   + READ),
    "ec2_small": Price("EC2 t3a.small Linux On-Demand (2 vCPU, 2 GiB; the smallest type the "
                       "cluster's Spot Fleet allows)", 0.0216, "per hour",
                       "matthiaskraaz.blogspot.com (2021-08-30; region not stated); " + READ),
    "ec2_spot_discount": Price("EC2 Spot discount (advertised maximum)", 0.90, "fraction off",
                               "aws.amazon.com/ec2/spot/pricing: 'up to 90% off'; " + READ),
}
FLEETS = ((10, 1.0), (100, 10.0), (1000, 100.0))  # (instances, GB of logs per day, fleet total)


def p(key: str) -> float:
    return PRICES[key].usd


@dataclass
class Counts:
    """Per instance and run, from this benchmark's runs."""

    s3_get: float  # a run in which every instance has new data (incremental phase)
    s3_put: float
    rds: float
    idle_s3_get: dict[int, float]  # nothing changed (idle phase), by fleet size
    idle_s3_put: dict[int, float]
    idle_wall: dict[int, float]  # seconds per idle run, by fleet size
    gzip_ratio: float  # S3 bytes in / log bytes shipped (throughput phase)
    mbps: float  # shipper throughput, MB/s (throughput phase, defaults)


def counts() -> Counts:
    idle, incr, tp = MEASURED["idle"], MEASURED["incremental"], MEASURED["throughput"]
    idle_get: dict[int, float] = {}
    idle_put: dict[int, float] = {}
    idle_wall: dict[int, float] = {}
    for size, rows in idle.data["rows"].items():
        n = int(size)
        idle_get[n] = median([r["s3"].get("GET", 0) / n for r in rows])
        idle_put[n] = median([r["s3"].get("PUT", 0) / n for r in rows])
        idle_wall[n] = median([r["wall"] for r in rows])
    irows = incr.data["rows"]
    default = tp.data["rows"]["shipper-default"]
    return Counts(
        s3_get=median([r["s3"].get("GET", 0) / r["instances"] for r in irows]),
        s3_put=median([r["s3"].get("PUT", 0) / r["instances"] for r in irows]),
        rds=median([r["rds"] / r["instances"] for r in irows]),
        idle_s3_get=idle_get, idle_s3_put=idle_put, idle_wall=idle_wall,
        gzip_ratio=median([r["s3_bytes_in"] / (tp.data["mb"] * 1e6) for r in default]),
        mbps=median([r["mbps"] for r in default]),
    )


def _nearest(table: dict[int, float], n: int) -> tuple[int, float]:
    size = min(table, key=lambda k: abs(math.log(k) - math.log(n)))
    return size, table[size]


def shipper_month(c: Counts, instances: int, gb_day: float) -> dict[str, float]:
    runs = RUNS_PER_DAY * DAYS
    size, idle_wall = _nearest(c.idle_wall, instances)
    per_run_mb = gb_day * 1000 / RUNS_PER_DAY
    seconds = idle_wall * instances / size + per_run_mb / c.mbps  # listing pace + transfer
    billed = max(60.0, seconds)  # Fargate bills per second, one minute at least
    fargate_hour = TASK_VCPU * p("fargate_vcpu") + TASK_GB * p("fargate_gb")
    return {
        "rds_requests": c.rds * instances * runs,
        "s3_put": c.s3_put * instances * runs / 1000 * p("s3_put"),
        "s3_get": c.s3_get * instances * runs / 1000 * p("s3_get"),
        "s3_storage": gb_day * DAYS * c.gzip_ratio * p("s3_storage"),
        "fargate_spot": runs * billed / 3600 * fargate_hour * (1 - p("fargate_spot_discount")),
        "ec2_spot": HOURS_PER_MONTH * p("ec2_small") * (1 - p("ec2_spot_discount")),
        "run_seconds": seconds,
    }


def asg_month(c: Counts, instances: int, gb_day: float, interval_min: int) -> dict[str, float]:
    """The shipper on an Auto Scaling group capacity provider (EC2_SPOT_ASG), scheduled every
    ``interval_min`` minutes; the S3 rows follow the number of runs."""
    runs = DAYS * 24 * 60 / interval_min
    every_15 = shipper_month(c, instances, gb_day)
    scale = runs / (RUNS_PER_DAY * DAYS)
    size, idle_wall = _nearest(c.idle_wall, instances)
    run_seconds = idle_wall * instances / size + gb_day * 1000 / (runs / DAYS) / c.mbps
    busy = ASG_LAUNCH_S + ASG_TASK_START_S + run_seconds + ASG_SCALE_IN_S + ASG_TERMINATE_S
    to_zero = busy < interval_min * 60
    hours = runs * busy / 3600 if to_zero else HOURS_PER_MONTH
    ec2 = hours * p("ec2_small") * (1 - p("ec2_spot_discount"))
    common = (every_15["s3_put"] + every_15["s3_get"]) * scale + every_15["s3_storage"]
    return {"runs": runs, "instance_minutes_per_run": busy / 60 if to_zero else interval_min,
            "scales_to_zero": float(to_zero), "instance_hours": hours, "ec2_asg": ec2,
            "total": common + ec2}


def cloudwatch_month(c: Counts, gb_day: float) -> dict[str, float]:
    gb_month = gb_day * DAYS
    objects_day = max(24 * 3600 / FIREHOSE_BUFFER_S, gb_day * c.gzip_ratio * 1000
                      / FIREHOSE_BUFFER_MB)
    return {
        "cw_ingest": gb_month * p("cw_ingest"),
        "cw_storage": gb_day * c.gzip_ratio * p("cw_storage"),  # 1 day of retention
        "firehose": gb_month * p("firehose"),
        "s3_put": objects_day * DAYS / 1000 * p("s3_put"),
        "s3_storage": gb_month * c.gzip_ratio * p("s3_storage"),
    }


def usd(x: float) -> str:
    return f"${x:,.2f}" if x >= 0.01 or x == 0 else f"${x:.4f}"


def cost(_lab: Lab, _profile: Profile) -> Phase:
    phase = Phase("cost", "8. Monthly cost at fleet scale")
    missing = [n for n in ("idle", "incremental", "throughput") if n not in MEASURED]
    if missing:
        raise RuntimeError(f"the cost phase reads the counts of {', '.join(missing)}: run "
                           "them in the same invocation")
    c = counts()
    phase.table(
        "Counts this run measured, per instance and run. A run with new data on every instance "
        "(the incremental phase: lease, state read, one object per growing file, state "
        "commits, release) is what a 15-minute schedule meets when every database logs "
        "continuously; the idle figures (nothing changed: a state GET and one listing page, no "
        "PUT) are shown for reference.",
        ["count", "value", "from"],
        [["S3 PUT per instance per run (new data)", fmt(c.s3_put, 2), "2. Incremental"],
         ["S3 GET per instance per run (new data)", fmt(c.s3_get, 2), "2. Incremental"],
         ["RDS requests per instance per run (new data)", fmt(c.rds, 2), "2. Incremental"],
         *[[f"idle run, {n} instances: S3 PUT / GET per instance, wall s",
            f"{fmt(c.idle_s3_put[n], 2)} / {fmt(c.idle_s3_get[n], 2)}, "
            f"{fmt(c.idle_wall[n], 1)}", "3. Idle run cost"] for n in sorted(c.idle_wall)],
         ["gzip output / log bytes", fmt(c.gzip_ratio, 3),
          "1. Throughput (S3 bytes in during a default run, state and leases included)"],
         ["shipper throughput (defaults), MB/s", fmt(c.mbps, 1), "1. Throughput"]])
    rows = []
    for instances, gb_day in FLEETS:
        s = shipper_month(c, instances, gb_day)
        w = cloudwatch_month(c, gb_day)
        common = s["s3_put"] + s["s3_get"] + s["s3_storage"]
        total_fargate = common + s["fargate_spot"]
        total_ec2 = common + s["ec2_spot"]
        total_cw = sum(w.values())
        rows.append([
            f"{instances} instances, {gb_day:g} GB/day",
            f"{s['rds_requests']:,.0f} (free; "
            f"{s['rds_requests'] / (RUNS_PER_DAY * DAYS) / (12 * 900):.1%} of 12/s)",
            usd(s["s3_put"]), usd(s["s3_get"]), usd(s["s3_storage"]),
            f"{usd(s['fargate_spot'])} ({fmt(s['run_seconds'], 0)} s/run)", usd(s["ec2_spot"]),
            f"{usd(total_fargate)} / {usd(total_ec2)}",
            f"{usd(w['cw_ingest'])} + {usd(w['cw_storage'])} + {usd(w['firehose'])} + "
            f"{usd(w['s3_put'])} + {usd(w['s3_storage'])}",
            usd(total_cw), f"{total_fargate / total_cw:.1%} / {total_ec2 / total_cw:.1%}",
        ])
        for capacity, total in (("Fargate Spot", total_fargate), ("EC2 Spot", total_ec2)):
            phase.figure(f"{instances} instances at {gb_day:g} GB/day: shipper on {capacity} vs "
                         "CloudWatch Logs route, monthly",
                         f"{usd(total)} vs {usd(total_cw)} ({total / total_cw:.1%})", "≤ 5%",
                         total / total_cw <= 0.05)
        phase.data.setdefault("fleets", []).append(
            {"instances": instances, "gb_day": gb_day, "shipper": s, "cloudwatch": w,
             "ratio_fargate_spot": total_fargate / total_cw,
             "ratio_ec2_spot": total_ec2 / total_cw})
    phase.table(
        f"Monthly cost (30 days, a run every 15 minutes = {RUNS_PER_DAY * DAYS} runs), us-east-1 "
        "list prices below. Shipper: RDS API calls are free but rate-limited (share of the "
        "account's 12/s over each 15 minutes shown); S3 PUT/GET from the counts above; S3 "
        "Standard storage of the gzip output kept 30 days (steady state: 30 days of logs "
        "stored); the task on Fargate Spot (0.25 vCPU, 0.5 GB, billed per second, one minute "
        "at least; run time = the idle run's measured pace for the fleet size plus the day's "
        "data / 96 at the measured throughput) or one EC2 Spot instance of the cluster's Spot "
        "Fleet running all month. CloudWatch Logs route (RDS log export -> CloudWatch Logs -> "
        "subscription -> Firehose -> S3): ingestion of every log byte, storage with the "
        "shortest retention (1 day; the archive is in S3), Firehose ingestion, Firehose's S3 "
        "PUTs (one object per 5 MB or 300 s) and the same S3 storage. The ratios are each "
        "capacity choice of the cluster stack (`CapacityChoice`) over the CloudWatch route.",
        ["fleet", "RDS requests/month", "S3 PUT", "S3 GET", "S3 storage", "Fargate Spot task",
         "EC2 Spot instance", "shipper total (Fargate Spot / EC2 Spot)",
         "CloudWatch route: ingestion + storage + Firehose + S3 PUT + S3 storage",
         "CloudWatch route total", "shipper / CloudWatch (Fargate Spot / EC2 Spot)"], rows)
    asg_rows = []
    for instances, gb_day in FLEETS:
        total_cw = sum(cloudwatch_month(c, gb_day).values())
        for interval in ASG_INTERVALS_MIN:
            a = asg_month(c, instances, gb_day, interval)
            asg_rows.append([
                f"{instances} instances, {gb_day:g} GB/day", f"rate({interval} minutes)",
                f"{a['runs']:,.0f}",
                f"{fmt(a['instance_minutes_per_run'], 1)}"
                + ("" if a["scales_to_zero"] else " (never scales to zero)"),
                f"{a['instance_hours']:,.0f}", usd(a["ec2_asg"]), usd(a["total"]),
                usd(total_cw), f"{a['total'] / total_cw:.1%}"])
            phase.data.setdefault("asg", []).append(
                {"instances": instances, "gb_day": gb_day, "interval_min": interval, **a,
                 "ratio": a["total"] / total_cw})
            if interval in (15, 60):
                phase.figure(f"{instances} instances at {gb_day:g} GB/day: shipper on the EC2 "
                             f"Spot Auto Scaling group, rate({interval} minutes), vs "
                             "CloudWatch Logs route, monthly",
                             f"{usd(a['total'])} vs {usd(total_cw)} "
                             f"({a['total'] / total_cw:.1%})", "≤ 5%",
                             a["total"] / total_cw <= 0.05)
    phase.table(
        "CapacityChoice EC2_SPOT_ASG: the Auto Scaling group's instance is billed from launch to "
        "termination. Per run: launch to a registered agent "
        f"({ASG_LAUNCH_S} s, assumed), image pull and start ({ASG_TASK_START_S} s, assumed), "
        "the run (as above), ECS's scale-in wait after the task stops "
        f"({ASG_SCALE_IN_S // 60} minutes: its target tracking scale-in alarm needs 15 "
        f"one-minute datapoints) and shutdown ({ASG_TERMINATE_S} s, assumed). When the next "
        "run comes before that is over, the instance never leaves and runs all month, like "
        "the Spot Fleet's. The S3 rows scale with the number of runs (each run still finds "
        "new data on every instance).",
        ["fleet", "schedule", "runs/month", "instance-minutes per run", "instance-hours/month",
         "EC2 Spot (ASG)", "shipper total", "CloudWatch route total",
         "shipper / CloudWatch"], asg_rows)
    phase.table(
        "Prices (us-east-1 list prices, USD; not tuned). Spot prices move; the table uses the "
        "advertised maximum discounts, so the task rows are a best case (they are a small part "
        "of the total either way).",
        ["price", "USD", "unit", "source and date"],
        [[pr.what, f"{pr.usd:g}", pr.unit, pr.source] for pr in PRICES.values()])
    phase.notes.append(
        "The shipper's rows assume the dearest case: every instance has new data on every run "
        "(one lease take, the data objects and the final commit; an intent commit when a new "
        "file appears). Instances with nothing new cost one state GET and no PUT, so a fleet "
        "of mostly quiet databases costs less. The EC2 Spot row is one instance of the "
        "cluster running all month whatever the fleet size, a fixed cost that dominates the "
        "smallest fleet. The gzip ratio is that of the simulator's generated log lines; real "
        "logs compress less, which raises the S3 storage rows of both routes alike (at 1:5, "
        "about sevenfold). The CloudWatch route's ingestion charge ($0.50 per GB) is what the "
        "shipper avoids.")
    return phase

