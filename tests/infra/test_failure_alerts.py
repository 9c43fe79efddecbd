"""A broken deployment never looks healthy: every failure class ends in a failure metric, and the
task-state rule catches tasks that fail or never start.

The runs use the real CLI against the RDS simulator and moto's S3 server; the metrics are the
EMF record the run prints on stdout (what CloudWatch Logs turns into metrics). The rule's event
pattern is the one in infra/shipper.yaml, rendered offline and evaluated by
tests/infra/event_pattern.py (EventBridge's documented matching; moto's TestEventPattern is not
implemented and its matcher skips arrays of objects, see that module). Where moto's matcher does
apply (a pattern without array fields), both must agree.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from moto.events.models import EventPattern

from shipper.exitcodes import ExitCode
from shipper.retention import DAY, headroom_seconds, retention_seconds
from shipper.simulator.faults import ApiError, RequestInfo
from tests.infra import cfntools as cfn
from tests.infra.common import BUCKET_ATTRS, BUCKET_REFS, CLUSTER_ARN, SHIPPER_REQUIRED
from tests.infra.event_pattern import matches as pattern_matches
from tests.support.runs import Run as RunResult
from tests.support.world import AwsWorld

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

MINUTE = 60


def emf(result: RunResult) -> dict[str, Any]:
    records = [line for line in result.lines if "_aws" in line]
    assert len(records) == 1, result.stdout
    directive = records[0]["_aws"]["CloudWatchMetrics"][0]
    names = {m["Name"] for m in directive["Metrics"]}
    return {name: records[0][name] for name in names} | {"exit_code": records[0]["exit_code"]}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_failed_run(metrics: dict[str, Any], code: int, failures: int = 1) -> None:
    assert metrics["exit_code"] == code
    assert metrics["RunFailed"] == 1, metrics
    assert metrics["Failures"] >= failures, metrics


# --- every failure class is a failure metric -------------------------------------------------


def test_missing_bucket_exit_3_publishes_a_failure_and_no_lag(aws_world: AwsWorld) -> None:
    aws_world.world.add_instance("pg", "postgres", bytes_per_hour=100_000)
    aws_world.world.advance(30 * MINUTE)
    res = aws_world.run(SHIPPER_BUCKET="no-such-bucket-4242")
    assert res.code == ExitCode.AWS_ACCESS
    metrics = emf(res)
    assert_failed_run(metrics, 3)
    # no datapoint rather than a reassuring 0: the lag alarm's missing-data rule fires
    assert "LagSeconds" not in metrics and "RetentionHeadroomSeconds" not in metrics


def test_unreachable_s3_exit_3_publishes_a_failure(aws_world: AwsWorld) -> None:
    res = aws_world.run(AWS_ENDPOINT_URL_S3=f"http://127.0.0.1:{closed_port()}",
                        SHIPPER_MAX_ATTEMPTS="2")
    assert res.code == ExitCode.AWS_ACCESS
    assert_failed_run(emf(res), 3)


def test_rds_access_denied_exit_3_publishes_a_failure(aws_world: AwsWorld) -> None:
    aws_world.world.add_instance("pg", "postgres", bytes_per_hour=100_000)
    aws_world.world.advance(30 * MINUTE)

    def deny(info: RequestInfo) -> ApiError | None:
        if info.action == "DescribeDBLogFiles":
            return ApiError("AccessDenied", "not authorized to perform: "
                            "rds:DescribeDBLogFiles", 403)
        return None

    aws_world.sim.add_hook(deny)
    res = aws_world.run()
    assert res.code == ExitCode.AWS_ACCESS
    assert_failed_run(emf(res), 3)


def test_corrupt_state_exit_4_counts_the_instance(aws_world: AwsWorld) -> None:
    w = aws_world.world
    w.add_instance("bad", "mysql", bytes_per_hour=150_000)
    w.add_instance("good", "postgres", bytes_per_hour=150_000)
    w.advance(50 * MINUTE)
    assert aws_world.run().code == ExitCode.OK
    client = aws_world.s3_client()
    key = aws_world.state_key("bad")
    client.put_object(Bucket=aws_world.bucket, Key=key, Body=b"\x00{not json")
    w.advance(30 * MINUTE)
    res = aws_world.run()
    assert res.code == ExitCode.STATE_CORRUPT
    metrics = emf(res)
    assert_failed_run(metrics, 4)
    assert "LagSeconds" in metrics, "the good instance's lag is still reported"


def test_a_clean_run_and_the_runtime_budget_are_not_failures(aws_world: AwsWorld) -> None:
    aws_world.world.add_instance("pg", "postgres", bytes_per_hour=100_000)
    aws_world.world.advance(3 * 3600)
    metrics = emf(aws_world.run())
    assert (metrics["RunFailed"], metrics["Failures"], metrics["exit_code"]) == (0, 0, 0)
    # caught up: the headroom is the whole postgres retention (3 days), give or take the run
    assert metrics["LagSeconds"] == 0
    assert metrics["RetentionHeadroomSeconds"] == pytest.approx(3 * DAY, abs=5)


def test_retention_headroom_counts_down_from_the_oldest_unshipped_write(
        aws_world: AwsWorld) -> None:
    """A file the run could not ship keeps its LastWritten as the lag; the headroom is the
    engine's retention minus that age (MySQL: 24 hours)."""
    w = aws_world.world
    w.add_instance("my", "mysql", bytes_per_hour=200_000)
    w.advance(2 * 3600)

    def fail_downloads(info: RequestInfo) -> ApiError | None:
        if info.action.startswith("Download"):
            return ApiError("InternalFailure", "injected", 500)
        return None

    aws_world.sim.add_hook(fail_downloads)
    res = aws_world.run(SHIPPER_MAX_ATTEMPTS="1")
    assert res.code == ExitCode.PARTIAL_FAILURE
    metrics = emf(res)
    assert_failed_run(metrics, 1)
    lag = metrics["LagSeconds"]
    assert lag > 0
    assert metrics["RetentionHeadroomSeconds"] == pytest.approx(DAY - lag, abs=1)


