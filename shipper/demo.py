"""``rds-log-shipper demo``: the embedded default, with no AWS account.

It starts the built-in RDS log simulator and a local S3 (moto's server mode), both on
127.0.0.1, runs the real shipper against them over HTTP every few simulated hours across
rotations, daily name reuse and retention, then proves the archive byte for byte against the
simulator's ground truth, copies the objects into a local folder (replacing an earlier demo's
copy) and queries that copy with DuckDB (``shipper.archive_query``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from shipper.archive_query import NotAnArchiveCopy, copy_archive, read_lines_sql
from shipper.config import load_settings
from shipper.exitcodes import ExitCode
from shipper.logs import setup_logging

DEMO_BUCKET = "rds-log-shipper-demo"
DEMO_ENGINES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("orders-pg", "postgres", {}),
    ("analytics-aurora-pg-1", "aurora-postgresql", {"cluster": "analytics"}),
    ("shop-mysql", "mysql", {}),
    ("billing-aurora-mysql-1", "aurora-mysql", {"cluster": "billing"}),
    ("erp-sqlserver", "sqlserver-se", {}),
    ("finance-oracle", "oracle-ee", {}),
)
RUN_EVERY_HOURS = 3


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    with mock.patch.dict(os.environ, values, clear=False):
        yield


def _say(text: str) -> None:
    print(text, flush=True)


def run_demo(instances: int, hours: int, out: str) -> int:
    try:
        from shipper.simulator.harness import simulated_environment
        from shipper.simulator.oracle import verify
        from shipper.simulator.s3server import LocalS3
        from shipper.simulator.server import SimulatorServer
        from shipper.simulator.world import World
    except ImportError as err:  # moto missing
        _say(f"rds-log-shipper: error: the demo needs the demo extra ({err}) "
             "(hint: pip install 'rds-log-shipper[demo]')")
        return int(ExitCode.CONFIG)
    if not 1 <= instances <= 200 or not 1 <= hours <= 24 * 14:
        _say("rds-log-shipper: error: --instances must be 1..200 and --hours 1..336")
        return int(ExitCode.CONFIG)

    world = World(seed=2026)
    for i in range(instances):
        ident, engine, extra = DEMO_ENGINES[i % len(DEMO_ENGINES)]
        if i >= len(DEMO_ENGINES):
            ident = f"{ident}-{i // len(DEMO_ENGINES) + 1}"
        world.add_instance(ident, engine, bytes_per_hour=150_000,
                           tags={"env": "demo"}, **extra)

    from shipper.runner import Runner

    with LocalS3() as s3, SimulatorServer(world) as sim:
        s3.create_bucket(DEMO_BUCKET)
        env = simulated_environment(sim.endpoint_url, s3.endpoint_url, DEMO_BUCKET, settings={
            "SHIPPER_RATE": "50", "SHIPPER_BURST": "100", "SHIPPER_EMF": "false"})
        _say(f"Simulated RDS at {sim.endpoint_url}, local S3 at {s3.endpoint_url}")
        _say(f"{instances} instances ({', '.join(i.engine for i in world.instances())}); "
             f"shipping every {RUN_EVERY_HOURS} simulated hours for {hours} hours\n")
        started = time.monotonic()
        with _environment(env):
            settings = load_settings()
            setup_logging("demo", "text", "WARNING", sys.stdout)
            elapsed = 0
            while True:
                runner = Runner(settings)
                code = runner.run()
                s = runner.summary
                _say(f"  hour {elapsed:>3}: exit {code}, {s['files_shipped']:>3} files, "
                     f"{s['bytes_shipped'] / 1e6:7.2f} MB in {s['objects_written']:>3} "
                     f"objects, {s['rds_requests']:>4} RDS calls "
                     f"({s['complete_downloads']} complete-file, {s['portion_calls']} portion), "
                     f"{s['bytes_held_back']} bytes held back")
                if code != ExitCode.OK:
                    return code
                if elapsed >= hours:
                    break
                step = min(RUN_EVERY_HOURS, hours - elapsed)
                world.advance(step * 3600)
                elapsed += step
            idle = Runner(settings)
            idle.run()
            _say(f"  idle run:  {idle.summary['rds_requests']} RDS calls, "
                 f"{idle.summary['objects_written']} objects (nothing changed)")
            _say("  (held back: a growing file's unfinished last line, shipped once it is "
                 "complete)\n")
            client = _s3_client(s3.endpoint_url)
            report = verify(client, DEMO_BUCKET, settings.prefix, world,
                            require=lambda g: g.current_name is not None)
            _say(report.summary())
            try:
                copied = copy_archive(client, DEMO_BUCKET, settings.prefix, Path(out))
            except NotAnArchiveCopy as err:
                _say(f"rds-log-shipper: error: {err} (hint: choose another --out folder)")
                return int(ExitCode.CONFIG)
        _say(f"\n{copied} objects copied to {Path(out).resolve()}/ "
             f"(s3://{DEMO_BUCKET}/{settings.prefix}...) in {time.monotonic() - started:.1f}s")
        _say("Read one: gunzip -c \"$(find " + out + " -name '*.log.gz' | head -1)\" | head")
        _query(Path(out) / settings.prefix, time.strftime("%Y-%m-%d", time.gmtime(world.now)))
        return int(ExitCode.OK if report.ok else ExitCode.PARTIAL_FAILURE)


def _s3_client(endpoint: str) -> object:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def _query(root: Path, day: str) -> None:
    """Print one SQL query over the copy and DuckDB's answer: the archive in use."""
    try:
        import duckdb
    except ImportError:
        _say("(install the demo extra to query the copy with DuckDB: "
             "pip install 'rds-log-shipper[demo]')")
        return
    sql = (f"SELECT instance, count(*) AS lines,\n"
           f"       count(*) FILTER (WHERE line LIKE '%ERROR%') AS error_lines\n"
           f"FROM {read_lines_sql(root)}\n"
           f"WHERE dt = DATE '{day}'\nGROUP BY instance ORDER BY instance;")
    _say(f"\nQuery the copy with DuckDB (README, \"Query the archive\"):\n\n{sql}\n")
    rows = duckdb.connect().execute(sql).fetchall()
    width = max([len("instance"), *(len(str(r[0])) for r in rows)])
    _say(f"{'instance':<{width}}  {'lines':>7}  {'error_lines':>11}")
    for instance, lines, errors in rows:
        _say(f"{instance:<{width}}  {lines:>7}  {errors:>11}")
