#!/usr/bin/env python3
"""Deploy rds-log-shipper to AWS, or tear it down, in one command.

    python infra/deploy.py deploy   --config infra/deploy.json [--dry-run] [--image URI]
                                    [--tag TAG] [--refresh-ami] [--yes]
    python infra/deploy.py teardown --config infra/deploy.json [--dry-run] [--purge-images]

deploy:   checks first (the subnets reach the AWS APIs, the fleet has room for TaskCount, no
          stack stuck in ROLLBACK_COMPLETE, the service-linked roles exist), then ECR stack ->
          image -> cluster stack -> shipper stack, each stack fed with the outputs of the ones
          before it (``aws cloudformation deploy``: a second run updates in place and an
          unchanged stack is a no-op). The image is built and pushed only when its tag is not
          in ECR yet: deploying one commit twice reuses the image (ECR refuses to push a tag
          twice to an IMMUTABLE repository); an uncommitted tree gets a tag of its own. The
          instances' AMI (Spot Fleet or Auto Scaling group) is pinned in the config at the
          first deploy; --refresh-ami moves it (which replaces a Spot Fleet).
teardown: stops the schedule (rule or Scheduler schedule), stops this task definition's
          running tasks and waits for them, releases the instances (cancels the Spot Fleet, or
          empties the Auto Scaling group and lifts the scale-in protection ECS put on its
          instances) and deregisters them, then deletes the stacks in reverse order. The log
          bucket is KEPT (DeletionPolicy Retain); the ECR repository can only go when empty
          (--purge-images deletes its images).

--dry-run prints every command and each template's parameters and touches nothing: no AWS
call, no build (lookups print placeholders; checks that need AWS answers are skipped).
Requires at run time: the AWS CLI v2 with credentials, and docker (BuildKit), podman or buildah
unless --image names an existing image. Only the Python standard library.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parent
ROOT = INFRA.parent
sys.path.insert(0, str(INFRA))

from preflight import network_problems, task_count_problem  # noqa: E402

AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
# Spot Fleet needs both Spot roles when created through the API or CloudFormation (EC2 User
# Guide, "Spot Fleet permissions"); ECS needs its own for capacity providers and awsvpc.
SERVICE_LINKED_ROLES = {
    "AWSServiceRoleForECS": "ecs.amazonaws.com",
    "AWSServiceRoleForEC2SpotFleet": "spotfleet.amazonaws.com",
    "AWSServiceRoleForEC2Spot": "spot.amazonaws.com",
    "AWSServiceRoleForAutoScaling": "autoscaling.amazonaws.com",
}
EC2_CAPACITIES = ("EC2_SPOT_FLEET", "EC2_SPOT_ASG")

STACKS = ("ecr", "cluster", "shipper")
TEMPLATES = {name: INFRA / f"{name}.yaml" for name in STACKS}
# Filled in by this tool from earlier stacks' outputs; a config file must not set them.
DERIVED = {
    "shipper": ("ImageUri", "RepositoryArn", "ClusterArn", "CapacityChoice", "CapacityProvider",
                "Subnets", "SecurityGroupId"),
}
CONFIG_KEYS = {"region", "profile", "stack_prefix", "builder", "platform", "image_tag",
               "ecr", "cluster", "shipper"}
BUILDERS = ("docker", "podman", "buildah")
SECRET_PARAMETERS = ("ShipperExternalId",)  # NoEcho in the template: never printed


class DeployError(Exception):
    pass


# --- templates and configuration ------------------------------------------------------------


def template_parameters(path: Path) -> dict[str, bool]:
    """Parameter name -> has a default, read from the template text (no YAML library needed:
    the templates keep one parameter per two-space-indented key under ``Parameters:``)."""
    names: dict[str, bool] = {}
    current: str | None = None
    inside = False
    for line in path.read_text().splitlines():
        if re.match(r"^\S", line):
            inside = line.startswith("Parameters:")
            current = None
            continue
        if not inside:
            continue
        key = re.match(r"^  ([A-Za-z0-9]+):\s*$", line)
        if key:
            current = key.group(1)
            names[current] = False
        elif current and re.match(r"^    Default:", line):
            names[current] = True
    return names


def _param_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


@dataclass
class Config:
    region: str
    stack_prefix: str = "rds-log-shipper"
    profile: str | None = None
    builder: str = "docker"
    platform: str = "linux/amd64"
    image_tag: str | None = None
    params: dict[str, dict[str, str]] = field(default_factory=dict)
    path: Path | None = None

    @property
    def capacity(self) -> str:
        return self.params["cluster"].get("CapacityChoice", "EC2_SPOT_FLEET")

    @property
    def schedule_kind(self) -> str:
        return self.params["shipper"].get("ScheduleKind", "RULE")

    def stack(self, name: str) -> str:
        return f"{self.stack_prefix}-{name}"


def load_config(path: Path) -> Config:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DeployError(f"cannot read config {path}: {err}") from err
    if not isinstance(raw, dict):
        raise DeployError(f"{path}: expected a JSON object")
    unknown = set(raw) - CONFIG_KEYS - {k for k in raw if k.startswith("_")}
    if unknown:
        raise DeployError(
            f"{path}: unknown keys {sorted(unknown)} (allowed: {sorted(CONFIG_KEYS)})")
    if not raw.get("region"):
        raise DeployError(f"{path}: 'region' is required")
    builder = raw.get("builder", "docker")
    if builder not in BUILDERS:
        raise DeployError(f"{path}: builder must be one of {BUILDERS}")
    prefix = raw.get("stack_prefix", "rds-log-shipper")
    # The schedule rule is named "<stack>-schedule" and rule names stop at 64 characters.
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,39}", prefix):
        raise DeployError(f"{path}: stack_prefix must be 1-40 letters, digits and hyphens")
    params: dict[str, dict[str, str]] = {}
    for stack in STACKS:
        section = raw.get(stack, {}) or {}
        if not isinstance(section, dict):
            raise DeployError(f"{path}: '{stack}' must be an object of template parameters")
        allowed = template_parameters(TEMPLATES[stack])
        comments = {k for k in section if k.startswith("_")}
        unknown = set(section) - set(allowed) - comments
        if unknown:
            raise DeployError(
                f"{path}: {stack}: {sorted(unknown)} are not parameters of "
                f"infra/{stack}.yaml (it has {sorted(allowed)})")
        derived = set(section) & set(DERIVED.get(stack, ()))
        if derived:
            raise DeployError(
                f"{path}: {stack}: {sorted(derived)} come from the other stacks' outputs "
                "(use --image for ImageUri)")
        params[stack] = {k: _param_value(v) for k, v in section.items() if k not in comments}
    missing = [
        f"{stack}.{name}" for stack in STACKS
        for name, has_default in template_parameters(TEMPLATES[stack]).items()
        if not has_default and name not in params[stack] and name not in DERIVED.get(stack, ())
    ]
    if missing:
        raise DeployError(f"{path}: required parameters missing: {missing}")
    return Config(region=raw["region"], stack_prefix=prefix, profile=raw.get("profile"),
                  builder=builder, platform=raw.get("platform", "linux/amd64"),
                  image_tag=raw.get("image_tag"), params=params, path=path)


# --- running commands -----------------------------------------------------------------------


class Runner:
    """Runs commands, or with dry_run only prints them (and invents placeholder results)."""

    def __init__(self, dry_run: bool, out: Any = sys.stdout) -> None:
        self.dry_run = dry_run
        self.out = out
        self.commands: list[list[str]] = []
        self.secrets: set[str] = set()

    def lookup(self, argv: Sequence[str], placeholder: str = "") -> str:
        """A read-only query whose failure means "not there" (its output, or "")."""
        return self.run(argv, capture=True, check=False, placeholder=placeholder)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def run(self, argv: Sequence[str], *, capture: bool = False, stdin: str | None = None,
            stdin_from: Sequence[str] | None = None, check: bool = True,
            placeholder: str = "", env: Mapping[str, str] | None = None) -> str:
        argv = list(argv)
        self.commands.append(argv)
        shown = shlex.join(argv)
        if stdin_from is not None:
            shown = f"{shlex.join(list(stdin_from))} | {shown}"
        for secret in self.secrets:
            shown = shown.replace(secret, "****")
        self.say(f"$ {shown}")
        if self.dry_run:
            return placeholder
        # Running the aws CLI and the image builder, found on PATH, is this tool's job; argv
        # lists are built above from validated config, never passed through a shell.
        if stdin_from is not None:
            stdin = subprocess.run(list(stdin_from), check=True, capture_output=True,  # noqa: S603
                                   text=True).stdout
        result = subprocess.run(  # noqa: S603
            argv, input=stdin, text=True, check=False, cwd=ROOT,
            stdout=subprocess.PIPE if capture else None,
            env={**os.environ, **(env or {})})
        if check and result.returncode != 0:
            raise DeployError(f"command failed (exit {result.returncode}): {shown}")
        if capture and result.returncode != 0:
            return ""
        return result.stdout if capture else ""


def aws(config: Config, *args: str) -> list[str]:
    argv = ["aws", *args, "--region", config.region]
    if config.profile:
        argv += ["--profile", config.profile]
    return argv


# --- steps ----------------------------------------------------------------------------------


def deploy_stack(runner: Runner, config: Config, name: str, params: Mapping[str, str],
                 capabilities: bool = False) -> dict[str, str]:
    stack = config.stack(name)
    runner.say(f"\n== stack {stack} (infra/{name}.yaml)")
    width = max((len(k) for k in params), default=0)
    for key in SECRET_PARAMETERS:
        if params.get(key):
            runner.secrets.add(params[key])
    for key in sorted(params):
        shown = "****" if key in SECRET_PARAMETERS and params[key] else params[key]
        runner.say(f"   {key:<{width}} = {shown}")
    argv = aws(config, "cloudformation", "deploy", "--stack-name", stack,
               "--template-file", str(TEMPLATES[name].relative_to(ROOT)),
               "--no-fail-on-empty-changeset")
    if params:
        argv += ["--parameter-overrides", *(f"{k}={v}" for k, v in sorted(params.items()))]
    if capabilities:
        argv += ["--capabilities", "CAPABILITY_IAM"]
    argv += ["--tags", "project=rds-log-shipper"]
    runner.run(argv)
    return stack_outputs(runner, config, name)


def stack_outputs(runner: Runner, config: Config, name: str) -> dict[str, str]:
    stack = config.stack(name)
    text = runner.run(
        aws(config, "cloudformation", "describe-stacks", "--stack-name", stack,
            "--query", "Stacks[0].Outputs", "--output", "json"),
        capture=True, placeholder="[]")
    if runner.dry_run:
        return _Placeholders(name)
    outputs = json.loads(text or "[]") or []
    return {o["OutputKey"]: o["OutputValue"] for o in outputs}


class _Placeholders(dict):  # type: ignore[type-arg]
    """Dry run: an earlier stack's outputs, shown as <stack.Output>."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def __missing__(self, key: str) -> str:
        return f"<{self.name}.{key}>"

    def __bool__(self) -> bool:  # a stack that would be there: teardown shows every step
        return True


