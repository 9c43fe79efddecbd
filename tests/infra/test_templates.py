"""Static checks of the CloudFormation templates, rendered for several parameter sets."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from shipper.config import SETTING_ENV_NAMES
from shipper.layout import PARTITION_KEYS, Scope, partition_day
from tests.infra import cfntools as cfn
from tests.infra.common import (
    BUCKET_ATTRS,
    BUCKET_REFS,
    CLUSTER_ARN,
    CLUSTER_REQUIRED,
    KMS_KEY_ARN,
    REPOSITORY_ARN,
    ROLE_ARNS,
    SHIPPER_ALL_ON,
    SHIPPER_REQUIRED,
    dockerfile_instructions,
    dockerignore_excludes,
    dockerignore_patterns,
)
from tests.infra.ecr_lifecycle import problems


def shipper(**params: Any) -> cfn.Rendered:
    return cfn.render("shipper.yaml", {**SHIPPER_REQUIRED, **params},
                      refs=BUCKET_REFS, attrs=BUCKET_ATTRS)


def cluster(**params: Any) -> cfn.Rendered:
    return cfn.render("cluster.yaml", {**CLUSTER_REQUIRED, **params})


VARIANTS = {
    "ecr-defaults": lambda: cfn.render("ecr.yaml"),
    "ecr-kms-ci-role": lambda: cfn.render("ecr.yaml", {
        "KmsKeyArn": KMS_KEY_ARN, "CiPushRoleArn": "arn:aws:iam::210987654321:role/ci"}),
    "cluster-spot-fleet": lambda: cluster(),
    "cluster-spot-fleet-3-subnets": lambda: cluster(Subnets="subnet-1,subnet-2,subnet-3"),
    "cluster-fargate-spot": lambda: cluster(CapacityChoice="FARGATE_SPOT"),
    "cluster-spot-asg": lambda: cluster(CapacityChoice="EC2_SPOT_ASG"),
    "shipper-defaults": lambda: shipper(),
    "shipper-scheduler": lambda: shipper(ScheduleKind="SCHEDULER"),
    "shipper-asg-scheduler-all-on": lambda: shipper(
        **{**SHIPPER_ALL_ON, "CapacityChoice": "EC2_SPOT_ASG", "CapacityProvider": "cp-asg",
           "ScheduleKind": "SCHEDULER"}),
    "shipper-all-on": lambda: shipper(**SHIPPER_ALL_ON),
    "shipper-existing-topic": lambda: shipper(
        AlarmTopicArn="arn:aws:sns:eu-west-1:123456789012:oncall"),
}


@pytest.fixture(params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest) -> cfn.Rendered:
    return VARIANTS[request.param]()


def statement_actions(statement: dict[str, Any]) -> list[str]:
    return [str(a) for a in cfn.as_list(statement.get("Action"))]


def role_actions(rendered: cfn.Rendered, logical: str) -> dict[str, dict[str, Any]]:
    """action -> statement, for a role's inline policies."""
    out: dict[str, dict[str, Any]] = {}
    for policy in rendered.props(logical).get("Policies", []):
        for statement in cfn.policy_statements(policy["PolicyDocument"]):
            assert statement["Effect"] == "Allow"
            for action in statement_actions(statement):
                assert action not in out, f"{action} granted twice in {logical}"
                out[action] = statement
    return out


# --- every template -------------------------------------------------------------------------


def test_no_wildcard_actions_principals_or_open_ingress(variant: cfn.Rendered) -> None:
    for logical, kind, document in cfn.iter_policies(variant):
        for statement in cfn.policy_statements(document):
            actions = statement_actions(statement)
            where = f"{logical} ({kind}) {statement.get('Sid', '')}: {cfn.dumps(statement)}"
            assert "*" not in actions, where
            principal = statement.get("Principal")
            is_root = principal == {
                "AWS": f"arn:aws:iam::{cfn.ACCOUNT}:root"}
            if kind == "identity":
                assert not any("*" in a for a in actions), where
                if "*" in cfn.as_list(statement.get("Resource")):
                    # The only action without a resource type that we grant.
                    assert actions == ["ecr:GetAuthorizationToken"], where
            if statement["Effect"] == "Allow" and principal is not None:
                principals = principal if isinstance(principal, dict) else {"AWS": principal}
                for value in principals.values():
                    assert "*" not in cfn.as_list(value), f"wildcard principal: {where}"
                if any("*" in a for a in actions):
                    # Only the standard KMS key policy statement (account root administers).
                    assert variant.resources[logical]["Type"] == "AWS::KMS::Key", where
                    assert is_root and actions == ["kms:*"], where
            if statement["Effect"] == "Deny" and principal == "*":
                assert statement.get("Condition"), f"unconditional deny-all: {where}"
            if kind == "trust":
                assert set(principal) == {"Service"}, where
                assert actions == ["sts:AssumeRole"], where

    for logical, res in variant.resources.items():
        assert res["Type"] not in ("AWS::EC2::SecurityGroupIngress",), logical
        if res["Type"] == "AWS::EC2::SecurityGroup":
            props = res["Properties"]
            assert "SecurityGroupIngress" not in props, f"{logical} has inbound rules"
            for rule in props.get("SecurityGroupEgress", []):
                assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 443, 443)
    text = json.dumps(variant.resources)
    assert "::/0" not in text


def test_templates_have_descriptions_and_no_exports_collisions(variant: cfn.Rendered) -> None:
    assert variant.template["Description"]
    for name, spec in variant.template.get("Parameters", {}).items():
        assert spec.get("Description"), f"parameter {name} is undocumented"


