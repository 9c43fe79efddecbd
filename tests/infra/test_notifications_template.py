"""Notifications for log tools (issue 27): infra/shipper.yaml's Notifications parameter.

NONE adds nothing. SQS: the bucket's own notification configuration sends every data object's
ObjectCreated event to a KMS-encrypted queue (with a dead-letter queue). EVENTBRIDGE: the bucket
sends its events to EventBridge and a rule forwards the data objects' to the same kind of
queue. Either way a managed policy lets a consumer read the queue and the data objects only.

The filters are checked against the key layout itself (shipper/layout.py's Scope): a data key
matches, no state, lease or name-record key does.

On moto (5.2, in-process ``mock_aws`` as in test_moto_deploy.py) the stack deploys, but moto's
CloudFormation does NOT do, so the last tests stand in for it through the APIs:

* ``AWS::S3::Bucket`` NotificationConfiguration is ignored (moto reads only BucketEncryption
  and Tags): the rendered configuration is put with PutBucketNotificationConfiguration;
* ``AWS::SQS::QueuePolicy`` is not supported (skipped with a warning), and moto evaluates
  neither queue nor key policies, nor encrypts messages with the queue's KMS key: who may send
  and use the key is checked offline below only;
* ``AWS::NoValue`` in a list becomes null, which moto's IAM rejects in a managed policy's
  Statement ("Syntax errors in policy"): the deployed copy drops that item (it is the
  KmsKeyArn statement, absent without KmsKeyArn, as real CloudFormation drops it).

moto then delivers S3 events to SQS by the filter rules, and to EventBridge rules (with
``wildcard`` matching) and on to an SQS target, which is what the delivery tests use.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

from shipper.layout import DATA_SUFFIX, Scope
from tests.infra import cfntools as cfn
from tests.infra import event_pattern
from tests.infra import test_templates as templates
from tests.infra.common import (
    BUCKET_ATTRS,
    BUCKET_REFS,
    KMS_KEY_ARN,
    SHIPPER_ALL_ON,
    SHIPPER_REQUIRED,
)
from tests.reliability.test_least_privilege import allowed_with_conditions, policy_actions

REGION, ACCOUNT = cfn.REGION, cfn.ACCOUNT
NAMED = "acme-rds-logs"  # SQS needs a BucketName (rule SqsNotificationsNeedTheirBucket)
NOTIFICATION_RESOURCES = {
    "NotificationKey": "AWS::KMS::Key",
    "NotificationQueue": "AWS::SQS::Queue",
    "NotificationDeadLetterQueue": "AWS::SQS::Queue",
    "NotificationQueuePolicy": "AWS::SQS::QueuePolicy",
    "NotificationDeadLetterAlarm": "AWS::CloudWatch::Alarm",
    "NotificationConsumerPolicy": "AWS::IAM::ManagedPolicy",
}
NOTIFICATION_OUTPUTS = {"NotificationQueueUrl", "NotificationQueueArn",
                        "NotificationDeadLetterQueueArn", "NotificationConsumerPolicyArn"}
CONSUMER_ACTIONS = ["kms:Decrypt", "s3:GetObject", "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:teststack-NotificationQueue-1A2B"
DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:teststack-NotificationDeadLetterQueue-3C4D"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f0e0d0c-0b0a-0908-0706-050403020100"
RESOLVED = {"NotificationQueue.Arn": QUEUE_ARN, "NotificationDeadLetterQueue.Arn": DLQ_ARN,
            "NotificationKey.Arn": KEY_ARN}


def shipper(**params: Any) -> cfn.Rendered:
    bucket = params.get("BucketName") or "test-bucket"
    return cfn.render("shipper.yaml", {**SHIPPER_REQUIRED, **params},
                      refs={"LogBucket": bucket},
                      attrs={"LogBucket.Arn": f"arn:aws:s3:::{bucket}", **RESOLVED})


def sqs(**params: Any) -> cfn.Rendered:
    return shipper(Notifications="SQS", BucketName=NAMED, **params)


def eventbridge(**params: Any) -> cfn.Rendered:
    return shipper(Notifications="EVENTBRIDGE", **params)


def layout_keys(prefix: str) -> dict[str, list[str]]:
    """Every kind of key the shipper writes, from the layout itself: data, and the rest."""
    keys: dict[str, list[str]] = {"data": [], "other": []}
    for resource_id in ("", "db-ABCDEFGHIJKLMNOPQRSTUVWXY0"):
        scope = Scope(prefix, ACCOUNT, REGION, "orders-pg", resource_id)
        keys["data"] += [scope.data_key("0123456789abcdef0123", "2026-12-05", 0),
                         scope.data_key("0123456789abcdef0123", "2026-12-06", 1048576,
                                        instance="orders-pg-old")]
        keys["other"] += [scope.state_key(), scope.lease_key(), scope.name_key(),
                          scope.legacy_lease_key()]
    return keys


def s3_filter_matches(rules: list[dict[str, str]], key: str) -> bool:
    """S3's key filter: every rule must hold (prefix and suffix, on the key as stored)."""
    tests = {"prefix": str.startswith, "suffix": str.endswith}
    return all(tests[r["Name"]](key, r["Value"]) for r in rules)