def image_tag(config: Config, runner: Runner) -> str:
    if config.image_tag:
        return config.image_tag
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607
                             cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain",  # noqa: S607
                                "--untracked-files=no"],
                               cwd=ROOT, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        sha, dirty = "nogit", "x"
    # Tags are immutable in ECR: a build of uncommitted changes gets a unique tag.
    if dirty.strip():
        sha += time.strftime("-dirty%Y%m%d%H%M%S", time.gmtime())
    return sha


def build_and_push(runner: Runner, config: Config, repository_uri: str, tag: str) -> str:
    image = f"{repository_uri}:{tag}"
    registry = repository_uri.split("/", 1)[0]
    tool = config.builder
    runner.say(f"\n== image {image} ({tool}, {config.platform})")
    runner.run([tool, "login", "--username", "AWS", "--password-stdin", registry],
               stdin_from=aws(config, "ecr", "get-login-password"))
    if tool == "buildah":
        runner.run(["buildah", "bud", "--platform", config.platform, "--layers",
                    "-t", image, "-f", "Dockerfile", "."])
    else:
        runner.run([tool, "build", "--platform", config.platform, "--pull", "-t", image,
                    "-f", "Dockerfile", "."], env={"DOCKER_BUILDKIT": "1"})
    runner.run([tool, "push", image])
    return image


