"""The shipper against a real S3 server, SeaweedFS (``tests.support.seaweed``), not moto's mock:
a fresh run, an incremental run, three runs at once, each checked byte for byte by the oracle;
and the S3 semantics the exactly-once protocol rests on (conditional writes, SSE-S3), asked of
SeaweedFS directly."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from shipper.exceptions import StateConflictError
from shipper.retry import error_code
from shipper.s3store import MISSING_CODES, PRECONDITION_CODES, S3Store
from tests.scenarios.helpers import ENGINES, HOUR, load_state, ok_run, runs_started_together
from tests.support.s3 import quick_retrier
from tests.support.seaweed import SeaweedS3
from tests.support.world import AwsWorld, fresh_aws

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it


@contextlib.contextmanager
def real_aws(seaweed_s3: SeaweedS3, seed: int = 1) -> Iterator[AwsWorld]:
    with fresh_aws(seaweed_s3, seed=seed) as aws:
        yield aws


def total_shipped(aws: AwsWorld, held_back: int) -> int:
    """Every byte of every generation but the unfinished last lines held back (shipper.lines)."""
    return sum(g.size for g in aws.world.generations()) - held_back


def test_fresh_then_incremental_runs(seaweed_s3: SeaweedS3) -> None:
    with real_aws(seaweed_s3) as aws:
        w = aws.world
        for i, engine in enumerate(("postgres", "mysql", "aurora-mysql", "oracle-ee")):
            options: dict[str, Any] = \
                {"audit_rotate_bytes": 40_000} if engine == "aurora-mysql" else {}
            w.add_instance(f"db{i}", engine, bytes_per_hour=120_000, **options)
        w.advance(2 * HOUR + 600)

        fresh = ok_run(aws)
        report = aws.verify()
        print("fresh", fresh.summary, report.summary())
        report.assert_ok()
        assert fresh.summary["objects_written"] == report.objects > 0
        assert fresh.summary["bytes_shipped"] == report.bytes == \
            total_shipped(aws, report.held_back_bytes) > 100_000
        # the shipper's PutObject asks for SSE-S3, and the server really applied it
        client = aws.s3_client()
        key = aws.data_keys()[0]
        assert client.head_object(Bucket=aws.bucket, Key=key)["ServerSideEncryption"] \
            == "AES256"
        keys_before = set(aws.data_keys())

        w.advance(HOUR + 900)  # new lines in the growing files, and rotations
        incremental = ok_run(aws)
        report = aws.verify()
        print("incremental", incremental.summary, report.summary())
        report.assert_ok()
        new_keys = set(aws.data_keys()) - keys_before
        assert incremental.summary["objects_written"] == len(new_keys) > 0
        assert fresh.summary["bytes_shipped"] + incremental.summary["bytes_shipped"] \
            == report.bytes == total_shipped(aws, report.held_back_bytes)


def test_three_concurrent_runs(seaweed_s3: SeaweedS3) -> None:
    """As tests/scenarios/test_concurrency.py: the runs split the instances through their
    leases (conditional PUTs on SeaweedFS), and nothing is shipped twice."""
    instances = 9
    with real_aws(seaweed_s3, seed=3) as aws:
        w = aws.world
        idents = [f"db{i:02d}" for i in range(instances)]
        for i, ident in enumerate(idents):
            w.add_instance(ident, ENGINES[i % len(ENGINES)], bytes_per_hour=100_000)
        w.advance(80 * 60)
        aws.sim.faults.latency_ms = 60
        run_ids = ["run-a", "run-b", "run-c"]
        results, skipped_by = runs_started_together(aws, run_ids, instances, timeout=180)
        for ident in idents:
            writer = load_state(aws, ident)["last_run_id"]
            assert writer in run_ids and ident not in skipped_by[writer], (ident, writer)
        assert sum(r.summary["objects_written"] for r in results) == len(aws.data_keys())
        report = aws.verify()
        report.assert_ok()
        assert sum(r.summary["bytes_shipped"] for r in results) == \
            total_shipped(aws, report.held_back_bytes)


def expect_error(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call()
    status = int(info.value.response["ResponseMetadata"]["HTTPStatusCode"])
    return error_code(info.value), status


def test_the_s3_semantics_the_protocol_rests_on(seaweed_s3: SeaweedS3) -> None:
    """Asked of SeaweedFS directly: a create-only PUT (If-None-Match: *) and a compare-and-swap
    PUT (If-Match) fail with 412 when their condition is false, and SSE-S3 works.

    One difference from AWS: If-Match on a key that does not exist answers 412
    PreconditionFailed on SeaweedFS where AWS answers 404 NoSuchKey. The shipper takes both for
    "the condition is false" (``S3Store.put_conditional`` raises ``StateConflictError``)."""
    client = seaweed_s3.client(config=Config(s3={"addressing_style": "path"},
                                             retries={"total_max_attempts": 1}))
    bucket = f"semantics-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)

    created = client.put_object(Bucket=bucket, Key="k", Body=b"one", IfNoneMatch="*",
                                ServerSideEncryption="AES256")
    assert created["ServerSideEncryption"] == "AES256"
    etag = created["ETag"]

    # If-None-Match * on an existing key
    code, status = expect_error(lambda: client.put_object(
        Bucket=bucket, Key="k", Body=b"two", IfNoneMatch="*"))
    assert (code, status) == ("PreconditionFailed", 412)
    # If-Match with an ETag that is not the object's
    code, status = expect_error(lambda: client.put_object(
        Bucket=bucket, Key="k", Body=b"two", IfMatch='"0123456789abcdef0123456789abcdef"'))
    assert (code, status) == ("PreconditionFailed", 412)
    # If-Match on a missing key: AWS answers 404 NoSuchKey, SeaweedFS 412 PreconditionFailed
    code, status = expect_error(lambda: client.put_object(
        Bucket=bucket, Key="missing", Body=b"two", IfMatch=etag))
    assert (code, status) in {("PreconditionFailed", 412), ("NoSuchKey", 404)}
    assert code in PRECONDITION_CODES | MISSING_CODES
    print("If-Match on a missing key:", status, code)
    # ... and none of the failed PUTs changed anything
    got = client.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"one" and got["ETag"] == etag
    assert got["ServerSideEncryption"] == "AES256"
    assert expect_error(lambda: client.head_object(Bucket=bucket, Key="missing"))[1] == 404

    # If-Match with the right ETag replaces the object, encrypted, under a new ETag
    swapped = client.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch=etag,
                                ServerSideEncryption="AES256")
    assert swapped["ETag"] != etag and swapped["ServerSideEncryption"] == "AES256"
    got = client.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"two" and got["ServerSideEncryption"] == "AES256"

    # The shipper's own conditional PUT (SSE-S3 included) reads every failed condition, the
    # 412 on a missing key too, as a conflict.
    store = S3Store(client, bucket, quick_retrier(), None)
    new_etag = store.put_conditional("state.json", b"{}", None)
    with pytest.raises(StateConflictError):
        store.put_conditional("state.json", b"{}", None)
    with pytest.raises(StateConflictError):
        store.put_conditional("state.json", b"{}", etag)
    with pytest.raises(StateConflictError):
        store.put_conditional("gone.json", b"{}", new_etag)
    assert store.put_conditional("state.json", b"{\"n\": 1}", new_etag) != new_etag
