"""``python -m bench`` (full, writes bench/RESULTS.md and bench/results.png) and
``python -m bench --quick --out DIR`` (every workload shrunk; the CI smoke test).

Runs every phase against the RDS simulator and LocalS3 with realistic latency and the real
account throttle, then writes the report. Nothing is asserted about timings: a phase that
crashes is reported (and makes the exit code 1); a target that is missed is only reported.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

from bench import api_bound, contention, cost, phases
from bench.harness import Lab
from bench.measure import Phase
from bench.phases import FULL, QUICK, say
from bench.report import commit, load_average, write_json, write_markdown, write_plot

HERE = Path(__file__).resolve().parent
PHASES = {**phases.PHASES, "neighbour": contention.neighbour, "pairs": contention.pairs,
          "cost": cost.cost, "api": api_bound.api_bound}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="shrink every workload (under 2 minutes; CI smoke test)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for RESULTS.md, results.png and results.json "
                             "(default: bench/ in full mode, bench/out/ in quick mode)")
    parser.add_argument("--only", default=",".join(PHASES),
                        help=f"comma-separated phases to run (default all: {','.join(PHASES)})")
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    wanted = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in PHASES]
    if unknown:
        parser.error(f"unknown phase(s) {unknown}; choose from {list(PHASES)}")
    out = args.out or (HERE / "out" if args.quick else HERE)
    out.mkdir(parents=True, exist_ok=True)
    raw_dir = out if args.quick or args.out else HERE / "out"
    raw_dir.mkdir(parents=True, exist_ok=True)

    command = "python -m bench" + (" --quick" if args.quick else "") + (
        f" --only {args.only}" if args.only != ",".join(PHASES) else "")
    started = time.time()
    load_before = load_average()
    commit_before = commit()
    done: list[Phase] = []
    failed = False
    with Lab() as lab:
        for name in wanted:
            say(f"phase {name} ({profile.name})")
            t0 = time.perf_counter()
            try:
                phase = PHASES[name](lab, profile)
            except Exception as err:  # report it, keep going, fail at the end
                failed = True
                traceback.print_exc()
                phase = Phase(name, name, error=f"{type(err).__name__}: {err}")
            phase.seconds = time.perf_counter() - t0
            done.append(phase)
            cost.MEASURED[name] = phase
            say(f"phase {name} took {phase.seconds:.0f}s")
    png = out / "results.png"
    has_png = write_plot(png, done)
    md = out / "RESULTS.md"
    write_markdown(md, done, profile, png.name if has_png else None, started, command,
                   load_before, commit_before)
    write_json(raw_dir / f"results-{profile.name}.json", done, profile)
    say(f"wrote {md}" + (f" and {png}" if has_png else "") + f" in {time.time() - started:.0f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
