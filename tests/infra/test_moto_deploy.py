"""The three stacks deploy, in order, on moto's CloudFormation, and tear down leaving the bucket.

moto (in-process ``mock_aws``) creates the resources it knows and evaluates the intrinsic
functions, parameters and conditions itself, so this also cross-checks ``cfntools.render``:
the task role policy moto stores must equal the one we render offline.

What moto does NOT verify (it accepts the template and ignores these, as of moto 5.2; the
offline tests in test_templates.py and cfn-lint's schemas cover them instead):

* ECR: the lifecycle policy, the repository policy, scan on push and encryption settings;
* ECS: cluster settings (Container Insights), capacity providers; task definition
  networkMode, requiresCompatibilities, cpu, taskRoleArn and executionRoleArn;
* EC2: security group egress rules (moto keeps its default allow-all egress);
  ``AWS::EC2::SpotFleet`` with ``LaunchTemplateConfigs`` is not understood at all (moto reads
  only ``LaunchSpecifications``), so the Spot Fleet variant is deployed without that one
  resource;
* IAM: managed policy attachments (AmazonEC2ContainerServiceforEC2Role,
  AmazonEC2SpotFleetTaggingRole);
* S3: versioning, public access block, ownership controls, lifecycle rules;
* EventBridge: the ECS target's NetworkConfiguration and CapacityProviderStrategy contents;
* no support at all (skipped with a warning): AWS::S3::BucketPolicy, AWS::SQS::QueuePolicy,
  AWS::CloudWatch::Alarm, AWS::SNS::TopicPolicy;
* deleting a stack leaves its task definition revision ACTIVE (CloudFormation deregisters
  it);
* inline role policies come back from GetRolePolicy as ``str(dict)`` rather than JSON;
* AWS::NoValue inside lists becomes a null entry instead of removing the entry (real
  CloudFormation removes it); the checks below drop those nulls.
"""

from __future__ import annotations

import ast
import json
import warnings
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.infra import cfntools as cfn
from tests.infra.common import KMS_KEY_ARN, ROLE_ARNS

REGION = cfn.REGION
# moto warns once per unsupported resource; Deployer records them and the test compares.
pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")]
MOTO_UNSUPPORTED = {"AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::CloudWatch::Alarm",
                    "AWS::SNS::TopicPolicy", "AWS::Glue::Database", "AWS::Glue::Table",
                    "AWS::Athena::WorkGroup"}


def _params(values: dict[str, Any]) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in values.items()]


class Deployer:
    def __init__(self) -> None:
        self.cf = boto3.client("cloudformation", region_name=REGION)
        self.unsupported: set[str] = set()

    def deploy(self, stack: str, template: str | dict[str, Any], **params: Any) -> dict[str, str]:
        body = (cfn.INFRA / template).read_text() if isinstance(template, str) else json.dumps(
            template)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.cf.create_stack(StackName=stack, TemplateBody=body, Parameters=_params(params),
                                 Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"])
        for warning in caught:
            text = str(warning.message)
            if "not supported by moto's CloudFormation" in text:
                self.unsupported.add(text.split("Tried to parse ")[1].split(" ")[0])
        described = self.cf.describe_stacks(StackName=stack)["Stacks"][0]
        assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
        return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}

    def resources(self, stack: str) -> dict[str, dict[str, str]]:
        summaries = self.cf.list_stack_resources(StackName=stack)["StackResourceSummaries"]
        # moto also lists skipped (unsupported or condition-false) resources, without an id.
        return {s["LogicalResourceId"]: s for s in summaries if s["LogicalResourceId"]}

    def physical(self, stack: str, logical: str) -> str:
        return self.resources(stack)[logical]["PhysicalResourceId"]


def _expected_types(rendered: cfn.Rendered) -> dict[str, str]:
    return {k: v["Type"] for k, v in rendered.resources.items()
            if v["Type"] not in MOTO_UNSUPPORTED}


def _network() -> tuple[str, list[str]]:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24",
                          AvailabilityZone=f"{REGION}{'abc'[i]}")["Subnet"]["SubnetId"]
        for i in range(3)
    ]
    return vpc, subnets


