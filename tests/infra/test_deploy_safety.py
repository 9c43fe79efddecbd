"""infra/deploy.py redeploys and tears down safely: a second deploy of one commit reuses the image
and updates the stacks, a stack in ROLLBACK_COMPLETE is reported with its fix, missing
service-linked roles are created, the AMI is pinned, subnets that cannot reach AWS are refused,
and teardown stops the runs before it deletes anything.

Two stand-ins for the AWS CLI: ``StubAws`` answers lookups from a table and records every
command (a dry run with a stubbed registry); ``BotoAws`` turns each ``aws`` command into the
boto3 call it names, against moto (teardown on real resources).
"""

from __future__ import annotations

import io
import json
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import boto3
import jmespath
import pytest
from botocore.exceptions import ClientError, WaiterError
from moto import mock_aws

from tests.infra import cfntools as cfn
from tests.infra.common import ROOT
from tests.infra.test_deploy_tool import EXAMPLE, deploy

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

REGION = "eu-west-1"
REPO_URI = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/rds-log-shipper"
DIGEST = "sha256:" + "ab" * 32
Answer = str | Callable[[list[str]], str]


class StubAws(deploy.Runner):  # type: ignore[misc, name-defined]
    """Records commands; answers lookups from ``answers`` (first key found in the command
    line wins); a push adds its tag to the stubbed registry."""

    def __init__(self, answers: Mapping[str, Answer] | None = None, dry_run: bool = True) -> None:
        super().__init__(dry_run, out=io.StringIO())
        self.answers = dict(answers or {})
        self.registry: dict[str, str] = {}

    def run(self, argv: Sequence[str], *, capture: bool = False, check: bool = True,
            placeholder: str = "", **_: Any) -> str:
        argv = list(argv)
        self.commands.append(argv)
        line = shlex.join(argv)
        self.say(f"$ {line}")
        if argv[1:2] == ["push"]:
            self.registry[argv[2].rsplit(":", 1)[1]] = DIGEST
        if argv[1:3] == ["ecr", "describe-images"]:
            tag = argv[argv.index("--image-ids") + 1].split("=", 1)[1]
            return self.registry.get(tag, "")
        if argv[1:4] == ["cloudformation", "describe-stacks", "--stack-name"] and \
                "Stacks[0].Outputs" in argv:
            return json.dumps([{"OutputKey": k, "OutputValue": f"<{argv[4]}.{k}>"}
                               for k in ("RepositoryUri", "RepositoryArn", "RepositoryName",
                                         "ClusterArn", "CapacityChoice", "Subnets",
                                         "SecurityGroupId", "BucketName", "LogGroupName",
                                         "RuleName", "RunTaskCommand", "TaskDefinitionFamily",
                                         "SpotFleetRequestId")]
                              ).replace("<rds-log-shipper-ecr.RepositoryUri>", REPO_URI)
        for key, answer in self.answers.items():
            if key in line:
                return answer(argv) if callable(answer) else answer
        return placeholder if self.dry_run else ""

    @property
    def text(self) -> str:
        return str(self.out.getvalue())

    def index(self, *words: str) -> int:
        return next(i for i, c in enumerate(self.commands) if all(w in c for w in words))


def config(tmp_path: Path, **changes: Any) -> Any:
    data = json.loads(EXAMPLE.read_text())
    for key, value in changes.items():
        section, _, name = key.partition(".")
        if value is None:
            data[section].pop(name, None)
        else:
            data[section][name] = value
    path = tmp_path / "deploy.json"
    path.write_text(json.dumps(data))
    loaded = deploy.load_config(path)
    loaded.image_tag = "0123456789ab"
    return loaded


def stack_deploys(runner: StubAws) -> list[str]:
    return [c[c.index("--stack-name") + 1] for c in runner.commands
            if c[1:3] == ["cloudformation", "deploy"]]


# --- redeploy -------------------------------------------------------------------------------


def test_a_second_deploy_of_one_commit_reuses_the_image_and_updates_the_stacks(
        tmp_path: Path) -> None:
    runner = StubAws(dry_run=False)
    cfg = config(tmp_path, **{"cluster.EcsAmiId": "ami-0123456789abcdef0"})
    deploy.deploy(cfg, runner, None)
    first = list(runner.commands)
    assert any(c[:2] == ["docker", "push"] for c in first)
    assert runner.registry == {"0123456789ab": DIGEST}

    runner.commands.clear()
    deploy.deploy(cfg, runner, None)
    assert not any(c[0] == "docker" for c in runner.commands), "nothing built or pushed"
    assert f"{REPO_URI}:0123456789ab is already in ECR ({DIGEST})" in runner.text
    assert stack_deploys(runner) == ["rds-log-shipper-ecr", "rds-log-shipper-cluster",
                                     "rds-log-shipper-shipper"]
    shipper = runner.commands[runner.index("deploy", "rds-log-shipper-shipper")]
    assert f"ImageUri={REPO_URI}:0123456789ab" in shipper


