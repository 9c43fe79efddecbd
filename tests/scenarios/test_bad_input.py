"""Scenario 9: bad configuration and hostile input. Every expected failure is one clear line
(no traceback) with its documented exit code; odd instances and names are handled."""

from __future__ import annotations

import socket
import threading
import urllib.parse

import pytest

from shipper.exitcodes import ExitCode
from shipper.simulator.faults import RequestInfo
from tests.scenarios.helpers import (
    error_lines,
    head_all,
    ok_run,
    read_data,
    request_log,
    shipped_bytes,
    state_key,
)
from tests.support.runs import Run, assert_no_traceback, describe, run_cli
from tests.support.world import PREFIX, AwsWorld

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

MINUTE = 60


def one_error(res: Run, *words: str) -> str:
    assert_no_traceback(res)
    errors = error_lines(res)
    assert len(errors) == 1, describe(res)
    line = errors[0]
    assert "\n" not in line
    for word in words:
        assert word.lower() in line.lower(), (word, line)
    return line


def nothing_touched(aws: AwsWorld) -> None:
    assert aws.sim.stats.total_requests == 0
    resp = aws.s3_client().list_objects_v2(Bucket=aws.bucket)
    assert resp.get("KeyCount", 0) == 0


def test_missing_bucket_setting(aws_world: AwsWorld) -> None:
    aws_world.world.add_instance("pg", "postgres", bytes_per_hour=100_000)
    res = aws_world.run(SHIPPER_BUCKET="", RDSLOGSBUCKET="")
    assert res.code == ExitCode.CONFIG, describe(res)
    line = one_error(res, "SHIPPER_BUCKET")
    assert line.startswith("rds-log-shipper: error:")
    nothing_touched(aws_world)


@pytest.mark.parametrize("setting,value", [
    ("SHIPPER_BUCKET", "Not_A_Bucket"),
    ("SHIPPER_CONCURRENCY", "many"),
    ("SHIPPER_CONCURRENCY", "0"),
    ("SHIPPER_RATE", "-3"),
    ("SHIPPER_MAX_RUNTIME", "soon"),
    ("SHIPPER_REGIONS", "moon-base-1x"),
    ("SHIPPER_PREFIX", "logs/../other"),
    ("SHIPPER_TAGS", "env"),
    ("SHIPPER_LOG_FORMAT", "xml"),
    ("SHIPPER_ROLE_ARNS", "arn:aws:iam::12:role/x"),
], ids=lambda v: str(v))
def test_malformed_setting(aws_world: AwsWorld, setting: str, value: str) -> None:
    aws_world.world.add_instance("pg", "postgres", bytes_per_hour=100_000)
    res = aws_world.run(**{setting: value})
    assert res.code == ExitCode.CONFIG, describe(res)
    print(one_error(res, setting))
    nothing_touched(aws_world)


def test_malformed_flag(aws_world: AwsWorld) -> None:
    res = aws_world.run("run", "--concurrency", "lots")
    assert res.code == ExitCode.CONFIG, describe(res)
    one_error(res, "--concurrency")
    res = aws_world.run("run", "--no-such-flag")
    assert res.code == ExitCode.CONFIG, describe(res)
    one_error(res, "--no-such-flag")
    nothing_touched(aws_world)


def test_bucket_that_does_not_exist(aws_world: AwsWorld) -> None:
    aws_world.world.add_instance("pg", "postgres", bytes_per_hour=100_000)
    aws_world.world.advance(30 * MINUTE)
    res = aws_world.run(SHIPPER_BUCKET="no-such-bucket-4242")
    assert res.code == ExitCode.AWS_ACCESS, describe(res)
    print(one_error(res, "no-such-bucket-4242", "does not exist"))
    assert aws_world.sim.stats.total_requests == 0  # checked before any RDS work


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_rds_endpoint(aws_world: AwsWorld) -> None:
    res = aws_world.run(AWS_ENDPOINT_URL_RDS=f"http://127.0.0.1:{closed_port()}",
                        SHIPPER_MAX_ATTEMPTS="2")
    assert res.code == ExitCode.AWS_ACCESS, describe(res)
    print(one_error(res, "RDS", "unreachable"))
    assert aws_world.data_keys() == []


def test_no_credentials(aws_world: AwsWorld) -> None:
    res = aws_world.run(AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="", AWS_SESSION_TOKEN="",
                        AWS_PROFILE="", AWS_SHARED_CREDENTIALS_FILE="/nonexistent/credentials",
                        AWS_CONFIG_FILE="/nonexistent/config",
                        AWS_CONTAINER_CREDENTIALS_RELATIVE_URI="",
                        AWS_CONTAINER_CREDENTIALS_FULL_URI="", AWS_WEB_IDENTITY_TOKEN_FILE="",
                        SHIPPER_MAX_ATTEMPTS="2")
    assert res.code == ExitCode.AWS_ACCESS, describe(res)
    print(one_error(res, "credentials"))
    assert aws_world.sim.stats.total_requests == 0


def test_stopped_and_paused_instances_are_skipped(aws_world: AwsWorld) -> None:
    w = aws_world.world
    w.add_instance("up", "postgres", bytes_per_hour=150_000)
    stopped = w.add_instance("stopped", "mysql", bytes_per_hour=150_000)
    paused = w.add_instance("paused", "aurora-postgresql", bytes_per_hour=150_000)
    w.advance(40 * MINUTE)
    stopped.status = "stopped"
    paused.paused = True
    res = ok_run(aws_world)
    infos = {(str(x.get("message")), x.get("instance")) for x in res.lines
             if x.get("level") == "INFO"}
    assert ("instance serves no logs in its current status; skipping", "stopped") in infos
    assert ("instance serves no logs right now; skipping", "paused") in infos
    assert res.summary["instances_skipped"] >= 1
    assert not error_lines(res)
    assert {m["db-instance"] for m in head_all(aws_world).values()} == {"up"}
    aws_world.verify(instances=["up"]).assert_ok()
    # Back in service: everything they wrote before is shipped.
    stopped.status = "available"
    paused.paused = False
    w.advance(10 * MINUTE)
    ok_run(aws_world)
    aws_world.verify().assert_ok()


