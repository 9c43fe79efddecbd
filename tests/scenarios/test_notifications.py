"""Issue 27: S3 notifications, end to end, as a log tool consumes them.

On real endpoints (moto's server, which answers S3, SQS and KMS on one port, and the RDS
simulator) the bucket gets the notification configuration infra/shipper.yaml's
``Notifications: SQS`` renders (rendered from the template, not written here, so a change of
its filter shows), with the queue and dead-letter queue as the template renders them. The
shipper then runs over a world of several engines and hours, with rotations: plainly, with a
run SIGKILLed right after its first data PUT and a run that adopts what it left, and with
lost PutObject answers (written, then the connection breaks, so the shipper retries).

A consumer follows the queue as the S3 inputs of Elastic, Vector or Splunk do, while the
shipper runs and until the queue stays empty: it skips ``s3:TestEvent``, decodes each
record's key with ``unquote_plus``, GETs and gunzips the object, splits it into lines and
deletes the message. Then:

* every data object was notified exactly once, and nothing else (no state, lease or name
  record), and S3 applied exactly one PUT per data key (the tap on the server);
* what the consumer read is the simulator's ground truth: for each generation the oracle
  matched (``aws.verify()``), the consumer's lines of its objects, in key order, are the
  generation's lines, each once;
* no message went to the dead-letter queue.

moto's server sends S3 events to its own SQS synchronously (the message is in the queue when
the PUT answers; a ``receive_message`` never long-polls here: the local server serves one
request at a time).
"""

from __future__ import annotations

import gzip
import json
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import unquote_plus

import boto3
import pytest

from shipper.layout import DATA_SUFFIX
from shipper.simulator.oracle import OracleReport
from tests.infra import cfntools as cfn
from tests.infra.common import SHIPPER_REQUIRED
from tests.reliability.harness import (
    KillPoint,
    S3Faults,
    S3Tap,
    list_keys,
    spawn,
    wait_leases_expired,
)
from tests.scenarios.helpers import HOUR, ok_run
from tests.support.runs import finish, run_inproc
from tests.support.world import PREFIX, REGION, AwsWorld

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

DATA_PREFIX = f"{PREFIX}data/"
INSTANCES = {"pg": "postgres", "my": "mysql", "ora": "oracle-ee", "ss": "sqlserver-se"}
ADOPTED = "adopted objects written after the last commit of a crashed run"


# --- the template's SQS mode on moto's server -------------------------------------------------


