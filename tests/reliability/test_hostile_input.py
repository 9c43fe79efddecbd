"""Hostile and bad input: each case ends with a clear one-line error (no Traceback) or is handled
safely, and nothing is lost.

* log file names an attacker or a strange engine could produce: shipped byte for byte, S3 keys
  stay safe (all under the prefix, no ``.``/``..`` segment, no control characters) and the
  ``log-file`` metadata round-trips through ``shipper.layout.decode_metadata_value``;
* a state object that is corrupt, truncated, of the wrong types or from a future version: exit
  4 naming the recovery, the other instances still shipped, nothing re-shipped; after
  ``state repair --instance X --yes`` nothing is duplicated and only new bytes are shipped;
* AWS refusing us, one operation at a time, expired credentials, missing or foreign buckets,
  unreachable endpoints: exit 3 with one line naming the action and a hint;
* every setting of ``shipper.config.SETTINGS`` fed a malformed value: exit 2, one line
  naming the setting (the values tests/unit/test_config.py does not already try).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from shipper.config import SETTINGS
from shipper.layout import decode_metadata_value, metadata_names
from shipper.simulator.faults import ApiError, RequestInfo
from shipper.simulator.world import GenerationRecord
from tests.reliability.harness import list_keys, one_line_error, refuse
from tests.support.runs import Environment, Run, assert_no_traceback, run_cli, run_inproc
from tests.support.world import BASE_ENV, PREFIX, AwsWorld
from tests.unit.test_config import BAD as UNIT_BAD

HOUR = 3600

# --- hostile log file names ----------------------------------------------------------------------

HOSTILE_NAMES = {
    "dotdot": "../../../../etc/passwd",
    "dotdot-inside": "error/../../escape.log",
    "dot-segments": "./error/./x/../y.log",
    "only-dotdot": "..",
    "absolute": "/var/log/absolute.log",
    "double-slash": "error//double.log",
    "trailing-slash": "error/dir/",
    "space": "error/with  two spaces.log",
    "tab": "error/tab\there.log",
    "newline": "error/new\nline.log",
    "carriage-return": "error/carriage\rreturn.log",
    "del": "error/del\x7f.log",
    "long-ascii": "error/" + "a" * 330 + ".log",
    "non-ascii": "error/ünïcödé-日本語-😀.log",
    "percent": "error/100%25-%2e%2e-%zz.log",
    "shell-and-xml": "error/q\"'<>&;|`$(x){}[].log",
    "backslash": "error\\..\\win.log",
    "query-chars": "error/what?is#this=.log",
}
# XML 1.0 cannot carry the other C0 controls: the API lists such names with U+FFFD, so no
# client can ask for them. The shipper must survive them and ship everything else.
UNREPRESENTABLE_NAMES = {
    "bell": "error/bell\x07.log",
    "escape": "error/esc\x1b[31m.log",
}
_C0 = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _content(key: str, lines: int = 40) -> bytes:
    return b"".join(f"hostile-name {key} line {i:04d}\n".encode() for i in range(lines))


def _check_keys(aws: AwsWorld) -> None:
    for key in list_keys(aws, ""):
        assert key.startswith(PREFIX), key
        segments = key.split("/")
        assert "." not in segments and ".." not in segments, key
        assert not re.search("[\x00-\x1f\x7f\\\\]", key), repr(key)
        assert len(key.encode("utf-8")) <= 1024, key


def _check_metadata(aws: AwsWorld, names: set[str]) -> None:
    client = aws.s3_client()
    for key in list_keys(aws, f"{PREFIX}data/"):
        meta = client.head_object(Bucket=aws.bucket, Key=key)["Metadata"]
        value = decode_metadata_value(meta["log-file"])
        assert any(metadata_names(value, name) for name in names), (key, meta["log-file"])
        size = sum(len(k.encode()) + len(v.encode()) for k, v in meta.items())
        assert size <= 2048, f"user metadata of {key} is {size} bytes: S3 refuses > 2 KB"


@pytest.mark.slow
def test_hostile_file_names_are_shipped_byte_for_byte_under_safe_keys(
        aws_world: AwsWorld) -> None:
    w = aws_world.world
    inst = w.add_instance("pg", "postgres", bytes_per_hour=50_000)
    w.advance(600)
    for key, name in {**HOSTILE_NAMES, **UNREPRESENTABLE_NAMES}.items():
        inst.add_file(name, _content(key))

    def representable(g: GenerationRecord) -> bool:
        return g.exists and not _C0.search(g.current_name or "")

    first = run_inproc(aws_world, "run")
    assert first.code == 0, first.describe()
    assert_no_traceback(first)
    aws_world.verify(require=representable).assert_ok()
    # The files grow: the next run resumes each of them (portions with the stored markers).
    w.advance(600)
    for key, name in HOSTILE_NAMES.items():
        inst.append(name, f"more for {key}\n".encode())
    second = run_inproc(aws_world, "run")
    assert second.code == 0, second.describe()
    idle = run_inproc(aws_world, "run")
    assert idle.code == 0 and idle.summary is not None, idle.describe()
    assert idle.summary["objects_written"] == 0, idle.describe()
    report = aws_world.verify(require=representable)
    report.assert_ok()
    shipped = {m.truth.names[-1] for m in report.complete}
    assert set(HOSTILE_NAMES.values()) <= shipped
    _check_keys(aws_world)
    _check_metadata(aws_world, {n for g in w.generations() for n in g.names})


@pytest.mark.slow
def test_edge_spaces_in_a_name_survive_the_metadata(aws_world: AwsWorld) -> None:
    """Was a bug, fixed in 2304241: layout.metadata_value kept leading/trailing spaces as they
    were, and HTTP drops them from header values, so the log-file metadata of ' name ' came
    back as 'name ' (the oracle could not match the object to its file)."""
    w = aws_world.world
    inst = w.add_instance("pg", "postgres", bytes_per_hour=50_000)
    inst.add_file(" error/edge spaces.log ", _content("edge"))
    res = run_inproc(aws_world, "run")
    assert res.code == 0, res.describe()
    aws_world.verify().assert_ok()


@pytest.mark.slow
def test_a_long_non_ascii_name_fits_the_s3_metadata_limit(aws_world: AwsWorld) -> None:
    """Was a shipper bug, fixed in 2304241: the log-file metadata was the whole percent-encoded
    name (2.7 KB for 300 non-ASCII characters) and S3 refuses user metadata over 2 KB
    (MetadataTooLarge); moto does not enforce the limit, this test does."""
    w = aws_world.world
    inst = w.add_instance("pg", "postgres", bytes_per_hour=50_000)
    name = "error/" + "日志" * 160 + ".log"
    inst.add_file(name, _content("long-cjk"))
    res = run_inproc(aws_world, "run")
    assert res.code == 0, res.describe()
    aws_world.verify().assert_ok()
    _check_metadata(aws_world, {n for g in w.generations() for n in g.names})


# --- a bad state object --------------------------------------------------------------------------


def _state_key(aws: AwsWorld, instance: str) -> str:
    return aws.state_key(instance)


def _corrupt(doc: dict[str, Any], kind: str) -> bytes:
    raw = json.dumps(doc).encode()
    gen = next(iter(doc["generations"].values()))
    if kind == "not-json":
        return b"{this is not json"
    if kind == "truncated":
        return raw[: len(raw) // 2]
    if kind == "empty":
        return b""
    if kind == "binary":
        return b"\xff\xfe\x00\x01garbage"
    if kind == "a-list":
        return b"[]"
    if kind == "deeply-nested":
        return b"[" * 200_000 + b"]" * 200_000
    if kind == "offset-as-text":
        gen["offset"] = str(gen["offset"])
    elif kind == "negative-offset":
        gen["offset"] = -5
    elif kind == "generations-a-list":
        doc["generations"] = list(doc["generations"].values())
    elif kind == "generation-a-number":
        doc["generations"] = {gen["gen_id"]: 42}
    elif kind == "bad-check":
        gen["checks"] = [[0, 10, "not-a-digest"]]
    elif kind == "missing-generations":
        del doc["generations"]
    elif kind == "schema-as-text":
        doc["schema"] = "1"
    elif kind == "gaps-a-string":
        doc["gaps"] = "oops"
    elif kind == "gap-entries-not-objects":
        doc["gaps"] = [1, "two", None]
    elif kind == "revision-as-text":
        doc["revision"] = "many"
    elif kind == "clean-flag-as-text":
        doc["last_run_clean"] = "false"
    elif kind == "future-schema":
        doc["schema"] = 99
    else:
        raise AssertionError(kind)
    return json.dumps(doc).encode()


CORRUPTIONS = ["not-json", "truncated", "empty", "binary", "a-list", "deeply-nested",
               "offset-as-text", "negative-offset", "generations-a-list",
               "generation-a-number", "bad-check", "missing-generations", "schema-as-text",
               "gaps-a-string", "gap-entries-not-objects", "revision-as-text",
               "clean-flag-as-text", "future-schema"]
# Were bugs, fixed in 2304241: "gaps-a-string" and "gap-entries-not-objects" were accepted
# (exit 0) and `status` then died with a Traceback; "clean-flag-as-text" was read as True;
# "deeply-nested" raised RecursionError (exit 1) instead of exit 4 with the recovery.


VICTIM_DATA = f"{PREFIX}data/account=123456789012/region=us-east-1/instance=victim/"
OTHER_DATA = f"{PREFIX}data/account=123456789012/region=us-east-1/instance=other/"


def _two_instances(aws: AwsWorld) -> tuple[str, bytes]:
    """'victim' and 'other', shipped once; returns the victim's state key and good state."""
    aws.world.add_instance("victim", "postgres", bytes_per_hour=60_000)
    aws.world.add_instance("other", "mysql", bytes_per_hour=60_000)
    aws.world.advance(HOUR + 600)
    assert run_inproc(aws, "run").code == 0
    key = _state_key(aws, "victim")
    good = aws.s3_client().get_object(Bucket=aws.bucket, Key=key)["Body"].read()
    return key, good


