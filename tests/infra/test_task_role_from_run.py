"""The task role holds exactly the IAM actions a real shipper run needs.

The shipper runs for real (``shipper.cli.main``) against the RDS simulator and a local S3,
through the ``aws_world`` fixture of tests/conftest.py: two runs (the second resumes through
portion markers), ``status`` and the ``state`` operator commands, i.e. everything an operator
may start in the task with the same role. ``shipper.aws.add_operation_listener`` reports every
AWS operation; each maps to the IAM action(s) that authorize it, and the resulting set must
equal the task role's actions in infra/shipper.yaml rendered for the same configuration.

Two kinds of actions are not visible as operations of the shipper's own clients and are
implied by the configuration instead: with SSE-KMS, S3 calls KMS on the caller's behalf
(kms:GenerateDataKey for writes, kms:Decrypt for reads); with SHIPPER_ROLE_ARNS, botocore's
assume-role credential provider calls sts:AssumeRole.
"""

from __future__ import annotations

import contextlib
import io
import os
from typing import Any
from unittest import mock

import pytest

from shipper.aws import add_operation_listener
from shipper.cli import main
from tests.infra import cfntools as cfn
from tests.infra.common import BUCKET_ATTRS, BUCKET_REFS, SHIPPER_REQUIRED

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

# botocore operation (service endpoint prefix, operation name) -> IAM actions that authorize it.
# An operation missing here fails the test: add it here AND to the task role.
OPERATION_ACTIONS: dict[tuple[str, str], frozenset[str]] = {
    ("rds", "DescribeDBInstances"): frozenset({"rds:DescribeDBInstances"}),
    ("rds", "DescribeDBClusters"): frozenset({"rds:DescribeDBClusters"}),
    ("rds", "DescribeDBLogFiles"): frozenset({"rds:DescribeDBLogFiles"}),
    ("rds", "DownloadDBLogFilePortion"): frozenset({"rds:DownloadDBLogFilePortion"}),
    # The REST endpoint GET /v13|v19/downloadCompleteLogFile/... (announced by rdsapi).
    ("rds", "DownloadCompleteDBLogFile"): frozenset({"rds:DownloadCompleteDBLogFile"}),
    ("s3", "GetObject"): frozenset({"s3:GetObject"}),
    ("s3", "HeadObject"): frozenset({"s3:GetObject"}),
    ("s3", "PutObject"): frozenset({"s3:PutObject"}),
    ("s3", "CreateMultipartUpload"): frozenset({"s3:PutObject"}),
    ("s3", "UploadPart"): frozenset({"s3:PutObject"}),
    ("s3", "CompleteMultipartUpload"): frozenset({"s3:PutObject"}),
    ("s3", "AbortMultipartUpload"): frozenset({"s3:AbortMultipartUpload"}),
    ("s3", "ListParts"): frozenset({"s3:ListMultipartUploadParts"}),
    ("s3", "ListObjectsV2"): frozenset({"s3:ListBucket"}),
    ("s3", "ListObjects"): frozenset({"s3:ListBucket"}),
    ("s3", "HeadBucket"): frozenset({"s3:ListBucket"}),
    ("s3", "GetBucketLocation"): frozenset({"s3:GetBucketLocation"}),
    ("s3", "DeleteObject"): frozenset({"s3:DeleteObject"}),
    ("s3", "CopyObject"): frozenset({"s3:GetObject", "s3:PutObject"}),
    ("sts", "AssumeRole"): frozenset({"sts:AssumeRole"}),
    # Needs no permission: every principal may call it.
    ("sts", "GetCallerIdentity"): frozenset(),
}

# What a role named in SHIPPER_ROLE_ARNS must allow (documented in the Deploy section).
ASSUMED_ROLE_ACTIONS = {"rds:DescribeDBInstances", "rds:DescribeDBLogFiles",
                        "rds:DownloadDBLogFilePortion", "rds:DownloadCompleteDBLogFile"}
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = "arn:aws:iam::123456789012:role/rds-log-reader"


def iam_actions(operations: set[tuple[str, str]]) -> set[str]:
    unmapped = sorted(op for op in operations if op not in OPERATION_ACTIONS)
    assert not unmapped, (
        f"the shipper made AWS calls this test does not know: {unmapped}. Add their IAM "
        "actions to OPERATION_ACTIONS and, if the task needs them, to TaskRole in "
        "infra/shipper.yaml")
    return set().union(*(OPERATION_ACTIONS[op] for op in operations))