def wildcard_matches(pattern: str, value: str) -> bool:
    """EventBridge ``wildcard`` (User Guide, "Wildcard matching"): ``*`` stands for any run of
    characters; ``\\*`` is a literal star and ``\\\\`` a literal backslash."""
    regex = "".join(
        ".*" if token == "*" else re.escape(token[-1] if token.startswith("\\") else token)
        for token in re.findall(r"\\[*\\]|\*|[^*\\]+|\\", pattern))
    return re.fullmatch(regex, value, re.DOTALL) is not None


def rule_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """tests/infra/event_pattern.py for everything but the key's ``wildcard`` (which it does
    not implement), that one here."""
    rest = json.loads(json.dumps(pattern))
    (condition,) = rest["detail"]["object"].pop("key")
    if not rest["detail"]["object"]:
        del rest["detail"]["object"]
    key = event.get("detail", {}).get("object", {}).get("key")
    return event_pattern.matches(rest, event) and isinstance(key, str) and wildcard_matches(
        condition["wildcard"], key)


def s3_event(bucket: str, key: str, detail_type: str = "Object Created") -> dict[str, Any]:
    """An S3 event on EventBridge, as the S3 User Guide's "EventBridge event message
    structure" shows it (the key as stored, not URL-encoded)."""
    return {
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": detail_type, "source": "aws.s3", "account": ACCOUNT,
        "time": "2026-12-05T00:00:00Z", "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {"version": "0", "bucket": {"name": bucket},
                   "object": {"key": key, "size": 5, "etag": "b1946ac92492d2347c6235b4d2611184",
                              "sequencer": "00617F08299329D189"},
                   "request-id": "N4N7GDK58NMKJ12R", "requester": ACCOUNT,
                   "source-ip-address": "203.0.113.15", "reason": "PutObject"},
    }


# --- NONE ------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, SHIPPER_ALL_ON, {"ExistingBucketName": "kept-archive"}])
def test_none_is_the_default_and_adds_nothing(params: dict[str, Any]) -> None:
    assert cfn.parameter_defaults(cfn.load("shipper.yaml"))["Notifications"] == "NONE"
    rendered = shipper(**params)
    conditional = {k for k, v in cfn.load("shipper.yaml")["Resources"].items()
                   if v.get("Condition") in ("HasNotifications", "NotifySqs",
                                             "NotifyEventBridge")}
    assert conditional == set(NOTIFICATION_RESOURCES) | {"NotificationRule"}
    assert not conditional & set(rendered.resources)
    assert not rendered.of_type("AWS::SQS::QueuePolicy").keys() - {"DeadLetterQueuePolicy"}
    assert not rendered.of_type("AWS::IAM::ManagedPolicy")
    assert set(rendered.of_type("AWS::Events::Rule")) <= {
        "ScheduleRule", "TaskFailedRule", "RunTaskFailedRule"}
    if "LogBucket" in rendered.resources:
        assert "NotificationConfiguration" not in rendered.props("LogBucket")
    assert not NOTIFICATION_OUTPUTS & set(rendered.outputs)