def test_a_dirty_tree_gets_a_tag_of_its_own(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    answers = {"rev-parse": "0123456789ab\n", "status": " M shipper/cli.py\n"}

    class Done:
        def __init__(self, argv: list[str]) -> None:
            self.stdout = next(v for k, v in answers.items() if k in argv)

    monkeypatch.setattr(deploy.subprocess, "run", lambda argv, **_: Done(argv))
    cfg = config(tmp_path)
    cfg.image_tag = None
    tag = deploy.image_tag(cfg, StubAws())
    assert tag.startswith("0123456789ab-dirty") and tag != "0123456789ab"
    answers["status"] = ""
    assert deploy.image_tag(cfg, StubAws()) == "0123456789ab"


# --- stacks that cannot be updated, first deploys in fresh accounts --------------------------


def test_rollback_complete_is_reported_with_the_command_that_clears_it(tmp_path: Path) -> None:
    status = {"rds-log-shipper-cluster --query 'Stacks[0].StackStatus'": "ROLLBACK_COMPLETE\n"}
    runner = StubAws(status)
    with pytest.raises(deploy.DeployError) as err:
        deploy.deploy(config(tmp_path), runner, None)
    message = str(err.value)
    assert "ROLLBACK_COMPLETE" in message and "--yes" in message
    assert ("aws cloudformation delete-stack --stack-name rds-log-shipper-cluster "
            "--region eu-west-1") in message
    assert not stack_deploys(runner), "nothing deployed"

    runner = StubAws(status)
    deploy.deploy(config(tmp_path), runner, None, yes=True)
    delete = runner.index("delete-stack", "rds-log-shipper-cluster")
    wait = runner.index("stack-delete-complete", "rds-log-shipper-cluster")
    assert delete < wait < runner.index("deploy", "rds-log-shipper-ecr")


def test_missing_service_linked_roles_are_created(tmp_path: Path) -> None:
    exists = {f"--role-name {name}": f"arn:aws:iam::123456789012:role/{name}"
              for name in ("AWSServiceRoleForECS", "AWSServiceRoleForEC2SpotFleet")}
    runner = StubAws({**exists, "--role-name AWSServiceRoleForEC2Spot ": ""}, dry_run=False)
    deploy.deploy(config(tmp_path, **{"cluster.EcsAmiId": "ami-0123456789abcdef0"}), runner,
                  None)
    created = [c[c.index("--aws-service-name") + 1] for c in runner.commands
               if "create-service-linked-role" in c]
    assert created == ["spot.amazonaws.com"]
    assert runner.index("create-service-linked-role") < runner.index("deploy", "--stack-name")

    runner = StubAws({"get-role": ""}, dry_run=False)
    deploy.deploy(config(tmp_path, **{"cluster.CapacityChoice": "FARGATE_SPOT"}), runner, None)
    assert [c[-3] for c in runner.commands if "create-service-linked-role" in c] == [
        "ecs.amazonaws.com"], "Fargate needs only the ECS role"


def test_the_ami_is_pinned_at_the_first_deploy_and_moved_only_on_request(
        tmp_path: Path) -> None:
    newest = {"ssm get-parameter": "ami-0000000000000000a\n"}
    cfg = config(tmp_path, **{"cluster.EcsAmiId": None})
    runner = StubAws(newest, dry_run=False)
    deploy.deploy(cfg, runner, None)
    cluster = runner.commands[runner.index("deploy", "rds-log-shipper-cluster")]
    assert "EcsAmiId=ami-0000000000000000a" in cluster
    saved = json.loads(cfg.path.read_text())
    assert saved["cluster"]["EcsAmiId"] == "ami-0000000000000000a"

    newer = {"ssm get-parameter": "ami-0000000000000000b\n"}
    runner = StubAws(newer, dry_run=False)
    deploy.deploy(deploy.load_config(cfg.path), runner, None)
    assert not any("get-parameter" in c for c in runner.commands), "pinned: not even read"
    assert "EcsAmiId=ami-0000000000000000a" in runner.commands[
        runner.index("deploy", "rds-log-shipper-cluster")]

    runner = StubAws(newer, dry_run=False)
    deploy.deploy(deploy.load_config(cfg.path), runner, None, refresh_ami=True)
    assert "REPLACES the Spot Fleet" in runner.text
    assert json.loads(cfg.path.read_text())["cluster"]["EcsAmiId"] == "ami-0000000000000000b"


def test_task_count_beyond_the_fleets_enis_is_refused(tmp_path: Path) -> None:
    with pytest.raises(deploy.DeployError, match=r"TaskCount 3 .*FleetTargetCapacity 1 "):
        deploy.deploy(config(tmp_path, **{"shipper.TaskCount": 3}), StubAws(), None)
    deploy.deploy(config(tmp_path, **{"shipper.TaskCount": 3,
                                      "cluster.FleetTargetCapacity": 2}), StubAws(), None)


# --- networking (route tables from moto's EC2) ----------------------------------------------


@pytest.fixture
def vpc() -> Iterator[dict[str, str]]:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc_id = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
        public = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
        private = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.7.2.0/24")["Subnet"]["SubnetId"]
        isolated = ec2.create_subnet(VpcId=vpc_id,
                                     CidrBlock="10.7.3.0/24")["Subnet"]["SubnetId"]
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
        nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=ec2.allocate_address(
            Domain="vpc")["AllocationId"])["NatGateway"]["NatGatewayId"]
        for subnet, target in ((public, {"GatewayId": igw}), (private, {"NatGatewayId": nat})):
            table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
            ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", **target)
            ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        yield {"vpc": vpc_id, "public": public, "private": private, "isolated": isolated}