def _refused(aws: AwsWorld, kind: str) -> list[str]:
    """One run with the victim's state corrupted by ``kind``; what went wrong, if anything."""
    victim_keys = set(list_keys(aws, VICTIM_DATA))
    other_before = len(list_keys(aws, OTHER_DATA))
    bad = run_inproc(aws, "run")
    problems = []
    if bad.code != 4:
        problems.append(f"exit {bad.code}, not 4")
    try:
        message = one_line_error(bad)
    except AssertionError as err:
        return [*problems, str(err)]
    expected = "upgrade" if kind == "future-schema" else "state repair"
    if "victim" not in message or expected not in message:
        problems.append(f"the error does not name the instance and {expected!r}: {message}")
    if set(list_keys(aws, VICTIM_DATA)) != victim_keys:
        problems.append("data was shipped for the instance whose state is unusable")
    if len(list_keys(aws, OTHER_DATA)) <= other_before:
        problems.append("the other instance was not shipped")
    show = run_cli(aws, "state", "show", "--instance", "victim")
    if show.code != 4 or "Traceback" in show.stdout + show.stderr:
        problems.append(f"`state show` exit {show.code}: {show.stdout[-300:]}{show.stderr}")
    status = run_cli(aws, "status")
    if status.code != 4 or status.crashed or "Traceback" in status.stdout + status.stderr:
        problems.append(f"`status` exit {status.code} {status.crashed}: {status.stderr[-300:]}")
    return problems


