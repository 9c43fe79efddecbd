"""``RdsApi`` against the simulator over HTTP: the binary-data refusal, REST path versions, the
engines without log files and the Oracle listing limit."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shipper import cut_listing
from shipper.exceptions import AwsAccessError, BinaryLogDataError, ShipperError
from shipper.rdsapi import EMPTY_PAGE_ASKS, RdsApi, serves_log_files
from shipper.retry import Retrier
from shipper.simulator.faults import AMBIGUITIES, BINARY_MESSAGE, Faults, RequestInfo
from shipper.simulator.server import SimulatorServer
from shipper.simulator.world import World
from shipper.stats import RunStats

PG_FILE = "error/postgresql.log.2026-11-20-00"


@pytest.fixture
def sim_seed() -> int:
    return 3


def make_api(server: SimulatorServer, versions: tuple[str, ...] = ("v19", "v13")) -> RdsApi:
    retrier = Retrier(RunStats(), threading.Event(), None, 2, base_seconds=0.001,
                      max_wait_seconds=0.01)
    return RdsApi(server.client(), "us-east-1", retrier, versions, lambda **_: None)


def rest_versions_seen(server: SimulatorServer) -> tuple[list[str | None], Any]:
    seen: list[str | None] = []

    def hook(info: RequestInfo) -> None:
        if info.action == "DownloadCompleteLogFile":
            seen.append(info.rest_version)

    return seen, server.add_hook(hook)


def binary_file(world: World) -> None:
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    pg.add_file("bin.trc", b"text line\n\x00\xff\xfe raw\n")


def test_binary_refusal_is_a_specific_error(world: World, faults: Faults,
                                            server: SimulatorServer) -> None:
    binary_file(world)
    faults.binary_as_error = True
    with pytest.raises(BinaryLogDataError) as exc:
        make_api(server).portion("pg", "bin.trc", "0")
    assert "bin.trc" in exc.value.one_line()
    assert exc.value.__cause__ is not None  # the ClientError is kept
    assert server.stats.errors == {"InvalidParameterValue": 1}


def test_other_invalid_parameter_values_are_not_binary(world: World,
                                                       server: SimulatorServer) -> None:
    world.add_instance("pg", "postgres", bytes_per_hour=0)
    with pytest.raises(ClientError) as exc:
        make_api(server).portion("pg", PG_FILE, "not-a-marker")
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert not isinstance(exc.value, BinaryLogDataError)


def test_binary_placeholder_page_stays_page_data(world: World, faults: Faults,
                                                 server: SimulatorServer) -> None:
    faults.binary_as_error = False  # the old guess: the placeholder comes back as page text
    binary_file(world)
    page = make_api(server).portion("pg", "bin.trc", "0")
    assert page.data == BINARY_MESSAGE


def test_v19_is_tried_first_and_serves(world: World, server: SimulatorServer) -> None:
    world.add_instance("pg", "postgres", bytes_per_hour=1000)
    world.advance(600)
    seen, _ = rest_versions_seen(server)
    resp = make_api(server, ("v19", "v13")).open_complete("pg", PG_FILE)
    try:
        assert resp.read() == world.instance("pg").file(PG_FILE).read()
    finally:
        resp.release_conn()
    assert seen == ["v19"]


@pytest.mark.parametrize("answer", ["unknown-operation-404", "forbidden-403", "bad-request-400"])
def test_a_refused_version_moves_on_to_the_next(world: World, faults: Faults,
                                                server: SimulatorServer, answer: str) -> None:
    """Whatever a retired path answers (an ambiguity), the next version is tried, and the one
    that served stays first for the rest of the run."""
    world.add_instance("pg", "postgres", bytes_per_hour=1000)
    world.advance(600)
    faults.rest_versions = frozenset({"v13"})
    faults.retired_rest_answer = answer
    seen, _ = rest_versions_seen(server)
    api = make_api(server, ("v19", "v13"))
    for _ in range(2):
        resp = api.open_complete("pg", PG_FILE)
        resp.read()
        resp.release_conn()
    assert seen == ["v19", "v13", "v13"]


def test_every_version_refused_fails_with_a_hint(world: World, faults: Faults,
                                                 server: SimulatorServer) -> None:
    world.add_instance("pg", "postgres")
    faults.rest_versions = frozenset({"v20"})
    faults.retired_rest_answer = "forbidden-403"
    with pytest.raises(ShipperError) as exc:
        make_api(server).open_complete("pg", PG_FILE)
    text = exc.value.one_line()
    assert "v19: HTTP 403" in text and "v13: HTTP 403" in text
    assert "SHIPPER_COMPLETE_FILE_VERSIONS" in text
    assert not isinstance(exc.value, AwsAccessError)


def test_access_denied_is_still_fatal_at_once(world: World, server: SimulatorServer) -> None:
    from shipper.simulator.faults import ApiError

    world.add_instance("pg", "postgres")
    seen, _ = rest_versions_seen(server)

    def deny(info: RequestInfo) -> ApiError | None:
        if info.action == "DownloadCompleteLogFile":
            return ApiError("AccessDenied", "not allowed", 403)
        return None

    server.add_hook(deny)
    with pytest.raises(AwsAccessError):
        make_api(server).open_complete("pg", PG_FILE)
    assert seen == ["v19"]  # a known refusal: no other version is tried


@pytest.mark.parametrize("engine,serves", [
    ("postgres", True), ("oracle-ee", True), ("sqlserver-ex", True), ("db2-se", True),
    ("docdb", False), ("neptune", False), ("custom-oracle-ee", False),
    ("custom-sqlserver-web", False), ("DocDB", False),
])
def test_engines_without_log_files(engine: str, serves: bool) -> None:
    assert serves_log_files(engine) is serves


@pytest.mark.slow  # some 400 filtered listings of 1,100 files over HTTP
def test_a_listing_cut_at_1000_records_is_completed_by_name_filters(
        world: World, faults: Faults, server: SimulatorServer,
        caplog: pytest.LogCaptureFixture) -> None:
    ora = world.add_instance("ora", "oracle-ee", bytes_per_hour=0, traces_per_hour=0)
    for i in range(1100):
        ora.add_file(f"trace/ORCL_ora_{i:05d}.trc", b"t\n")
    everything = set(ora.files())
    for variant in AMBIGUITIES["oracle_listing_marker"].variants:
        faults.oracle_listing_marker = variant
        with caplog.at_level(logging.WARNING, logger="shipper"):
            files = make_api(server).log_files("ora")
        assert {f.name for f in files} == everything and files.complete, variant
        assert not caplog.records
        caplog.clear()


def test_a_listing_filters_cannot_complete_is_reported_and_counted(
        world: World, faults: Faults, server: SimulatorServer,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    ora = world.add_instance("ora", "oracle-ee", bytes_per_hour=0, traces_per_hour=0)
    for i in range(1100):
        ora.add_file(f"trace/ORCL_ora_{i:05d}.trc", b"t\n")
    faults.oracle_listing_marker = "none"
    monkeypatch.setattr(cut_listing, "MAX_QUERIES", 5)
    counted: list[dict[str, int]] = []
    api = make_api(server)
    api._stats_add = lambda **kw: counted.append(kw)
    with caplog.at_level(logging.WARNING, logger="shipper"):
        files = api.log_files("ora")
    assert not files.complete and len(files) >= 1000
    assert {"incomplete_listings": 1} in counted
    assert any("could not be completed" in r.getMessage() for r in caplog.records)


def mysql_listed_in_pages_of_20(world: World, faults: Faults,
                                server: SimulatorServer) -> set[str]:
    world.add_instance("my", "mysql", bytes_per_hour=10_000)
    world.advance(30 * 3600)
    faults.log_files_max_records = "20"
    everything = {f.name for f in make_api(server).log_files("my")}
    assert len(everything) > 40, "the listing must run to several pages"
    return everything


def empty_continuation_pages(server: SimulatorServer, faults: Faults, times: int) -> list[int]:
    """The next ``times`` listing pages asked for with a Marker come back empty."""
    emptied: list[int] = []

    def hook(info: RequestInfo) -> None:
        empty = info.action == "DescribeDBLogFiles" and "Marker" in info.params \
            and len(emptied) < times
        faults.empty_listing_rate = 1.0 if empty else 0.0
        if empty:
            emptied.append(info.number)

    server.add_hook(hook)
    return emptied


def test_an_empty_page_in_the_middle_of_a_listing_is_asked_again(
        world: World, faults: Faults, server: SimulatorServer) -> None:
    """DescribeDBLogFiles is sometimes empty for a moment (FIDELITY.md row 13); a page after
    a Marker that comes back so, believed, ends the listing early."""
    everything = mysql_listed_in_pages_of_20(world, faults, server)
    emptied = empty_continuation_pages(server, faults, 2)  # one page, asked twice
    files = make_api(server).log_files("my")
    assert len(emptied) == 2
    assert {f.name for f in files} == everything and files.complete
    family = make_api(server).log_files_like("my", "general/")
    assert {f.name for f in family} == {n for n in everything if "general/" in n}


def test_a_listing_that_ends_on_an_empty_page_is_not_complete(
        world: World, faults: Faults, server: SimulatorServer,
        caplog: pytest.LogCaptureFixture) -> None:
    """Found by the property suite at 10x: the page after ``general/mysql-general.log`` came
    back empty, and the family, seen by its running log alone, was reported broken. Whether
    files follow such a page cannot be known: no file may be concluded gone by the listing."""
    everything = mysql_listed_in_pages_of_20(world, faults, server)
    empty_continuation_pages(server, faults, EMPTY_PAGE_ASKS)
    counted: list[dict[str, int]] = []
    api = make_api(server)
    api._stats_add = lambda **kw: counted.append(kw)
    with caplog.at_level(logging.WARNING, logger="shipper"):
        files = api.log_files("my")
    assert not files.complete and len(files) == 20 and {f.name for f in files} < everything
    assert {"incomplete_listings": 1} in counted
    assert any("came back empty" in r.getMessage() for r in caplog.records)
    empty_continuation_pages(server, faults, EMPTY_PAGE_ASKS)
    assert not make_api(server).log_files_like("my", "/").complete


@pytest.mark.parametrize(("status", "code", "throttled"), [
    (429, None, True), (400, "Throttling", True), (400, "RequestLimitExceeded", True),
    (503, "SlowDown", True), (500, None, False), (400, "RequestTimeout", False),
])
def test_rest_answers_worth_retrying_are_judged_by_the_one_retry_policy(
        status: int, code: str | None, throttled: bool) -> None:
    """The REST download judges throttling and transient codes by ``shipper.retry``'s sets,
    not a second list of its own (issue 29: RequestLimitExceeded was a hard failure here)."""
    from shipper.rdsapi import _raise_known_rest_error
    from shipper.retry import TransientHttpError

    with pytest.raises(TransientHttpError) as caught:
        _raise_known_rest_error(status, code, "db1")
    assert caught.value.throttled is throttled


def test_a_rest_refusal_of_unknown_meaning_is_left_to_the_caller() -> None:
    from shipper.rdsapi import _raise_known_rest_error

    assert _raise_known_rest_error(400, "SomethingElse", "db1") is None  # type: ignore[func-returns-value]
