"""The REST downloadCompleteLogFile endpoint with real SigV4-signed requests."""

from __future__ import annotations

import http.client
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from simhelpers import rest_get, rest_url

from shipper.simulator.faults import Faults
from shipper.simulator.server import SimulatorServer
from shipper.simulator.world import World


def code_of(body: bytes) -> str:
    return body.split(b"<Code>")[1].split(b"</Code>")[0].decode()


@pytest.mark.parametrize("version", ["v13", "v19"])
def test_signed_download_returns_raw_bytes(world: World, server: SimulatorServer,
                                           version: str) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=500_000, gz_archives=1)
    world.add_instance("ss", "sqlserver-se", bytes_per_hour=500_000)
    world.advance(3600)
    for ident, inst in (("pg", pg), ("ss", world.instance("ss"))):
        for name, rec in inst.files().items():
            resp = rest_get(server, ident, name, version)
            assert resp.status == 200, (name, resp.body[:200])
            assert resp.body == rec.read(), name  # .gz and .trc: the stored bytes
            assert resp.headers["Content-Type"] == "application/octet-stream"
            assert int(resp.headers["Content-Length"]) == rec.size
    assert server.stats.rest_downloads >= 5
    assert server.stats.requests["DownloadCompleteLogFile"] >= 5


HOSTILE = ["error/../../etc/passwd", "/abs/path", "with spaces", "ctl\x01\x02\t\n\r.log",
           "x" * 300, "ünïcødé/日本語.log", "100%+plus&amp;?.log"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names(world: World, server: SimulatorServer, name: str) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    pg.add_file(name, name.encode() + b"\n")
    resp = rest_get(server, "pg", name)
    assert resp.status == 200 and resp.body == name.encode() + b"\n"


def test_literal_slashes_in_the_path(world: World, server: SimulatorServer) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    pg.add_file("error/postgresql.log.x", b"slash\n")
    resp = rest_get(server, "pg", "error/postgresql.log.x", safe="/")
    assert resp.status == 200 and resp.body == b"slash\n"


def test_authentication_is_required(world: World, server: SimulatorServer) -> None:
    world.add_instance("pg", "postgres")
    name = "error/postgresql.log.2026-11-20-00"
    unsigned = rest_get(server, "pg", name, sign=False)
    assert unsigned.status == 403 and code_of(unsigned.body) == "MissingAuthenticationToken"
    wrong_service = rest_get(server, "pg", name, service="s3")
    assert wrong_service.status == 403 and code_of(wrong_service.body) == "IncompleteSignature"
    url = rest_url(server, "pg", name)
    req = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("a", "b"), "rds", "us-east-1").add_auth(req)
    headers = {k: v for k, v in req.headers.items() if k.lower() != "x-amz-date"}
    try:
        urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5)
        raise AssertionError("expected 403")
    except urllib.error.HTTPError as err:
        assert err.code == 403


def test_versions_are_configurable(world: World, faults: Faults,
                                   server: SimulatorServer) -> None:
    world.add_instance("pg", "postgres")
    name = "error/postgresql.log.2026-11-20-00"
    refused = rest_get(server, "pg", name, "v20")
    assert refused.status == 404 and code_of(refused.body) == "UnknownOperationException"
    faults.rest_versions = frozenset({"v19"})
    assert rest_get(server, "pg", name, "v13").status == 404
    assert rest_get(server, "pg", name, "v19").status == 200


def test_unknown_instance_and_file(world: World, server: SimulatorServer) -> None:
    world.add_instance("pg", "postgres")
    world.add_instance("off", "postgres", status="stopped")
    ghost = rest_get(server, "ghost", "x")
    assert ghost.status == 404 and code_of(ghost.body) == "DBInstanceNotFound"
    nofile = rest_get(server, "pg", "nope.log")
    assert nofile.status == 404 and code_of(nofile.body) == "DBLogFileNotFoundFault"
    stopped = rest_get(server, "off", "error/postgresql.log.2026-11-20-00")
    assert stopped.status == 400 and code_of(stopped.body) == "InvalidDBInstanceState"


def test_throttled_rest_answers_429(world: World, faults: Faults,
                                   server: SimulatorServer) -> None:
    world.add_instance("pg", "postgres")
    faults.set_throttle(1, 0.001)
    name = "error/postgresql.log.2026-11-20-00"
    assert rest_get(server, "pg", name).status == 200
    resp = rest_get(server, "pg", name)
    assert resp.status == 429 and code_of(resp.body) == "Throttling"


def test_drop_mid_stream_cuts_the_body(world: World, faults: Faults,
                                       server: SimulatorServer) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    pg.add_file("big.log", 3_000_000)
    faults.drop_mid_stream_rate = 1.0
    url = rest_url(server, "pg", "big.log")
    req = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("a", "b"), "rds", "us-east-1").add_auth(req)
    with urllib.request.urlopen(urllib.request.Request(url, headers=dict(req.headers)),
                                timeout=10) as resp:
        assert resp.status == 200
        with pytest.raises(http.client.IncompleteRead) as exc:
            resp.read()
    assert len(exc.value.partial) < 3_000_000
    assert exc.value.partial == pg.file("big.log").read(0, len(exc.value.partial))
    assert server.stats.dropped == 1 and server.stats.snapshot()["cut_streams"] == 1


def test_download_while_the_file_grows_is_a_consistent_prefix(
        world: World, server: SimulatorServer) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=30_000_000)
    world.advance(600)
    name = "error/postgresql.log.2026-11-20-00"
    before = pg.file(name).size
    url = rest_url(server, "pg", name)
    req = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("a", "b"), "rds", "us-east-1").add_auth(req)
    with urllib.request.urlopen(urllib.request.Request(url, headers=dict(req.headers)),
                                timeout=10) as resp:
        head = resp.read(1000)
        world.advance(60)  # the file grows while the body streams
        body = head + resp.read()
    assert len(body) == before
    assert body == pg.file(name).read(0, before)
    assert pg.file(name).size > before