def _policy(document: Any) -> Any:
    """A stored policy document as a dict (moto hands back str(dict) for inline role policies
    created through CloudFormation, not JSON)."""
    if isinstance(document, str):
        try:
            return json.loads(document)
        except ValueError:
            return ast.literal_eval(document)
    return document


def _no_nulls(value: Any) -> Any:
    if isinstance(value, list):
        return [_no_nulls(v) for v in value if v is not None]
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items()}
    return value


@pytest.fixture
def aws() -> Iterator[Deployer]:
    with mock_aws():
        yield Deployer()


def test_stacks_deploy_in_order_and_tear_down_keeping_the_bucket(aws: Deployer) -> None:
    # 1. ECR
    ecr_out = aws.deploy("rls-ecr", "ecr.yaml")
    ecr = boto3.client("ecr", region_name=REGION)
    (repo,) = ecr.describe_repositories()["repositories"]
    assert repo["repositoryUri"] == ecr_out["RepositoryUri"]
    assert repo["repositoryArn"] == ecr_out["RepositoryArn"]
    assert repo["imageTagMutability"] == "IMMUTABLE"

    # 2. Cluster (Fargate Spot: the variant moto can create completely)
    vpc, subnets = _network()
    cluster_out = aws.deploy("rls-cluster", "cluster.yaml", VpcId=vpc,
                             Subnets=",".join(subnets[:2]), CapacityChoice="FARGATE_SPOT")
    ecs = boto3.client("ecs", region_name=REGION)
    (found,) = ecs.describe_clusters(clusters=[cluster_out["ClusterArn"]])["clusters"]
    assert found["status"] == "ACTIVE"
    ec2 = boto3.client("ec2", region_name=REGION)
    (group,) = ec2.describe_security_groups(
        GroupIds=[cluster_out["SecurityGroupId"]])["SecurityGroups"]
    assert group["VpcId"] == vpc
    assert group["IpPermissions"] == [], "no inbound rules"
    assert set(aws.resources("rls-cluster")) == {"Cluster", "SecurityGroup"}

    # 3. Shipper, fed with the outputs of the first two (as infra/deploy.py does)
    image = f"{ecr_out['RepositoryUri']}:abc1234"
    out = aws.deploy(
        "rls-shipper", "shipper.yaml", ImageUri=image, RepositoryArn=ecr_out["RepositoryArn"],
        ClusterArn=cluster_out["ClusterArn"], CapacityChoice=cluster_out["CapacityChoice"],
        Subnets=cluster_out["Subnets"], SecurityGroupId=cluster_out["SecurityGroupId"])
    rendered = cfn.render("shipper.yaml", {
        "ImageUri": image, "RepositoryArn": ecr_out["RepositoryArn"],
        "ClusterArn": cluster_out["ClusterArn"], "CapacityChoice": "FARGATE_SPOT",
        "Subnets": cluster_out["Subnets"], "SecurityGroupId": cluster_out["SecurityGroupId"]},
        refs={"LogBucket": out["BucketName"]},
        attrs={"LogBucket.Arn": f"arn:aws:s3:::{out['BucketName']}"})
    created = aws.resources("rls-shipper")
    assert {k: v["ResourceType"] for k, v in created.items()} == _expected_types(rendered)
    assert aws.unsupported == MOTO_UNSUPPORTED, "moto skipped a resource type we did not expect"

    s3 = boto3.client("s3", region_name=REGION)
    bucket = out["BucketName"]
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    task = ecs.describe_task_definition(taskDefinition=out["TaskDefinitionArn"])["taskDefinition"]
    (container,) = task["containerDefinitions"]
    env = {e["name"]: e["value"] for e in _no_nulls(container["environment"])}
    assert env["SHIPPER_BUCKET"] == bucket
    assert env["SHIPPER_REGIONS"] == REGION
    assert container["image"] == image
    assert container["user"] == "10001:10001"
    assert container["readonlyRootFilesystem"] is True
    assert container["stopTimeout"] >= 30
    assert container["mountPoints"] == [
        {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}]
    assert container["logConfiguration"]["options"]["awslogs-group"] == out["LogGroupName"]

    events = boto3.client("events", region_name=REGION)
    rule = events.describe_rule(Name=out["RuleName"])
    assert rule["ScheduleExpression"] == "rate(15 minutes)"
    (target,) = events.list_targets_by_rule(Rule=out["RuleName"])["Targets"]
    assert target["Arn"] == cluster_out["ClusterArn"]
    assert target["RoleArn"] == out["EventsRoleArn"]
    assert target["EcsParameters"]["TaskDefinitionArn"] == out["TaskDefinitionArn"]
    assert target["DeadLetterConfig"]["Arn"].endswith(out["DeadLetterQueueUrl"].split("/")[-1])

    iam = boto3.client("iam", region_name=REGION)
    role_name = out["TaskRoleArn"].split("/")[-1]
    stored = iam.get_role_policy(RoleName=role_name, PolicyName="rds-log-shipper")
    expected = rendered.props("TaskRole")["Policies"][0]["PolicyDocument"]
    assert _no_nulls(_policy(stored["PolicyDocument"])) == expected, "moto and cfntools disagree"
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}

    logs = boto3.client("logs", region_name=REGION)
    (group_desc,) = logs.describe_log_groups(logGroupNamePrefix=out["LogGroupName"])["logGroups"]
    assert group_desc["retentionInDays"] == 30

    sqs = boto3.client("sqs", region_name=REGION)
    attrs = sqs.get_queue_attributes(QueueUrl=out["DeadLetterQueueUrl"],
                                     AttributeNames=["All"])["Attributes"]
    assert attrs["SqsManagedSseEnabled"] == "true"
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.get_topic_attributes(TopicArn=out["AlarmTopicArn"])["Attributes"]
    assert topic["KmsMasterKeyId"] == aws.physical("rls-shipper", "AlarmKey")

    # Teardown in reverse order: the log bucket (DeletionPolicy Retain) survives.
    for stack in ("rls-shipper", "rls-cluster", "rls-ecr"):
        aws.cf.delete_stack(StackName=stack)
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("rls-")]