def _json(text: str) -> Any:
    try:
        return json.loads(text or "null")
    except ValueError:
        return None


def existing_digest(runner: Runner, config: Config, repository: str, tag: str) -> str | None:
    """The digest ECR holds under ``tag``, or None when the tag is not there."""
    text = runner.lookup(aws(config, "ecr", "describe-images", "--repository-name", repository,
                             "--image-ids", f"imageTag={tag}",
                             "--query", "imageDetails[0].imageDigest", "--output", "text"))
    digest = text.strip()
    return digest if digest.startswith("sha256:") else None


def publish_image(runner: Runner, config: Config, ecr_out: Mapping[str, str], tag: str) -> str:
    """Build and push, unless ECR already has this tag: a commit tag names the image built
    from that commit, and an IMMUTABLE repository refuses the same tag twice, even for an
    identical digest (aws/containers-roadmap#2380, #2179). Deploying again reuses it."""
    image = f"{ecr_out['RepositoryUri']}:{tag}"
    digest = existing_digest(runner, config, ecr_out["RepositoryName"], tag)
    if digest:
        runner.say(f"\n== image {image} is already in ECR ({digest}): not rebuilt, not "
                   "pushed (same tag, same image)")
        return image
    return build_and_push(runner, config, ecr_out["RepositoryUri"], tag)


