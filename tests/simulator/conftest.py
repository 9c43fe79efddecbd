"""Fixtures for the simulator's own tests: a boto3 client of the ``server`` (the world, its
faults and the server are shared: ``tests.support.simulator``)."""

from __future__ import annotations

from typing import Any

import pytest
from simhelpers import NO_RETRY

from shipper.simulator.server import SimulatorServer


@pytest.fixture
def rds(server: SimulatorServer) -> Any:
    return server.client(config=NO_RETRY)
