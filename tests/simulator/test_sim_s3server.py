"""LocalS3: moto over HTTP with atomic conditional writes and request counts."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from shipper.simulator.s3server import LocalS3


@pytest.fixture(scope="module")
def local() -> Iterator[LocalS3]:
    with LocalS3() as s3:
        yield s3


def test_conditional_create_is_atomic_across_threads(local: LocalS3) -> None:
    bucket = f"cond-{uuid.uuid4().hex[:10]}"
    local.create_bucket(bucket)
    results: list[str] = []
    lock = threading.Lock()

    def writer(i: int) -> None:
        client = local.client()
        try:
            client.put_object(Bucket=bucket, Key="lease.json", Body=f"{i}".encode(),
                              IfNoneMatch="*")
            outcome = "ok"
        except ClientError as err:
            outcome = err.response["Error"]["Code"]
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1
    assert set(results) - {"ok"} <= {"PreconditionFailed", "ConditionalRequestConflict"}


def test_if_match_and_stats(local: LocalS3) -> None:
    bucket = f"stats-{uuid.uuid4().hex[:10]}"
    local.create_bucket(bucket)
    client = local.client()
    local.stats.reset()
    etag = client.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    client.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch=etag)
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=bucket, Key="k", Body=b"three", IfMatch=etag)
    assert exc.value.response["Error"]["Code"] == "PreconditionFailed"
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    client.head_object(Bucket=bucket, Key="k")
    assert local.stats.puts == 3 and local.stats.gets == 1 and local.stats.heads == 1
    assert local.stats.bytes_in >= 11
    assert local.endpoint_url.startswith("http://127.0.0.1:")
    assert local.env() == {"AWS_ENDPOINT_URL_S3": local.endpoint_url}