def check_stack_state(runner: Runner, config: Config, name: str, yes: bool) -> None:
    """A stack whose creation rolled back (ROLLBACK_COMPLETE) can only be deleted, and one
    still in progress cannot be updated: say so, with the command, instead of failing later."""
    stack = config.stack(name)
    status = runner.lookup(aws(config, "cloudformation", "describe-stacks", "--stack-name", stack,
                               "--query", "Stacks[0].StackStatus", "--output", "text")).strip()
    if status == "ROLLBACK_COMPLETE":
        delete = aws(config, "cloudformation", "delete-stack", "--stack-name", stack)
        if not yes:
            raise DeployError(
                f"stack {stack} is in ROLLBACK_COMPLETE: its creation failed (see its events "
                "in the CloudFormation console) and it can only be deleted. Delete it with: "
                f"{shlex.join(delete)} -- or run deploy again with --yes to delete it first")
        runner.say(f"\n== {stack} is in ROLLBACK_COMPLETE; deleting it (--yes)")
        runner.run(delete)
        runner.run(aws(config, "cloudformation", "wait", "stack-delete-complete",
                       "--stack-name", stack))
    elif status.endswith("_IN_PROGRESS"):
        raise DeployError(f"stack {stack} is busy ({status}); wait until it settles, then "
                          "deploy again")


def ensure_service_linked_roles(runner: Runner, config: Config) -> None:
    """A fresh account may lack them; CloudFormation does not create them."""
    names = ["AWSServiceRoleForECS"]
    if config.capacity == "EC2_SPOT_FLEET":
        names += ["AWSServiceRoleForEC2SpotFleet", "AWSServiceRoleForEC2Spot"]
    elif config.capacity == "EC2_SPOT_ASG":
        names += ["AWSServiceRoleForAutoScaling"]
    runner.say("\n== service-linked roles: " + ", ".join(names))
    for name in names:
        found = runner.lookup(aws(config, "iam", "get-role", "--role-name", name,
                                  "--query", "Role.Arn", "--output", "text"),
                              placeholder="(exists?)").strip()
        if not found:
            runner.run(aws(config, "iam", "create-service-linked-role", "--aws-service-name",
                           SERVICE_LINKED_ROLES[name]))


def pin_ami(runner: Runner, config: Config, refresh: bool) -> None:
    """Pin the instances' AMI in the config: a new AMI replaces the whole Spot Fleet (its
    LaunchTemplateConfigs cannot change in place), so it moves only when asked. The Auto
    Scaling group keeps it pinned too: the instances it launches stay reproducible."""
    if config.capacity not in EC2_CAPACITIES:
        return
    pinned = config.params["cluster"].get("EcsAmiId", "")
    if pinned and not refresh:
        runner.say(f"\n== AMI {pinned} (pinned in the config; --refresh-ami moves it)")
        return
    latest = runner.lookup(aws(config, "ssm", "get-parameter", "--name", AMI_PARAMETER,
                               "--query", "Parameter.Value", "--output", "text"),
                           placeholder="<newest ECS AMI>").strip()
    if not latest:
        raise DeployError(f"cannot read the ECS AMI from SSM parameter {AMI_PARAMETER}")
    if latest == pinned:
        runner.say(f"\n== AMI {pinned} is still the newest ECS AMI; nothing to move")
        return
    if pinned and config.capacity == "EC2_SPOT_ASG":
        runner.say(f"\n== AMI {pinned} -> {latest} (--refresh-ami): a new launch template "
                   "version; the Auto Scaling group launches its next instances from it")
    elif pinned:
        runner.say(f"\n== AMI {pinned} -> {latest} (--refresh-ami): CloudFormation REPLACES "
                   "the Spot Fleet; a run in progress on the old fleet gets SIGTERM, commits "
                   "what is durable and exits 143, and the next run continues")
    else:
        runner.say(f"\n== AMI {latest} (newest ECS AMI), pinned in the config from now on")
    config.params["cluster"]["EcsAmiId"] = latest
    if not runner.dry_run and config.path is not None:
        raw = json.loads(config.path.read_text())
        raw.setdefault("cluster", {})["EcsAmiId"] = latest
        config.path.write_text(json.dumps(raw, indent=2) + "\n")


