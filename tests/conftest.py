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

# Whole modules left out of the fast tier (`make test-fast`, -m "not slow"): end-to-end runs
# against the simulator, child processes, wheel builds and stack deployments. Single slow
# tests elsewhere carry @pytest.mark.slow themselves. CI runs everything.
SLOW_MODULES = frozenset({
    "tests/infra/test_deploy_safety.py",
    "tests/infra/test_failure_alerts.py",
    "tests/infra/test_image_install.py",
    "tests/infra/test_lint.py",
    "tests/infra/test_moto_deploy.py",
    "tests/infra/test_task_role_from_run.py",
    "tests/reliability/test_gaps.py",
    "tests/reliability/test_least_privilege.py",
    "tests/reliability/test_no_leaks.py",
    "tests/reliability/test_regressions.py",
    "tests/reliability/test_schedules.py",
    "tests/scenarios/test_bad_input.py",
    "tests/scenarios/test_concurrency.py",
    "tests/scenarios/test_crash.py",
    "tests/scenarios/test_faults.py",
    "tests/scenarios/test_fresh_and_idle.py",
    "tests/scenarios/test_identity.py",
    "tests/scenarios/test_large_file.py",
    "tests/scenarios/test_notifications.py",
    "tests/scenarios/test_quirks.py",
    "tests/scenarios/test_real_s3.py",
    "tests/scenarios/test_request_counts.py",
    "tests/scenarios/test_rotation.py",
    "tests/scenarios/test_signals.py",
})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A renamed or moved module would otherwise drop silently into the fast tier.
    missing = sorted(m for m in SLOW_MODULES if not (config.rootpath / m).is_file())
    if missing:
        raise pytest.UsageError(f"tests/conftest.py SLOW_MODULES names no such file: {missing}")
    for item in items:
        if item.nodeid.split("::", 1)[0] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


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
