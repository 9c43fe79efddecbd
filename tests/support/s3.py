"""The one local S3: the simulator's ``LocalS3`` (moto behind a server that serialises
requests, so conditional writes are atomic), started once per test session."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any, Protocol

import pytest
from botocore.config import Config

from shipper.retry import Retrier
from shipper.s3store import S3Store
from shipper.simulator.s3server import LocalS3
from shipper.stats import RunStats


class S3Server(Protocol):
    """An S3 endpoint the tests run against: moto's (``LocalS3``) or SeaweedFS's
    (``tests.support.seaweed.SeaweedS3``)."""

    @property
    def endpoint_url(self) -> str: ...

    def client(self, **kwargs: Any) -> Any: ...


@pytest.fixture(scope="session")
def local_s3() -> Iterator[LocalS3]:
    with LocalS3() as s3:
        yield s3


def new_bucket(local_s3: S3Server, prefix: str = "t", region: str = "us-east-1") -> str:
    """A fresh bucket (moto's state lives as long as the session, so names never repeat)."""
    name = f"{prefix}-{uuid.uuid4().hex[:20]}"
    client = local_s3.client(region_name=region)
    if region == "us-east-1":
        client.create_bucket(Bucket=name)
    else:
        client.create_bucket(Bucket=name,
                             CreateBucketConfiguration={"LocationConstraint": region})
    return name


@pytest.fixture
def s3_client(local_s3: LocalS3) -> Any:
    """A client that does not retry: what a test does to S3 happens once."""
    return local_s3.client(config=Config(s3={"addressing_style": "path"},
                                         retries={"total_max_attempts": 1}))


@pytest.fixture
def bucket(local_s3: LocalS3) -> str:
    return new_bucket(local_s3, "unit")


def quick_retrier(max_attempts: int = 2) -> Retrier:
    """Few attempts, millisecond backoff: failures surface at once."""
    return Retrier(RunStats(), threading.Event(), None, max_attempts, base_seconds=0.001,
                   max_wait_seconds=0.01)


@pytest.fixture
def store(s3_client: Any, bucket: str) -> S3Store:
    return S3Store(s3_client, bucket, quick_retrier(), None)
