"""Fixtures for the simulator's own tests: a world, its server and a boto3 client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from simhelpers import NO_RETRY

from shipper.simulator.faults import Faults
from shipper.simulator.server import SimulatorServer
from shipper.simulator.world import World


@pytest.fixture
def world() -> World:
    return World(seed=7)


@pytest.fixture
def faults() -> Faults:
    return Faults(seed=7)


@pytest.fixture
def server(world: World, faults: Faults) -> Iterator[SimulatorServer]:
    with SimulatorServer(world, faults) as srv:
        yield srv
        assert srv.stats.internal_errors == 0, srv.last_exception


@pytest.fixture
def rds(server: SimulatorServer) -> Any:
    return server.client(config=NO_RETRY)