def test_spot_fleet_cluster_and_every_shipper_option(aws: Deployer) -> None:
    vpc, subnets = _network()
    template = cfn.load("cluster.yaml")
    # moto's SpotFleet only reads LaunchSpecifications: deploy everything else.
    del template["Resources"]["SpotFleet"]
    del template["Outputs"]["SpotFleetRequestId"]
    # deploy.py pins the AMI from the public SSM parameter (moto ships a copy of it); moto
    # does not resolve {{resolve:ssm:...}} dynamic references, the template's fallback.
    ssm = boto3.client("ssm", region_name=REGION)
    ami = ssm.get_parameter(
        Name="/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id")
    cluster_out = aws.deploy("rls-cluster", template, VpcId=vpc, Subnets=",".join(subnets),
                             EcsAmiId=ami["Parameter"]["Value"])
    assert cluster_out["CapacityChoice"] == "EC2_SPOT_FLEET"
    created = aws.resources("rls-cluster")
    assert set(created) == {"Cluster", "SecurityGroup", "InstanceRole", "InstanceProfile",
                            "SpotFleetRole", "LaunchTemplate"}

    ec2 = boto3.client("ec2", region_name=REGION)
    (version,) = ec2.describe_launch_template_versions(
        LaunchTemplateId=created["LaunchTemplate"]["PhysicalResourceId"])[
        "LaunchTemplateVersions"]
    data = version["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["ImageId"] == ami["Parameter"]["Value"]
    import base64

    user_data = base64.b64decode(data["UserData"]).decode()
    assert f"ECS_CLUSTER={cluster_out['ClusterName']}" in user_data
    iam = boto3.client("iam", region_name=REGION)
    (profile,) = iam.list_instance_profiles()["InstanceProfiles"]
    assert data["IamInstanceProfile"]["Arn"] == profile["Arn"]

    out = aws.deploy(
        "rls-shipper", "shipper.yaml",
        ImageUri="123456789012.dkr.ecr.eu-west-1.amazonaws.com/rds-log-shipper:abc1234",
        ClusterArn=cluster_out["ClusterArn"], CapacityChoice="EC2_SPOT_FLEET",
        Subnets=cluster_out["Subnets"], SecurityGroupId=cluster_out["SecurityGroupId"],
        BucketName="acme-rds-logs", Prefix="archive/", KmsKeyArn=KMS_KEY_ARN,
        ShipperRoleArns=ROLE_ARNS, ShipperRegions="eu-west-1,us-east-1",
        AlarmTopicArn="arn:aws:sns:eu-west-1:123456789012:oncall", TaskCount=2)
    assert out["BucketName"] == "acme-rds-logs"
    assert "AlarmTopic" not in aws.resources("rls-shipper")
    ecs = boto3.client("ecs", region_name=REGION)
    task = ecs.describe_task_definition(taskDefinition=out["TaskDefinitionArn"])["taskDefinition"]
    env = {e["name"]: e["value"]
           for e in _no_nulls(task["containerDefinitions"][0]["environment"])}
    assert env["SHIPPER_KMS_KEY_ID"] == KMS_KEY_ARN
    assert env["SHIPPER_ROLE_ARNS"] == ROLE_ARNS
    assert env["SHIPPER_PREFIX"] == "archive/"
    role = out["TaskRoleArn"].split("/")[-1]
    policy = _no_nulls(_policy(iam.get_role_policy(RoleName=role, PolicyName="rds-log-shipper")[
        "PolicyDocument"]))
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["AssumeShippingRoles"]["Resource"] == ROLE_ARNS.split(",")
    assert by_sid["UseBucketKey"]["Resource"] == KMS_KEY_ARN
    assert "ReadRdsLogs" not in by_sid, "with roles to assume, RDS is read through them"
    events = boto3.client("events", region_name=REGION)
    (target,) = events.list_targets_by_rule(Rule=out["RuleName"])["Targets"]
    assert target["EcsParameters"]["TaskCount"] == 2
    assert "--launch-type EC2" in out["RunTaskCommand"]


# --- EC2_SPOT_ASG and ScheduleKind SCHEDULER (issue 26) -------------------------------------
#
# moto's CloudFormation does not serve, as of moto 5.2.5 (each skipped with a warning):
# AWS::ECS::CapacityProvider, AWS::ECS::ClusterCapacityProviderAssociations,
# AWS::Scheduler::ScheduleGroup and AWS::Scheduler::Schedule. Their properties are rendered
# offline (cfntools) and created through moto's ECS and Scheduler APIs instead, which
# botocore first validates against the services' API models: a misspelt or misplaced
# property fails there. ECS's API spells the CloudFormation names in camelCase; Scheduler's
# takes them as they are except inside CapacityProviderStrategy and NetworkConfiguration,
# which are camelCase in its API (Scheduler API Reference, CapacityProviderStrategyItem) and
# PascalCase in CloudFormation (AWS::Scheduler::Schedule CapacityProviderStrategyItem).
# Of the Auto Scaling group moto keeps min, max, protection and the mixed instances policy,
# but ignores CapacityRebalance, splits AllowedInstanceTypes into characters (a
# CommaDelimitedList it receives as text), and resolves the group's GetAtt of the launch
# template only when the template is created first (DependsOn in the copy below). It launches
# no instance by itself: nothing runs ECS managed scaling (the tests set the desired count and
# protect the instance as ECS would). moto also keeps a rule target's CapacityProviderStrategy
# and NetworkConfiguration empty, and cannot place an awsvpc task.

ASG_MOTO_GAPS = {"AWS::ECS::CapacityProvider", "AWS::ECS::ClusterCapacityProviderAssociations"}
SCHEDULER_MOTO_GAPS = {"AWS::Scheduler::ScheduleGroup", "AWS::Scheduler::Schedule"}
AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"


def _camel(value: Any) -> Any:
    """CloudFormation's PascalCase property names as ECS's API spells them."""
    if isinstance(value, dict):
        return {k[0].lower() + k[1:]: _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _scheduler_api(schedule: dict[str, Any]) -> dict[str, Any]:
    """A rendered AWS::Scheduler::Schedule as CreateSchedule's parameters."""
    out = json.loads(json.dumps(schedule))
    ecs = out["Target"]["EcsParameters"]
    ecs["CapacityProviderStrategy"] = _camel(ecs.get("CapacityProviderStrategy", []))
    network = ecs.get("NetworkConfiguration", {})
    if "AwsvpcConfiguration" in network:
        ecs["NetworkConfiguration"] = {"awsvpcConfiguration": network["AwsvpcConfiguration"]}
    return out  # type: ignore[no-any-return]


def deploy_cluster(aws: Deployer, stack: str, capacity: str, vpc: str,
                   subnets: list[str]) -> dict[str, str]:
    """The cluster stack on moto, with stand-ins for what moto's CloudFormation lacks."""
    ami = boto3.client("ssm", region_name=REGION).get_parameter(Name=AMI_PARAMETER)[
        "Parameter"]["Value"]
    template = cfn.load("cluster.yaml")
    params = {"VpcId": vpc, "Subnets": ",".join(subnets), "CapacityChoice": capacity,
              "EcsAmiId": ami}
    if capacity == "EC2_SPOT_FLEET":
        del template["Resources"]["SpotFleet"]  # moto reads LaunchSpecifications only
        del template["Outputs"]["SpotFleetRequestId"]
    if capacity == "EC2_SPOT_ASG":
        template["Resources"]["AutoScalingGroup"]["DependsOn"] = "LaunchTemplate"
    out = aws.deploy(stack, template, **params)
    if capacity != "EC2_SPOT_ASG":
        return out
    assert aws.unsupported >= ASG_MOTO_GAPS
    group = out["AutoScalingGroupName"]
    (asg,) = boto3.client("autoscaling", region_name=REGION).describe_auto_scaling_groups(
        AutoScalingGroupNames=[group])["AutoScalingGroups"]
    rendered = cfn.render("cluster.yaml", {**params},
                          refs={"AutoScalingGroup": group, "Cluster": out["ClusterName"],
                                "CapacityProvider": f"{stack}-capacity"})
    provider = rendered.props("CapacityProvider")
    ecs = boto3.client("ecs", region_name=REGION)
    created = ecs.create_capacity_provider(
        name=f"{stack}-capacity",
        autoScalingGroupProvider={**_camel(provider["AutoScalingGroupProvider"]),
                                  "autoScalingGroupArn": asg["AutoScalingGroupARN"]},
        tags=[{"key": t["Key"], "value": t["Value"]} for t in provider["Tags"]])
    association = rendered.props("ClusterCapacityProviders")
    ecs.put_cluster_capacity_providers(
        cluster=association["Cluster"], capacityProviders=association["CapacityProviders"],
        defaultCapacityProviderStrategy=_camel(association["DefaultCapacityProviderStrategy"]))
    # What the output would say, had moto created the capacity provider.
    return {**out, "CapacityProvider": created["capacityProvider"]["name"]}


def deploy_shipper(aws: Deployer, stack: str, cluster_out: dict[str, str], capacity: str,
                   schedule: str, **extra: Any) -> tuple[dict[str, str], cfn.Rendered]:
    params = {"ImageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/rds-log-shipper:abc1234",
              "ClusterArn": cluster_out["ClusterArn"], "CapacityChoice": capacity,
              "CapacityProvider": cluster_out.get("CapacityProvider", capacity),
              "Subnets": cluster_out["Subnets"],
              "SecurityGroupId": cluster_out["SecurityGroupId"], "ScheduleKind": schedule,
              **extra}
    out = aws.deploy(stack, "shipper.yaml", **params)
    queue = out["DeadLetterQueueUrl"].rsplit("/", 1)[1]
    # cfntools names the stack "teststack": the schedule and its group are created as such.
    rendered = cfn.render("shipper.yaml", params,
                          refs={"LogBucket": out["BucketName"],
                                "TaskDefinition": out["TaskDefinitionArn"],
                                "ScheduleGroup": "teststack-schedules"},
                          attrs={"TaskRole.Arn": out["TaskRoleArn"],
                                 "ExecutionRole.Arn": out["ExecutionRoleArn"],
                                 "SchedulerRole.Arn": out.get("SchedulerRoleArn", ""),
                                 "DeadLetterQueue.Arn":
                                     f"arn:aws:sqs:{REGION}:{cfn.ACCOUNT}:{queue}"})
    if schedule == "SCHEDULER":
        assert aws.unsupported >= SCHEDULER_MOTO_GAPS
        # Named after this stack, as CloudFormation would (cfntools renders "teststack").
        scheduler = boto3.client("scheduler", region_name=REGION)
        group = {**rendered.props("ScheduleGroup"), "Name": f"{stack}-schedules"}
        scheduler.create_schedule_group(Name=group["Name"], Tags=group["Tags"])
        schedule = {**rendered.props("Schedule"), "GroupName": group["Name"]}
        assert schedule["Name"] == "teststack-schedule"
        schedule["Name"] = out["ScheduleName"]
        scheduler.create_schedule(**_scheduler_api(schedule))
        assert out["ScheduleGroupName"] == group["Name"]
    return out, rendered


def run_as_scheduled(out: dict[str, str], cluster_arn: str,
                     rendered: cfn.Rendered) -> dict[str, Any]:
    """Start a task the way the schedule's target says (RunTask with its EcsParameters), on a
    registered container instance when the capacity is EC2. moto cannot place the awsvpc task
    definition (moto 5.2): a bridge-mode revision of the same family stands in for it. moto
    keeps a rule target's CapacityProviderStrategy empty: the rendered one stands in."""
    ecs = boto3.client("ecs", region_name=REGION)
    if "ScheduleName" in out:
        target = boto3.client("scheduler", region_name=REGION).get_schedule(
            Name=out["ScheduleName"], GroupName=out["ScheduleGroupName"])["Target"]
        params = target["EcsParameters"]
        params["CapacityProviderStrategy"] = [
            {"CapacityProvider": i["capacityProvider"], "Weight": i["weight"]}
            for i in params.get("CapacityProviderStrategy", [])]
    else:
        (target,) = boto3.client("events", region_name=REGION).list_targets_by_rule(
            Rule=out["RuleName"])["Targets"]
        params = {**target["EcsParameters"], "CapacityProviderStrategy": rendered.props(
            "ScheduleRule")["Targets"][0]["EcsParameters"].get("CapacityProviderStrategy", [])}
    assert target["Arn"] == cluster_arn
    family = ecs.describe_task_definition(taskDefinition=params["TaskDefinitionArn"])[
        "taskDefinition"]
    revision = ecs.register_task_definition(
        family=family["family"], containerDefinitions=[{
            "name": "shipper", "image": family["containerDefinitions"][0]["image"],
            "memory": 512}])["taskDefinition"]["taskDefinitionArn"]
    strategy = [{"capacityProvider": s["CapacityProvider"], "weight": s["Weight"]}
                for s in params.get("CapacityProviderStrategy", [])]
    (task,) = ecs.run_task(cluster=cluster_arn, taskDefinition=revision,
                           count=params["TaskCount"],
                           **({"launchType": params["LaunchType"]} if "LaunchType" in params
                              else {"capacityProviderStrategy": strategy}))["tasks"]
    return task  # type: ignore[no-any-return]


def register_instance(cluster_arn: str, group: str | None) -> str:
    """An instance joins the cluster as the ECS agent would register it: from the Auto Scaling
    group when there is one (as managed scaling would have it launch one), else bare."""
    ec2 = boto3.client("ec2", region_name=REGION)
    if group:
        autoscaling = boto3.client("autoscaling", region_name=REGION)
        autoscaling.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
        (instance,) = [i["InstanceId"] for i in autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]]
    else:
        instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)[
            "Instances"][0]["InstanceId"]
    document = json.dumps({"instanceId": instance, "region": REGION})
    boto3.client("ecs", region_name=REGION).register_container_instance(
        cluster=cluster_arn, instanceIdentityDocument=document)
    return instance


