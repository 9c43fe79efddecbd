"""Per-instance state: JSON round trip, corruption detection, range-check bookkeeping."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from shipper.exceptions import StateCorruptError
from shipper.exitcodes import ExitCode
from shipper.gaps import LostBytes, OtherGap, SuspectedBreak
from shipper.state import (
    MAX_CHECKS,
    SCHEMA_VERSION,
    Generation,
    InstanceState,
    RangeCheck,
    Sighting,
    new_generation_id,
)

WHERE = "rds-logs/_state/account=1/region=eu-west-1/instance=db-1.json"


def digest(tag: str) -> str:
    return hashlib.sha256(tag.encode()).hexdigest()


def check(start: int, end: int) -> RangeCheck:
    return RangeCheck(start, end, digest(f"{start}-{end}"))


def sample_state() -> InstanceState:
    active = Generation(
        gen_id="a" * 20, name="error/postgresql.log.2024-01-02-03",
        first_name="error/postgresql.log.2024-01-02-03", first_seen_ms=1704164400000,
        offset=5000, seen_size=6000, seen_last_written_ms=1704168000000, active=True,
        marker="3:5000",
        marker_name="error/postgresql.log.2024-01-02-03",
        checks=[check(0, 4096), check(0, 5000)],
    )
    gone = Generation(
        gen_id="b" * 20, name="log/ERROR.2", first_name="log/ERROR", first_seen_ms=1,
        offset=10, seen_size=10, seen_last_written_ms=2, missing_since_ms=1704168000000,
        checks=[check(0, 10)],
    )
    return InstanceState(
        instance="db-1", region="eu-west-1", account="123456789012",
        generations={active.gen_id: active, gone.gen_id: gone},
        gaps=[OtherGap({"generation": "b" * 20, "start": 3, "end": 9, "reason": "rotated away"}),
              LostBytes("b" * 20, "log/ERROR.2", 7, 1704168000000),
              SuspectedBreak("error/postgresql.log", 1704164400000, 1704168000000)],
        last_run_id="run-1", last_run_at=1704168000.5, last_run_clean=False, revision=7,
    )


def sample_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(sample_state().to_bytes())
    return doc


def corrupt(data: bytes) -> StateCorruptError:
    with pytest.raises(StateCorruptError) as info:
        InstanceState.from_bytes(data, WHERE)
    return info.value


# --- round trip -----------------------------------------------------------------------------


def test_state_round_trips_through_json() -> None:
    state = sample_state()
    assert InstanceState.from_bytes(state.to_bytes(), WHERE) == state


def test_empty_state_round_trips() -> None:
    state = InstanceState("db-1", "eu-west-1", "123456789012")
    back = InstanceState.from_bytes(state.to_bytes(), WHERE)
    assert back == state and back.generations == {} and back.last_run_clean


def test_serialisation_is_deterministic_and_versioned() -> None:
    state = sample_state()
    reordered = sample_state()
    reordered.generations = dict(reversed(list(reordered.generations.items())))
    assert state.to_bytes() == reordered.to_bytes()
    assert json.loads(state.to_bytes())["schema"] == SCHEMA_VERSION


def test_only_the_last_100_gaps_are_kept() -> None:
    state = sample_state()
    state.gaps = [OtherGap({"n": i}) for i in range(150)]
    back = InstanceState.from_bytes(state.to_bytes(), WHERE)
    assert back.gaps == [OtherGap({"n": i}) for i in range(50, 150)]


# A state object as the shipper wrote it before gaps were typed records (bytes as stored):
# it must load, and write back byte for byte.
STORED_BEFORE_TYPED_GAPS = (
    b'{"account":"123456789012","gaps":[{"at_ms":1704168000000,"bytes":7,'
    b'"file":"log/ERROR.2","generation":"bbbbbbbbbbbbbbbbbbbb"},{"after_ms":1704164400000,'
    b'"at_ms":1704168000000,"family":"error/postgresql.log","kind":"unseen"},'
    b'{"at_ms":1,"bytes":true,"file":"x","generation":"y"},{"n":1}],"generations":'
    b'{"bbbbbbbbbbbbbbbbbbbb":{"active":false,"checks":[[0,10,"' + b"c" * 64 + b'"]],'
    b'"first_name":"log/ERROR","first_seen_ms":1,"gen_id":"bbbbbbbbbbbbbbbbbbbb",'
    b'"header_only":false,"marker":null,"marker_name":null,"max_listed":12,'
    b'"missing_since_ms":1704168000000,"name":"log/ERROR.2","offset":10,"seen_lw":2,'
    b'"seen_size":10}},"instance":"db-1","last_run_at":1704168000.5,"last_run_clean":false,'
    b'"last_run_id":"run-1","pending_breaks":{"trace/alert_ORCL.log":["bbbbbbbbbbbbbbbbbbbb"]},'
    b'"region":"eu-west-1","revision":7,"schema":1}'
)


def test_a_stored_state_loads_and_writes_back_byte_for_byte() -> None:
    """Schema 1 loads; it writes back as schema 2, whose only addition is where the objects
    written so far are: under the day each generation was first seen."""
    state = InstanceState.from_bytes(STORED_BEFORE_TYPED_GAPS, WHERE)
    lost, suspected, odd, unknown = state.gaps
    assert lost == LostBytes("b" * 20, "log/ERROR.2", 7, 1704168000000)
    assert suspected == SuspectedBreak("error/postgresql.log", 1704164400000, 1704168000000)
    assert isinstance(odd, OtherGap) and isinstance(unknown, OtherGap)  # not our forms
    assert [g.bytes_lost for g in state.gaps] == [7, 0, 1, 0]
    assert state.generations["b" * 20].dt_days == ["1970-01-01"]
    assert state.to_bytes() == STORED_BEFORE_TYPED_GAPS.replace(
        b'"schema":1', b'"schema":2').replace(b']],"first_name"',
                                              b']],"dt_days":["1970-01-01"],"first_name"'
                                              ).replace(b'"offset":10,',
                                                        b'"offset":10,"read_end":0,')


def test_by_name_and_live_index_generations() -> None:
    state = sample_state()
    assert set(state.by_name()) == {"error/postgresql.log.2024-01-02-03", "log/ERROR.2"}
    assert [g.gen_id for g in state.live()] == ["a" * 20]


def test_pending_breaks_round_trip_and_default_to_none() -> None:
    state = sample_state()
    state.pending_breaks = {"slowquery/mysql-slowquery.log": ["b" * 20, "a" * 20, "a" * 20],
                            "error/postgresql.log": []}
    back = InstanceState.from_bytes(state.to_bytes(), WHERE)
    assert back.pending_breaks == {"slowquery/mysql-slowquery.log": ["a" * 20, "b" * 20]}
    doc = sample_doc()
    doc.pop("pending_breaks")  # written before the field existed
    assert InstanceState.from_bytes(json.dumps(doc).encode(), WHERE).pending_breaks == {}


def test_new_generation_ids_are_random_20_hex() -> None:
    ids = {new_generation_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[0-9a-f]{20}", i) for i in ids)


# --- corruption -----------------------------------------------------------------------------


def mutate(change: Callable[[dict[str, Any]], None]) -> bytes:
    doc = sample_doc()
    change(doc)
    return json.dumps(doc).encode()


def first_gen(doc: dict[str, Any]) -> dict[str, Any]:
    gen: dict[str, Any] = doc["generations"]["a" * 20]
    return gen


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = first_gen(doc) if path.startswith("gen.") else doc
        target[path.removeprefix("gen.")] = value

    return change


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.pop(key)


CORRUPT: dict[str, bytes] = {
    "not json": b"{this is not json",
    "truncated": sample_state().to_bytes()[:-7],
    "truncated mid utf-8": "{\"instance\": \"db-é".encode()[:-1],
    "binary": b"\xff\xfe\x00\x01",
    "empty": b"",
    "json list": b"[]",
    "json null": b"null",
    "json string": b'"state"',
    "schema missing": mutate(_drop("schema")),
    "schema as string": mutate(_set("schema", "1")),
    "schema zero": mutate(_set("schema", 0)),
    "generations missing": mutate(_drop("generations")),
    "instance missing": mutate(_drop("instance")),
    "generations a list": mutate(_set("generations", [1, 2])),
    "generations a number": mutate(_set("generations", 5)),
    "unknown generation field": mutate(_set("gen.colour", "red")),
    "generation field missing": mutate(lambda d: first_gen(d).pop("first_name")),
    "negative offset": mutate(_set("gen.offset", -1)),
    "negative seen size": mutate(_set("gen.seen_size", -5)),
    "offset a string": mutate(_set("gen.offset", "10")),
    "offset null": mutate(_set("gen.offset", None)),
    "name a number": mutate(_set("gen.name", 5)),
    "check start after end": mutate(_set("gen.checks", [[10, 5, "a" * 64]])),
    "check negative start": mutate(_set("gen.checks", [[-1, 5, "a" * 64]])),
    "check short digest": mutate(_set("gen.checks", [[0, 5, "abc"]])),
    "check two items": mutate(_set("gen.checks", [[0, 5]])),
    "check not a list": mutate(_set("gen.checks", [7])),
    "check start a string": mutate(_set("gen.checks", [["0", 5, "a" * 64]])),
    "checks null": mutate(_set("gen.checks", None)),
    "revision not a number": mutate(_set("revision", "seven")),
    "gaps a number": mutate(_set("gaps", 3)),
    "pending breaks a list": mutate(_set("pending_breaks", ["a" * 20])),
    "pending break a string": mutate(_set("pending_breaks", {"x": "a" * 20})),
    "pending break id a number": mutate(_set("pending_breaks", {"x": [5]})),
    "filed under another id": mutate(_set("gen.gen_id", "c" * 20)),
}


@pytest.mark.parametrize("data", list(CORRUPT.values()), ids=list(CORRUPT))
def test_corrupt_state_raises_state_corrupt_error_with_repair_hint(data: bytes) -> None:
    err = corrupt(data)
    assert err.exit_code == ExitCode.STATE_CORRUPT
    assert err.hint is not None
    assert "state repair" in err.hint and "state show" in err.hint
    assert WHERE in err.hint
    assert "\n" not in err.one_line()


GEN_NOT_AN_OBJECT = {
    "generation a list": mutate(lambda d: d["generations"].update({"a" * 20: [1, 2]})),
    "generation a string": mutate(lambda d: d["generations"].update({"a" * 20: "gen"})),
    "generation null": mutate(lambda d: d["generations"].update({"a" * 20: None})),
}


@pytest.mark.parametrize("data", list(GEN_NOT_AN_OBJECT.values()), ids=list(GEN_NOT_AN_OBJECT))
def test_generation_that_is_not_an_object_is_corrupt(data: bytes) -> None:
    corrupt(data)


WRONG_TYPES = {
    "first_seen_ms a string": mutate(_set("gen.first_seen_ms", "yesterday")),
    "seen_lw a string": mutate(_set("gen.seen_lw", "noon")),
    "offset a float": mutate(_set("gen.offset", 1.5)),
    "active a string": mutate(_set("gen.active", "yes")),
    "marker a number": mutate(_set("gen.marker", 5)),
    "first_name a list": mutate(_set("gen.first_name", ["x"])),
    "missing_since_ms a string": mutate(_set("gen.missing_since_ms", "now")),
}


@pytest.mark.parametrize("data", list(WRONG_TYPES.values()), ids=list(WRONG_TYPES))
def test_wrongly_typed_generation_fields_are_corrupt(data: bytes) -> None:
    corrupt(data)


def test_future_schema_is_refused_and_asks_for_an_upgrade() -> None:
    err = corrupt(mutate(_set("schema", SCHEMA_VERSION + 1)))
    assert err.exit_code == ExitCode.STATE_CORRUPT
    assert f"schema {SCHEMA_VERSION + 1}" in err.message and "newer" in err.message
    assert err.hint is not None and "upgrade" in err.hint


# --- range checks ---------------------------------------------------------------------------


def new_gen() -> Generation:
    return Generation(gen_id="a" * 20, name="f", first_name="f", first_seen_ms=0)


def test_add_check_keeps_head_and_newest_tails() -> None:
    gen = new_gen()
    head = check(0, 4096)
    gen.add_check(head)
    tails = [check(i * 1000, i * 1000 + 500) for i in range(1, 10)]
    for tail in tails:
        gen.add_check(tail)
    assert gen.checks == [head, *tails[-(MAX_CHECKS - 1):]]


def test_add_check_without_head_keeps_the_newest_max_checks() -> None:
    gen = new_gen()
    tails = [check(i * 100, i * 100 + 50) for i in range(1, 8)]
    for tail in tails:
        gen.add_check(tail)
    assert gen.checks == tails[-MAX_CHECKS:]


def test_head_check_added_late_goes_first_and_is_kept() -> None:
    gen = new_gen()
    tails = [check(i * 100, i * 100 + 50) for i in range(1, 6)]
    for tail in tails[:3]:
        gen.add_check(tail)
    head = check(0, 100)
    gen.add_check(head)
    for tail in tails[3:]:
        gen.add_check(tail)
    assert gen.checks[0] == head
    assert gen.checks == [head, *tails[-(MAX_CHECKS - 1):]]


def test_second_check_from_zero_does_not_replace_the_head() -> None:
    gen = new_gen()
    head = check(0, 4096)
    gen.add_check(head)
    gen.add_check(check(0, 9000))
    assert gen.checks[0] == head
    assert len(gen.checks) == 2


def test_empty_range_check_is_ignored() -> None:
    gen = new_gen()
    gen.add_check(check(5, 5))
    assert gen.checks == []


def test_never_more_than_max_checks() -> None:
    gen = new_gen()
    for i in range(20):
        gen.add_check(check(0 if i % 3 == 0 else i, i + 10))
        assert len(gen.checks) <= MAX_CHECKS


def test_sightings_round_trip_and_a_malformed_one_is_a_corrupt_state() -> None:
    state = sample_state()
    state.unread = [Sighting("log/ERROR", 150_000, 1_704_164_400_000)]
    raw = state.to_bytes()
    assert b'"unread":[["log/ERROR",150000,1704164400000]]' in raw
    assert InstanceState.from_bytes(raw, WHERE).unread == state.unread
    for bad in (b'"unread":[["log/ERROR",-1,1]]', b'"unread":[["log/ERROR",true,1]]',
                b'"unread":{"log/ERROR":1}', b'"unread":[["log/ERROR",1]]'):
        broken = raw.replace(b'"unread":[["log/ERROR",150000,1704164400000]]', bad)
        with pytest.raises(StateCorruptError):
            InstanceState.from_bytes(broken, WHERE)