# --- ECR ------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [
    {},
    {"UntaggedExpireDays": 1, "DirtyBuildKeepCount": 1},
    {"UntaggedExpireDays": 3650, "DirtyBuildKeepCount": 10000},
])
def test_ecr_lifecycle_policy_is_valid(params: dict[str, Any]) -> None:
    rendered = cfn.render("ecr.yaml", params)
    text = rendered.props("Repository")["LifecyclePolicy"]["LifecyclePolicyText"]
    assert problems(text) == []
    rules = json.loads(text)["rules"]
    untagged = next(r for r in rules if r["selection"]["tagStatus"] == "untagged")
    tagged = next(r for r in rules if r["selection"]["tagStatus"] == "tagged")
    days = int(rendered.params["UntaggedExpireDays"])
    keep = int(rendered.params["DirtyBuildKeepCount"])
    assert untagged["selection"]["countType"] == "sinceImagePushed"
    assert untagged["selection"]["countNumber"] == days
    assert tagged["selection"]["countType"] == "imageCountMoreThan"
    assert tagged["selection"]["countNumber"] == keep
    assert tagged["selection"]["tagPatternList"] == ["*-dirty*"]
    assert len(rules) == 2, "no rule may select commit tags"


BAD_POLICIES = {
    "duplicate priority": {"rules": [
        {"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType":
         "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}},
        {"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType":
         "imageCountMoreThan", "countNumber": 2}, "action": {"type": "expire"}}]},
    "tagged without list": {"rules": [
        {"rulePriority": 1, "selection": {"tagStatus": "tagged", "countType":
         "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]},
    "tagged with both lists": {"rules": [
        {"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"],
         "tagPatternList": ["v*"], "countType": "imageCountMoreThan", "countNumber": 1},
         "action": {"type": "expire"}}]},
    "untagged with list": {"rules": [
        {"rulePriority": 1, "selection": {"tagStatus": "untagged", "tagPrefixList": ["v"],
         "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]},
    "unit on count rule": {"rules": [
        {"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType":
         "imageCountMoreThan", "countUnit": "days", "countNumber": 1},
         "action": {"type": "expire"}}]},
    "age rule without unit": {"rules": [
        {"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType":
         "sinceImagePushed", "countNumber": 1}, "action": {"type": "expire"}}]},
    "any not last": {"rules": [
        {"rulePriority": 1, "selection": {"tagStatus": "any", "countType":
         "imageCountMoreThan", "countNumber": 5}, "action": {"type": "expire"}},
        {"rulePriority": 2, "selection": {"tagStatus": "untagged", "countType":
         "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]},
    "five wildcards": {"rules": [
        {"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPatternList": ["*a*b*c*d*"],
         "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]},
    "zero count": {"rules": [
        {"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType":
         "imageCountMoreThan", "countNumber": 0}, "action": {"type": "expire"}}]},
    "string priority": {"rules": [
        {"rulePriority": "1", "selection": {"tagStatus": "untagged", "countType":
         "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]},
    "bad action": {"rules": [
        {"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType":
         "imageCountMoreThan", "countNumber": 1}, "action": {"type": "delete"}}]},
    "not json": "{rules: []",
    "no rules": {"rules": []},
}


@pytest.mark.parametrize("name", sorted(BAD_POLICIES))
def test_lifecycle_validator_rejects(name: str) -> None:
    assert problems(BAD_POLICIES[name]), f"validator accepted: {name}"


def test_lifecycle_validator_accepts_documented_examples() -> None:
    # The ECR user guide's examples, and the seed article's rules.
    assert problems({"rules": [
        {"rulePriority": 1, "description": "Expire images older than 14 days",
         "selection": {"tagStatus": "tagged", "tagPatternList": ["prod*"],
                       "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14},
         "action": {"type": "expire"}},
        {"rulePriority": 2, "selection": {"tagStatus": "untagged", "countType":
         "sinceImagePushed", "countUnit": "days", "countNumber": 90},
         "action": {"type": "expire"}},
        {"rulePriority": 3, "selection": {"tagStatus": "tagged", "tagPrefixList": ["staging"],
         "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 180},
         "action": {"type": "expire"}},
        {"rulePriority": 10, "selection": {"tagStatus": "any", "countType":
         "imageCountMoreThan", "countNumber": 30}, "action": {"type": "expire"}},
    ]}) == []


def test_ecr_repository_is_hardened() -> None:
    plain = cfn.render("ecr.yaml")
    props = plain.props("Repository")
    assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert props["ImageTagMutability"] == "IMMUTABLE"
    assert props["EncryptionConfiguration"] == {"EncryptionType": "AES256"}
    statements = cfn.policy_statements(props["RepositoryPolicyText"])
    assert [s["Sid"] for s in statements] == ["PullFromThisAccount"]
    assert statements[0]["Principal"] == {"AWS": f"arn:aws:iam::{cfn.ACCOUNT}:root"}
    assert not any(a.startswith(("ecr:Put", "ecr:Upload", "ecr:InitiateLayer", "ecr:Delete"))
                   for a in statement_actions(statements[0]))

    ci_role = "arn:aws:iam::210987654321:role/ci"
    full = cfn.render("ecr.yaml", {"KmsKeyArn": KMS_KEY_ARN, "CiPushRoleArn": ci_role})
    props = full.props("Repository")
    assert props["EncryptionConfiguration"] == {"EncryptionType": "KMS", "KmsKey": KMS_KEY_ARN}
    push = next(s for s in cfn.policy_statements(props["RepositoryPolicyText"])
                if s["Sid"] == "PushFromCiRole")
    assert push["Principal"] == {"AWS": ci_role}
    assert "ecr:PutImage" in statement_actions(push)
    assert {"RepositoryUri", "RepositoryArn"} <= set(full.outputs)


# --- cluster --------------------------------------------------------------------------------


def test_spot_fleet_instances_are_locked_down() -> None:
    rendered = cluster()
    data = rendered.props("LaunchTemplate")["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert all(m["Ebs"]["Encrypted"] for m in data["BlockDeviceMappings"])
    template = cfn.load("cluster.yaml")
    # Empty: the newest ECS AMI, resolved from SSM; deploy.py pins an AMI id instead.
    assert template["Parameters"]["EcsAmiId"]["Default"] == ""
    assert data["ImageId"] == ("{{resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/"
                               "recommended/image_id}}")
    pinned = cluster(EcsAmiId="ami-0123456789abcdef0").props("LaunchTemplate")
    assert pinned["LaunchTemplateData"]["ImageId"] == "ami-0123456789abcdef0"

    user_data = data["UserData"]
    config = dict(line.strip().split("=", 1) for line in user_data.splitlines()
                  if re.match(r"^\s*ECS_[A-Z_]+=", line))
    assert config["ECS_CLUSTER"] == "<Cluster>"
    assert config["ECS_ENABLE_SPOT_INSTANCE_DRAINING"] == "true"
    assert config["ECS_AWSVPC_BLOCK_IMDS"] == "true"
    stop = config["ECS_CONTAINER_STOP_TIMEOUT"]
    assert stop.endswith("s") and 30 <= int(stop[:-1]) < 120, "must fit the 2-minute notice"

    fleet = rendered.props("SpotFleet")["SpotFleetRequestConfigData"]
    assert fleet["TerminateInstancesWithExpiration"] is True
    assert fleet["AllocationStrategy"] in ("capacityOptimized", "diversified",
                                           "priceCapacityOptimized")
    assert fleet["IamFleetRole"] == "<SpotFleetRole.Arn>"
    managed = rendered.props("SpotFleetRole")["ManagedPolicyArns"]
    assert managed == ["arn:aws:iam::aws:policy/service-role/AmazonEC2SpotFleetTaggingRole"]
    instance_policies = rendered.props("InstanceRole")
    assert instance_policies["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"]
    assert "Policies" not in instance_policies


@pytest.mark.parametrize(("subnets", "expected"), [
    ("subnet-1", ["subnet-1"]),
    ("subnet-1,subnet-2", ["subnet-1", "subnet-2"]),
    ("subnet-1,subnet-2,subnet-3", ["subnet-1", "subnet-2", "subnet-3"]),
    ("subnet-1,subnet-2,subnet-3,subnet-4", ["subnet-1", "subnet-2", "subnet-3"]),
])
def test_spot_fleet_spreads_over_subnets_and_types(subnets: str, expected: list[str]) -> None:
    fleet = cluster(Subnets=subnets).props("SpotFleet")["SpotFleetRequestConfigData"]
    (config,) = fleet["LaunchTemplateConfigs"]
    overrides = config["Overrides"]
    assert [o["SubnetId"] for o in overrides] == expected
    for override in overrides:
        requirements = override["InstanceRequirements"]
        assert len(requirements["AllowedInstanceTypes"]) > 3, "diversify across types"


@pytest.mark.parametrize("choice", ["FARGATE", "FARGATE_SPOT"])
def test_fargate_cluster_has_no_instances(choice: str) -> None:
    rendered = cluster(CapacityChoice=choice)
    types = {r["Type"] for r in rendered.resources.values()}
    assert types == {"AWS::ECS::Cluster", "AWS::EC2::SecurityGroup"}
    props = rendered.props("Cluster")
    assert props["CapacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert props["DefaultCapacityProviderStrategy"] == [{"CapacityProvider": choice, "Weight": 1}]
    assert {"ClusterName", "ClusterArn", "Subnets", "SecurityGroupId"} <= set(rendered.outputs)


def test_spot_asg_is_a_spot_only_capacity_provider_that_scales_to_zero() -> None:
    rendered = cluster(CapacityChoice="EC2_SPOT_ASG", AsgMaxSize=3)
    assert "SpotFleet" not in rendered.resources and "SpotFleetRole" not in rendered.resources
    asg = rendered.props("AutoScalingGroup")
    assert (asg["MinSize"], asg["MaxSize"]) == ("0", 3)
    assert "DesiredCapacity" not in asg, "ECS managed scaling sets it"
    assert asg["NewInstancesProtectedFromScaleIn"] is True, "managed termination protection"
    assert asg["VPCZoneIdentifier"] == ["subnet-0aaa", "subnet-0bbb"]
    policy = asg["MixedInstancesPolicy"]
    assert policy["InstancesDistribution"] == {
        "OnDemandBaseCapacity": 0, "OnDemandPercentageAboveBaseCapacity": 0,
        "SpotAllocationStrategy": "price-capacity-optimized"}
    (override,) = policy["LaunchTemplate"]["Overrides"]
    assert len(override["InstanceRequirements"]["AllowedInstanceTypes"]) > 3
    assert policy["LaunchTemplate"]["LaunchTemplateSpecification"] == {
        "LaunchTemplateId": "<LaunchTemplate>", "Version": "<LaunchTemplate.LatestVersionNumber>"}
    # The same hardened launch template as the Spot Fleet's.
    assert rendered.props("LaunchTemplate") == cluster().props("LaunchTemplate")
    provider = rendered.props("CapacityProvider")["AutoScalingGroupProvider"]
    assert provider == {
        "AutoScalingGroupArn": "<AutoScalingGroup>",
        "ManagedScaling": {"Status": "ENABLED", "TargetCapacity": 100,
                           "MinimumScalingStepSize": 1, "MaximumScalingStepSize": 3,
                           "InstanceWarmupPeriod": 60},
        "ManagedTerminationProtection": "ENABLED", "ManagedDraining": "ENABLED"}
    association = rendered.props("ClusterCapacityProviders")
    assert association["Cluster"] == "<Cluster>"
    assert association["CapacityProviders"] == ["<CapacityProvider>"]
    assert association["DefaultCapacityProviderStrategy"] == [
        {"CapacityProvider": "<CapacityProvider>", "Weight": 1}]
    assert "CapacityProviders" not in rendered.props("Cluster")
    assert rendered.outputs["CapacityProvider"] == "<CapacityProvider>"
    assert rendered.outputs["AutoScalingGroupName"] == "<AutoScalingGroup>"
    for choice in ("EC2_SPOT_FLEET", "FARGATE_SPOT"):
        assert cluster(CapacityChoice=choice).outputs["CapacityProvider"] == choice


def test_the_reference_design_keeps_its_defaults() -> None:
    assert cfn.parameter_defaults(cfn.load("cluster.yaml"))["CapacityChoice"] == "EC2_SPOT_FLEET"
    defaults = cfn.parameter_defaults(cfn.load("shipper.yaml"))
    assert (defaults["CapacityChoice"], defaults["ScheduleKind"]) == ("EC2_SPOT_FLEET", "RULE")
    rendered = shipper()
    assert "ScheduleRule" in rendered.resources and "Schedule" not in rendered.resources


@pytest.mark.parametrize("capacity", ["EC2_SPOT_FLEET", "EC2_SPOT_ASG", "FARGATE_SPOT"])
@pytest.mark.parametrize("kind", ["RULE", "SCHEDULER"])
def test_schedule_kind_and_capacity_choose_the_target(capacity: str, kind: str) -> None:
    rendered = shipper(CapacityChoice=capacity, CapacityProvider="cp-asg", ScheduleKind=kind,
                       AssignPublicIp="ENABLED")
    rule_side = {"ScheduleRule", "EventsRole", "DeadLetterQueuePolicy", "ScheduleFailedAlarm"}
    scheduler_side = {"Schedule", "ScheduleGroup", "SchedulerRole", "SchedulerTargetErrorAlarm",
                      "SchedulerDroppedAlarm", "SchedulerDeadLetterFailedAlarm"}
    present = set(rendered.resources)
    assert (rule_side <= present, scheduler_side <= present) == (kind == "RULE",
                                                                 kind == "SCHEDULER")
    assert not (rule_side & present and scheduler_side & present)
    if kind == "RULE":
        (target,) = rendered.props("ScheduleRule")["Targets"]
        ecs, vpc_key = target["EcsParameters"], "AwsVpcConfiguration"
    else:
        schedule = rendered.props("Schedule")
        assert schedule["GroupName"] == "<ScheduleGroup>"
        assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert schedule["ScheduleExpression"] == "rate(15 minutes)"
        target = schedule["Target"]
        assert target["RoleArn"] == "<SchedulerRole.Arn>"
        ecs, vpc_key = target["EcsParameters"], "AwsvpcConfiguration"
    assert target["Arn"] == CLUSTER_ARN
    assert target["DeadLetterConfig"]["Arn"] == "<DeadLetterQueue.Arn>"
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600}
    vpc = ecs["NetworkConfiguration"][vpc_key]
    provider = {"EC2_SPOT_ASG": "cp-asg", "FARGATE_SPOT": "FARGATE_SPOT"}.get(capacity)
    if provider is None:
        assert ecs["LaunchType"] == "EC2" and "CapacityProviderStrategy" not in ecs
    else:
        assert "LaunchType" not in ecs, "through the capacity provider strategy"
        assert ecs["CapacityProviderStrategy"] == [{"CapacityProvider": provider, "Weight": 1}]
        assert f"capacityProvider={provider}" in rendered.outputs["RunTaskCommand"]
    fargate = capacity == "FARGATE_SPOT"
    assert vpc["AssignPublicIp"] == ("ENABLED" if fargate else "DISABLED")
    assert ("PlatformVersion" in ecs) == fargate


def test_scheduler_alarms_watch_this_stacks_schedule_group() -> None:
    rendered = shipper(ScheduleKind="SCHEDULER")
    alarms = {a["Properties"]["MetricName"]: a["Properties"]
              for a in rendered.of_type("AWS::CloudWatch::Alarm").values()
              if a["Properties"]["Namespace"] == "AWS/Scheduler"}
    assert set(alarms) == {"TargetErrorCount", "InvocationDroppedCount",
                           "InvocationsFailedToBeSentToDeadLetterCount"}
    for props in alarms.values():
        assert props["Dimensions"] == [{"Name": "ScheduleGroup", "Value": "<ScheduleGroup>"}]
        assert props["AlarmActions"] == props["OKActions"] == ["<AlarmTopic>"]
        assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert rendered.props("ScheduleGroup")["Name"] == "teststack-schedules"
    assert rendered.outputs["ScheduleGroupName"] == "teststack-schedules"
    # The dead-letter queue's own alarm stays: what Scheduler did deliver there.
    assert "DeadLetterAlarm" in rendered.resources


def test_asg_without_its_capacity_provider_is_refused_by_a_rule() -> None:
    rule = cfn.load("shipper.yaml")["Rules"]["AsgNeedsCapacityProvider"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "CapacityChoice"}, "EC2_SPOT_ASG"]}
    assert rule["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CapacityProvider"}, "none"]}]}


def test_cluster_has_container_insights() -> None:
    settings = cluster().props("Cluster")["ClusterSettings"]
    assert {"Name": "containerInsights", "Value": "enabled"} in settings


# --- shipper: bucket ------------------------------------------------------------------------


def test_log_bucket_is_hardened_and_retained() -> None:
    rendered = shipper()
    bucket = rendered.resources["LogBucket"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True,
        "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (sse,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}

    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    data = rules["data-storage-classes"]
    assert data["Prefix"] == "rds-logs/data/", "state and leases must not change class"
    assert [(t["StorageClass"], t["TransitionInDays"]) for t in data["Transitions"]] == [
        ("STANDARD_IA", 30), ("GLACIER_IR", 90)]
    assert rules["old-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30

    (deny,) = cfn.policy_statements(rendered.props("LogBucketPolicy")["PolicyDocument"])
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(deny["Resource"]) == {"arn:aws:s3:::test-bucket", "arn:aws:s3:::test-bucket/*"}


def test_log_bucket_with_kms_and_options() -> None:
    props = shipper(**SHIPPER_ALL_ON).props("LogBucket")
    (sse,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse == {"BucketKeyEnabled": True, "ServerSideEncryptionByDefault": {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KMS_KEY_ARN}}
    assert props["BucketName"] == "acme-rds-logs"
    assert props["LoggingConfiguration"]["DestinationBucketName"] == "acme-access-logs"
    data = props["LifecycleConfiguration"]["Rules"][0]
    assert data["Prefix"] == "archive/rds/data/"
    assert data["ExpirationInDays"] == 3650

    no_transitions = shipper(TransitionToIaDays=0, TransitionToGlacierIrDays=0)
    data = no_transitions.props("LogBucket")["LifecycleConfiguration"]["Rules"][0]
    assert data["Transitions"] == []
    assert data["AbortIncompleteMultipartUpload"], "the rule keeps an action"


# --- shipper: roles -------------------------------------------------------------------------

BASE_TASK_ACTIONS = {
    "rds:DescribeDBInstances", "rds:DescribeDBLogFiles", "rds:DownloadDBLogFilePortion",
    "rds:DownloadCompleteDBLogFile", "s3:GetObject", "s3:PutObject", "s3:ListBucket",
}


def test_task_role_is_scoped_to_bucket_prefix_and_account() -> None:
    actions = role_actions(shipper(), "TaskRole")
    assert set(actions) == BASE_TASK_ACTIONS
    assert actions["s3:GetObject"]["Resource"] == "arn:aws:s3:::test-bucket/rds-logs/*"
    assert actions["s3:PutObject"]["Resource"] == "arn:aws:s3:::test-bucket/rds-logs/*"
    listing = actions["s3:ListBucket"]
    assert listing["Resource"] == "arn:aws:s3:::test-bucket"
    assert listing["Condition"] == {"StringLikeIfExists": {"s3:prefix": "rds-logs/*"}}
    assert actions["rds:DescribeDBLogFiles"]["Resource"] == (
        f"arn:aws:rds:{cfn.REGION}:{cfn.ACCOUNT}:db:*")

    trust = cfn.policy_statements(shipper().props("TaskRole")["AssumeRolePolicyDocument"])
    assert trust[0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert trust[0]["Condition"]["StringEquals"] == {"aws:SourceAccount": cfn.ACCOUNT}


def test_task_role_grows_only_with_configuration() -> None:
    actions = role_actions(shipper(**SHIPPER_ALL_ON), "TaskRole")
    # With roles to assume, RDS is read through them only.
    rds = {a for a in BASE_TASK_ACTIONS if a.startswith("rds:")}
    assert set(actions) == BASE_TASK_ACTIONS - rds | {"kms:GenerateDataKey", "kms:Decrypt",
                                                      "sts:AssumeRole"}
    assert actions["kms:Decrypt"]["Resource"] == KMS_KEY_ARN
    assert actions["kms:Decrypt"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{cfn.REGION}.amazonaws.com"}}
    assert actions["sts:AssumeRole"]["Resource"] == ROLE_ARNS.split(",")
    assert actions["s3:PutObject"]["Resource"] == "arn:aws:s3:::test-bucket/archive/rds/*"
    # SHIPPER_REGIONS lists several regions: RDS in any region of this account.
    several = role_actions(shipper(ShipperRegions="eu-west-1,us-east-1"), "TaskRole")
    assert several["rds:DescribeDBInstances"]["Resource"] == f"arn:aws:rds:*:{cfn.ACCOUNT}:db:*"

    empty_prefix = role_actions(shipper(Prefix=""), "TaskRole")
    assert empty_prefix["s3:PutObject"]["Resource"] == "arn:aws:s3:::test-bucket/*"
    assert empty_prefix["s3:ListBucket"]["Condition"] == {
        "StringLikeIfExists": {"s3:prefix": "*"}}


def test_execution_role_is_separate_and_minimal() -> None:
    rendered = shipper(**SHIPPER_ALL_ON)
    task = rendered.props("TaskDefinition")
    assert task["TaskRoleArn"] == "<TaskRole.Arn>"
    assert task["ExecutionRoleArn"] == "<ExecutionRole.Arn>"
    actions = role_actions(rendered, "ExecutionRole")
    assert set(actions) == {"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                            "ecr:GetDownloadUrlForLayer", "ecr:GetAuthorizationToken",
                            "logs:CreateLogStream", "logs:PutLogEvents"}
    assert actions["ecr:BatchGetImage"]["Resource"] == REPOSITORY_ARN
    assert actions["logs:PutLogEvents"]["Resource"] == "<LogGroup.Arn>"
    # Without a repository (image elsewhere), no ECR access at all.
    assert set(role_actions(shipper(), "ExecutionRole")) == {
        "logs:CreateLogStream", "logs:PutLogEvents"}


@pytest.mark.parametrize("params", [{}, SHIPPER_ALL_ON])
def test_events_role_can_pass_only_the_two_task_roles(params: dict[str, Any]) -> None:
    rendered = shipper(**params)
    actions = role_actions(rendered, "EventsRole")
    assert set(actions) == {"ecs:RunTask", "iam:PassRole"}
    passing = actions["iam:PassRole"]
    assert sorted(cfn.as_list(passing["Resource"])) == ["<ExecutionRole.Arn>", "<TaskRole.Arn>"]
    assert passing["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    run = actions["ecs:RunTask"]
    assert run["Resource"] == (
        f"arn:aws:ecs:{cfn.REGION}:{cfn.ACCOUNT}:task-definition/rds-log-shipper:*")
    assert run["Condition"] == {"ArnEquals": {"ecs:cluster": CLUSTER_ARN}}
    trust = cfn.policy_statements(rendered.props("EventsRole")["AssumeRolePolicyDocument"])
    assert trust[0]["Principal"] == {"Service": "events.amazonaws.com"}


# --- shipper: task definition ---------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, SHIPPER_ALL_ON])
def test_task_environment_names_are_shipper_settings(params: dict[str, Any]) -> None:
    (container,) = shipper(**params).props("TaskDefinition")["ContainerDefinitions"]
    names = [e["Name"] for e in container["Environment"]]
    assert len(names) == len(set(names))
    unknown = set(names) - SETTING_ENV_NAMES
    assert not unknown, f"not in shipper.config.SETTING_ENV_NAMES: {sorted(unknown)}"
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["SHIPPER_BUCKET"] == "test-bucket"
    assert env["SHIPPER_LOG_FORMAT"] == "json"
    assert env["SHIPPER_REGIONS"]


def test_every_conditional_environment_entry_is_a_setting() -> None:
    # Statically, including branches no parameter set above takes.
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if set(node) == {"Name", "Value"} and isinstance(node["Name"], str):
                found.add(node["Name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    container = cfn.load("shipper.yaml")["Resources"]["TaskDefinition"]["Properties"][
        "ContainerDefinitions"][0]
    walk(container["Environment"])
    assert found and found <= SETTING_ENV_NAMES, sorted(found - SETTING_ENV_NAMES)


def test_all_on_environment_values() -> None:
    (container,) = shipper(**SHIPPER_ALL_ON).props("TaskDefinition")["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["SHIPPER_KMS_KEY_ID"] == KMS_KEY_ARN
    assert env["SHIPPER_ROLE_ARNS"] == ROLE_ARNS
    assert env["SHIPPER_PREFIX"] == "archive/rds/"
    assert env["SHIPPER_REGIONS"] == "eu-west-1,us-east-1"
    # The settings parser accepts what the template passes.
    from shipper.config import load_settings

    settings = load_settings({k: str(v) for k, v in env.items()})
    assert settings.kms_key_id == KMS_KEY_ARN
    assert settings.prefix == "archive/rds/"
    assert settings.log_format == "json"


def test_container_is_non_root_read_only_and_stops_cleanly() -> None:
    rendered = shipper()
    task = rendered.props("TaskDefinition")
    assert task["NetworkMode"] == "awsvpc"
    assert set(task["RequiresCompatibilities"]) == {"EC2", "FARGATE"}
    assert (task["Cpu"], task["Memory"]) == ("256", "512")
    (container,) = task["ContainerDefinitions"]
    uid = int(container["User"].split(":")[0])
    assert uid >= 1000, "non-root numeric user"
    assert container["ReadonlyRootFilesystem"] is True
    assert container["LinuxParameters"]["Capabilities"]["Drop"] == ["ALL"]
    assert {"SourceVolume": "tmp", "ContainerPath": "/tmp", "ReadOnly": False} in container[
        "MountPoints"]
    assert {"Name": "tmp"} in task["Volumes"]
    assert 30 <= container["StopTimeout"] <= 120
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert container["LogConfiguration"]["Options"]["awslogs-group"] == "<LogGroup>"
    assert "Privileged" not in container
    # The template's user is the Dockerfile's user.
    assert container["User"] == dockerfile_instructions()["USER"][-1]


# --- shipper: schedule, queue, alarms -------------------------------------------------------


@pytest.mark.parametrize(("choice", "public_ip"), [
    ("EC2_SPOT_FLEET", "ENABLED"), ("FARGATE", "ENABLED"), ("FARGATE_SPOT", "DISABLED")])
def test_schedule_target_matches_capacity_choice(choice: str, public_ip: str) -> None:
    rendered = shipper(CapacityChoice=choice, AssignPublicIp=public_ip)
    rule = rendered.props("ScheduleRule")
    assert rule["ScheduleExpression"] == "rate(15 minutes)"
    (target,) = rule["Targets"]
    ecs = target["EcsParameters"]
    assert target["Arn"] == CLUSTER_ARN
    assert target["RoleArn"] == "<EventsRole.Arn>"
    assert ecs["TaskDefinitionArn"] == "<TaskDefinition>"
    assert ecs["TaskCount"] == 1
    vpc = ecs["NetworkConfiguration"]["AwsVpcConfiguration"]
    assert vpc["Subnets"] == ["subnet-0aaa", "subnet-0bbb"]
    assert vpc["SecurityGroups"] == [SHIPPER_REQUIRED["SecurityGroupId"]]
    if choice == "EC2_SPOT_FLEET":
        assert ecs["LaunchType"] == "EC2"
        assert "CapacityProviderStrategy" not in ecs
        assert vpc["AssignPublicIp"] == "DISABLED", "EC2 awsvpc tasks get no public IP"
    else:
        assert "LaunchType" not in ecs
        assert ecs["CapacityProviderStrategy"] == [{"CapacityProvider": choice, "Weight": 1}]
        assert vpc["AssignPublicIp"] == public_ip
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] < 900
    assert target["DeadLetterConfig"]["Arn"] == "<DeadLetterQueue.Arn>"
    command = rendered.outputs["RunTaskCommand"]
    assert command.startswith("aws ecs run-task ")
    assert "--launch-type EC2" in command if choice == "EC2_SPOT_FLEET" else (
        f"capacityProvider={choice}" in command)


def test_dead_letter_queue_accepts_only_this_rule() -> None:
    rendered = shipper()
    assert rendered.props("DeadLetterQueue")["SqsManagedSseEnabled"] is True
    (statement,) = cfn.policy_statements(
        rendered.props("DeadLetterQueuePolicy")["PolicyDocument"])
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement_actions(statement) == ["sqs:SendMessage"]
    rule_name = rendered.props("ScheduleRule")["Name"]
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": (
        f"arn:aws:events:{cfn.REGION}:{cfn.ACCOUNT}:rule/{rule_name}")}}


def test_alarms_watch_the_schedule_and_the_shipper() -> None:
    rendered = shipper()
    alarms = rendered.of_type("AWS::CloudWatch::Alarm")
    rule_name = rendered.props("ScheduleRule")["Name"]
    by_metric = {(a["Properties"]["Namespace"], a["Properties"]["MetricName"]): a["Properties"]
                 for a in alarms.values()}
    failed = by_metric[("AWS/Events", "FailedInvocations")]
    assert failed["Dimensions"] == [{"Name": "RuleName", "Value": rule_name}]
    failures = by_metric[("RdsLogShipper", "Failures")]
    assert failures["Dimensions"] == [{"Name": "Service", "Value": "rds-log-shipper"}]
    lag = by_metric[("RdsLogShipper", "LagSeconds")]
    assert lag["TreatMissingData"] == "breaching", "a schedule that stopped must alarm"
    for props in by_metric.values():
        assert props["AlarmActions"] == ["<AlarmTopic>"]
    topic = rendered.props("AlarmTopic")
    assert topic["KmsMasterKeyId"] == "<AlarmKey>", "customer key: CloudWatch must use it"
    key_statements = cfn.policy_statements(rendered.props("AlarmKey")["KeyPolicy"])
    assert any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
               for s in key_statements)

    existing = "arn:aws:sns:eu-west-1:123456789012:oncall"
    rendered = shipper(AlarmTopicArn=existing, MetricsNamespace="Custom/Ns")
    assert "AlarmTopic" not in rendered.resources and "AlarmKey" not in rendered.resources
    for alarm in rendered.of_type("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [existing]
    namespaces = {a["Properties"]["Namespace"]
                  for a in rendered.of_type("AWS::CloudWatch::Alarm").values()}
    assert "Custom/Ns" in namespaces


def test_outputs_cover_what_operators_need() -> None:
    outputs = shipper().outputs
    assert {"BucketName", "TaskDefinitionArn", "RuleName", "LogGroupName", "TaskRoleArn",
            "ExecutionRoleArn", "EventsRoleArn", "RunTaskCommand"} <= set(outputs)


# --- Dockerfile and .dockerignore -----------------------------------------------------------


def test_dockerfile_runtime_contract() -> None:
    ins = dockerfile_instructions()
    froms = ins["FROM"]
    assert len(froms) == 2, "multi-stage: build and runtime"
    # The base is an ARG (a stand-in may replace it in tests); its default is the pin.
    defaults = dict(a.split("=", 1) for a in ins["ARG"] if "=" in a)
    images = {re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], f.split()[0])
              for f in froms}
    assert len(images) == 1, "both stages use the same pinned base"
    (image,) = images
    assert re.fullmatch(r"python:3\.12\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", image), image

    user = ins["USER"][-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 1000 and gid.isdigit(), "numeric non-root user"
    assert json.loads(ins["ENTRYPOINT"][-1]) == ["rds-log-shipper"], "exec form"
    assert json.loads(ins["CMD"][-1]) == ["run"]
    assert ins["STOPSIGNAL"] == ["SIGTERM"]
    assert ins["HEALTHCHECK"] == ["NONE"]
    env = " ".join(ins["ENV"])
    for setting in ("PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1", "PIP_NO_CACHE_DIR=1",
                    "TMPDIR=/tmp"):
        assert setting in env
    assert any("/tmp" in v for v in ins["VOLUME"])
    runtime_runs = ins["RUN"][-1]
    assert "--no-index" in runtime_runs, "the runtime stage installs only the built wheels"


def test_dockerignore_admits_only_the_build_inputs() -> None:
    patterns = dockerignore_patterns()
    for kept in ("pyproject.toml", "README.md", "shipper/__init__.py", "shipper/cli.py",
                 "uv.lock"):
        assert not dockerignore_excludes(kept, patterns), kept
    for dropped in (".git/config", ".venv/bin/python", ".venv-checkov/bin/checkov",
                    "tests/conftest.py", "bench/out/results.json", ".pytest_cache/v",
                    "shipper/__pycache__/cli.cpython-312.pyc", "infra/shipper.yaml",
                    ".env", "rds-log-shipper-demo/x", "build/lib/shipper/x.py"):
        assert dockerignore_excludes(dropped, patterns), dropped
    # Every COPY source of the Dockerfile survives the ignore file.
    for copy in dockerfile_instructions().get("COPY", []):
        words = [w for w in copy.split() if not w.startswith("--")]
        for source in words[:-1]:
            assert not dockerignore_excludes(source.rstrip("/"), patterns), source


def test_the_image_and_make_install_from_one_lock_with_one_uv() -> None:
    import tomllib

    lock = tomllib.loads((cfn.ROOT / "uv.lock").read_text())
    locked = {p["name"] for p in lock["package"]}
    pyproject = tomllib.loads((cfn.ROOT / "pyproject.toml").read_text())
    wanted = {re.split(r"[<>=!~\[ ;]", dep, maxsplit=1)[0].lower()
              for dep in pyproject["project"]["dependencies"]}
    assert wanted <= locked, f"not in uv.lock: {sorted(wanted - locked)}"
    dockerfile = (cfn.ROOT / "Dockerfile").read_text()
    assert "uv export --frozen" in dockerfile, "the image's versions come from uv.lock"
    assert "--require-hashes" in dockerfile
    (image_uv,) = re.findall(r"^ARG UV_VERSION=(\S+)$", dockerfile, re.M)
    (make_uv,) = re.findall(r"^UV_VERSION\s*:=\s*(\S+)$",
                            (cfn.ROOT / "Makefile").read_text(), re.M)
    assert image_uv == make_uv, "the Dockerfile and the Makefile pin different uv releases"


def test_an_existing_bucket_replaces_the_created_one_everywhere() -> None:
    rendered = shipper(ExistingBucketName="kept-archive")
    assert "LogBucket" not in rendered.resources
    assert rendered.props("LogBucketPolicy")["Bucket"] == "kept-archive"
    env = {e["Name"]: e["Value"] for e in rendered.props("TaskDefinition")[
        "ContainerDefinitions"][0]["Environment"] if isinstance(e, dict)}
    assert env["SHIPPER_BUCKET"] == "kept-archive"
    text = json.dumps(rendered.props("TaskRole"))
    assert "arn:aws:s3:::kept-archive/rds-logs/*" in text and "test-bucket" not in text
    assert rendered.outputs["BucketName"] == "kept-archive"
    rule = cfn.load("shipper.yaml")["Rules"]["OneBucketChoice"]
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "BucketName"}, ""]}


@pytest.mark.parametrize("params", [{}, {"Prefix": "archive/rds/"}, {"Prefix": ""}])
def test_glue_table_projection_follows_the_key_layout(params: dict[str, Any]) -> None:
    """Partition keys, projected keys and the location template are the layout's
    (shipper/layout.py): a key the shipper writes is exactly where Athena looks."""
    rendered = shipper(**params)
    table = rendered.props("LinesTable")["TableInput"]
    assert tuple(k["Name"] for k in table["PartitionKeys"]) == PARTITION_KEYS
    projection = table["Parameters"]
    assert projection["projection.enabled"] == "true"
    types = {k.split(".")[1]: v for k, v in projection.items()
             if k.startswith("projection.") and k.endswith(".type")}
    assert types == {"account": "injected", "region": "injected", "instance": "injected",
                     "dt": "date"}
    assert projection["projection.dt.format"] == "yyyy-MM-dd"
    assert partition_day(0) == "1970-01-01"  # the layout's dt format, as Java spells it above
    prefix = params.get("Prefix", "rds-logs/")
    scope = Scope(prefix, "111122223333", "eu-west-1", "orders-pg")
    key = scope.data_key("0" * 20, "2026-12-05", 0)
    location = projection["storage.location.template"]
    for name, value in (("account", "111122223333"), ("region", "eu-west-1"),
                        ("instance", "orders-pg"), ("dt", "2026-12-05")):
        location = location.replace("${" + name + "}", value)
    assert key.startswith(location.removeprefix("s3://test-bucket/"))
    assert key.removeprefix(location.removeprefix("s3://test-bucket/")).count("/") == 1
    assert location.startswith("s3://test-bucket/")
    assert table["StorageDescriptor"]["Location"] == f"s3://test-bucket/{prefix}data/"
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == ["line"]


def test_athena_workgroup_is_optional_encrypted_and_outside_the_shipper_prefix() -> None:
    default = shipper()
    workgroup = default.props("AthenaWorkGroupResource")["WorkGroupConfiguration"]
    assert workgroup["EnforceWorkGroupConfiguration"] is True
    results = workgroup["ResultConfiguration"]
    assert results["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    location = results["OutputLocation"]
    assert location.startswith("s3://test-bucket/athena-results/")
    assert not location.startswith("s3://test-bucket/rds-logs/")  # the task role's reach
    rules = {r["Id"]: r for r in default.props("LogBucket")["LifecycleConfiguration"]["Rules"]}
    assert rules["athena-results"]["ExpirationInDays"] == 30
    kms = shipper(**SHIPPER_ALL_ON).props("AthenaWorkGroupResource")
    assert kms["WorkGroupConfiguration"]["ResultConfiguration"]["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_KMS", "KmsKey": KMS_KEY_ARN}
    off = shipper(AthenaWorkGroup="false")
    assert "AthenaWorkGroupResource" not in off.resources and "LinesTable" in off.resources
    rules = {r["Id"] for r in off.props("LogBucket")["LifecycleConfiguration"]["Rules"]}
    assert "athena-results" not in rules and "AthenaWorkGroupName" not in off.outputs
