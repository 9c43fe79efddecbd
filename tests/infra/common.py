"""Shared parameter sets and helpers for the infrastructure tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

CLUSTER_ARN = "arn:aws:ecs:eu-west-1:123456789012:cluster/rds-log-shipper"
REPOSITORY_ARN = "arn:aws:ecr:eu-west-1:123456789012:repository/rds-log-shipper"
IMAGE_URI = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/rds-log-shipper:abc1234"
KMS_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE_ARNS = ("arn:aws:iam::210987654321:role/rds-log-reader,"
             "arn:aws:iam::111122223333:role/rds-log-reader")

# Required parameters only: everything else at its template default.
SHIPPER_REQUIRED: dict[str, Any] = {
    "ImageUri": IMAGE_URI,
    "ClusterArn": CLUSTER_ARN,
    "Subnets": "subnet-0aaa,subnet-0bbb",
    "SecurityGroupId": "sg-0123456789abcdef0",
}

# Every optional feature switched on.
SHIPPER_ALL_ON: dict[str, Any] = {
    **SHIPPER_REQUIRED,
    "RepositoryArn": REPOSITORY_ARN,
    "CapacityChoice": "FARGATE_SPOT",
    "AssignPublicIp": "ENABLED",
    "BucketName": "acme-rds-logs",
    "Prefix": "archive/rds/",
    "KmsKeyArn": KMS_KEY_ARN,
    "ExpireDataDays": 3650,
    "AccessLogBucket": "acme-access-logs",
    "ShipperRegions": "eu-west-1,us-east-1",
    "ShipperInclude": "prod-*",
    "ShipperExclude": "prod-scratch-*",
    "ShipperEngines": "postgres,aurora-*",
    "ShipperRoleArns": ROLE_ARNS,
    "ShipperExternalId": "s3cr3t-external-id",
    "AlarmEmail": "oncall@example.com",
}

CLUSTER_REQUIRED: dict[str, Any] = {
    "VpcId": "vpc-0123456789abcdef0",
    "Subnets": "subnet-0aaa,subnet-0bbb",
}

# Resolved bucket values for tests that check ARNs.
BUCKET_REFS = {"LogBucket": "test-bucket"}
BUCKET_ATTRS = {"LogBucket.Arn": "arn:aws:s3:::test-bucket"}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def tool_or_skip(name: str, venv: str) -> str:
    """Path of a linter from its own venv (infra/checks.sh creates them) or PATH.

    Absent locally: skip, pointing at infra/checks.sh. Absent in CI (CI=true): fail, since
    .ci/run runs infra/checks.sh first and the tool must be there."""
    candidate = ROOT / venv / "bin" / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} not installed: run `bash infra/checks.sh` once to create {venv}/"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError("unreachable")


# --- Dockerfile and .dockerignore ---------------------------------------------------------


def dockerfile_instructions() -> dict[str, list[str]]:
    text = (ROOT / "Dockerfile").read_text()
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    out: dict[str, list[str]] = {}
    for instruction in logical:
        keyword, _, rest = instruction.partition(" ")
        out.setdefault(keyword.upper(), []).append(rest.strip())
    return out


def dockerignore_patterns() -> list[str]:
    return [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matches a path or a parent."""
    from fnmatch import fnmatchcase

    excluded = False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.strip("/")
        if pattern.startswith("**/"):
            matched = any(fnmatchcase(c.split("/")[-1], pattern[3:]) or fnmatchcase(c, pattern[3:])
                          for c in candidates)
        else:
            matched = any(fnmatchcase(c, pattern) for c in candidates)
        if matched:
            excluded = not negate
    return excluded
