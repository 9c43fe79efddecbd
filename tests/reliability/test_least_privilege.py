"""Least privilege, proven: the task role policy of infra/shipper.yaml is enough for everything
the task runs, and every action in it is needed.

S3 is moto with IAM enforcement switched on (``POST /moto-api/reset-auth`` with ``0``: from
then on every request must be signed by a known access key, and moto evaluates the caller's
identity policies for the request's action and resource). The caller is an IAM user whose only
policy is the task role's inline policy, rendered for this bucket and prefix by
tests/infra/cfntools.py. RDS is our simulator, which checks no IAM at all: a simulator hook
evaluates the same rendered policy's statements for every request (query actions as
``rds:<Action>``, the REST download as ``rds:DownloadCompleteDBLogFile``) against the
instance's ARN, and refuses with ``AccessDenied`` (403) like RDS.

What moto does NOT enforce, and what this test does instead:

* Conditions: moto evaluates only ``StringEquals`` (and only on AssumeRole trust policies);
  ``StringLikeIfExists`` on ``s3:prefix`` of the ``ListUnderPrefix`` statement is ignored. The
  S3 tap records every listing and the test asserts each one asks for a prefix under ours (what
  the condition would demand).
* A GetObject of a missing key answers 404 under moto whether or not ``s3:ListBucket`` is held
  (real S3 answers 403 without it); the shipper's check_bucket listing needs ListBucket first
  anyway, so removing ListBucket still fails, at that call.
* moto names the permission of HeadBucket ``s3:HeadBucket`` (AWS: ``s3:ListBucket``); the
  shipper no longer calls HeadBucket, and the test fails if it ever does again (then alias it).
* Resource-based policies (the bucket's TLS-only policy) are not evaluated; the tests use HTTP.
* From moto 5.2.6 on, moto authorizes some S3 requests by their API operation's name instead of
  the IAM action AWS checks: a ListObjectsV2 needs ``s3:ListObjectsV2`` (AWS: ``s3:ListBucket``),
  a HeadObject ``s3:HeadObject`` (AWS: ``s3:GetObject``). Neither name exists in IAM. The cause
  is in moto/core/responses.py: ``BaseResponse._get_action()`` now asks the request router for
  the operation and no longer reads the ``Action`` that ``S3Response._set_action()`` stores
  from moto/s3/responses.py's ``ACTION_MAP`` (5.2.5 read it first). ``moto_policy`` gives the
  moto user each API name beside the IAM action it stands for, so the user holds exactly what
  the task role holds: removing ``s3:ListBucket`` removes ``s3:ListObjectsV2`` with it, and the
  test for that action still fails the run. On moto 5.2.5 the extra names are never asked for.
  The lock excludes 5.2.6 (pyproject.toml, ``[tool.uv]``) until a release fixes this.
"""

from __future__ import annotations

import fnmatch
import json
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import boto3
import pytest

from shipper.simulator.faults import ApiError, RequestInfo
from shipper.simulator.s3server import LocalS3
from tests.infra import cfntools as cfn
from tests.infra.common import SHIPPER_REQUIRED
from tests.reliability.harness import S3Tap, one_line_error
from tests.support.runs import run_cli, run_inproc
from tests.support.world import PREFIX, AwsWorld, fresh_aws

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

REGION = cfn.REGION  # the template is rendered for this region: the world lives there too
ACCOUNT = cfn.ACCOUNT
HOUR = 3600


def task_policy(bucket: str) -> dict[str, Any]:
    rendered = cfn.render("shipper.yaml", {**SHIPPER_REQUIRED, "Prefix": PREFIX},
                          refs={"LogBucket": bucket},
                          attrs={"LogBucket.Arn": f"arn:aws:s3:::{bucket}"})
    (policy,) = rendered.props("TaskRole")["Policies"]
    return dict(policy["PolicyDocument"])