# --- SQS -------------------------------------------------------------------------------------


def test_data_keys_end_with_the_suffix_the_filters_use() -> None:
    assert DATA_SUFFIX == ".log.gz"
    for key in layout_keys("rds-logs/")["data"]:
        assert key.endswith(".log.gz")


@pytest.mark.parametrize("prefix", ["rds-logs/", "archive/rds/", ""])
def test_sqs_filter_is_the_data_prefix_and_suffix_only(prefix: str) -> None:
    rendered = sqs(Prefix=prefix)
    (config,) = rendered.props("LogBucket")["NotificationConfiguration"]["QueueConfigurations"]
    assert config["Event"] == "s3:ObjectCreated:*"
    assert config["Queue"] == QUEUE_ARN
    rules = config["Filter"]["S3Key"]["Rules"]
    assert rules == [{"Name": "prefix", "Value": f"{prefix}data/"},
                     {"Name": "suffix", "Value": DATA_SUFFIX}]
    keys = layout_keys(prefix)
    for key in keys["data"]:
        assert s3_filter_matches(rules, key), key
    for key in keys["other"]:
        assert not s3_filter_matches(rules, key), key
    # Only the queue configuration: no EventBridge, no rule.
    assert set(rendered.props("LogBucket")["NotificationConfiguration"]) == {
        "QueueConfigurations"}
    assert "NotificationRule" not in rendered.resources
    # The bucket waits for the queue policy (S3 checks it may send when the configuration
    # is put): the Fn::Select names the policy and yields the queue.
    raw = cfn.load("shipper.yaml")["Resources"]["LogBucket"]["Properties"][
        "NotificationConfiguration"]["Fn::If"][1]["QueueConfigurations"][0]["Queue"]
    assert raw == {"Fn::Select": [0, [{"Fn::GetAtt": ["NotificationQueue", "Arn"]},
                                      {"Ref": "NotificationQueuePolicy"}]]}