def ec2_answers(vpc: dict[str, str]) -> dict[str, Answer]:
    ec2 = boto3.client("ec2", region_name=REGION)
    filters = [{"Name": "vpc-id", "Values": [vpc["vpc"]]}]
    return {
        "describe-route-tables": json.dumps(ec2.describe_route_tables(
            Filters=filters)["RouteTables"], default=str),
        "describe-vpc-endpoints": json.dumps(ec2.describe_vpc_endpoints(
            Filters=filters)["VpcEndpoints"], default=str),
    }


def network_config(tmp_path: Path, vpc: dict[str, str], subnet: str, **changes: Any) -> Any:
    return config(tmp_path, **{"cluster.VpcId": vpc["vpc"], "cluster.Subnets": [vpc[subnet]],
                               **changes})


def test_spot_fleet_in_a_public_subnet_without_nat_is_refused(tmp_path: Path,
                                                              vpc: dict[str, str]) -> None:
    runner = StubAws(ec2_answers(vpc))
    with pytest.raises(deploy.DeployError) as err:
        deploy.deploy(network_config(tmp_path, vpc, "public"), runner, None)
    message = str(err.value)
    assert vpc["public"] in message and "never gets a public IP" in message
    assert "NAT gateway" in message and "VPC endpoints for ecr.api, ecr.dkr, s3" in message
    assert not stack_deploys(runner)


@pytest.mark.parametrize(("subnet", "changes"), [
    ("private", {}),
    ("public", {"cluster.CapacityChoice": "FARGATE_SPOT", "shipper.AssignPublicIp": "ENABLED"}),
])
def test_subnets_that_reach_aws_are_accepted(tmp_path: Path, vpc: dict[str, str], subnet: str,
                                             changes: dict[str, str]) -> None:
    runner = StubAws(ec2_answers(vpc))
    deploy.deploy(network_config(tmp_path, vpc, subnet, **changes), runner, None)
    assert "subnets reach the AWS APIs" in runner.text
    assert len(stack_deploys(runner)) == 3


def test_endpoints_make_an_isolated_subnet_usable(tmp_path: Path, vpc: dict[str, str]) -> None:
    cfg = network_config(tmp_path, vpc, "isolated")
    with pytest.raises(deploy.DeployError, match="no default route"):
        deploy.deploy(cfg, StubAws(ec2_answers(vpc)), None)
    ec2 = boto3.client("ec2", region_name=REGION)
    for name in ("ecr.api", "ecr.dkr", "logs", "rds", "ecs", "ecs-agent", "ecs-telemetry"):
        ec2.create_vpc_endpoint(VpcId=vpc["vpc"], ServiceName=f"com.amazonaws.{REGION}.{name}",
                                VpcEndpointType="Interface", SubnetIds=[vpc["isolated"]])
    with pytest.raises(deploy.DeployError, match=r"VPC endpoints for s3$"):
        deploy.deploy(cfg, StubAws(ec2_answers(vpc)), None)
    ec2.create_vpc_endpoint(VpcId=vpc["vpc"], ServiceName=f"com.amazonaws.{REGION}.s3",
                            VpcEndpointType="Gateway")
    deploy.deploy(cfg, StubAws(ec2_answers(vpc)), None)