def test_retention_table() -> None:
    assert retention_seconds("postgres") == retention_seconds("aurora-postgresql") == 3 * DAY
    assert retention_seconds("mysql") == retention_seconds("MariaDB") == DAY
    assert retention_seconds("oracle-ee-cdb") == retention_seconds("sqlserver-se") == 7 * DAY
    assert retention_seconds("neptune") == DAY, "unknown engines get the shortest window"
    assert headroom_seconds("mysql", 23 * 3600) == 3600
    assert headroom_seconds("mysql", 25 * 3600) == -3600, "past retention: negative"


# --- the task-state rule ------------------------------------------------------------------


ACCOUNT = "123456789012"
CLUSTER = CLUSTER_ARN
TASK_DEF = f"arn:aws:ecs:{cfn.REGION}:{ACCOUNT}:task-definition/rds-log-shipper:7"


def rule_pattern(name: str) -> dict[str, Any]:
    rendered = cfn.render("shipper.yaml", SHIPPER_REQUIRED, refs=BUCKET_REFS,
                          attrs=BUCKET_ATTRS)
    pattern = rendered.resources[name]["Properties"]["EventPattern"]
    assert isinstance(pattern, dict)
    return pattern


def task_event(containers: list[dict[str, Any]], stop_code: str,
               task_definition: str = TASK_DEF, reason: str = "") -> dict[str, Any]:
    return {
        "id": "0d1c2b3a-0000-4000-8000-000000000000", "version": "0",
        "detail-type": "ECS Task State Change", "source": "aws.ecs", "account": ACCOUNT,
        "time": "2026-12-05T19:00:00Z", "region": cfn.REGION, "resources": [],
        "detail": {"clusterArn": CLUSTER, "taskDefinitionArn": task_definition,
                   "lastStatus": "STOPPED", "desiredStatus": "STOPPED",
                   "stopCode": stop_code, "stoppedReason": reason,
                   "containers": containers},
    }