def test_sqs_queue_and_key_accept_this_bucket_only() -> None:
    rendered = sqs()
    bucket_arn = f"arn:aws:s3:::{NAMED}"
    assert rendered.outputs["BucketArn"] == bucket_arn
    policy = rendered.props("NotificationQueuePolicy")
    assert policy["Queues"] == ["<NotificationQueue>"]
    (statement,) = cfn.policy_statements(policy["PolicyDocument"])
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == QUEUE_ARN
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": bucket_arn},
                                      "StringEquals": {"aws:SourceAccount": ACCOUNT}}

    key = rendered.props("NotificationKey")
    assert key["EnableKeyRotation"] is True
    root, s3 = cfn.policy_statements(key["KeyPolicy"])
    assert root["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert s3["Principal"] == {"Service": "s3.amazonaws.com"}
    assert sorted(s3["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert s3["Condition"] == statement["Condition"]
    for queue in ("NotificationQueue", "NotificationDeadLetterQueue"):
        assert rendered.props(queue)["KmsMasterKeyId"] == "<NotificationKey>"
    redrive = rendered.props("NotificationQueue")["RedrivePolicy"]
    assert redrive == {"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": 5}


def test_sqs_needs_a_bucket_of_its_own_with_a_name() -> None:
    rule = cfn.load("shipper.yaml")["Rules"]["SqsNotificationsNeedTheirBucket"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "Notifications"}, "SQS"]}
    assert [a["Assert"] for a in rule["Assertions"]] == [
        {"Fn::Equals": [{"Ref": "ExistingBucketName"}, ""]},
        {"Fn::Not": [{"Fn::Equals": [{"Ref": "BucketName"}, ""]}]}]


# --- EVENTBRIDGE -----------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["rds-logs/", "archive/rds/", ""])
def test_eventbridge_rule_matches_data_objects_only(prefix: str) -> None:
    rendered = eventbridge(Prefix=prefix)
    assert rendered.props("LogBucket")["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    rule = rendered.props("NotificationRule")
    pattern = rule["EventPattern"]
    assert pattern["detail"]["object"]["key"] == [{"wildcard": f"{prefix}data/*.log.gz"}]
    keys = layout_keys(prefix)
    for key in keys["data"]:
        assert rule_matches(pattern, s3_event("test-bucket", key)), key
    for key in keys["other"]:
        assert not rule_matches(pattern, s3_event("test-bucket", key)), key
    data = keys["data"][0]
    assert not rule_matches(pattern, s3_event("other-bucket", data))
    assert not rule_matches(pattern, s3_event("test-bucket", data, "Object Deleted"))
    assert not rule_matches(pattern, s3_event("test-bucket", data + ".tmp"))
    (target,) = rule["Targets"]
    assert (target["Arn"], target["DeadLetterConfig"]["Arn"]) == (QUEUE_ARN, DLQ_ARN)


def test_eventbridge_wildcard_escapes_a_star_in_the_prefix() -> None:
    pattern = eventbridge(Prefix="a*b/").props("NotificationRule")["EventPattern"]
    assert pattern["detail"]["object"]["key"] == [{"wildcard": "a\\*b/data/*.log.gz"}]
    (data,) = layout_keys("a*b/")["data"][:1]
    assert rule_matches(pattern, s3_event("test-bucket", data))
    assert not rule_matches(pattern, s3_event("test-bucket", data.replace("a*b/", "aXYb/")))
    assert wildcard_matches("x\\\\y*", "x\\yz") and not wildcard_matches("x\\*", "xy")


def test_eventbridge_queue_and_key_accept_this_rule_only() -> None:
    rendered = eventbridge()
    rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/teststack-data-objects"
    assert rendered.props("NotificationRule")["Name"] == "teststack-data-objects"
    policy = rendered.props("NotificationQueuePolicy")
    assert policy["Queues"] == ["<NotificationQueue>", "<NotificationDeadLetterQueue>"]
    (statement,) = cfn.policy_statements(policy["PolicyDocument"])
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == [QUEUE_ARN, DLQ_ARN]
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": rule_arn},
                                      "StringEquals": {"aws:SourceAccount": ACCOUNT}}
    _, events = cfn.policy_statements(rendered.props("NotificationKey")["KeyPolicy"])
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(events["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert events["Condition"] == statement["Condition"]


def test_eventbridge_with_an_existing_bucket_names_it() -> None:
    rendered = eventbridge(ExistingBucketName="kept-archive")
    assert "LogBucket" not in rendered.resources
    pattern = rendered.props("NotificationRule")["EventPattern"]
    assert pattern["detail"]["bucket"]["name"] == ["kept-archive"]
    assert rule_matches(pattern, s3_event("kept-archive", layout_keys("rds-logs/")["data"][0]))
    read = next(s for s in cfn.policy_statements(
        rendered.props("NotificationConsumerPolicy")["PolicyDocument"])
        if s["Sid"] == "ReadDataObjects")
    assert read["Resource"] == "arn:aws:s3:::kept-archive/rds-logs/data/*"
    # The user turns the bucket's EventBridge delivery on: the parameter and README say so.
    description = cfn.load("shipper.yaml")["Parameters"]["Notifications"]["Description"]
    assert "turn on the bucket's EventBridge delivery yourself" in description
    readme = (cfn.ROOT / "README.md").read_text()
    section = readme.split("# Sending the archive to log tools (S3 notifications)\n", 1)[1]
    assert "turn on EventBridge delivery" in section.split("\n#", 1)[0]


# --- both: consumer policy, outputs, security -----------------------------------------------


def consumer_requests(rendered: cfn.Rendered, prefix: str) -> dict[str, tuple[Any, ...]]:
    bucket = rendered.outputs["BucketName"]
    keys = layout_keys(prefix)
    return {
        **{f"sqs {a}": (f"sqs:{a}", QUEUE_ARN, ()) for a in (
            "ReceiveMessage", "DeleteMessage", "GetQueueAttributes", "ChangeMessageVisibility")},
        "queue key": ("kms:Decrypt", KEY_ARN,
                      (("kms:ViaService", f"sqs.{REGION}.amazonaws.com"),)),
        **{f"data {i}": ("s3:GetObject", f"arn:aws:s3:::{bucket}/{k}", ())
           for i, k in enumerate(keys["data"])},
    }


def consumer_refusals(rendered: cfn.Rendered, prefix: str) -> dict[str, tuple[Any, ...]]:
    bucket = rendered.outputs["BucketName"]
    keys = layout_keys(prefix)
    return {
        **{f"other {i}": ("s3:GetObject", f"arn:aws:s3:::{bucket}/{k}", ())
           for i, k in enumerate(keys["other"])},
        "athena results": ("s3:GetObject", f"arn:aws:s3:::{bucket}/athena-results/x/q.csv", ()),
        "list": ("s3:ListBucket", f"arn:aws:s3:::{bucket}", ()),
        "put": ("s3:PutObject", f"arn:aws:s3:::{bucket}/{keys['data'][0]}", ()),
        "send": ("sqs:SendMessage", QUEUE_ARN, ()),
        "purge": ("sqs:PurgeQueue", QUEUE_ARN, ()),
        "dead letters": ("sqs:ReceiveMessage", DLQ_ARN, ()),
        "other queue": ("sqs:ReceiveMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:other", ()),
        "key outside SQS": ("kms:Decrypt", KEY_ARN, ()),
        "encrypt": ("kms:GenerateDataKey", KEY_ARN,
                    (("kms:ViaService", f"sqs.{REGION}.amazonaws.com"),)),
    }


@pytest.mark.parametrize("mode", ["SQS", "EVENTBRIDGE"])
@pytest.mark.parametrize("prefix", ["rds-logs/", "archive/rds/", ""])
def test_consumer_policy_reads_the_queue_and_the_data_objects_only(mode: str,
                                                                   prefix: str) -> None:
    rendered = (sqs if mode == "SQS" else eventbridge)(Prefix=prefix)
    doc = rendered.props("NotificationConsumerPolicy")["PolicyDocument"]
    assert policy_actions(doc) == CONSUMER_ACTIONS
    for name, request in consumer_requests(rendered, prefix).items():
        assert allowed_with_conditions(doc, request), name
    for name, request in consumer_refusals(rendered, prefix).items():
        assert not allowed_with_conditions(doc, request), name
    for statement in cfn.policy_statements(doc):
        assert statement["Effect"] == "Allow"
        assert "*" not in cfn.as_list(statement["Resource"]), statement
        assert not any("*" in a for a in cfn.as_list(statement["Action"])), statement


def test_consumer_policy_decrypts_objects_under_the_bucket_key() -> None:
    rendered = sqs(KmsKeyArn=KMS_KEY_ARN)
    doc = rendered.props("NotificationConsumerPolicy")["PolicyDocument"]
    assert policy_actions(doc) == CONSUMER_ACTIONS
    via_s3 = (("kms:ViaService", f"s3.{REGION}.amazonaws.com"),)
    assert allowed_with_conditions(doc, ("kms:Decrypt", KMS_KEY_ARN, via_s3))
    assert not allowed_with_conditions(doc, ("kms:Decrypt", KMS_KEY_ARN, ()))
    assert not allowed_with_conditions(doc, ("kms:GenerateDataKey", KMS_KEY_ARN, via_s3))
    without = sqs().props("NotificationConsumerPolicy")["PolicyDocument"]
    assert KMS_KEY_ARN not in json.dumps(without)


@pytest.mark.parametrize("mode", ["SQS", "EVENTBRIDGE"])
def test_outputs_and_resources_exist_with_notifications_only(mode: str) -> None:
    rendered = sqs() if mode == "SQS" else eventbridge()
    types = {k: rendered.resources[k]["Type"] for k in NOTIFICATION_RESOURCES}
    assert types == NOTIFICATION_RESOURCES
    assert ("NotificationRule" in rendered.resources) == (mode == "EVENTBRIDGE")
    assert {k: rendered.outputs[k] for k in NOTIFICATION_OUTPUTS} == {
        "NotificationQueueUrl": "<NotificationQueue>",
        "NotificationQueueArn": QUEUE_ARN,
        "NotificationDeadLetterQueueArn": DLQ_ARN,
        "NotificationConsumerPolicyArn": "<NotificationConsumerPolicy>"}
    alarm = rendered.props("NotificationDeadLetterAlarm")
    assert alarm["Dimensions"] == [{"Name": "QueueName",
                                    "Value": "<NotificationDeadLetterQueue.QueueName>"}]
    assert alarm["AlarmActions"] == ["<AlarmTopic>"]


@pytest.mark.parametrize("params", [
    {"Notifications": "SQS", "BucketName": NAMED},
    {"Notifications": "SQS", **SHIPPER_ALL_ON},
    {"Notifications": "EVENTBRIDGE"},
    {"Notifications": "EVENTBRIDGE", **{**SHIPPER_ALL_ON, "BucketName": ""},
     "ExistingBucketName": "kept-archive"},
], ids=["sqs", "sqs-all-on", "eventbridge", "eventbridge-existing-all-on"])
def test_the_project_security_checks_hold(params: dict[str, Any]) -> None:
    rendered = cfn.render("shipper.yaml", {**SHIPPER_REQUIRED, **params},
                          refs=BUCKET_REFS, attrs={**BUCKET_ATTRS, **RESOLVED})
    # test_templates.py's checks of every variant: no wildcard actions or principals...
    templates.test_no_wildcard_actions_principals_or_open_ingress(rendered)
    templates.test_templates_have_descriptions_and_no_exports_collisions(rendered)
    # ... and every service principal bound to this bucket or this rule.
    for logical in ("NotificationQueuePolicy", "NotificationKey"):
        document = rendered.props(logical).get("PolicyDocument") or rendered.props(
            logical)["KeyPolicy"]
        for statement in cfn.policy_statements(document):
            if "Service" in statement["Principal"]:
                assert set(statement["Condition"]) == {"ArnEquals", "StringEquals"}


# --- linters, per Notifications value --------------------------------------------------------


def _notification_variants(out: Path) -> list[Path]:
    subprocess.run([sys.executable, str(cfn.INFRA / "variants.py"), "--notifications",
                    str(out)], check=True, capture_output=True, timeout=60)
    return sorted(out.glob("*/shipper.yaml"))


def test_variants_write_one_shipper_per_notifications_value(tmp_path: Path) -> None:
    from tests.infra.test_lint import cfn_yaml_load

    files = _notification_variants(tmp_path)
    values = {}
    for path in files:
        defaults = cfn.parameter_defaults(cfn_yaml_load(path))
        values[path.parent.name] = defaults["Notifications"]
        if defaults["Notifications"] == "SQS":
            assert defaults["BucketName"] and not defaults["ExistingBucketName"]
    assert values == {"notifications-none": "NONE", "notifications-sqs": "SQS",
                      "notifications-eventbridge": "EVENTBRIDGE"}
    # The capacity x schedule combinations stay as test_lint.py counts them.
    plain = subprocess.run([sys.executable, str(cfn.INFRA / "variants.py"),
                            str(tmp_path / "plain")], check=True, capture_output=True,
                           text=True, timeout=60)
    assert len(plain.stdout.split()) == 12


@pytest.mark.slow  # 10 s
def test_cfn_lint_finds_nothing_for_any_notifications_value(tmp_path: Path) -> None:
    from cfnlint.api import ManualArgs, lint_file

    found = {path.parent.name: [str(m) for m in lint_file(
        path, config=ManualArgs(include_checks=["I"]))]
        for path in _notification_variants(tmp_path)}
    assert found == {"notifications-none": [], "notifications-sqs": [],
                     "notifications-eventbridge": []}


@pytest.mark.slow  # 12 s; checkov from .venv-checkov (infra/checks.sh)
def test_checkov_clean_for_every_notifications_value(tmp_path: Path) -> None:
    from tests.infra.test_lint import assert_checkov_clean

    _notification_variants(tmp_path / "variants")
    for report in assert_checkov_clean(["-d", str(tmp_path / "variants"),
                                        "--framework", "cloudformation"]):
        assert report["summary"]["passed"] > 0
        assert report["summary"]["resource_count"] >= 3 * 20


# --- delivery on moto ------------------------------------------------------------------------


@pytest.fixture
def aws() -> Iterator[Any]:
    from moto import mock_aws

    from tests.infra.test_moto_deploy import Deployer

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Tried to parse", UserWarning)
        with mock_aws():
            yield Deployer()


def _deploy(aws: Any, **params: Any) -> tuple[dict[str, str], cfn.Rendered]:
    """shipper.yaml on moto's CloudFormation; the bucket's notification configuration (which
    moto ignores) put through S3's API as rendered, translated to the API's names."""
    import boto3

    from tests.infra.test_moto_deploy import MOTO_UNSUPPORTED, _network

    vpc, subnets = _network()
    group = boto3.client("ec2", region_name=REGION).create_security_group(
        GroupName="shipper", Description="shipper", VpcId=vpc)["GroupId"]
    values = {**SHIPPER_REQUIRED, "Subnets": ",".join(subnets[:2]), "SecurityGroupId": group,
              **params}
    template = cfn.load("shipper.yaml")
    statements = template["Resources"]["NotificationConsumerPolicy"]["Properties"][
        "PolicyDocument"]["Statement"]
    assert "Fn::If" in statements[-1] and "KmsKeyArn" not in params
    del statements[-1]  # UseKms false: real CloudFormation drops the AWS::NoValue item
    out = aws.deploy("rls-shipper", template, **values)
    assert aws.unsupported == MOTO_UNSUPPORTED, "moto skipped a resource type we did not expect"
    created = {k: v["ResourceType"] for k, v in aws.resources("rls-shipper").items()}
    queue = out["NotificationQueueArn"]
    rendered = cfn.render("shipper.yaml", values, refs={"LogBucket": out["BucketName"]},
                          attrs={"LogBucket.Arn": out["BucketArn"],
                                 "NotificationQueue.Arn": queue,
                                 "NotificationDeadLetterQueue.Arn":
                                     out["NotificationDeadLetterQueueArn"],
                                 "NotificationKey.Arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/"
                                 + aws.physical("rls-shipper", "NotificationKey")})
    assert created == {k: v["Type"] for k, v in rendered.resources.items()
                       if v["Type"] not in MOTO_UNSUPPORTED}

    config = rendered.props("LogBucket")["NotificationConfiguration"]
    api: dict[str, Any] = {}
    for item in config.get("QueueConfigurations", []):
        api.setdefault("QueueConfigurations", []).append({
            "QueueArn": item["Queue"], "Events": [item["Event"]],
            "Filter": {"Key": {"FilterRules": item["Filter"]["S3Key"]["Rules"]}}})
    if config.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
        api["EventBridgeConfiguration"] = {}
    boto3.client("s3", region_name=REGION).put_bucket_notification_configuration(
        Bucket=out["BucketName"], NotificationConfiguration=api)
    return out, rendered


def _check_queues_and_policy(aws: Any, out: dict[str, str],
                             rendered: cfn.Rendered) -> None:
    import boto3

    from tests.infra.test_moto_deploy import _no_nulls, _policy

    sqs_client = boto3.client("sqs", region_name=REGION)
    attrs = sqs_client.get_queue_attributes(QueueUrl=out["NotificationQueueUrl"],
                                            AttributeNames=["All"])["Attributes"]
    assert attrs["KmsMasterKeyId"] == aws.physical("rls-shipper", "NotificationKey")
    dead = sqs_client.get_queue_attributes(QueueUrl=sqs_client.get_queue_url(
        QueueName=out["NotificationDeadLetterQueueArn"].rsplit(":", 1)[1])["QueueUrl"],
        AttributeNames=["KmsMasterKeyId"])["Attributes"]
    assert dead["KmsMasterKeyId"] == attrs["KmsMasterKeyId"]
    assert json.loads(attrs["RedrivePolicy"]) == {
        "deadLetterTargetArn": out["NotificationDeadLetterQueueArn"], "maxReceiveCount": 5}
    iam = boto3.client("iam", region_name=REGION)
    arn = out["NotificationConsumerPolicyArn"]
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    stored = _no_nulls(_policy(iam.get_policy_version(PolicyArn=arn, VersionId=version)[
        "PolicyVersion"]["Document"]))
    expected = rendered.props("NotificationConsumerPolicy")["PolicyDocument"]
    assert stored == expected, "moto and cfntools disagree"


def _put_and_receive(out: dict[str, str], prefix: str) -> list[dict[str, Any]]:
    """PUT a data key, a state key and a lease key; the messages the queue then holds."""
    import boto3

    s3 = boto3.client("s3", region_name=REGION)
    keys = layout_keys(prefix)
    data = keys["data"][0]
    for key in (keys["other"][0], keys["other"][1], data):
        s3.put_object(Bucket=out["BucketName"], Key=key, Body=b"line\n")
    sqs_client = boto3.client("sqs", region_name=REGION)
    messages = sqs_client.receive_message(QueueUrl=out["NotificationQueueUrl"],
                                          MaxNumberOfMessages=10)["Messages"]
    return [json.loads(m["Body"]) for m in messages]


@pytest.mark.slow  # a stack deployment
def test_sqs_delivers_one_message_per_data_object_on_moto(aws: Any) -> None:
    out, rendered = _deploy(aws, Notifications="SQS", BucketName=NAMED)
    _check_queues_and_policy(aws, out, rendered)
    bodies = _put_and_receive(out, "rds-logs/")
    # S3 sends a test event when the configuration is put; then one record per data object.
    records = [r for b in bodies if "Records" in b for r in b["Records"]]
    assert [b.get("Event") for b in bodies if "Records" not in b] == ["s3:TestEvent"]
    (record,) = records
    assert record["eventName"].startswith("ObjectCreated:")
    assert record["s3"]["bucket"]["name"] == NAMED
    assert unquote_plus(record["s3"]["object"]["key"]) == layout_keys("rds-logs/")["data"][0]


@pytest.mark.slow  # a stack deployment
def test_eventbridge_delivers_one_message_per_data_object_on_moto(aws: Any) -> None:
    out, rendered = _deploy(aws, Notifications="EVENTBRIDGE", Prefix="archive/")
    _check_queues_and_policy(aws, out, rendered)
    bodies = _put_and_receive(out, "archive/")
    (event,) = bodies
    assert (event["source"], event["detail-type"]) == ("aws.s3", "Object Created")
    assert event["detail"]["bucket"]["name"] == out["BucketName"]
    assert event["detail"]["object"]["key"] == layout_keys("archive/")["data"][0]