def check_network(runner: Runner, config: Config) -> None:
    """Refuse subnets from which the tasks cannot reach the AWS APIs (infra/preflight.py)."""
    cluster, shipper = config.params["cluster"], config.params["shipper"]
    problem = task_count_problem(config.capacity, int(shipper.get("TaskCount", "1")),
                                 int(cluster.get("FleetTargetCapacity", "1")),
                                 int(cluster.get("AsgMaxSize", "1")))
    if problem:
        raise DeployError(problem)
    vpc = cluster.get("VpcId", "")
    tables = _json(runner.lookup(aws(config, "ec2", "describe-route-tables", "--filters",
                                     f"Name=vpc-id,Values={vpc}", "--query", "RouteTables",
                                     "--output", "json")))
    endpoints = _json(runner.lookup(aws(config, "ec2", "describe-vpc-endpoints", "--filters",
                                        f"Name=vpc-id,Values={vpc}", "--query", "VpcEndpoints",
                                        "--output", "json")))
    if tables is None or endpoints is None:
        runner.say("   (network check skipped: no route table answer)")
        return
    problems = network_problems(
        capacity=config.capacity,
        assign_public_ip=shipper.get("AssignPublicIp", "DISABLED") == "ENABLED",
        subnets=[s for s in cluster.get("Subnets", "").split(",") if s],
        tables=tables, endpoints=endpoints, region=config.region,
        needs_sts=bool(shipper.get("ShipperRoleArns")))
    if problems:
        raise DeployError("the tasks could not reach AWS from these subnets:\n  "
                          + "\n  ".join(problems))
    runner.say("   subnets reach the AWS APIs (NAT, internet gateway with public IPs, or "
               "VPC endpoints)")


def check_archive(runner: Runner, config: Config, new_archive: bool) -> None:
    """A first deploy of the shipper stack must not trip over, or silently walk away from,
    the bucket an earlier teardown kept (DeletionPolicy Retain): CloudFormation cannot create
    a bucket that exists, and a generated name would start a new, empty history."""
    shipper = config.params["shipper"]
    stack = config.stack("shipper")
    exists = runner.lookup(aws(config, "cloudformation", "describe-stacks", "--stack-name", stack,
                               "--query", "Stacks[0].StackStatus", "--output", "text"),
                           placeholder="(unknown)").strip()
    if exists or shipper.get("ExistingBucketName"):
        return
    named = shipper.get("BucketName")
    if named:
        found = runner.lookup(aws(config, "s3api", "list-buckets", "--query",
                                  f"Buckets[?Name=='{named}'].Name", "--output", "json"))
    else:
        generated = f"{stack.lower()}-logbucket-"
        found = runner.lookup(aws(config, "s3api", "list-buckets", "--query",
                                  f"Buckets[?starts_with(Name, '{generated}')].Name",
                                  "--output", "json"))
    kept = _json(found) or []
    if not kept or (new_archive and not named):
        return
    raise DeployError(
        f"bucket {', '.join(kept)} holds the archive of an earlier deployment (teardown keeps "
        "it). To continue that history, set shipper.ExistingBucketName to it"
        + (" and remove shipper.BucketName" if named else "")
        + (" (CloudFormation cannot create a bucket that exists)" if named else
           "; or pass --new-archive to start a new, empty history in a new bucket"))


def preflight(runner: Runner, config: Config, yes: bool, refresh_ami: bool,
              new_archive: bool = False) -> None:
    runner.say("\n== checks")
    check_network(runner, config)
    check_archive(runner, config, new_archive)
    for name in STACKS:
        check_stack_state(runner, config, name, yes)
    ensure_service_linked_roles(runner, config)
    pin_ami(runner, config, refresh_ami)


