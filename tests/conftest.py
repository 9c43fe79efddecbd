"""Fixtures for every test, from ``tests.support``: ``local_s3`` (one local S3 per session),
``aws_world`` (a simulated RDS account and a fresh bucket per test), the unit tests' S3
``store``/``bucket``/``s3_client``, the simulator alone (``world``, ``faults``, ``server``;
``tests.support.simulator``), a real S3 server per session (``seaweed_s3``: SeaweedFS;
``tests.support.seaweed``), and fast retries for in-process runs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from shipper.retry import RetryTimings, set_timings
from tests.support.s3 import bucket, local_s3, s3_client, store
from tests.support.seaweed import seaweed_s3
from tests.support.simulator import faults, server, sim_seed, world
from tests.support.world import aws_world

__all__ = ["aws_world", "bucket", "faults", "local_s3", "s3_client", "seaweed_s3", "server",
           "sim_seed", "store", "world"]

@pytest.fixture(autouse=True)
def _restore_shipper_logger() -> Iterator[None]:
    """In-process runs call ``setup_logging``, which rewires the global ``shipper`` logger."""
    logger = logging.getLogger("shipper")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


@pytest.fixture
def fast_retries() -> Iterator[RetryTimings]:
    """Retries (API calls and broken REST streams) that wait milliseconds, for this test."""
    fast = RetryTimings(base_seconds=0.001, max_wait_seconds=0.01, stream_base_seconds=0.001,
                        stream_max_wait_seconds=0.01)
    previous = set_timings(fast)
    yield fast
    set_timings(previous)