@pytest.mark.parametrize("schedule", ["RULE", "SCHEDULER"])
def test_asg_capacity_provider_runs_the_scheduled_task(aws: Deployer, schedule: str) -> None:
    vpc, subnets = _network()
    cluster_out = deploy_cluster(aws, "rls-cluster", "EC2_SPOT_ASG", vpc, subnets)
    assert set(aws.resources("rls-cluster")) == {
        "Cluster", "SecurityGroup", "InstanceRole", "InstanceProfile", "LaunchTemplate",
        "AutoScalingGroup"}
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    (asg,) = autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[cluster_out["AutoScalingGroupName"]])["AutoScalingGroups"]
    assert (asg["MinSize"], asg["MaxSize"], asg["DesiredCapacity"]) == (0, 1, 0)
    assert asg["NewInstancesProtectedFromScaleIn"] is True
    policy = asg["MixedInstancesPolicy"]
    assert policy["InstancesDistribution"] == {
        "OnDemandBaseCapacity": 0, "OnDemandPercentageAboveBaseCapacity": 0,
        "SpotAllocationStrategy": "price-capacity-optimized"}
    spec = policy["LaunchTemplate"]["LaunchTemplateSpecification"]
    assert spec["LaunchTemplateId"] == aws.physical("rls-cluster", "LaunchTemplate")
    ecs = boto3.client("ecs", region_name=REGION)
    (provider,) = ecs.describe_capacity_providers(
        capacityProviders=[cluster_out["CapacityProvider"]])["capacityProviders"]
    assert provider["autoScalingGroupProvider"]["managedTerminationProtection"] == "ENABLED"
    assert provider["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 100
    (cluster,) = ecs.describe_clusters(clusters=[cluster_out["ClusterArn"]])["clusters"]
    assert cluster["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": cluster_out["CapacityProvider"], "weight": 1}]

    out, rendered = deploy_shipper(aws, "rls-shipper", cluster_out, "EC2_SPOT_ASG", schedule)
    expected = {k: v["Type"] for k, v in rendered.resources.items()
                if v["Type"] not in MOTO_UNSUPPORTED | SCHEDULER_MOTO_GAPS}
    assert {k: v["ResourceType"] for k, v in aws.resources("rls-shipper").items()} == expected
    assert "--capacity-provider-strategy capacityProvider=" + cluster_out["CapacityProvider"] \
        in out["RunTaskCommand"]

    register_instance(cluster_out["ClusterArn"], cluster_out["AutoScalingGroupName"])
    task = run_as_scheduled(out, cluster_out["ClusterArn"], rendered)
    assert task["capacityProviderName"] == cluster_out["CapacityProvider"]
    assert task.get("launchType", "") == ""