def deploy(config: Config, runner: Runner, image: str | None, *, yes: bool = False,
           refresh_ami: bool = False, new_archive: bool = False) -> dict[str, str]:
    preflight(runner, config, yes, refresh_ami, new_archive)
    ecr_out = deploy_stack(runner, config, "ecr", config.params["ecr"])
    if image is None:
        image = publish_image(runner, config, ecr_out, image_tag(config, runner))
        repository_arn = ecr_out["RepositoryArn"]
    else:
        runner.say(f"\n== image {image} (given; nothing built)")
        repository_arn = (
            ecr_out["RepositoryArn"] if image.startswith(ecr_out["RepositoryUri"] + ":")
            or image.startswith(ecr_out["RepositoryUri"] + "@") else "")
    cluster_out = deploy_stack(runner, config, "cluster", config.params["cluster"],
                               capabilities=True)
    shipper_params = {
        **config.params["shipper"],
        "ImageUri": image,
        "RepositoryArn": repository_arn,
        "ClusterArn": cluster_out["ClusterArn"],
        "CapacityChoice": cluster_out["CapacityChoice"],
        # The ASG's capacity provider name; a cluster stack older than EC2_SPOT_ASG has no
        # such output, and only EC2_SPOT_ASG reads it.
        "CapacityProvider": (cluster_out["CapacityProvider"] if runner.dry_run
                             else cluster_out.get("CapacityProvider") or "none"),
        "Subnets": cluster_out["Subnets"],
        "SecurityGroupId": cluster_out["SecurityGroupId"],
    }
    if runner.dry_run:
        # Values the cluster stack will echo back are already known from the config.
        shipper_params["CapacityChoice"] = config.params["cluster"].get(
            "CapacityChoice", "EC2_SPOT_FLEET")
        shipper_params["Subnets"] = config.params["cluster"].get("Subnets", "<cluster.Subnets>")
        if config.capacity != "EC2_SPOT_ASG":
            shipper_params["CapacityProvider"] = config.capacity
    shipper_out = deploy_stack(runner, config, "shipper", shipper_params, capabilities=True)
    runner.say("\n== done")
    schedule = "ScheduleName" if config.schedule_kind == "SCHEDULER" else "RuleName"
    for key in ("BucketName", "LogGroupName", schedule, "RunTaskCommand"):
        runner.say(f"   {key}: {shipper_out.get(key, '')}" if not runner.dry_run
                   else f"   {key}: {shipper_out[key]}")
    return dict(shipper_out)


def purge_images(runner: Runner, config: Config) -> None:
    repository = config.params["ecr"].get("RepositoryName", "rds-log-shipper")
    text = runner.run(
        aws(config, "ecr", "list-images", "--repository-name", repository,
            "--query", "imageIds[*].imageDigest", "--output", "json"),
        capture=True, check=False, placeholder="[]")
    digests = sorted(set(json.loads(text or "[]") or [])) if not runner.dry_run else []
    for start in range(0, len(digests), 100):
        ids = [f"imageDigest={d}" for d in digests[start:start + 100]]
        runner.run(aws(config, "ecr", "batch-delete-image", "--repository-name", repository,
                       "--image-ids", *ids))


def _outputs_if_any(runner: Runner, config: Config, name: str) -> dict[str, str]:
    """A stack's outputs, or {} when it does not exist (teardown may be run twice)."""
    text = runner.lookup(aws(config, "cloudformation", "describe-stacks", "--stack-name",
                             config.stack(name), "--query", "Stacks[0].Outputs",
                             "--output", "json"))
    if runner.dry_run:
        return _Placeholders(name)
    return {o["OutputKey"]: o["OutputValue"] for o in (_json(text) or [])}