def shipper(exit_code: int | None, reason: str = "") -> dict[str, Any]:
    container: dict[str, Any] = {"name": "shipper", "lastStatus": "STOPPED"}
    if exit_code is not None:
        container["exitCode"] = exit_code
    if reason:
        container["reason"] = reason
    return container


@pytest.mark.parametrize(("event", "matches"), [
    (task_event([shipper(3)], "EssentialContainerExited"), True),
    (task_event([shipper(1)], "EssentialContainerExited"), True),
    (task_event([shipper(143)], "SpotInterruption"), True),
    (task_event([shipper(None, "CannotPullContainerError: pull image manifest: not found")],
                "TaskFailedToStart", reason="CannotPullContainerError"), True),
    (task_event([shipper(0)], "EssentialContainerExited"), False),
    (task_event([shipper(5)], "EssentialContainerExited"), False),
    (task_event([shipper(None)], "UserInitiated"), False),
    (task_event([shipper(3)], "EssentialContainerExited",
                task_definition=TASK_DEF.replace("rds-log-shipper:", "other-app:")), False),
], ids=["exit-3", "exit-1", "exit-143", "image-pull-error", "exit-0", "exit-5-budget",
        "stopped-before-start-by-user", "another-family"])
def test_task_failed_rule_matches_failed_and_unstarted_tasks(event: dict[str, Any],
                                                             matches: bool) -> None:
    assert pattern_matches(rule_pattern("TaskFailedRule"), event) is matches


def test_running_task_events_do_not_match() -> None:
    event = task_event([shipper(3)], "EssentialContainerExited")
    event["detail"]["lastStatus"] = "RUNNING"
    assert not pattern_matches(rule_pattern("TaskFailedRule"), event)


def test_runtask_failed_rule_matches_a_runtask_that_placed_nothing() -> None:
    pattern = rule_pattern("RunTaskFailedRule")

    def call(failures: list[dict[str, str]], task_definition: str = TASK_DEF) -> dict[str, Any]:
        return {
            "id": "1", "version": "0", "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.ecs", "account": ACCOUNT, "time": "2026-12-05T19:00:00Z",
            "region": cfn.REGION, "resources": [],
            "detail": {"eventSource": "ecs.amazonaws.com", "eventName": "RunTask",
                       "requestParameters": {"cluster": CLUSTER,
                                             "taskDefinition": task_definition},
                       "responseElements": {"tasks": [], "failures": failures}},
        }

    no_eni = [{"arn": f"{CLUSTER}/container-instance/x", "reason": "RESOURCE:ENI"}]
    assert pattern_matches(pattern, call(no_eni))
    assert not pattern_matches(pattern, call([]))
    assert not pattern_matches(pattern, call(no_eni, TASK_DEF.replace("rds-log", "other")))


def test_the_evaluator_agrees_with_moto_where_moto_applies() -> None:
    """Patterns without array fields: moto's rule matcher and ours give the same answers."""
    pattern = {"source": ["aws.ecs"], "detail": {
        "lastStatus": ["STOPPED"], "stopCode": [{"anything-but": ["UserInitiated"]}],
        "taskDefinitionArn": [{"prefix": TASK_DEF[:-1]}], "missing": [{"exists": False}]}}
    loaded = EventPattern.load(json.dumps(pattern))
    for stop_code in ("TaskFailedToStart", "UserInitiated", "EssentialContainerExited"):
        for task_definition in (TASK_DEF, TASK_DEF.replace("rds-log", "other")):
            event = task_event([], stop_code, task_definition)
            event["detail"].pop("containers")
            assert pattern_matches(pattern, event) is loaded.matches_event(event), (
                stop_code, task_definition)