def policy_actions(doc: dict[str, Any]) -> list[str]:
    return sorted({a for st in cfn.policy_statements(doc) for a in cfn.as_list(st["Action"])})


def without(doc: dict[str, Any], action: str) -> dict[str, Any]:
    statements = []
    for st in cfn.policy_statements(doc):
        actions = [a for a in cfn.as_list(st["Action"]) if a != action]
        if actions:
            statements.append({**st, "Action": actions})
    return {**doc, "Statement": statements}


# The S3 API operations moto >= 5.2.6 authorizes under their own name, by the IAM action that
# really authorizes each (AWS: "Actions, resources, and condition keys for Amazon S3").
MOTO_API_NAMES = {"s3:ListBucket": ("s3:ListObjectsV2",), "s3:GetObject": ("s3:HeadObject",)}


def moto_policy(doc: dict[str, Any]) -> dict[str, Any]:
    """The same grants as ``doc``, each IAM action joined by the API names moto checks for it."""
    statements = []
    for st in cfn.policy_statements(doc):
        actions = cfn.as_list(st["Action"])
        aliases = [alias for a in actions for alias in MOTO_API_NAMES.get(a, ())]
        statements.append({**st, "Action": actions + aliases})
    return {**doc, "Statement": statements}


def _match(pattern: str, value: str, case: bool) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _statements_for(doc: dict[str, Any], action: str, resource: str) -> list[dict[str, Any]]:
    """The policy's statements whose Action and Resource match the request."""
    return [st for st in cfn.policy_statements(doc)
            if any(_match(a, action, case=False) for a in cfn.as_list(st["Action"]))
            and any(_match(r, resource, case=True) for r in cfn.as_list(st["Resource"]))]


def allowed(doc: dict[str, Any], action: str, resource: str) -> bool:
    """IAM evaluation for identity policies without conditions: an explicit Deny wins, then any
    Allow, else the implicit deny."""
    verdict = False
    for st in _statements_for(doc, action, resource):
        assert "Condition" not in st, f"the RDS hook cannot evaluate conditions: {st}"
        if st["Effect"] == "Deny":
            return False
        verdict = True
    return verdict


class RdsPolicy:
    """The simulator hook enforcing the policy's RDS part."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.denied: list[str] = []

    def __call__(self, info: RequestInfo) -> ApiError | None:
        action = ("rds:DownloadCompleteDBLogFile" if info.action == "DownloadCompleteLogFile"
                  else f"rds:{info.action}")
        resource = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{info.instance or '*'}"
        if allowed(self.doc, action, resource):
            return None
        self.denied.append(action)
        return ApiError("AccessDenied", f"User: arn:aws:iam::{ACCOUNT}:user/rds-log-shipper is "
                        f"not authorized to perform: {action} on resource: {resource}", 403)


def _moto_auth(endpoint: str, count: str) -> None:
    req = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=count.encode(),
                                 method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


class Iam:
    """The IAM user the shipper runs as, in moto."""

    def __init__(self, local_s3: LocalS3) -> None:
        self.endpoint = local_s3.endpoint_url
        self.iam = boto3.client("iam", endpoint_url=self.endpoint, region_name="us-east-1",
                                aws_access_key_id="testing", aws_secret_access_key="testing")
        self.user = "rds-log-shipper-task"
        self.iam.create_user(UserName=self.user)
        key = self.iam.create_access_key(UserName=self.user)["AccessKey"]
        self.env = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                    "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"], "AWS_SESSION_TOKEN": ""}
        self.enforced = False

    def attach(self, doc: dict[str, Any]) -> None:
        """The user's only policy (needs enforcement off: the admin calls are unsigned)."""
        assert not self.enforced
        self.iam.put_user_policy(UserName=self.user, PolicyName="task-role",
                                 PolicyDocument=json.dumps(moto_policy(doc)))

    def enforce(self, on: bool) -> None:
        _moto_auth(self.endpoint, "0" if on else "inf")
        self.enforced = on

    def close(self) -> None:
        if self.enforced:
            self.enforce(False)
        for name in self.iam.list_user_policies(UserName=self.user)["PolicyNames"]:
            self.iam.delete_user_policy(UserName=self.user, PolicyName=name)
        for key in self.iam.list_access_keys(UserName=self.user)["AccessKeyMetadata"]:
            self.iam.delete_access_key(UserName=self.user, AccessKeyId=key["AccessKeyId"])
        self.iam.delete_user(UserName=self.user)