def stop_runs(runner: Runner, config: Config) -> None:
    """Stop the schedule, then this task definition's running tasks, and wait: a run in
    progress holds an ENI in the security group and a task on the cluster, and either makes
    the stack deletion fail (DependencyViolation, ClusterContainsTasksException)."""
    shipper = _outputs_if_any(runner, config, "shipper")
    cluster = _outputs_if_any(runner, config, "cluster")
    if not shipper or not cluster:
        return
    runner.say("\n== stop the schedule and the running tasks")
    kind = config.schedule_kind if runner.dry_run else shipper.get("ScheduleKind", "RULE")
    if kind == "SCHEDULER":
        disable_schedule(runner, config, shipper["ScheduleName"], shipper["ScheduleGroupName"])
    else:
        runner.run(aws(config, "events", "disable-rule", "--name", shipper["RuleName"]))
    tasks = _json(runner.lookup(aws(
        config, "ecs", "list-tasks", "--cluster", cluster["ClusterArn"], "--family",
        shipper["TaskDefinitionFamily"], "--desired-status", "RUNNING", "--query", "taskArns",
        "--output", "json"), placeholder="[]")) or []
    for task in tasks:
        runner.run(aws(config, "ecs", "stop-task", "--cluster", cluster["ClusterArn"], "--task",
                       task, "--reason", "rds-log-shipper teardown"))
    if tasks:
        # SIGTERM: the shipper commits what is durable and exits 143 within 20 s.
        runner.run(aws(config, "ecs", "wait", "tasks-stopped", "--cluster",
                       cluster["ClusterArn"], "--tasks", *tasks))


# What UpdateSchedule takes back from GetSchedule: it replaces the whole schedule, so every
# setting is sent again, with State DISABLED (EventBridge Scheduler API Reference).
SCHEDULE_FIELDS = ("Name", "GroupName", "ScheduleExpression", "ScheduleExpressionTimezone",
                   "StartDate", "EndDate", "Description", "FlexibleTimeWindow", "Target",
                   "KmsKeyArn", "ActionAfterCompletion")


def disable_schedule(runner: Runner, config: Config, name: str, group: str) -> None:
    """Scheduler has no disable call of its own: read the schedule, send it back DISABLED."""
    found = _json(runner.lookup(aws(config, "scheduler", "get-schedule", "--name", name,
                                    "--group-name", group, "--output", "json"),
                                placeholder="{}")) or {}
    if runner.dry_run:
        found = {"Name": name, "GroupName": group, "Target": "<as deployed>"}
    if not found:
        return
    update = {k: found[k] for k in SCHEDULE_FIELDS if found.get(k) is not None}
    update["State"] = "DISABLED"
    runner.run(aws(config, "scheduler", "update-schedule", "--cli-input-json",
                   json.dumps(update, sort_keys=True, default=str)))


def release_asg_instances(runner: Runner, config: Config) -> None:
    """Empty the Auto Scaling group before the cluster stack goes: ECS protects an instance
    from scale-in while a task runs there (managed termination protection), and a protected
    instance keeps the group, the capacity provider and the cluster from being deleted. The
    tasks are stopped by now: lift the protection, set the group to 0, deregister, wait."""
    cluster = _outputs_if_any(runner, config, "cluster")
    group = (cluster["AutoScalingGroupName"] if runner.dry_run
             else cluster.get("AutoScalingGroupName"))
    if not cluster or not group:
        return
    runner.say("\n== release the Auto Scaling group's instances")
    ids = _json(runner.lookup(aws(config, "autoscaling", "describe-auto-scaling-groups",
                                  "--auto-scaling-group-names", group, "--query",
                                  "AutoScalingGroups[0].Instances[].InstanceId",
                                  "--output", "json"), placeholder="[]")) or []
    # Protection first: a scale-in to 0 then takes every instance (a protected one would
    # be skipped by it).
    if ids or runner.dry_run:
        runner.run(aws(config, "autoscaling", "set-instance-protection",
                       "--auto-scaling-group-name", group, "--instance-ids",
                       *(ids or ["<instance ids>"]), "--no-protected-from-scale-in"))
    runner.run(aws(config, "autoscaling", "update-auto-scaling-group",
                   "--auto-scaling-group-name", group, "--min-size", "0", "--max-size", "0",
                   "--desired-capacity", "0"))
    _deregister_and_wait(runner, config, cluster["ClusterArn"], ids)


def _deregister_and_wait(runner: Runner, config: Config, cluster_arn: str,
                         ids: list[str]) -> None:
    """Deregister the cluster's container instances (the cluster cannot be deleted while any
    is registered) and wait until the EC2 instances ``ids`` are gone."""
    registered = _json(runner.lookup(aws(config, "ecs", "list-container-instances", "--cluster",
                                         cluster_arn, "--query", "containerInstanceArns",
                                         "--output", "json"), placeholder="[]")) or []
    for arn in registered:
        runner.run(aws(config, "ecs", "deregister-container-instance", "--cluster",
                       cluster_arn, "--container-instance", arn, "--force"))
    if ids:
        runner.run(aws(config, "ec2", "wait", "instance-terminated", "--instance-ids", *ids))


