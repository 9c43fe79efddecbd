"""The simulator over HTTP for tests that talk to it directly (``tests/simulator``, the
``RdsApi`` unit tests): a ``world``, its ``faults`` and its ``server``, seeded by ``sim_seed``
(override it in a module for another world)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipper.simulator.faults import Faults
from shipper.simulator.server import SimulatorServer
from shipper.simulator.world import World


@pytest.fixture
def sim_seed() -> int:
    return 7


@pytest.fixture
def world(sim_seed: int) -> World:
    return World(seed=sim_seed)


@pytest.fixture
def faults(sim_seed: int) -> Faults:
    return Faults(seed=sim_seed)


@pytest.fixture
def server(world: World, faults: Faults) -> Iterator[SimulatorServer]:
    """The simulator, checked at teardown to have raised no internal error."""
    with SimulatorServer(world, faults) as srv:
        yield srv
        assert srv.stats.internal_errors == 0, srv.last_exception
