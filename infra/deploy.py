#!/usr/bin/env python3
"""Deploy rds-log-shipper to AWS, or tear it down, in one command.

    python infra/deploy.py deploy   --config infra/deploy.json [--dry-run] [--image URI]
    python infra/deploy.py teardown --config infra/deploy.json [--dry-run] [--purge-images]

deploy:   ECR stack -> build and push the image -> cluster stack -> shipper stack, each stack
          fed with the outputs of the ones before it (``aws cloudformation deploy``, so a
          second run updates in place and an unchanged stack is a no-op).
teardown: the same stacks in reverse order. The log bucket is KEPT (DeletionPolicy Retain);
          the ECR repository can only go when empty (--purge-images deletes its images).

--dry-run prints every command and each template's parameters and touches nothing: no AWS
call, no build. Requires at run time: the AWS CLI v2 with credentials, and docker (BuildKit),
podman or buildah unless --image names an existing image. Only the Python standard library.
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

STACKS = ("ecr", "cluster", "shipper")
TEMPLATES = {name: INFRA / f"{name}.yaml" for name in STACKS}
# Filled in by this tool from earlier stacks' outputs; a config file must not set them.
DERIVED = {
    "shipper": ("ImageUri", "RepositoryArn", "ClusterArn", "CapacityChoice", "Subnets",
                "SecurityGroupId"),
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
                  image_tag=raw.get("image_tag"), params=params)


# --- running commands -----------------------------------------------------------------------


class Runner:
    """Runs commands, or with dry_run only prints them (and invents placeholder results)."""

    def __init__(self, dry_run: bool, out: Any = sys.stdout) -> None:
        self.dry_run = dry_run
        self.out = out
        self.commands: list[list[str]] = []
        self.secrets: set[str] = set()

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


def deploy(config: Config, runner: Runner, image: str | None) -> dict[str, str]:
    ecr_out = deploy_stack(runner, config, "ecr", config.params["ecr"])
    if image is None:
        image = build_and_push(runner, config, ecr_out["RepositoryUri"], image_tag(config, runner))
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
        "Subnets": cluster_out["Subnets"],
        "SecurityGroupId": cluster_out["SecurityGroupId"],
    }
    if runner.dry_run:
        # Values the cluster stack will echo back are already known from the config.
        shipper_params["CapacityChoice"] = config.params["cluster"].get(
            "CapacityChoice", "EC2_SPOT_FLEET")
        shipper_params["Subnets"] = config.params["cluster"].get("Subnets", "<cluster.Subnets>")
    shipper_out = deploy_stack(runner, config, "shipper", shipper_params, capabilities=True)
    runner.say("\n== done")
    for key in ("BucketName", "LogGroupName", "RuleName", "RunTaskCommand"):
        runner.say(f"   {key}: {shipper_out[key]}")
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


def teardown(config: Config, runner: Runner, purge: bool) -> None:
    runner.say("NOTE: the log bucket is retained (DeletionPolicy Retain) with every shipped log; "
               "delete it yourself if you really mean to.")
    for name in reversed(STACKS):
        stack = config.stack(name)
        runner.say(f"\n== delete stack {stack}")
        if name == "ecr":
            if purge:
                purge_images(runner, config)
            else:
                runner.say("   (the repository is deleted only if empty: pass --purge-images "
                           "to delete its images first)")
        runner.run(aws(config, "cloudformation", "delete-stack", "--stack-name", stack))
        runner.run(aws(config, "cloudformation", "wait", "stack-delete-complete",
                       "--stack-name", stack))
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
            deploy(config, runner, args.image)
        else:
            teardown(config, runner, args.purge_images)
    except DeployError as err:
        print(f"deploy.py: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
