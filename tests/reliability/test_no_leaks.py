"""No leaks: whatever goes wrong, the shipper's output never carries database log content,
credentials, signatures or signed URLs.

Unique canary strings are written into the log files (a line in the file being written, one in
a closed file, a line too long for one portion page, binary bytes in a SQL Server trace file).
The runs use DEBUG level, both output formats, in-process and as a child process, under faults
that make every error path speak: 5xx, dropped connections and streams, overlapping and short
portions, truncated long lines, S3 PutObject failures, access denied on the REST download, a
corrupt state object. Every byte printed (stdout and stderr, JSON or text) is then searched for
the canaries, the configured access key, secret and session token, and for the marks of
signed requests.

The container side (non-root user, read-only root filesystem) is asserted by the infra tests:
tests/infra/test_templates.py::test_container_is_non_root_read_only_and_stops_cleanly and
::test_dockerfile_runtime_contract, and tests/infra/test_moto_deploy.py (the deployed task
definition); they are not repeated here.
"""

from __future__ import annotations

import json
import uuid

import pytest

from shipper.simulator.faults import ApiError, RequestInfo
from tests.reliability.harness import S3Faults, list_keys, spawn, wait_leases_expired
from tests.support.runs import Run, finish, run_cli, run_inproc
from tests.support.world import PREFIX, AwsWorld

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

HOUR = 3600
CANARY = f"CANARY{uuid.uuid4().hex[:16].upper()}"
ACCESS_KEY = "AKIA" + uuid.uuid4().hex[:16].upper()
SECRET_KEY = "relSecret/" + uuid.uuid4().hex + "+Zz"
SESSION_TOKEN = "relToken" + uuid.uuid4().hex * 3
CREDENTIALS = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
               "AWS_SESSION_TOKEN": SESSION_TOKEN}
FORBIDDEN = [CANARY, ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, SECRET_KEY.split("/")[1],
             "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "Signature=",
             "Credential=", "AWS4-HMAC-SHA256", "Authorization"]


def _seed(aws: AwsWorld) -> None:
    w = aws.world
    pg = w.add_instance("pg", "postgres", bytes_per_hour=80_000)
    ss = w.add_instance("ss", "sqlserver-se", bytes_per_hour=80_000, rotation_minutes=60,
                        trace_rotate_bytes=20_000, xel_bytes=4096)
    w.add_instance("my", "mysql", bytes_per_hour=80_000)
    w.advance(1800)
    pg.append("error/postgresql.log.2026-11-20-00",
              f"2026-11-20 00:30:00 UTC::@:[1]:LOG: secret row {CANARY}-closed\n".encode())
    w.advance(HOUR)
    pg.append("error/postgresql.log.2026-11-20-01",
              f"2026-11-20 01:30:00 UTC::@:[1]:LOG: password={CANARY}-active\n".encode())
    pg.append("error/postgresql.log.2026-11-20-01",
              b"LONG " + CANARY.encode() + b"-long " + b"y" * 40_000 + b"\n")
    trace = next(n for n in ss.files() if n.endswith(".trc"))
    ss.append(trace, b"\x00\xff" + CANARY.encode() + b"-binary\x00\xfe")
    my = w.instance("my")
    my.append("slowquery/mysql-slowquery.log",
              f"# Query_time: 9.1\nSELECT '{CANARY}-slow';\n".encode())


def _noisy_faults(aws: AwsWorld) -> None:
    f = aws.sim.faults
    f.error_rate = 0.15
    f.drop_rate = 0.1
    f.drop_mid_stream_rate = 0.4
    f.overlap_rate = 0.5
    f.early_end_rate = 0.5
    f.page_bytes = 8192
    # No size lag here: it triggers a known duplicate (test_regressions.py), not a leak.


def _quiet_faults(aws: AwsWorld) -> None:
    f = aws.sim.faults
    for name in ("error_rate", "drop_rate", "drop_mid_stream_rate", "overlap_rate",
                 "early_end_rate"):
        setattr(f, name, 0.0)
    f.page_bytes = 1_048_576