@pytest.fixture
def iam_user(local_s3: LocalS3) -> Iterator[Iam]:
    user = Iam(local_s3)
    try:
        yield user
    finally:
        user.close()


@pytest.fixture
def tap(local_s3: LocalS3) -> Iterator[S3Tap]:
    tap = S3Tap(local_s3)
    try:
        yield tap
    finally:
        tap.close()


def _scenario(aws: AwsWorld) -> None:
    """A closed file (REST download) and the file being written (portions)."""
    aws.world.add_instance("pg-1", "postgres", bytes_per_hour=60_000)
    aws.world.add_instance("my-1", "mysql", bytes_per_hour=60_000)
    aws.world.advance(HOUR + 600)


def test_the_task_role_policy_is_enough(local_s3: LocalS3, iam_user: Iam, tap: S3Tap) -> None:
    with fresh_aws(local_s3, region=REGION) as aws:
        doc = task_policy(aws.bucket)
        rds = RdsPolicy(doc)
        aws.sim.add_hook(rds)
        _scenario(aws)
        iam_user.attach(doc)
        env = {**iam_user.env}
        iam_user.enforce(True)
        try:
            # Enforcement is on: a key outside the prefix is refused to this user.
            outside = boto3.client("s3", endpoint_url=local_s3.endpoint_url, region_name=REGION,
                                   aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                   aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
            with pytest.raises(outside.exceptions.ClientError, match="AccessDenied"):
                outside.put_object(Bucket=aws.bucket, Key="elsewhere/x", Body=b"x")
            codes = {}
            codes["run"] = run_inproc(aws, "run", **env)
            aws.world.advance(600)
            codes["run again"] = run_inproc(aws, "run", **env)
            codes["status"] = run_cli(aws, "status", **env)
            codes["state show"] = run_cli(aws, "state", "show", "--instance", "pg-1", **env)
            codes["state repair"] = run_cli(aws, "state", "repair", "--instance", "pg-1",
                                            "--yes", **env)
            codes["run after repair"] = run_inproc(aws, "run", **env)
        finally:
            iam_user.enforce(False)
        for what, res in codes.items():
            assert res.code == 0, f"{what}:\n{res.describe()}"
        assert not rds.denied
        aws.verify().assert_ok()
        listings = [parse_qs(r.query) for r in tap.requests
                    if r.method == "GET" and "list-type=2" in r.query]
        assert listings, "the runs list the bucket (check_bucket, status, state repair)"
        for query in listings:
            assert query.get("prefix", [""])[0].startswith(PREFIX), (
                f"a listing outside the prefix would be refused by the s3:prefix condition: "
                f"{query}")
        assert not [r for r in tap.requests if r.method == "HEAD" and r.path.count("/") == 1], (
            "HeadBucket is authorized as s3:HeadBucket by moto: alias it before relying on it")


@pytest.mark.parametrize("action", policy_actions(task_policy("bucket-for-listing")))
def test_each_action_is_needed(local_s3: LocalS3, iam_user: Iam, action: str) -> None:
    with fresh_aws(local_s3, region=REGION) as aws:
        doc = without(task_policy(aws.bucket), action)
        rds = RdsPolicy(doc)
        aws.sim.add_hook(rds)
        _scenario(aws)
        iam_user.attach(doc)
        iam_user.enforce(True)
        try:
            res = run_inproc(aws, "run", **iam_user.env)
        finally:
            iam_user.enforce(False)
        assert res.code in (1, 3), res.describe()
        message = one_line_error(res)
        print(f"without {action}: exit {res.code}: {message}")
        assert action in message, (
            f"without {action} the run must say which action it was refused: {message}")
        assert "AccessDenied" in message or "refused" in message, message


# --- The Scheduler role (ScheduleKind SCHEDULER, issue 26) ----------------------------------
#
# EventBridge Scheduler makes exactly two kinds of calls with the schedule's role: the target's
# RunTask (ECS authorizes ecs:RunTask on the task definition, with the cluster as the
# ecs:cluster condition key, and iam:PassRole on each role the task definition names, passed
# to ecs-tasks.amazonaws.com), and, when it gives up on an event, SendMessage to the
# dead-letter queue (EventBridge Scheduler User Guide, "Configuring a schedule's dead-letter
# queue": the execution role needs sqs:SendMessage). No AWS emulator evaluates these (moto's
# ECS checks no IAM and moto's IAM evaluates non-S3 requests against resource "*", without
# conditions), so the requests are derived from the rendered schedule and task definition for
# every capacity choice and evaluated against the rendered policy with the condition
# operators it uses: the policy allows each, removing any action or resource denies one, and
# neighbours (another family, cluster, role, service or queue) are denied.

SCHED_CLUSTER = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/rds-log-shipper"
SCHED_QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:teststack-DeadLetterQueue-1A2B3C"
SCHED_ROLES = {"TaskRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/teststack-TaskRole-1A2B",
               "ExecutionRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/teststack-ExecutionRole-3C4D",
               "SchedulerRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/teststack-SchedulerRole-5E6F",
               "DeadLetterQueue.Arn": SCHED_QUEUE}
SCHED_TASKDEF = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/rds-log-shipper:7"
Request = tuple[str, str, tuple[tuple[str, str], ...]]  # action, resource, condition context


def scheduler_rendered(capacity: str) -> cfn.Rendered:
    return cfn.render("shipper.yaml", {
        **SHIPPER_REQUIRED, "ClusterArn": SCHED_CLUSTER, "ScheduleKind": "SCHEDULER",
        "CapacityChoice": capacity, "CapacityProvider": "rds-log-shipper-asg"},
        refs={"LogBucket": "bucket", "TaskDefinition": SCHED_TASKDEF}, attrs=SCHED_ROLES)


def scheduler_policy(capacity: str = "EC2_SPOT_FLEET") -> dict[str, Any]:
    (policy,) = scheduler_rendered(capacity).props("SchedulerRole")["Policies"]
    return dict(policy["PolicyDocument"])


def scheduler_requests(rendered: cfn.Rendered) -> set[Request]:
    """What Scheduler asks IAM for: the target's RunTask, the roles it passes, and the
    dead-letter delivery."""
    target = rendered.props("Schedule")["Target"]
    task = rendered.props("TaskDefinition")
    requests: set[Request] = {
        ("ecs:RunTask", target["EcsParameters"]["TaskDefinitionArn"],
         (("ecs:cluster", target["Arn"]),))}
    for role in (task["TaskRoleArn"], task["ExecutionRoleArn"]):
        requests.add(("iam:PassRole", role, (("iam:PassedToService",
                                              "ecs-tasks.amazonaws.com"),)))
    requests.add(("sqs:SendMessage", target["DeadLetterConfig"]["Arn"], ()))
    return requests


def allowed_with_conditions(doc: dict[str, Any], request: Request) -> bool:
    """IAM evaluation of identity-policy statements, with the two condition operators the
    Scheduler role uses (ArnEquals, StringEquals); an unknown operator fails the test."""
    action, resource, context = request
    keys = dict(context)
    verdict = False
    for st in _statements_for(doc, action, resource):
        met = True
        for operator, tests in st.get("Condition", {}).items():
            assert operator in ("ArnEquals", "StringEquals"), operator
            for key, wanted in tests.items():
                met &= keys.get(key) in cfn.as_list(wanted)
        if not met:
            continue
        if st["Effect"] == "Deny":
            return False
        verdict = True
    return verdict


def without_resource(doc: dict[str, Any], sid: str, resource: str) -> dict[str, Any]:
    statements = []
    for st in cfn.policy_statements(doc):
        if st["Sid"] == sid:
            left = [r for r in cfn.as_list(st["Resource"]) if r != resource]
            if not left:
                continue
            st = {**st, "Resource": left}
        statements.append(st)
    return {**doc, "Statement": statements}


@pytest.mark.parametrize("capacity", ["EC2_SPOT_FLEET", "EC2_SPOT_ASG", "FARGATE_SPOT"])
def test_the_scheduler_role_is_enough_and_exactly_that(capacity: str) -> None:
    rendered = scheduler_rendered(capacity)
    doc = scheduler_policy(capacity)
    requests = scheduler_requests(rendered)
    denied = [r for r in requests if not allowed_with_conditions(doc, r)]
    assert denied == []
    assert policy_actions(doc) == sorted({r[0] for r in requests})
    for st in cfn.policy_statements(doc):
        assert st["Effect"] == "Allow"
        assert "*" not in cfn.as_list(st["Resource"]), st
    trust = rendered.props("SchedulerRole")["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "scheduler.amazonaws.com"}]
    assert trust[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


@pytest.mark.parametrize(("sid", "resource"), [
    (st["Sid"], r) for st in cfn.policy_statements(scheduler_policy())
    for r in cfn.as_list(st["Resource"])])
def test_each_scheduler_grant_is_needed(sid: str, resource: str) -> None:
    doc = without_resource(scheduler_policy(), sid, resource)
    requests = scheduler_requests(scheduler_rendered("EC2_SPOT_FLEET"))
    assert [r for r in requests if not allowed_with_conditions(doc, r)], (
        f"{sid} on {resource} could go: no request of the schedule needs it")


@pytest.mark.parametrize("request_", [
    ("ecs:RunTask", f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/other:1",
     (("ecs:cluster", SCHED_CLUSTER),)),
    ("ecs:RunTask", SCHED_TASKDEF,
     (("ecs:cluster", f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/other"),)),
    ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin",
     (("iam:PassedToService", "ecs-tasks.amazonaws.com"),)),
    ("iam:PassRole", SCHED_ROLES["TaskRole.Arn"], (("iam:PassedToService",
                                                     "ec2.amazonaws.com"),)),
    ("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:other", ()),
    ("ecs:StopTask", SCHED_TASKDEF, (("ecs:cluster", SCHED_CLUSTER),)),
    ("ecs:TagResource", SCHED_TASKDEF, ()),
], ids=["other family", "other cluster", "other role", "other service", "other queue",
        "StopTask", "TagResource"])
def test_the_scheduler_role_refuses_its_neighbours(request_: Request) -> None:
    assert not allowed_with_conditions(scheduler_policy(), request_)


def test_the_scheduler_role_is_the_rule_role_plus_dead_letters() -> None:
    """The rule's role (EventsRole) needs no sqs:SendMessage: EventBridge rules deliver dead
    letters as events.amazonaws.com under the queue's resource policy instead."""
    rule = cfn.render("shipper.yaml", {**SHIPPER_REQUIRED, "ClusterArn": SCHED_CLUSTER},
                      refs={"LogBucket": "bucket", "TaskDefinition": SCHED_TASKDEF},
                      attrs=SCHED_ROLES)
    events = rule.props("EventsRole")["Policies"][0]["PolicyDocument"]["Statement"]
    scheduler = scheduler_policy()["Statement"]
    assert scheduler[:-1] == events
    assert scheduler[-1]["Action"] == "sqs:SendMessage"
