"""Benchmarks of rds-log-shipper against the RDS simulator and LocalS3 (issue 4).

``python -m bench`` runs every phase and writes ``bench/RESULTS.md`` and ``bench/results.png``;
``python -m bench --quick --out DIR`` shrinks every workload (the CI smoke test). Modules:
``workloads`` (the simulated worlds), ``harness`` (servers, contender processes, counters),
``contenders`` (the floor and the baseline), ``shipper_run`` / ``profiled_run`` (the real CLI
plus its peak RSS / per-operation timers), ``phases`` (the five measurements), ``measure``
(statistics), ``report`` (RESULTS.md and the plot).
"""