def _assert_clean(run: Run, what: str) -> None:
    text = run.stdout + "\n" + run.stderr
    for needle in FORBIDDEN:
        assert needle not in text, f"{what}: output contains {needle!r}:\n{run.describe()}"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_debug_output_under_faults_carries_no_content_or_secrets(aws_world: AwsWorld,
                                                                 fmt: str) -> None:
    _seed(aws_world)
    env = {**CREDENTIALS, "SHIPPER_LOG_LEVEL": "debug", "SHIPPER_LOG_FORMAT": fmt,
           "SHIPPER_MAX_ATTEMPTS": "3", "SHIPPER_LEASE_SECONDS": "2"}
    runs: list[tuple[str, Run]] = []

    _noisy_faults(aws_world)
    runs.append(("noisy in-process", run_inproc(
        aws_world, "run", s3_faults=S3Faults(0.3, seed=7), **env)))
    wait_leases_expired(aws_world)  # a lost answer may leave a lease held until it expires

    def deny(info: RequestInfo) -> ApiError | None:
        if info.action == "DownloadCompleteLogFile":
            return ApiError("AccessDenied", "not authorized to perform: "
                            "rds:DownloadCompleteDBLogFile", 403)
        return None

    aws_world.world.advance(HOUR)
    remove = aws_world.sim.add_hook(deny)
    runs.append(("REST denied", run_inproc(aws_world, "run", **env)))
    remove()
    assert runs[-1][1].code == 3, runs[-1][1].describe()
    wait_leases_expired(aws_world)
    aws_world.world.advance(600)
    child = spawn(aws_world, "noleak-child", "run", **env)
    runs.append(("noisy child", finish(child, "proc", "noleak-child", timeout=120)))
    _quiet_faults(aws_world)
    wait_leases_expired(aws_world)
    runs.append(("quiet", run_inproc(aws_world, "run", **env)))

    # A corrupt state object: its bytes (which hold file names and markers) stay unprinted.
    client = aws_world.s3_client()
    key = aws_world.state_key("pg")
    client.put_object(Bucket=aws_world.bucket, Key=key,
                      Body=b'{"schema": 1, "oops": "' + CANARY.encode() + b'-state"')
    runs.append(("corrupt state", run_inproc(aws_world, "run", **env)))
    runs.append(("state show", run_cli(aws_world, "state", "show", "--instance", "pg",
                                       **env)))
    runs.append(("state repair", run_cli(aws_world, "state", "repair", "--instance", "pg",
                                         "--yes", **env)))
    runs.append(("clean", run_inproc(aws_world, "run", **env)))
    runs.append(("status", run_cli(aws_world, "status", **env)))
    runs.append(("status --json", run_cli(aws_world, "status", "--json", **env)))

    for what, run in runs:
        _assert_clean(run, what)
    assert runs[4][1].code == 4, runs[4][1].describe()
    # The runs did speak: debug lines, errors and retries were printed.
    everything = "".join(r.stdout + r.stderr for _, r in runs)
    assert "planned" in everything and "ERROR" in everything.upper()
    if fmt == "json":
        assert any(line.get("level") == "DEBUG" for _, r in runs for line in r.lines)
    # ... and the canaries did reach S3 (so they passed through the shipper).
    aws_world.verify().assert_ok()
    found = 0
    for data_key in list_keys(aws_world, f"{PREFIX}data/"):
        import gzip

        body = gzip.decompress(client.get_object(Bucket=aws_world.bucket,
                                                 Key=data_key)["Body"].read())
        found += body.count(CANARY.encode())
    assert found >= 4, found


def test_summary_and_emf_carry_no_content(aws_world: AwsWorld) -> None:
    """The machine-read lines (summary, EMF) hold counts and ids only."""
    _seed(aws_world)
    res = run_inproc(aws_world, "run", **CREDENTIALS)
    assert res.code == 0, res.describe()
    _assert_clean(res, "run")
    assert res.emf is not None and res.summary is not None
    for doc in (res.emf, res.summary):
        for value in json.loads(json.dumps(doc)).values():
            assert not isinstance(value, str) or len(value) < 80, value
