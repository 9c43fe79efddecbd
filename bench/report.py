"""RESULTS.md and the plot, written by the benchmark itself from what it measured."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.harness import REPO, SHIPPER_DEFAULT, SHIPPER_FIXED, SHIPPER_FULL
from bench.measure import Phase, median
from bench.phases import CONTENDERS, Profile
from shipper.simulator.faults import Faults

PACKAGES = ("rds-log-shipper", "boto3", "botocore", "urllib3", "tenacity", "moto", "werkzeug",
            "matplotlib")
SHORT = {
    "shipper-default": "shipper\n(defaults)",
    "shipper-full": "shipper\n(full budget)",
    "shipper-full-rest": "shipper\n(no portions,\ndiagnostic)",
    "floor": "floor",
    "baseline": "baseline",
}


def _read(path: str, key: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def machine() -> dict[str, str]:
    mem_kib = _read("/proc/meminfo", "MemTotal")
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count() or 0
    return {
        "cpu": _read("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": f"{os.cpu_count()} logical, {affinity} usable by this process",
        "memory": f"{int(mem_kib.split()[0]) / 1024 / 1024:.1f} GiB" if mem_kib else "unknown",
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "commit": commit(),
    }


def commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "shipper"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}{' (shipper/ has uncommitted changes)' if dirty else ''}" if sha else "unknown"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_markdown(path: Path, phases: list[Phase], profile: Profile, png_name: str | None,
                   started: float, command: str, load_before: str = "",
                   commit_before: str = "") -> None:
    m = machine()
    if commit_before and commit_before != m["commit"]:
        m["commit"] = (f"{commit_before} at the start, {m['commit']} at the end (the package "
                       "changed during the run)")
    faults = Faults.realistic()
    took = time.time() - started
    out: list[str] = [
        "# rds-log-shipper benchmark results",
        "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"({profile.name} mode, {took / 60:.1f} minutes). Generated file: re-run the command "
        "instead of editing it. Targets are reported, never asserted.",
        "",
        "## Machine",
        "",
        _md_table(["", ""], [
            ["CPU", m["cpu"]], ["cores", m["cores"]], ["memory", m["memory"]],
            ["OS", m["os"]], ["Python", m["python"]], ["packages", m["packages"]],
            ["shipper commit measured", m["commit"]],
            ["load average (1, 5, 15 min) at start / end", f"{load_before} / {load_average()}"],
        ]),
        "",
        "Other processes may share this machine; each throughput run records the CPU they used "
        "meanwhile ('other load'), and interleaving plus medians keep it from favouring one "
        "contender.",
        "",
        "## Settings",
        "",
        f"- Simulator (`Faults.realistic()`): {faults.latency_ms:g} ms + "
        f"{faults.latency_ms_per_mb:g} ms per MB returned per request; the account throttle "
        f"burst {faults.throttle_burst}, {faults.throttle_rate:g} requests/s, one bucket per "
        "account and region, shared by every simulator and every contender process. S3: "
        "`LocalS3` (moto server mode, one request at a time). Both over HTTP on 127.0.0.1, "
        "in the benchmark's process; every "
        "contender is its own process (`python -m bench.shipper_run` runs the real "
        "`shipper.cli.main`).",
        "- Unless a phase says otherwise the account bucket is full (burst 300 available) "
        "when a run starts; setup runs that only prepare state run unthrottled and unmeasured.",
        f"- Shipper configurations: defaults = `{_env(SHIPPER_DEFAULT)}` (no SHIPPER_RATE or "
        "SHIPPER_BURST: the adaptive rate starts from the documented budget, burst 300 and "
        f"12/s, drops to 70% on a throttle, grows back 0.25/s per second); full account budget = "
        f"`{_env(SHIPPER_FULL)}` (the same controller with ceilings, which are also its start); "
        f"fixed (the former default) = `{_env(SHIPPER_FIXED)}`; all other settings at their "
        "defaults (SHIPPER_OBJECT_MIB=16, SHIPPER_PORTION_MAX_MIB=8).",
        f"- Floor: worker threads {'/'.join(map(str, profile.floor_workers))} tried, the fastest "
        "kept (see 1.); token bucket 12/s burst 300, REST for every file, gzip level 6, one "
        "PUT per file.",
        "- Baseline: serial, boto3, `DownloadDBLogFilePortion` from `\"0\"` until "
        "`AdditionalDataPending` is false, one uncompressed PUT per file, jittered exponential "
        "backoff on `Throttling`.",
        f"- Repetitions: throughput {profile.reps} (the fast contenders, both shipper "
        f"configurations and the floor, {profile.reps_fast}), neighbour {profile.nb_reps}, "
        f"accounts and regions {profile.pair_reps}, incremental {profile.incr_reps}, idle "
        f"{profile.idle_reps} ({profile.idle_large_reps} for 1000 instances: rate-bound, about a "
        f"minute each), scale-out {profile.so_reps}; interleaved (A B C, C B A, ...), medians "
        "with (min-max); ratios are paired by round. MB = 10^6 bytes; MiB = 2^20.",
        "",
        "## Every figure",
        "",
        _md_table(["section", "figure", "value", "target", "verdict"],
                  [[f.section, f.name, f.value, f.target or "—", f.verdict]
                   for p in phases for f in p.figures]),
        "",
    ]
    if png_name:
        out += [f"![throughput, scale-out and idle cost]({png_name})", ""]
    for p in phases:
        out += [f"## {p.title}", ""]
        if p.error:
            out += [f"**This phase failed:** `{p.error}`", ""]
        for caption, header, rows in p.tables:
            out += [caption, "", _md_table(header, rows), ""]
        out += [f"- {n}" for n in p.notes]
        out += ["", f"_Phase time: {p.seconds:.0f} s._", ""]
    out += [
        "## Reproduce",
        "",
        "```",
        "make bench                      # = .venv/bin/python -m bench (this file, results.png)",
        "make bench-quick                # = .venv/bin/python -m bench --quick --out bench/out",
        "python -m bench --only throughput,idle   # a subset of phases",
        "```",
        "",
    ]
    path.write_text("\n".join(out), encoding="utf-8")


def load_average() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _env(settings: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in settings.items())


def write_plot(path: Path, phases: list[Phase]) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_name = {p.name: p for p in phases if not p.error}
    panels = [n for n in ("throughput", "scaleout", "idle") if n in by_name]
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.6), squeeze=False)
    for ax, name in zip(axes[0], panels, strict=True):
        data = by_name[name].data
        if name == "throughput":
            _plot_throughput(ax, data)
        elif name == "scaleout":
            _plot_scaleout(ax, data)
        else:
            _plot_idle(ax, data)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _plot_throughput(ax: Any, data: dict[str, Any]) -> None:
    rows = data["rows"]
    keys = [c.key for c in CONTENDERS if rows.get(c.key)]
    mids = [median([r["mbps"] for r in rows[k]]) for k in keys]
    lows = [m - min(r["mbps"] for r in rows[k]) for k, m in zip(keys, mids, strict=True)]
    highs = [max(r["mbps"] for r in rows[k]) - m for k, m in zip(keys, mids, strict=True)]
    colors = ["#4c72b0" if k.startswith("shipper") else "#8c8c8c" if k == "baseline"
              else "#55a868" for k in keys]
    bars = ax.bar(range(len(keys)), mids, yerr=[lows, highs], color=colors, capsize=4)
    for bar, k, high in zip(bars, keys, highs, strict=True):
        wall = median([r["wall"] for r in rows[k]])
        ax.annotate(f"{wall:.1f} s", (bar.get_x() + bar.get_width() / 2,
                                      bar.get_height() + high),
                    ha="center", va="bottom", fontsize=8, xytext=(0, 3),
                    textcoords="offset points")
    ax.set_xticks(range(len(keys)), [SHORT.get(k, k) for k in keys], fontsize=7)
    ax.set_ylabel("MB/s (median, min-max)")
    ax.set_title(f"Throughput: {data['workload']} (labels: median wall time)", fontsize=9)
    ax.set_ylim(0, max(m + h for m, h in zip(mids, highs, strict=True)) * 1.15)


def _plot_scaleout(ax: Any, data: dict[str, Any]) -> None:
    procs = data["processes"]
    speed = [data["speedups"][str(n)] for n in procs]
    ax.plot(procs, speed, "o-", color="#4c72b0", label="measured speed-up")
    ax.plot(procs, procs, ":", color="#8c8c8c", label="linear")
    ax.plot(procs, [min(n, 12 / 5) for n in procs], "--", color="#c44e52",
            label="cap: 12/s account ÷ 5/s per process")
    ax.set_xlabel("shipper processes")
    ax.set_ylabel("speed-up vs 1 process")
    ax.set_xticks(procs)
    ax2 = ax.twinx()
    rps = [median([r["ok_rps"] for r in data["rows"][str(n)]]) for n in procs]
    ax2.plot(procs, rps, "s-", color="#55a868", alpha=0.7, label="accepted RDS req/s")
    ax2.axhline(12, color="#55a868", linestyle="--", linewidth=0.8)
    ax2.set_ylabel("accepted RDS requests/s (12/s: account limit)")
    ax2.set_ylim(0, max(14, max(rps) * 1.2))
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="upper left")
    ax.set_title("Scale-out (fixed 5/s per process, burst spent)", fontsize=9)


def _plot_idle(ax: Any, data: dict[str, Any]) -> None:
    from matplotlib.ticker import NullFormatter

    sizes = sorted(int(k) for k in data["rows"])
    per = [median([r["rds"] for r in data["rows"][str(n)]]) / n for n in sizes]
    wall = [median([r["wall"] for r in data["rows"][str(n)]]) / n * 1000 for n in sizes]
    ax.plot(sizes, per, "o-", color="#4c72b0", label="RDS requests per instance")
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(0, max(2.0, max(per) * 1.3))
    ax.set_xlabel("instances (nothing changed)")
    ax.set_ylabel("RDS requests per instance")
    ax2 = ax.twinx()
    ax2.plot(sizes, wall, "s--", color="#c44e52", label="wall ms per instance")
    ax2.set_ylabel("wall time per instance (ms)")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="upper center")
    ax.set_title("Idle run cost (full budget): requests are linear, wall time is the "
                 "account limit", fontsize=8)


def write_json(path: Path, phases: list[Phase], profile: Profile) -> None:
    doc = {"profile": profile.__dict__, "machine": machine(),
           "phases": [{"name": p.name, "seconds": p.seconds, "error": p.error,
                       "figures": [f.__dict__ for f in p.figures], "data": p.data}
                      for p in phases]}
    path.write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
