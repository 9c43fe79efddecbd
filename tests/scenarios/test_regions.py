"""One task over two regions (SHIPPER_REGIONS): each region its own simulator behind one
endpoint that routes by the request's SigV4 region, as AWS serves each region at its own.
Each (account, region) has worker pools of its own (issue 25); both archives must be exact."""

from __future__ import annotations

import pytest

from bench.router import PairRouter
from shipper.simulator.faults import Faults
from shipper.simulator.harness import simulated_environment
from shipper.simulator.oracle import verify
from shipper.simulator.server import SimulatorServer
from shipper.simulator.world import World
from tests.scenarios.helpers import HOUR, ok_run
from tests.support.s3 import LocalS3, new_bucket
from tests.support.world import PREFIX, TEST_SETTINGS, AwsWorld

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

REGIONS = ("us-east-1", "eu-west-1")
ENGINES = {"us-east-1": ("postgres", "mysql", "sqlserver-se"),
           "eu-west-1": ("oracle-ee", "mariadb", "aurora-postgresql")}


def _world(region: str, seed: int) -> World:
    world = World(seed=seed, region=region)
    for n, engine in enumerate(ENGINES[region]):
        ident = f"{region[:2]}-{n}-{engine}"
        world.add_instance(ident, engine, bytes_per_hour=150_000,
                           cluster=f"{ident}-c" if engine.startswith("aurora") else None)
    world.advance(2 * HOUR)
    return world


def test_two_regions_in_one_run_ship_both_archives_exactly(local_s3: LocalS3) -> None:
    worlds = {region: _world(region, seed) for seed, region in enumerate(REGIONS, 5)}
    faults = Faults()
    with SimulatorServer(worlds[REGIONS[0]], faults) as east, \
            SimulatorServer(worlds[REGIONS[1]], faults) as west, \
            PairRouter({(w.account_id, w.region): server for w, server in
                        ((worlds[REGIONS[0]], east), (worlds[REGIONS[1]], west))},
                       account_of=lambda _key: worlds[REGIONS[0]].account_id) as router:
        bucket = new_bucket(local_s3, "regions", REGIONS[0])
        env = {**simulated_environment(router.endpoint_url, local_s3.endpoint_url, bucket,
                                       REGIONS[0], TEST_SETTINGS),
               "SHIPPER_REGIONS": ",".join(REGIONS), "SHIPPER_CONCURRENCY": "2"}
        aws = AwsWorld(worlds[REGIONS[0]], east, local_s3, bucket, env)
        for number in range(3):
            if number:
                for world in worlds.values():
                    world.advance(HOUR / 2)
            run = ok_run(aws)
            assert run.summary["instances"] == sum(len(ENGINES[r]) for r in REGIONS)
        assert router.unrouted == 0
    for region, world in worlds.items():
        report = verify(aws.s3_client(), bucket, PREFIX, world,
                        instances=[i.identifier for i in world.instances()])
        report.assert_ok()
        assert report.objects > 0, region