@pytest.mark.slow
def test_a_bad_state_stops_that_instance_only(aws_world: AwsWorld) -> None:
    """Every kind of bad state object, one after the other on the same instance: exit 4 with a
    one-line error naming the recovery, nothing shipped for it, the other instance shipped,
    ``state show`` and ``status`` saying so without a Traceback."""
    key, good = _two_instances(aws_world)
    client = aws_world.s3_client()
    failures = {}
    for kind in CORRUPTIONS:
        client.put_object(Bucket=aws_world.bucket, Key=key,
                          Body=_corrupt(json.loads(good), kind))
        aws_world.world.advance(600)
        problems = _refused(aws_world, kind)
        if problems:
            failures[kind] = problems
    assert not failures, json.dumps(failures, indent=1)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["not-json", "truncated", "offset-as-text", "future-schema",
                                  "deeply-nested"])
def test_repair_after_a_bad_state_ships_only_new_bytes(aws_world: AwsWorld, kind: str) -> None:
    key, good = _two_instances(aws_world)
    aws_world.s3_client().put_object(Bucket=aws_world.bucket, Key=key,
                                     Body=_corrupt(json.loads(good), kind))
    aws_world.world.advance(HOUR)
    assert not _refused(aws_world, kind)
    repair = run_cli(aws_world, "state", "repair", "--instance", "victim", "--yes")
    assert repair.code == 0, repair.describe()
    after = run_inproc(aws_world, "run")
    assert after.code == 0, after.describe()
    aws_world.verify().assert_ok()  # complete, and nothing shipped twice
    idle = run_inproc(aws_world, "run")
    assert idle.summary is not None and idle.summary["objects_written"] == 0, idle.describe()


# --- AWS refusing us -----------------------------------------------------------------------------


def _world_with_both_download_paths(aws: AwsWorld) -> None:
    """A closed file (REST download) and the file being written (portions)."""
    aws.world.add_instance("pg", "postgres", bytes_per_hour=60_000)
    aws.world.advance(HOUR + 600)