# --- teardown -------------------------------------------------------------------------------


def test_spot_teardown_releases_the_instances_before_the_cluster_goes(tmp_path: Path) -> None:
    runner = StubAws({
        "list-tasks": '["arn:aws:ecs:eu-west-1:123456789012:task/c/1"]',
        "describe-spot-fleet-instances": '["i-0123"]',
        "list-container-instances": '["arn:aws:ecs:eu-west-1:123456789012:container-instance/c/9"]',
    }, dry_run=False)
    deploy.teardown(config(tmp_path), runner, purge=False)
    order = [runner.index("disable-rule"), runner.index("stop-task"),
             runner.index("tasks-stopped"), runner.index("delete-stack", "rds-log-shipper-shipper"),
             runner.index("cancel-spot-fleet-requests"),
             runner.index("deregister-container-instance"), runner.index("instance-terminated"),
             runner.index("delete-stack", "rds-log-shipper-cluster"),
             runner.index("delete-stack", "rds-log-shipper-ecr")]
    assert order == sorted(order), runner.text


class BotoAws(StubAws):
    """Runs each ``aws SERVICE OP --param value...`` command as the boto3 call it names."""

    def __init__(self) -> None:
        super().__init__(dry_run=False)

    def run(self, argv: Sequence[str], *, capture: bool = False, check: bool = True,
            placeholder: str = "", **_: Any) -> str:
        argv = list(argv)
        self.commands.append(argv)
        self.say(f"$ {shlex.join(argv)}")
        service, operation, rest = argv[1], argv[2], argv[3:]
        client = boto3.client({"s3api": "s3"}.get(service, service), region_name=REGION)
        try:
            if operation == "wait":
                waiter = client.get_waiter(rest[0].replace("-", "_"))
                waiter.wait(**self._params(client, waiter.config.operation, rest[1:]),
                            WaiterConfig={"Delay": 0, "MaxAttempts": 3})
                return ""
            name = client.meta.method_to_api_mapping[operation.replace("-", "_")]
            result = getattr(client, operation.replace("-", "_"))(
                **self._params(client, name, rest))
        except (ClientError, WaiterError) as err:
            if check:
                raise deploy.DeployError(f"command failed: {err}") from err
            return ""
        result.pop("ResponseMetadata", None)
        if "--query" in rest:
            result = jmespath.search(rest[rest.index("--query") + 1], result)
        if "--output" in rest and rest[rest.index("--output") + 1] == "text":
            return "None" if result is None else str(result)
        return json.dumps(result, default=str)

    @staticmethod
    def _params(client: Any, operation: str, rest: list[str]) -> dict[str, Any]:
        members = client.meta.service_model.operation_model(operation).input_shape.members
        by_key = {m.lower(): (m, shape) for m, shape in members.items()}
        params: dict[str, Any] = {}
        i = 0
        while i < len(rest):
            flag = rest[i][2:]
            values = []
            i += 1
            while i < len(rest) and not rest[i].startswith("--"):
                values.append(rest[i])
                i += 1
            if flag in ("region", "query", "output", "profile"):
                continue
            if flag == "cli-input-json":
                params.update(json.loads(values[0]))
                continue
            if flag.startswith("no-") and flag[3:].replace("-", "") in by_key:
                params[by_key[flag[3:].replace("-", "")][0]] = False
                continue
            member, shape = by_key[flag.replace("-", "")]
            params[member] = (values if shape.type_name == "list"
                              else True if shape.type_name == "boolean"
                              else int(values[0]) if shape.type_name == "integer"
                              else values[0])
        return params