def _client(aws: AwsWorld, service: Literal["kms", "sqs"]) -> Any:
    return boto3.client(service, endpoint_url=aws.s3.endpoint_url, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _queue_attributes(props: dict[str, Any]) -> dict[str, str]:
    """A rendered AWS::SQS::Queue's properties as CreateQueue attributes."""
    return {k: json.dumps(v) if isinstance(v, dict) else str(v)
            for k, v in props.items() if k != "Tags"}


def _api_notification_configuration(config: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's NotificationConfiguration in PutBucketNotificationConfiguration's
    names (as tests/infra/test_notifications_template.py puts it on moto)."""
    assert set(config) == {"QueueConfigurations"}, config
    return {"QueueConfigurations": [
        {"QueueArn": item["Queue"], "Events": [item["Event"]],
         "Filter": {"Key": {"FilterRules": item["Filter"]["S3Key"]["Rules"]}}}
        for item in config["QueueConfigurations"]]}


def notifications_as_rendered(aws: AwsWorld) -> tuple[str, str]:
    """The queue, the dead-letter queue and the bucket's notification configuration of
    ``Notifications: SQS`` (BucketName this world's bucket, Prefix the shipper's); returns the
    queue's and the dead-letter queue's URLs."""
    kms, sqs, s3 = _client(aws, "kms"), _client(aws, "sqs"), aws.s3_client()
    key = kms.create_key(Description="notification queues")["KeyMetadata"]
    account = key["Arn"].split(":")[4]
    name = f"notif-{uuid.uuid4().hex[:12]}"
    arn = f"arn:aws:sqs:{REGION}:{account}:{name}"
    rendered = cfn.render(
        "shipper.yaml",
        {**SHIPPER_REQUIRED, "Notifications": "SQS", "BucketName": aws.bucket,
         "Prefix": PREFIX},
        refs={"LogBucket": aws.bucket, "NotificationKey": key["KeyId"]},
        attrs={"LogBucket.Arn": f"arn:aws:s3:::{aws.bucket}", "NotificationKey.Arn": key["Arn"],
               "NotificationQueue.Arn": arn, "NotificationDeadLetterQueue.Arn": f"{arn}-dlq"})
    urls = {}
    for logical, queue in (("NotificationDeadLetterQueue", f"{name}-dlq"),
                           ("NotificationQueue", name)):
        props = rendered.props(logical)
        urls[logical] = sqs.create_queue(
            QueueName=queue, Attributes=_queue_attributes(props),
            tags={t["Key"]: t["Value"] for t in props.get("Tags", [])})["QueueUrl"]
    got = sqs.get_queue_attributes(QueueUrl=urls["NotificationQueue"],
                                   AttributeNames=["QueueArn", "RedrivePolicy"])["Attributes"]
    assert got["QueueArn"] == arn
    assert json.loads(got["RedrivePolicy"])["deadLetterTargetArn"] == f"{arn}-dlq"
    policy = rendered.props("NotificationQueuePolicy")["PolicyDocument"]
    sqs.set_queue_attributes(QueueUrl=urls["NotificationQueue"],
                             Attributes={"Policy": json.dumps(policy)})
    config = rendered.props("LogBucket")["NotificationConfiguration"]
    (rules,) = [c["Filter"]["S3Key"]["Rules"] for c in config["QueueConfigurations"]]
    assert {r["Name"]: r["Value"] for r in rules} == {"prefix": DATA_PREFIX,
                                                      "suffix": DATA_SUFFIX}
    s3.put_bucket_notification_configuration(
        Bucket=aws.bucket, NotificationConfiguration=_api_notification_configuration(config))
    return urls["NotificationQueue"], urls["NotificationDeadLetterQueue"]


# --- the consumer ------------------------------------------------------------------------------


def lines_of(data: bytes) -> list[bytes]:
    """Lines as a log tool splits them: at each ``\\n``, kept; a last line without one."""
    parts = data.split(b"\n")
    return [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


class Consumer:
    """An S3-input-over-SQS consumer (Elastic's aws-s3 input, Vector's aws_s3 source,
    Splunk's SQS-based S3 input): receive, skip the test event, decode the key, GET, gunzip,
    split lines, delete the message."""

    def __init__(self, aws: AwsWorld, queue_url: str) -> None:
        self.sqs = _client(aws, "sqs")
        self.s3 = aws.s3_client()
        self.queue_url = queue_url
        self.bucket = aws.bucket
        self.notified: Counter[str] = Counter()
        self.lines: dict[str, list[bytes]] = {}
        self.test_events = 0
        self.failure: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> int:
        """One short poll (``WaitTimeSeconds=0``); the number of messages handled."""
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=0).get("Messages", [])
        for message in messages:
            body = json.loads(message["Body"])
            if body.get("Event") == "s3:TestEvent":
                self.test_events += 1
            else:
                for record in body["Records"]:
                    self._consume(record)
            self.sqs.delete_message(QueueUrl=self.queue_url,
                                    ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def _consume(self, record: dict[str, Any]) -> None:
        assert record["eventSource"] == "aws:s3", record
        assert record["eventName"].startswith("ObjectCreated:"), record
        assert record["s3"]["bucket"]["name"] == self.bucket, record
        key = unquote_plus(record["s3"]["object"]["key"])
        self.notified[key] += 1
        got = self.s3.get_object(Bucket=self.bucket, Key=key)
        raw = got["Body"].read()
        # What the README tells consumers: gzip, said by the key and the magic bytes, with
        # Content-Type application/gzip and no Content-Encoding.
        assert key.endswith(".gz") and raw[:2] == b"\x1f\x8b", key
        assert got["ContentType"] == "application/gzip" and not got.get("ContentEncoding")
        self.lines[key] = lines_of(gzip.decompress(raw))

    # following the queue while the shipper runs

    def _follow(self) -> None:
        try:
            while not self._stop.is_set():
                if not self.poll():
                    self._stop.wait(0.05)
        except BaseException as exc:  # re-raised by stop()
            self.failure = exc

    def start(self) -> Consumer:
        self._thread = threading.Thread(target=self._follow, name="consumer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop following, then drain until the queue stays empty."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            assert not self._thread.is_alive(), "the consumer did not stop"
        if self.failure is not None:
            raise self.failure
        empty = 0
        while empty < 3:
            empty = 0 if self.poll() else empty + 1
        left = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        assert set(left["Attributes"].values()) == {"0"}, left


@pytest.fixture
def tap(aws_world: AwsWorld) -> Iterator[S3Tap]:
    """Every request the local S3 serves (successful PUTs per data key)."""
    tapped = S3Tap(aws_world.s3)  # LocalS3
    try:
        yield tapped
    finally:
        tapped.close()


@pytest.fixture
def consumer(aws_world: AwsWorld, tap: S3Tap) -> Iterator[tuple[Consumer, str]]:
    queue, dead_letters = notifications_as_rendered(aws_world)
    following = Consumer(aws_world, queue).start()
    try:
        yield following, dead_letters
    finally:
        following._stop.set()


# --- the world and the checks -------------------------------------------------------------------


def build_world(aws: AwsWorld, hours: float) -> None:
    for name, engine in INSTANCES.items():
        aws.world.add_instance(name, engine, bytes_per_hour=60_000)
    aws.world.advance(hours * HOUR)


def assert_consumed_exactly_once(aws: AwsWorld, consumer: Consumer, dead_letters: str,
                                 tap: S3Tap) -> OracleReport:
    while_running = sum(consumer.notified.values())
    consumer.stop()
    report = aws.verify()
    print(f"{sum(consumer.notified.values())} notifications ({while_running} consumed while "
          f"the shipper ran); {report.summary()}")
    report.assert_ok()
    assert report.long_line_pieces == 0  # every object ends at a line end: lines compare
    data_keys = aws.data_keys()
    assert len(data_keys) == report.objects > 0
    # Every data object notified once, nothing else notified, each key written once.
    twice = {k: n for k, n in consumer.notified.items() if n != 1}
    assert not twice, f"notified more than once: {twice}"
    assert sorted(consumer.notified) == sorted(data_keys)
    others = set(list_keys(aws, PREFIX)) - set(data_keys)
    assert any("/_state/" in k for k in others) and any("/_leases/" in k for k in others)
    assert not others & set(consumer.notified)
    written = {path.split(f"/{aws.bucket}/", 1)[1]: n for path, n in tap.data_writes().items()}
    assert written == dict.fromkeys(data_keys, 1)
    assert consumer.test_events == 1
    # What the consumer read is the ground truth: per matched generation, its objects' lines
    # in key order are the generation's lines (up to what the oracle found shipped).
    seen: list[str] = []
    for match in report.complete + report.held_back + report.partial:
        assert match.shipped is not None
        keys = [o.key for o in match.shipped.objects]  # in start-offset order
        assert keys == sorted(keys)  # and key order (one identifier, one day: <start:015d>)
        seen += keys
        consumed = [line for key in keys for line in consumer.lines[key]]
        truth = match.truth.read(0, match.shipped_bytes)
        assert consumed == lines_of(truth), match
    assert sorted(seen) == sorted(consumer.lines)
    dead = _client(aws, "sqs").get_queue_attributes(
        QueueUrl=dead_letters, AttributeNames=["ApproximateNumberOfMessages"])
    assert dead["Attributes"]["ApproximateNumberOfMessages"] == "0"
    return report


def assert_rotated(aws: AwsWorld) -> None:
    gens = aws.world.generations()
    assert any(len(g.names) > 1 for g in gens), "no file was renamed by a rotation"
    assert len(gens) > 3 * len(INSTANCES), "too few rotations"


# --- scenarios ---------------------------------------------------------------------------------


def test_each_object_is_notified_once_across_incremental_runs(
        aws_world: AwsWorld, consumer: tuple[Consumer, str], tap: S3Tap) -> None:
    following, dead_letters = consumer
    build_world(aws_world, 3)
    ok_run(aws_world)
    for minutes in (40, 75):  # mid-hour, then across a rotation
        aws_world.world.advance(minutes * 60)
        ok_run(aws_world)
    assert_rotated(aws_world)
    assert_consumed_exactly_once(aws_world, following, dead_letters, tap)


def test_a_crash_after_the_first_data_put_and_the_adoption_notify_once(
        aws_world: AwsWorld, consumer: tuple[Consumer, str], tap: S3Tap) -> None:
    following, dead_letters = consumer
    build_world(aws_world, 3)
    proc = spawn(aws_world, "doomed", "run", SHIPPER_LEASE_SECONDS="2",
                 SHIPPER_CONCURRENCY="1")
    kill = KillPoint("doomed", proc, signal.SIGKILL)  # right after its 1st data PUT landed
    tap.kills.append(kill)
    died = finish(proc, timeout=60)
    assert kill.fired and died.code == -signal.SIGKILL, died.describe()
    assert len(aws_world.data_keys()) == 1
    wait_leases_expired(aws_world)
    adopting = ok_run(aws_world)
    assert ADOPTED in adopting.messages(), adopting.describe()
    aws_world.world.advance(70 * 60)
    ok_run(aws_world)
    assert_rotated(aws_world)
    assert_consumed_exactly_once(aws_world, following, dead_letters, tap)


def test_lost_put_answers_notify_once(aws_world: AwsWorld, consumer: tuple[Consumer, str],
                                      tap: S3Tap) -> None:
    following, dead_letters = consumer
    build_world(aws_world, 3)
    faults = S3Faults(0.5, kinds=("data",), modes=("lost",), seed=27)
    for minutes in (0, 70):
        aws_world.world.advance(minutes * 60)
        res = run_inproc(aws_world, "run", s3_faults=faults)
        assert res.code == 0, res.describe()
    assert faults.injected.get("lost", 0) >= 3, faults.injected
    assert_rotated(aws_world)
    report = assert_consumed_exactly_once(aws_world, following, dead_letters, tap)
    assert report.objects > faults.injected["lost"]