def release_instances(runner: Runner, config: Config) -> None:
    """Cancel the Spot Fleet and deregister its container instances before the cluster stack
    goes: CloudFormation deletes the cluster while terminating instances are still
    registered (ClusterContainsContainerInstancesException) or still hold the security group."""
    cluster = _outputs_if_any(runner, config, "cluster")
    fleet = cluster["SpotFleetRequestId"] if runner.dry_run else cluster.get("SpotFleetRequestId")
    if not cluster or not fleet:
        return
    runner.say("\n== release the Spot Fleet's instances")
    ids = _json(runner.lookup(aws(config, "ec2", "describe-spot-fleet-instances",
                                  "--spot-fleet-request-id", fleet, "--query",
                                  "ActiveInstances[].InstanceId", "--output", "json"),
                              placeholder="[]")) or []
    runner.run(aws(config, "ec2", "cancel-spot-fleet-requests", "--spot-fleet-request-ids",
                   fleet, "--terminate-instances"))
    _deregister_and_wait(runner, config, cluster["ClusterArn"], ids)


def delete_stack(runner: Runner, config: Config, name: str) -> None:
    stack = config.stack(name)
    runner.say(f"\n== delete stack {stack}")
    runner.run(aws(config, "cloudformation", "delete-stack", "--stack-name", stack))
    runner.run(aws(config, "cloudformation", "wait", "stack-delete-complete",
                   "--stack-name", stack))


def teardown(config: Config, runner: Runner, purge: bool) -> None:
    bucket = _outputs_if_any(runner, config, "shipper").get("BucketName", "<shipper.BucketName>")
    stop_runs(runner, config)
    delete_stack(runner, config, "shipper")
    if config.capacity == "EC2_SPOT_FLEET":
        release_instances(runner, config)
    elif config.capacity == "EC2_SPOT_ASG":
        release_asg_instances(runner, config)
    delete_stack(runner, config, "cluster")
    if purge:
        purge_images(runner, config)
    else:
        runner.say("   (the ECR repository is deleted only if empty: pass --purge-images "
                   "to delete its images first)")
    delete_stack(runner, config, "ecr")
    runner.say(f"\nNOTE: the log bucket {bucket} is retained (DeletionPolicy Retain) with every "
               "shipped log. To deploy again onto the same archive, set "
               f"shipper.ExistingBucketName to {bucket} (deploy refuses to start a new one "
               "next to it unless given --new-archive).")
    runner.say("\n== done")


# --- command line ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="infra/deploy.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("deploy", "create or update the ECR, cluster and shipper stacks"),
                       ("teardown", "delete the stacks in reverse order (the bucket stays)")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--config", type=Path, default=INFRA / "deploy.json",
                         help="JSON config (copy infra/deploy.example.json)")
        cmd.add_argument("--dry-run", action="store_true",
                         help="print the commands and parameters; touch nothing")
        if name == "deploy":
            cmd.add_argument("--image", help="use this existing image URI; build nothing")
            cmd.add_argument("--tag", help="image tag to push (default: git commit)")
            cmd.add_argument("--refresh-ami", action="store_true",
                             help="move the pinned Spot Fleet AMI to the newest ECS AMI "
                                  "(replaces the fleet)")
            cmd.add_argument("--yes", action="store_true",
                             help="delete a stack left in ROLLBACK_COMPLETE before deploying")
            cmd.add_argument("--new-archive", action="store_true",
                             help="start a new bucket although one kept by an earlier "
                                  "teardown exists")
        else:
            cmd.add_argument("--purge-images", action="store_true",
                             help="delete every image so the ECR stack can go too")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        if getattr(args, "tag", None):
            config.image_tag = args.tag
        runner = Runner(args.dry_run)
        if args.dry_run:
            runner.say("DRY RUN: nothing below is executed.")
        if args.command == "deploy":
            deploy(config, runner, args.image, yes=args.yes, refresh_ami=args.refresh_ami,
                   new_archive=args.new_archive)
        else:
            teardown(config, runner, args.purge_images)
    except DeployError as err:
        print(f"deploy.py: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