def test_teardown_on_moto_stops_the_running_task_before_deleting(tmp_path: Path) -> None:
    with mock_aws():
        from tests.infra.common import IMAGE_URI
        from tests.infra.test_moto_deploy import Deployer, _network

        vpc, subnets = _network()
        aws = Deployer()
        aws.deploy("rds-log-shipper-ecr", "ecr.yaml")
        cluster = aws.deploy("rds-log-shipper-cluster", "cluster.yaml", VpcId=vpc,
                             Subnets=",".join(subnets), CapacityChoice="FARGATE_SPOT")
        shipper = aws.deploy("rds-log-shipper-shipper", "shipper.yaml", ImageUri=IMAGE_URI,
                             ClusterArn=cluster["ClusterArn"], CapacityChoice="FARGATE_SPOT",
                             Subnets=",".join(subnets),
                             SecurityGroupId=cluster["SecurityGroupId"])
        ecs = boto3.client("ecs", region_name=REGION)
        # moto places a task only when its containers state their memory, and fails on
        # awsvpc tasks (moto 5.2): a bridge-mode revision of the same family on a registered
        # container instance stands in for the running shipper.
        family = ecs.describe_task_definition(taskDefinition=shipper["TaskDefinitionArn"])[
            "taskDefinition"]
        revision = ecs.register_task_definition(
            family=family["family"], containerDefinitions=[{
                "name": "shipper", "image": family["containerDefinitions"][0]["image"],
                "memory": 512}],
        )["taskDefinition"]["taskDefinitionArn"]
        ec2 = boto3.client("ec2", region_name=REGION)
        instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)[
            "Instances"][0]["InstanceId"]
        document = json.dumps({"instanceId": instance, "region": REGION})
        ecs.register_container_instance(cluster=cluster["ClusterArn"],
                                        instanceIdentityDocument=document)
        (task,) = ecs.run_task(cluster=cluster["ClusterArn"], launchType="EC2",
                               taskDefinition=revision)["tasks"]

        runner = BotoAws()
        cfg = config(tmp_path, **{"cluster.CapacityChoice": "FARGATE_SPOT"})
        deploy.teardown(cfg, runner, purge=False)

        order = [runner.index("disable-rule"), runner.index("stop-task"),
                 runner.index("tasks-stopped"),
                 runner.index("delete-stack", "rds-log-shipper-shipper"),
                 runner.index("delete-stack", "rds-log-shipper-cluster"),
                 runner.index("delete-stack", "rds-log-shipper-ecr")]
        assert order == sorted(order), runner.text
        assert task["taskArn"] in runner.commands[runner.index("stop-task")]
        stopped = ecs.describe_tasks(cluster=cluster["ClusterArn"], tasks=[task["taskArn"]])
        assert stopped["tasks"][0]["lastStatus"] == "STOPPED"
        stacks = boto3.client("cloudformation", region_name=REGION).list_stacks(
            StackStatusFilter=["CREATE_COMPLETE"])["StackSummaries"]
        assert stacks == [], "every stack deleted"
        buckets = [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]
        assert shipper["BucketName"] in buckets, "the archive is kept"
        assert f"log bucket {shipper['BucketName']} is retained" in runner.text

        # Deploying again finds the kept archive, and continues it when told to.
        again = BotoAws()
        with pytest.raises(deploy.DeployError, match=shipper["BucketName"]):
            deploy.check_archive(again, cfg, new_archive=False)
        deploy.check_archive(again, cfg, new_archive=True)
        aws.deploy("rds-log-shipper-ecr", "ecr.yaml")
        cluster = aws.deploy("rds-log-shipper-cluster", "cluster.yaml", VpcId=vpc,
                             Subnets=",".join(subnets), CapacityChoice="FARGATE_SPOT")
        redeployed = aws.deploy("rds-log-shipper-shipper", "shipper.yaml", ImageUri=IMAGE_URI,
                                ClusterArn=cluster["ClusterArn"], CapacityChoice="FARGATE_SPOT",
                                Subnets=",".join(subnets),
                                SecurityGroupId=cluster["SecurityGroupId"],
                                ExistingBucketName=shipper["BucketName"])
        assert redeployed["BucketName"] == shipper["BucketName"]
        container = ecs.describe_task_definition(taskDefinition=redeployed[
            "TaskDefinitionArn"])["taskDefinition"]["containerDefinitions"][0]
        env = {e["name"]: e["value"] for e in container["environment"] if e}
        assert env["SHIPPER_BUCKET"] == shipper["BucketName"]