def test_instance_deleted_mid_run(aws_world: AwsWorld) -> None:
    w = aws_world.world
    for ident, engine in (("keep-a", "postgres"), ("doomed", "mysql"), ("keep-b", "oracle-ee")):
        w.add_instance(ident, engine, bytes_per_hour=150_000)
    w.advance(70 * MINUTE)
    done = threading.Event()

    def hook(info: RequestInfo) -> None:
        if info.instance == "doomed" and info.action == "DownloadDBLogFilePortion" \
                and not done.is_set():
            done.set()
            w.remove_instance("doomed")

    remove = aws_world.sim.add_hook(hook)
    try:
        res = ok_run(aws_world)
    finally:
        remove()
    assert done.is_set()
    assert ("instance disappeared during the run", "doomed") in {
        (str(x.get("message")), x.get("instance")) for x in res.lines}
    assert not error_lines(res), describe(res)
    aws_world.verify().assert_ok()  # what was shipped of it is exact; the rest is gone
    again = ok_run(aws_world)
    assert not error_lines(again)


HOSTILE = [
    "../../etc/passwd",
    "/abs/olute.log",
    "..",
    "error/../../../escape.log",
    "with space.log",
    "tab\there.log",
    "x" * 300,
    "日本語/ログ.log",
    "error/%2e%2e/pct.log",
    "trailing/",
    "back\\slash.log",
]


@pytest.mark.parametrize("portion_mib", ["8", "0"], ids=["portions", "rest"])
def test_hostile_log_file_names(aws_world: AwsWorld, portion_mib: str) -> None:
    w = aws_world.world
    pg = w.add_instance("pg", "postgres", bytes_per_hour=50_000)
    w.advance(10 * MINUTE)
    for i, name in enumerate(HOSTILE):
        pg.add_file(name, f"line {i} of {name!r}\n".encode() * (50 + i))
    w.advance(MINUTE)
    with request_log(aws_world) as rec:
        res = ok_run(aws_world, SHIPPER_PORTION_MAX_MIB=portion_mib)
    assert not error_lines(res)
    wanted = "DownloadDBLogFilePortion" if portion_mib != "0" else "DownloadCompleteLogFile"
    for name in HOSTILE:  # each name went through the API path under test, unmangled
        assert wanted in {i.action for i in rec.downloads(log_file=name)}, name
    aws_world.verify().assert_ok()
    metas = head_all(aws_world)
    shipped_names = set()
    for key, meta in metas.items():
        assert key.startswith(f"{PREFIX}data/"), key
        segments = key.split("/")
        assert "" not in segments and "." not in segments and ".." not in segments, key
        assert all(ch.isprintable() and ch not in "\\\t" for ch in key), key
        assert len(key.encode()) <= 1024
        assert all(len(s) <= 200 for s in segments), key
        shipped_names.add(urllib.parse.unquote(meta["log-file"]))
        assert read_data(aws_world, key)  # readable, non-empty
    assert set(HOSTILE) <= shipped_names
    idle = ok_run(aws_world, SHIPPER_PORTION_MAX_MIB=portion_mib)
    assert idle.summary["objects_written"] == 0 and idle.summary["complete_downloads"] == 0


def test_corrupt_state_then_repair(aws_world: AwsWorld) -> None:
    w = aws_world.world
    w.add_instance("bad", "mysql", bytes_per_hour=150_000)
    w.add_instance("good", "postgres", bytes_per_hour=150_000)
    w.advance(50 * MINUTE)
    ok_run(aws_world)
    key = state_key(aws_world, "bad")
    client = aws_world.s3_client()
    client.put_object(Bucket=aws_world.bucket, Key=key, Body=b"\x00{not json at all")
    bad_before = shipped_bytes(aws_world, "bad")
    keys_before = {k for k in aws_world.data_keys() if "/instance=bad/" in k}
    w.advance(30 * MINUTE)

    res = aws_world.run()
    assert res.code == ExitCode.STATE_CORRUPT, describe(res)
    line = one_error(res, "state repair", "bad")
    print(line)
    assert "reset" in line or "repair" in line
    assert {k for k in aws_world.data_keys() if "/instance=bad/" in k} == keys_before
    aws_world.verify(instances=["good"]).assert_ok()  # the other instance shipped normally

    status = run_cli(aws_world, "status")
    assert status.code == ExitCode.STATE_CORRUPT and "bad" in status.stdout
    repaired = run_cli(aws_world, "state", "repair", "--instance", "bad", "--yes")
    assert repaired.code == 0, repaired.output
    assert "repair:" in repaired.stdout and f"{bad_before} bytes accounted for" in \
        repaired.stdout, repaired.output
    after = ok_run(aws_world)
    report = aws_world.verify()
    report.assert_ok()  # no duplicate, no overlap: only the new bytes were shipped
    assert shipped_bytes(aws_world, "bad") == sum(g.size for g in w.generations("bad"))
    assert after.summary["failures"] == 0
    with request_log(aws_world) as rec:
        idle = ok_run(aws_world)
    assert idle.summary["objects_written"] == 0
    assert rec.downloads() == [], [(i.instance, i.log_file) for i in rec.downloads()]
