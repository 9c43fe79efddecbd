"""infra/deploy.py: configuration checks, and dry runs that print every step and touch nothing."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.infra.common import ROOT

EXAMPLE = ROOT / "infra" / "deploy.example.json"


def _load_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("infra_deploy", ROOT / "infra" / "deploy.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["infra_deploy"] = module
    spec.loader.exec_module(module)
    return module


deploy = _load_module()


def _config(tmp_path: Path, **changes: Any) -> Path:
    data = json.loads(EXAMPLE.read_text())
    for key, value in changes.items():
        if "." in key:
            section, name = key.split(".", 1)
            data[section][name] = value
        else:
            data[key] = value
    path = tmp_path / "deploy.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def no_cloud(tmp_path: Path) -> dict[str, str]:
    """PATH whose aws/docker/podman/buildah only record that they were called, and fail."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "called.log"
    for tool in ("aws", "docker", "podman", "buildah"):
        script = bindir / tool
        script.write_text(f"#!/bin/sh\necho {tool} \"$@\" >> {shlex.quote(str(log))}\nexit 97\n")
        script.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["CALLED_LOG"] = str(log)
    return env


def _dry_run(env: dict[str, str], *argv: str) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "infra" / "deploy.py"), *argv,
                             "--dry-run"], env=env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert not Path(env["CALLED_LOG"]).exists(), "a dry run ran a real command"
    return result.stdout


def _commands(stdout: str) -> list[list[str]]:
    return [shlex.split(line[2:].split(" | ")[-1]) for line in stdout.splitlines()
            if line.startswith("$ ")]


def test_example_config_is_valid() -> None:
    config = deploy.load_config(EXAMPLE)
    assert config.region
    assert config.params["cluster"]["Subnets"].count(",") == 1, "lists become comma-joined"


def test_dry_run_deploy_prints_every_step_in_order(no_cloud: dict[str, str],
                                                     tmp_path: Path) -> None:
    out = _dry_run(no_cloud, "deploy", "--config", str(_config(tmp_path)), "--tag", "v1")
    commands = _commands(out)
    deploys = [c[c.index("--stack-name") + 1] for c in commands
               if c[:3] == ["aws", "cloudformation", "deploy"]]
    assert deploys == ["rds-log-shipper-ecr", "rds-log-shipper-cluster",
                       "rds-log-shipper-shipper"]
    order = [" ".join(c[:2]) for c in commands]
    assert order.index("docker build") > order.index("aws cloudformation")
    assert order.index("docker push") < max(i for i, o in enumerate(order)
                                            if o == "aws cloudformation")
    build = next(c for c in commands if c[:2] == ["docker", "build"])
    assert "<ecr.RepositoryUri>:v1" in build and "--platform" in build
    assert "$ aws ecr get-login-password --region eu-west-1 | docker login" in out
    shipper = next(c for c in commands if "rds-log-shipper-shipper" in c and "deploy" in c)
    start, end = shipper.index("--parameter-overrides"), shipper.index("--capabilities")
    overrides = dict(item.split("=", 1) for item in shipper[start + 1:end])
    assert overrides["ImageUri"] == "<ecr.RepositoryUri>:v1"
    assert overrides["ClusterArn"] == "<cluster.ClusterArn>"
    assert overrides["SecurityGroupId"] == "<cluster.SecurityGroupId>"
    assert overrides["CapacityChoice"] == "EC2_SPOT_FLEET"
    assert overrides["Prefix"] == "rds-logs/"
    # Each template's parameters are printed before its command.
    assert "   ScheduleExpression        = rate(15 minutes)" in out


def test_dry_run_never_prints_the_external_id(no_cloud: dict[str, str], tmp_path: Path) -> None:
    secret = "do-not-print-me-1234"
    out = _dry_run(no_cloud, "deploy", "--config",
                   str(_config(tmp_path, **{"shipper.ShipperExternalId": secret})))
    assert secret not in out
    assert "ShipperExternalId=****" in out


def test_dry_run_with_existing_image_builds_nothing(no_cloud: dict[str, str],
                                                    tmp_path: Path) -> None:
    out = _dry_run(no_cloud, "deploy", "--config", str(_config(tmp_path, builder="podman")),
                   "--image", "registry.example.com/rds-log-shipper:1.0")
    tools = {c[0] for c in _commands(out)}
    assert tools == {"aws"}
    assert "ImageUri=registry.example.com/rds-log-shipper:1.0" in out


def test_dry_run_teardown_reverses_and_keeps_the_bucket(no_cloud: dict[str, str],
                                                        tmp_path: Path) -> None:
    out = _dry_run(no_cloud, "teardown", "--config", str(_config(tmp_path)), "--purge-images")
    deletes = [c[c.index("--stack-name") + 1] for c in _commands(out) if "delete-stack" in c]
    assert deletes == ["rds-log-shipper-shipper", "rds-log-shipper-cluster",
                       "rds-log-shipper-ecr"]
    assert "log bucket <shipper.BucketName> is retained" in out
    assert "ExistingBucketName" in out, "says how to deploy onto the kept archive"