@pytest.mark.parametrize(("changes", "listed", "message"), [
    ({}, '["rds-log-shipper-shipper-logbucket-1a2b3c"]', "--new-archive"),
    ({"shipper.BucketName": "acme-rds-logs"}, '["acme-rds-logs"]', "remove shipper.BucketName"),
])
def test_a_kept_archive_is_not_walked_away_from(tmp_path: Path, changes: dict[str, str],
                                                listed: str, message: str) -> None:
    runner = StubAws({"list-buckets": listed}, dry_run=False)
    with pytest.raises(deploy.DeployError, match=message):
        deploy.deploy(config(tmp_path, **changes), runner, None)
    assert not stack_deploys(runner)
    kept = json.loads(listed)[0]
    deploy.deploy(config(tmp_path, **{"shipper.ExistingBucketName": kept,
                                      "shipper.BucketName": None,
                                      "cluster.EcsAmiId": "ami-0123456789abcdef0"}),
                  StubAws({"list-buckets": listed}, dry_run=False), None)


def test_examples_stay_runnable() -> None:
    assert (ROOT / "infra" / "deploy.example.json").exists()
    assert cfn.REGION == REGION


@pytest.mark.parametrize(("capacity", "schedule"), [
    ("EC2_SPOT_ASG", "SCHEDULER"), ("EC2_SPOT_ASG", "RULE"), ("FARGATE_SPOT", "SCHEDULER")])
def test_teardown_on_moto_releases_the_protected_instance(tmp_path: Path, capacity: str,
                                                          schedule: str) -> None:
    """A task runs on the Auto Scaling group's instance, which ECS has protected from
    scale-in; teardown disables the schedule, stops the task, empties the group, lifts the
    protection and deletes every stack (moto stands in as test_moto_deploy describes)."""
    from tests.infra.test_moto_deploy import (
        Deployer,
        _network,
        deploy_cluster,
        deploy_shipper,
        register_instance,
        run_as_scheduled,
    )

    with mock_aws():
        vpc, subnets = _network()
        aws = Deployer()
        aws.deploy("rds-log-shipper-ecr", "ecr.yaml")
        cluster = deploy_cluster(aws, "rds-log-shipper-cluster", capacity, vpc, subnets)
        shipper, rendered = deploy_shipper(aws, "rds-log-shipper-shipper", cluster, capacity,
                                           schedule)
        group = cluster.get("AutoScalingGroupName")
        instance = register_instance(cluster["ClusterArn"], group) if group else None
        task = run_as_scheduled(shipper, cluster["ClusterArn"], rendered)
        autoscaling = boto3.client("autoscaling", region_name=REGION)
        if group:
            # What managed termination protection does while a task runs there.
            autoscaling.set_instance_protection(AutoScalingGroupName=group,
                                                InstanceIds=[instance],
                                                ProtectedFromScaleIn=True)

        runner = BotoAws()
        cfg = config(tmp_path, **{"cluster.CapacityChoice": capacity,
                                  "shipper.ScheduleKind": schedule})
        deploy.teardown(cfg, runner, purge=False)

        stop = (("update-schedule",) if schedule == "SCHEDULER" else ("disable-rule",))
        order = [runner.index(*stop), runner.index("stop-task"), runner.index("tasks-stopped"),
                 runner.index("delete-stack", "rds-log-shipper-shipper")]
        if group:
            order += [runner.index("set-instance-protection"),
                      runner.index("update-auto-scaling-group"),
                      runner.index("deregister-container-instance")]
        order += [runner.index("delete-stack", "rds-log-shipper-cluster"),
                  runner.index("delete-stack", "rds-log-shipper-ecr")]
        assert order == sorted(order), runner.text
        ecs = boto3.client("ecs", region_name=REGION)
        assert ecs.describe_tasks(cluster=cluster["ClusterArn"], tasks=[task["taskArn"]])[
            "tasks"][0]["lastStatus"] == "STOPPED"
        if schedule == "SCHEDULER":
            update = runner.commands[runner.index("update-schedule")]
            sent = json.loads(update[update.index("--cli-input-json") + 1])
            assert sent["State"] == "DISABLED"
            assert sent["Target"]["EcsParameters"]["TaskDefinitionArn"] == shipper[
                "TaskDefinitionArn"], "the schedule is sent back whole, only disabled"
        if group:
            assert instance in runner.commands[runner.index("set-instance-protection")]
            assert "--no-protected-from-scale-in" in runner.commands[
                runner.index("set-instance-protection")]
        stacks = boto3.client("cloudformation", region_name=REGION).list_stacks(
            StackStatusFilter=["CREATE_COMPLETE"])["StackSummaries"]
        assert stacks == [], "every stack deleted"
