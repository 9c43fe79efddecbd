"""Shared fixtures for the unit tests: an isolated ``shipper`` logger and a local S3 server."""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from shipper.retry import Retrier
from shipper.s3store import S3Store
from shipper.stats import RunStats


@pytest.fixture(autouse=True)
def _restore_shipper_logger() -> Iterator[None]:
    """``setup_logging`` (called by tests and by ``cli.main``) rewires the global logger."""
    logger = logging.getLogger("shipper")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class S3Server:
    """A local S3 endpoint: the simulator's ``LocalS3`` (requests serialised, so conditional
    writes are atomic) when it exists, else moto's ``ThreadedMotoServer``."""

    def __init__(self) -> None:
        self.serialised = False
        self._stop: Any = None
        try:
            from shipper.simulator.s3server import LocalS3
        except ImportError:
            from moto.server import ThreadedMotoServer

            port = _free_port()
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            server.start()
            self.endpoint_url = f"http://127.0.0.1:{port}"
            self._stop = server.stop
        else:
            local = LocalS3().start()
            self.endpoint_url = local.endpoint_url
            self.serialised = True
            self._stop = local.stop

    def client(self) -> Any:
        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
            config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
        )

    def stop(self) -> None:
        self._stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3_client(s3_server: S3Server) -> Any:
    return s3_server.client()


@pytest.fixture
def bucket(s3_client: Any) -> str:
    """A fresh bucket per test (moto's state is process-wide, so names must not repeat)."""
    name = f"unit-{uuid.uuid4().hex[:20]}"
    s3_client.create_bucket(Bucket=name)
    return name


def quick_retrier() -> Retrier:
    """Two attempts, millisecond backoff: failures surface at once."""
    return Retrier(RunStats(), threading.Event(), None, 2, base_seconds=0.001,
                   max_wait_seconds=0.01)


@pytest.fixture
def store(s3_client: Any, bucket: str) -> S3Store:
    return S3Store(s3_client, bucket, quick_retrier(), None)