def implied_actions(env: dict[str, str], operations: set[tuple[str, str]]) -> set[str]:
    implied: set[str] = set()
    if env.get("SHIPPER_KMS_KEY_ID"):
        if ("s3", "PutObject") in operations:
            implied.add("kms:GenerateDataKey")
        if operations & {("s3", "GetObject"), ("s3", "HeadObject")}:
            implied.add("kms:Decrypt")
    if env.get("SHIPPER_ROLE_ARNS"):
        implied.add("sts:AssumeRole")
    return implied


def task_role_actions(**params: Any) -> set[str]:
    rendered = cfn.render("shipper.yaml", {**SHIPPER_REQUIRED, **params},
                          refs=BUCKET_REFS, attrs=BUCKET_ATTRS)
    actions: set[str] = set()
    for policy in rendered.props("TaskRole")["Policies"]:
        for statement in cfn.policy_statements(policy["PolicyDocument"]):
            actions.update(cfn.as_list(statement["Action"]))
    return actions


def exercise(aws_world: Any, **env: str) -> tuple[set[tuple[str, str]], dict[str, int]]:
    """Everything the task may run: two shipping runs, status and the state commands."""
    operations: set[tuple[str, str]] = set()
    remove = add_operation_listener(lambda service, op: operations.add((service, op)))
    codes: dict[str, int] = {}
    merged = {**aws_world.env, **env}

    def run(*argv: str) -> None:
        out, err = io.StringIO(), io.StringIO()
        with mock.patch.dict(os.environ, merged), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            codes[" ".join(argv)] = main(list(argv))

    world = aws_world.world
    try:
        world.add_instance("pg-1", "postgres")
        world.add_instance("my-1", "mysql")
        world.advance(3 * 3600)
        run("run")
        world.advance(600)
        run("run")
        run("status")
        run("state", "show", "--instance", "pg-1")
        run("state", "repair", "--instance", "pg-1", "--yes")
    finally:
        remove()
    return operations, codes


def test_task_role_equals_the_actions_of_a_real_run(aws_world: Any) -> None:
    operations, codes = exercise(aws_world)
    assert codes["run"] == 0 and codes["status"] == 0, codes
    # The scenario must reach both ways of reading a log file, or the check proves less.
    assert ("rds", "DownloadDBLogFilePortion") in operations
    assert ("rds", "DownloadCompleteDBLogFile") in operations
    needed = iam_actions(operations) | implied_actions(aws_world.env, operations)
    granted = task_role_actions()
    assert granted == needed, (
        f"missing from TaskRole: {sorted(needed - granted)}; "
        f"granted but never used: {sorted(granted - needed)}")


def test_task_role_with_kms_and_cross_account_roles(aws_world: Any) -> None:
    # STS goes to the local moto server (it serves every service) for the assumed role.
    extra = {"SHIPPER_KMS_KEY_ID": KMS_KEY, "SHIPPER_ROLE_ARNS": ROLE,
             "AWS_ENDPOINT_URL_STS": aws_world.s3.endpoint_url}
    operations, codes = exercise(aws_world, **extra)
    assert codes["run"] == 0, codes
    needed = iam_actions(operations) | implied_actions(extra, operations)
    # RDS is called with the assumed role's credentials (the role in the shipped account
    # needs these); S3, KMS and AssumeRole itself with the task role's.
    through_assumed_role = {a for a in needed if a.startswith("rds:")}
    assert through_assumed_role == ASSUMED_ROLE_ACTIONS
    granted = task_role_actions(KmsKeyArn=KMS_KEY.replace("us-east-1", cfn.REGION),
                                ShipperRoleArns=ROLE)
    needed -= through_assumed_role
    assert granted == needed, (
        f"missing from TaskRole: {sorted(needed - granted)}; "
        f"granted but never used: {sorted(granted - needed)}")


@pytest.mark.parametrize(("operation", "actions"), [
    (("s3", "HeadObject"), {"s3:GetObject"}),
    (("s3", "HeadBucket"), {"s3:ListBucket"}),
    (("rds", "DownloadCompleteDBLogFile"), {"rds:DownloadCompleteDBLogFile"}),
])
def test_operation_mapping(operation: tuple[str, str], actions: set[str]) -> None:
    assert iam_actions({operation}) == actions


def test_unknown_operation_fails_loudly() -> None:
    with pytest.raises(AssertionError, match="does not know"):
        iam_actions({("s3", "PutBucketPolicy")})