@pytest.mark.parametrize("capacity", ["EC2_SPOT_FLEET", "FARGATE_SPOT"])
def test_scheduler_schedule_runs_the_task(aws: Deployer, capacity: str) -> None:
    vpc, subnets = _network()
    cluster_out = deploy_cluster(aws, "rls-cluster", capacity, vpc, subnets)
    out, rendered = deploy_shipper(aws, "rls-shipper", cluster_out, capacity, "SCHEDULER")
    created = aws.resources("rls-shipper")
    assert "SchedulerRole" in created and "EventsRole" not in created
    assert "ScheduleRule" not in created and "DeadLetterQueuePolicy" not in created
    schedule = boto3.client("scheduler", region_name=REGION).get_schedule(
        Name=out["ScheduleName"], GroupName=out["ScheduleGroupName"])
    assert schedule["Target"]["RoleArn"] == out["SchedulerRoleArn"]
    assert schedule["Target"]["DeadLetterConfig"]["Arn"].endswith(
        out["DeadLetterQueueUrl"].rsplit("/", 1)[1])
    assert schedule["ScheduleExpression"] == "rate(15 minutes)"
    iam = boto3.client("iam", region_name=REGION)
    role = out["SchedulerRoleArn"].rsplit("/", 1)[1]
    stored = _no_nulls(_policy(iam.get_role_policy(RoleName=role, PolicyName="run-shipper-task")[
        "PolicyDocument"]))
    assert stored == rendered.props("SchedulerRole")["Policies"][0]["PolicyDocument"]
    trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    if capacity == "EC2_SPOT_FLEET":
        register_instance(cluster_out["ClusterArn"], None)
    task = run_as_scheduled(out, cluster_out["ClusterArn"], rendered)
    assert (task.get("launchType") or task.get("capacityProviderName")) == (
        "EC2" if capacity == "EC2_SPOT_FLEET" else "FARGATE_SPOT")
