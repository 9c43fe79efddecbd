"""Throttling, injected failures, latency, hooks and stats."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from simhelpers import NO_RETRY

from shipper.simulator.faults import DROP, ApiError, Faults, RequestInfo
from shipper.simulator.server import SimulatorServer
from shipper.simulator.world import World


def describe(rds: Any) -> None:
    rds.describe_db_instances()


def test_throttle_over_http(faults: Faults, server: SimulatorServer, rds: Any) -> None:
    faults.set_throttle(5, 0.01)
    for _ in range(5):
        describe(rds)
    with pytest.raises(ClientError) as exc:
        describe(rds)
    err = exc.value.response
    assert err["Error"]["Code"] == "Throttling" and err["Error"]["Message"] == "Rate exceeded"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert server.stats.throttled == 1
    faults.set_throttle(None)
    describe(rds)


def test_token_bucket_refills_at_the_rate() -> None:
    clock = [100.0]
    faults = Faults(throttle_burst=3, throttle_rate=2.0, clock=lambda: clock[0])
    assert [faults.take_token() for _ in range(4)] == [True, True, True, False]
    clock[0] += 0.5
    assert [faults.take_token() for _ in range(2)] == [True, False]
    clock[0] += 60
    assert [faults.take_token() for _ in range(4)] == [True, True, True, False]  # capped
    faults.throttle_burst = 1  # a change at run time starts a fresh bucket
    assert [faults.take_token() for _ in range(2)] == [True, False]


def test_throttle_is_shared_by_all_clients_and_servers(world: World) -> None:
    faults = Faults(throttle_burst=10, throttle_rate=0.001)
    with SimulatorServer(world, faults) as a, SimulatorServer(world, faults) as b:
        clients = [a.client(config=NO_RETRY), b.client(config=NO_RETRY),
                   a.client(config=NO_RETRY)]
        outcomes: list[str] = []
        lock = threading.Lock()

        def hammer(client: Any) -> None:
            for _ in range(6):
                try:
                    describe(client)
                    result = "ok"
                except ClientError as err:
                    result = err.response["Error"]["Code"]
                with lock:
                    outcomes.append(result)

        threads = [threading.Thread(target=hammer, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert outcomes.count("ok") == 10 and outcomes.count("Throttling") == 8


def test_each_account_and_region_has_its_own_bucket() -> None:
    clock = [100.0]
    faults = Faults(throttle_burst=2, throttle_rate=1.0, clock=lambda: clock[0])
    assert [faults.take_token("111", "eu-west-1") for _ in range(3)] == [True, True, False]
    assert [faults.take_token("111", "us-east-1") for _ in range(3)] == [True, True, False]
    assert [faults.take_token("222", "eu-west-1") for _ in range(3)] == [True, True, False]
    clock[0] += 1.0
    assert [faults.take_token("111", "eu-west-1") for _ in range(2)] == [True, False]
    faults.reset_throttle()
    assert [faults.take_token("111", "eu-west-1") for _ in range(3)] == [True, True, False]


def test_servers_of_other_regions_and_accounts_do_not_share_a_bucket() -> None:
    faults = Faults(throttle_burst=2, throttle_rate=0.001)
    worlds = [World(), World(region="eu-west-1"), World(account_id="210987654321")]
    servers = [SimulatorServer(w, faults).start() for w in worlds]
    same = SimulatorServer(World(), faults).start()  # the first world's account and region
    try:
        for server in servers:
            rds = server.client(config=NO_RETRY)
            describe(rds)
            describe(rds)
        with pytest.raises(ClientError):
            describe(same.client(config=NO_RETRY))
        assert [s.stats.throttled for s in servers] == [0, 0, 0]
    finally:
        for server in (*servers, same):
            server.stop()


def test_realistic_defaults() -> None:
    real = Faults.realistic()
    assert (real.throttle_burst, real.throttle_rate) == (300, 12.0)
    assert (real.latency_ms, real.latency_ms_per_mb) == (20.0, 10.0)
    assert Faults().throttle_burst is None


def test_error_rate_gives_internal_failure(faults: Faults, server: SimulatorServer,
                                           rds: Any) -> None:
    faults.error_rate = 1.0
    with pytest.raises(ClientError) as exc:
        describe(rds)
    assert exc.value.response["Error"]["Code"] == "InternalFailure"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert server.stats.errors_injected == 1
    faults.fault_actions = frozenset({"DownloadDBLogFilePortion"})
    describe(rds)  # other actions are spared


def test_drop_rate_closes_the_connection(faults: Faults, server: SimulatorServer,
                                         rds: Any) -> None:
    faults.drop_rate = 1.0
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        describe(rds)
    assert server.stats.dropped == 1
    faults.drop_rate = 0.0
    describe(rds)  # the client recovers on a new connection


def test_latency(world: World, faults: Faults, rds: Any) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    pg.add_file("m.log", 1_000_000)
    faults.latency_ms = 100
    faults.latency_ms_per_mb = 200
    started = time.monotonic()
    describe(rds)
    small = time.monotonic() - started
    started = time.monotonic()
    rds.download_db_log_file_portion(DBInstanceIdentifier="pg", LogFileName="m.log", Marker="0")
    big = time.monotonic() - started
    assert 0.1 <= small < 0.6
    assert big >= 0.28


def test_hooks_see_requests_and_can_override(world: World, server: SimulatorServer,
                                            rds: Any) -> None:
    world.add_instance("pg", "postgres")
    seen: list[RequestInfo] = []
    remove = server.add_hook(seen.append)
    rds.describe_db_log_files(DBInstanceIdentifier="pg")
    assert seen[-1].action == "DescribeDBLogFiles" and seen[-1].instance == "pg"
    assert seen[-1].params["DBInstanceIdentifier"] == "pg"

    def refuse(info: RequestInfo) -> ApiError | None:
        if info.action == "DescribeDBLogFiles":
            return ApiError("AccessDenied", "not today", 403)
        return None

    server.add_hook(refuse)
    with pytest.raises(ClientError) as exc:
        rds.describe_db_log_files(DBInstanceIdentifier="pg")
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    describe(rds)
    server.clear_hooks()

    def raising(info: RequestInfo) -> None:
        raise ApiError("DBInstanceNotFound", "gone", 404)

    server.add_hook(raising)
    with pytest.raises(ClientError) as exc:
        describe(rds)
    assert exc.value.response["Error"]["Code"] == "DBInstanceNotFound"
    server.clear_hooks()
    server.add_hook(lambda info: DROP)
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        describe(rds)
    server.clear_hooks()
    count = len(seen)
    remove()
    describe(rds)
    assert len(seen) == count
    assert server.stats.hook_overrides == 3


def test_hook_can_delete_an_instance_mid_run(world: World, server: SimulatorServer,
                                             rds: Any) -> None:
    world.add_instance("pg", "postgres")

    def delete(info: RequestInfo) -> None:
        if info.action == "DownloadDBLogFilePortion" and info.instance == "pg":
            world.remove_instance("pg")

    server.add_hook(delete)
    with pytest.raises(ClientError) as exc:
        rds.download_db_log_file_portion(DBInstanceIdentifier="pg", Marker="0",
                                         LogFileName="error/postgresql.log.2026-11-20-00")
    assert exc.value.response["Error"]["Code"] == "DBInstanceNotFound"


def test_stats_count_and_reset(world: World, server: SimulatorServer, rds: Any) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    pg.add_file("a.log", b"12345\n")
    describe(rds)
    rds.download_db_log_file_portion(DBInstanceIdentifier="pg", LogFileName="a.log", Marker="0")
    with pytest.raises(ClientError):
        rds.describe_db_log_files(DBInstanceIdentifier="ghost")
    snap = server.stats.snapshot()
    assert snap["requests"] == {"DescribeDBInstances": 1, "DownloadDBLogFilePortion": 1,
                                "DescribeDBLogFiles": 1}
    assert snap["errors"] == {"DBInstanceNotFound": 1}
    assert server.stats.bytes_served == 6 == server.stats.portion_bytes
    assert server.stats.total_requests == 3
    server.stats.reset()
    assert server.stats.total_requests == 0 and server.stats.bytes_served == 0


def test_connections_are_kept_alive(server: SimulatorServer, rds: Any) -> None:
    for _ in range(10):
        describe(rds)
    assert server.stats.connections == 1
    assert server.stats.total_requests == 10


def test_faults_are_reproducible() -> None:
    a, b = Faults(seed=3), Faults(seed=3)
    assert [a.chance(0.5) for _ in range(50)] == [b.chance(0.5) for _ in range(50)]
    assert not Faults().chance(0.0)