def _assert_access_error(run: Run, *needles: str) -> str:
    assert run.code == 3, run.describe()
    message = one_line_error(run)
    for needle in needles:
        assert needle.lower() in message.lower(), (needle, message)
    assert "hint" in message.lower(), message
    return message


@pytest.mark.parametrize(("service", "operation", "action"), [
    ("rds", "DescribeDBInstances", "rds:DescribeDBInstances"),
    ("rds", "DescribeDBLogFiles", "rds:DescribeDBLogFiles"),
    ("rds", "DownloadDBLogFilePortion", "rds:DownloadDBLogFilePortion"),
    ("s3", "GetObject", "s3:GetObject"),
    ("s3", "HeadObject", "s3:GetObject"),
    ("s3", "PutObject", "s3:PutObject"),
    ("s3", "ListObjectsV2", "s3:ListBucket"),
])
@pytest.mark.slow
def test_access_denied_on_one_operation(aws_world: AwsWorld, service: str, operation: str,
                                        action: str) -> None:
    _world_with_both_download_paths(aws_world)
    if operation == "HeadObject":  # only asked after a crashed run: leave a dangling lease
        run_inproc(aws_world, "run")
        aws_world.world.advance(600)
        _leave_crashed_lease(aws_world)
    status = 403
    res = run_inproc(aws_world, "run", session_hook=refuse(
        service, operation, status, "AccessDenied",
        f"User: arn:aws:iam::123456789012:user/shipper is not authorized to perform: {action}"))
    _assert_access_error(res, action, operation)


def _leave_crashed_lease(aws: AwsWorld) -> None:
    """Make the lease of every instance look like its holder died (expired, not released)."""
    client = aws.s3_client()
    for key in list_keys(aws, f"{PREFIX}_leases/"):
        client.put_object(Bucket=aws.bucket, Key=key, Body=json.dumps(
            {"holder": "dead", "expires_at": 1.0, "released": False}).encode())


@pytest.mark.slow
def test_access_denied_on_the_rest_download(aws_world: AwsWorld) -> None:
    _world_with_both_download_paths(aws_world)

    def deny(info: RequestInfo) -> ApiError | None:
        if info.action == "DownloadCompleteLogFile":
            return ApiError("AccessDenied", "User: arn:aws:iam::123456789012:user/shipper is "
                            "not authorized to perform: rds:DownloadCompleteDBLogFile", 403)
        return None

    aws_world.sim.add_hook(deny)
    res = run_inproc(aws_world, "run")
    _assert_access_error(res, "rds:DownloadCompleteDBLogFile")


@pytest.mark.parametrize(("service", "operation", "status"), [
    ("s3", "ListObjectsV2", 400),
    ("s3", "GetObject", 400),
    ("s3", "PutObject", 400),
    ("rds", "DescribeDBInstances", 403),
    ("rds", "DescribeDBLogFiles", 403),
])
@pytest.mark.slow
def test_expired_credentials(aws_world: AwsWorld, service: str, operation: str,
                             status: int) -> None:
    """Was a bug for RDS, fixed in 2304241: rdsapi.rds_access_error answered ExpiredToken with
    'the task role needs rds:...' instead of saying the credentials expired."""
    _world_with_both_download_paths(aws_world)
    res = run_inproc(aws_world, "run", session_hook=refuse(
        service, operation, status, "ExpiredToken", "The provided token has expired."))
    message = _assert_access_error(res, "expired")
    assert "needs" not in message and "credentials" in message, (
        "an expired token is not a missing permission: " + message)


@pytest.mark.slow
def test_no_credentials_at_all(aws_world: AwsWorld) -> None:
    _world_with_both_download_paths(aws_world)
    res = run_inproc(aws_world, "run", AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="",
                     AWS_SESSION_TOKEN="", AWS_PROFILE="",
                     AWS_SHARED_CREDENTIALS_FILE="/nonexistent/credentials",
                     AWS_CONFIG_FILE="/nonexistent/config")
    _assert_access_error(res, "credentials")


@pytest.mark.slow
def test_missing_bucket(aws_world: AwsWorld) -> None:
    _world_with_both_download_paths(aws_world)
    res = run_inproc(aws_world, "run", SHIPPER_BUCKET="no-such-bucket-rel-1234")
    _assert_access_error(res, "no-such-bucket-rel-1234", "does not exist")