@pytest.mark.parametrize(("changes", "message"), [
    ({"shipper.NoSuchParameter": 1}, "not parameters of infra/shipper.yaml"),
    ({"shipper.ClusterArn": "arn:x"}, "come from the other stacks' outputs"),
    ({"cluster.VpcId": None, "region": ""}, "'region' is required"),
    ({"builder": "kaniko"}, "builder must be one of"),
    ({"stack_prefix": "x" * 41}, "stack_prefix must be"),
    ({"surprise": True}, "unknown keys"),
])
def test_bad_configs_are_refused(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    path = _config(tmp_path, **changes)
    with pytest.raises(deploy.DeployError, match=message):
        deploy.load_config(path)


def test_missing_required_parameter_is_refused(tmp_path: Path) -> None:
    data = json.loads(EXAMPLE.read_text())
    del data["cluster"]["VpcId"]
    path = tmp_path / "deploy.json"
    path.write_text(json.dumps(data))
    with pytest.raises(deploy.DeployError, match=r"cluster\.VpcId"):
        deploy.load_config(path)


def test_parameter_reader_matches_the_yaml_loader() -> None:
    from tests.infra import cfntools as cfn

    for name in cfn.TEMPLATES:
        template = cfn.load(name)
        expected = {k: "Default" in v for k, v in template["Parameters"].items()}
        assert deploy.template_parameters(cfn.INFRA / name) == expected


def test_real_run_reports_a_failing_command(no_cloud: dict[str, str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "deploy.py"), "teardown", "--config",
         str(_config(tmp_path))], env=no_cloud, capture_output=True, text=True, timeout=60,
        check=False)
    assert result.returncode == 2
    assert "command failed (exit 97)" in result.stderr
    called = Path(no_cloud["CALLED_LOG"]).read_text().splitlines()
    # Lookups whose failure means "no such stack" come first; the first real step that
    # fails stops the teardown.
    assert all(" describe-stacks " in c for c in called[:-1]), called
    first_step = ("aws cloudformation delete-stack --stack-name rds-log-shipper-shipper "
                  "--region eu-west-1")
    assert called[-1] == first_step, "stops at the first failure"


COMBINATIONS = [(c, s) for c in ("EC2_SPOT_FLEET", "EC2_SPOT_ASG", "FARGATE_SPOT")
                for s in ("RULE", "SCHEDULER")]


@pytest.mark.parametrize(("capacity", "schedule"), COMBINATIONS)
def test_dry_runs_cover_every_combination(no_cloud: dict[str, str], tmp_path: Path,
                                          capacity: str, schedule: str) -> None:
    path = _config(tmp_path, **{"cluster.CapacityChoice": capacity,
                                "shipper.ScheduleKind": schedule})
    out = _dry_run(no_cloud, "deploy", "--config", str(path), "--image", "r.example/s:1")
    shipper = next(c for c in _commands(out) if "rds-log-shipper-shipper" in c and "deploy" in c)
    start, end = shipper.index("--parameter-overrides"), shipper.index("--capabilities")
    overrides = dict(item.split("=", 1) for item in shipper[start + 1:end])
    assert overrides["CapacityChoice"] == capacity
    assert overrides["ScheduleKind"] == schedule
    assert overrides["CapacityProvider"] == (
        "<cluster.CapacityProvider>" if capacity == "EC2_SPOT_ASG" else capacity)
    roles = {c[c.index("--role-name") + 1] for c in _commands(out) if "get-role" in c}
    assert ("AWSServiceRoleForAutoScaling" in roles) == (capacity == "EC2_SPOT_ASG")
    assert ("AWSServiceRoleForEC2SpotFleet" in roles) == (capacity == "EC2_SPOT_FLEET")
    assert ("ScheduleName: <shipper.ScheduleName>" in out) == (schedule == "SCHEDULER")

    down = _commands(_dry_run(no_cloud, "teardown", "--config", str(path)))
    ops = [" ".join(c[1:3]) for c in down]
    stop = "scheduler update-schedule" if schedule == "SCHEDULER" else "events disable-rule"
    assert stop in ops
    if schedule == "SCHEDULER":
        update = next(c for c in down if c[1:3] == ["scheduler", "update-schedule"])
        assert json.loads(update[update.index("--cli-input-json") + 1])["State"] == "DISABLED"
    release = {"EC2_SPOT_FLEET": "ec2 cancel-spot-fleet-requests",
               "EC2_SPOT_ASG": "autoscaling set-instance-protection"}.get(capacity)
    deletes = [i for i, o in enumerate(ops) if o == "cloudformation delete-stack"]
    if release:
        assert deletes[0] < ops.index(release) < deletes[1], "after the shipper stack, before "
        "the cluster stack"
    else:
        assert not {o for o in ops if o.startswith(("autoscaling", "ec2 cancel"))}
    assert ops.index(stop) < deletes[0]


@pytest.mark.parametrize(("capacity", "count", "refused"), [
    ("EC2_SPOT_ASG", 2, False), ("EC2_SPOT_ASG", 3, True), ("EC2_SPOT_FLEET", 3, True),
    ("FARGATE_SPOT", 10, False)])
def test_task_count_against_the_instances(capacity: str, count: int, refused: bool) -> None:
    from preflight import task_count_problem

    problem = task_count_problem(capacity, count, fleet_capacity=1, asg_max_size=1)
    assert bool(problem) == refused
    if problem and capacity == "EC2_SPOT_ASG":
        assert "AsgMaxSize" in problem


@pytest.mark.parametrize(("capacity", "public_ip", "refused"), [
    ("EC2_SPOT_ASG", True, True), ("EC2_SPOT_FLEET", True, True), ("FARGATE_SPOT", True, False),
    ("FARGATE_SPOT", False, True)])
def test_a_public_subnet_is_refused_to_instance_tasks(capacity: str, public_ip: bool,
                                                      refused: bool) -> None:
    from preflight import network_problems

    tables = [{"Associations": [{"SubnetId": "subnet-1"}],
               "Routes": [{"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1"}]}]
    problems = network_problems(capacity=capacity, assign_public_ip=public_ip,
                                subnets=["subnet-1"], tables=tables, endpoints=[],
                                region="eu-west-1", needs_sts=False)
    assert bool(problems) == refused
    if refused and capacity.startswith("EC2"):
        assert f"with {capacity} a task's network interface never gets a public IP" in problems[0]