@pytest.mark.parametrize(("status", "code"), [
    (301, "PermanentRedirect"),
    (400, "AuthorizationHeaderMalformed"),
])
@pytest.mark.slow
def test_bucket_in_another_region(aws_world: AwsWorld, status: int, code: str) -> None:
    """moto serves a bucket of any region to a client of any region, so the answers real S3
    gives a client signing for the wrong region are injected here."""
    _world_with_both_download_paths(aws_world)
    res = run_inproc(aws_world, "run", session_hook=refuse(
        "s3", "ListObjectsV2", status, code,
        "The bucket you are attempting to access must be addressed using the specified "
        "endpoint." if status == 301 else
        "The authorization header is malformed; the region 'us-east-1' is wrong; expecting "
        "'eu-west-1'"))
    _assert_access_error(res, "region")


@pytest.mark.slow
@pytest.mark.parametrize("which", ["rds", "s3"])
def test_unreachable_endpoint(aws_world: AwsWorld, which: str) -> None:
    _world_with_both_download_paths(aws_world)
    env = {f"AWS_ENDPOINT_URL_{which.upper()}": "http://127.0.0.1:9",
           "SHIPPER_MAX_ATTEMPTS": "2"}
    res = run_inproc(aws_world, "run", **env)
    _assert_access_error(res, "unreachable", "AWS_ENDPOINT_URL_" + which.upper())


# --- malformed settings --------------------------------------------------------------------------

BAD_VALUES: dict[str, list[str]] = {
    "bucket": ["Not_A_Bucket!", "ab", "192.168.1.1", "xn--bucket", "a" * 64],
    "prefix": ["../escape/", "logs/\x01/", "a\\b/", "x" * 250],
    "regions": ["mars-1", "us-east-1,moon", "US-EAST-1"],
    "include": ["prod-\x07*"],
    "exclude": ["tab\there"],
    "engines": ["postgres;rm -rf", "My Engine"],
    "tags": ["novalue", "=x"],
    "file_include": ["error/\x1b*"],
    "file_exclude": ["bad\x02glob"],
    "concurrency": ["0", "65", "many", "1.5"],
    "rate": ["0", "nan", "fast", "-3", "inf"],
    "burst": ["0", "301", "x"],
    "max_runtime": ["-1", "0.5", "forever", "nan"],
    "max_attempts": ["0", "21", "three"],
    "complete_file_versions": ["13", "v13,x19", ","],
    "kms_key_id": ["has spaces in it", "key/\x01"],
    "role_arns": ["not-an-arn", "arn:aws:iam::123:role/short-account"],
    "external_id": ["bell\x07"],
    "lease_seconds": ["0", "3601", "soon"],
    "object_mib": ["0", "1025", "big"],
    "portion_max_mib": ["-1", "65", "half"],
    "log_format": ["xml", "yaml"],
    "log_level": ["verbose", "trace"],
    "emf": ["maybe", "2"],
    "metrics_namespace": ["bad namespace!", "ns\x01"],
    "run_id": ["bad id!", "x" * 65],
}


def test_every_setting_has_bad_values() -> None:
    assert {spec.field for spec in SETTINGS} == set(BAD_VALUES), (
        "add malformed values for new settings to BAD_VALUES")


def _not_covered_by_test_config(via: str) -> list[tuple[str, str]]:
    """The cases tests/unit/test_config.py does not already run without servers: it runs
    every value of its BAD table through the environment, and the first one per setting as
    a flag."""
    def covered(field: str, value: str) -> bool:
        return value in UNIT_BAD[field] if via == "env" else value == UNIT_BAD[field][0]

    return [(field, value) for field, values in BAD_VALUES.items() for value in values
            if not covered(field, value)]


# The CLI exits before any AWS call: no simulator or bucket is needed, only endpoints that
# nothing answers (a run that went ahead would fail there, with another exit code).
NO_AWS = Environment({**BASE_ENV, "SHIPPER_BUCKET": "hostile-settings",
                      "SHIPPER_MAX_ATTEMPTS": "1",
                      "AWS_ENDPOINT_URL_RDS": "http://127.0.0.1:9",
                      "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9"})


@pytest.mark.parametrize(("via", "field", "value"), [
    (via, field, value) for via in ("env", "flag") for field, value in
    _not_covered_by_test_config(via)])
def test_malformed_setting(via: str, field: str, value: str) -> None:
    spec = next(s for s in SETTINGS if s.field == field)
    if via == "env":
        res = run_cli(NO_AWS, "run", **{spec.env: value})
        named = spec.env
    else:
        res = run_cli(NO_AWS, "run", f"{spec.flag}={value}")
        named = spec.flag
    assert res.code == 2, res.describe()
    assert_no_traceback(res)
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, res.stderr
    assert named in lines[0], lines[0]
    assert not res.lines, "nothing may run with a bad setting"
