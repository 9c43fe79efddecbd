"""Whose state it is (shipper.instance_identity): keys by DbiResourceId, name records,
renames, reused identifiers and the upgrade from states keyed by identifier."""

from __future__ import annotations

import pytest

from shipper.exceptions import StateCorruptError
from shipper.instance_identity import (
    NameRecord,
    follow_rename,
    load_state,
    needs_settling,
    read_name_key,
    record_name,
)
from shipper.layout import Scope
from shipper.state import Generation, InstanceState
from tests.support.fakes import MemoryStore

RID = "db-ABCDEFGHIJKLMNOPQRSTUVWXYZ"
OTHER = "db-ZYXWVUTSRQPONMLKJIHGFEDCBA"
SCOPE = Scope("rds-logs/", "123", "eu-west-1", "mydb", RID)


def test_state_and_lease_are_keyed_by_resource_id_and_the_name_record_by_identifier() -> None:
    assert SCOPE.state_key() == f"rds-logs/_state/account=123/region=eu-west-1/resource={RID}.json"
    assert SCOPE.lease_key() == f"rds-logs/_leases/account=123/region=eu-west-1/resource={RID}.json"
    assert SCOPE.name_key() == "rds-logs/_state/account=123/region=eu-west-1/instance=mydb.json"
    assert SCOPE.data_key("0" * 20, "2026-11-20", 7, "old").startswith(
        "rds-logs/data/account=123/region=eu-west-1/instance=old/dt=2026-11-20/")
    legacy = Scope("rds-logs/", "123", "eu-west-1", "mydb")  # no resource id: as before
    assert legacy.state_key() == legacy.name_key()


def test_a_first_run_starts_fresh_and_must_write_its_name_record() -> None:
    store = MemoryStore()
    loaded = load_state(store, SCOPE)
    assert loaded.etag is None and loaded.adopted_from is None and loaded.reused_from is None
    assert loaded.state.resource_id == RID and needs_settling(loaded.state, SCOPE)
    record_name(store, SCOPE)
    assert read_name_key(store.objects[SCOPE.name_key()].body, "k") == NameRecord("mydb", RID)


def test_a_name_record_of_another_instance_means_the_identifier_was_reused() -> None:
    store = MemoryStore()
    store.put(SCOPE.name_key(), NameRecord("mydb", OTHER).to_bytes())
    loaded = load_state(store, SCOPE)
    assert loaded.reused_from == OTHER and loaded.state.generations == {}
    store.put(SCOPE.name_key(), NameRecord("mydb", RID).to_bytes())
    assert load_state(store, SCOPE).reused_from is None


def test_a_legacy_state_under_the_identifier_is_adopted_once() -> None:
    store = MemoryStore()
    old = InstanceState("mydb", "eu-west-1", "123")
    old.generations["a" * 20] = Generation("a" * 20, "error/x", "error/x", 1, offset=10)
    store.put(SCOPE.name_key(), old.to_bytes())
    loaded = load_state(store, SCOPE)
    assert loaded.adopted_from == SCOPE.name_key()
    assert list(loaded.state.generations) == ["a" * 20] and loaded.state.resource_id == RID
    assert not loaded.state.name_recorded
    store.put_conditional(SCOPE.state_key(), loaded.state.to_bytes(), None)
    record_name(store, SCOPE)  # another instance taking the name later adopts nothing
    assert load_state(store, Scope("rds-logs/", "123", "eu-west-1", "mydb", OTHER)
                      ).reused_from == RID


def test_a_rename_keeps_where_each_generation_was_written() -> None:
    state = InstanceState("old", "eu-west-1", "123", resource_id=RID, name_recorded=True)
    shipped = Generation("a" * 20, "f", "f", 1, offset=10)
    empty = Generation("b" * 20, "g", "g", 1)
    state.generations = {shipped.gen_id: shipped, empty.gen_id: empty}
    assert needs_settling(state, SCOPE)
    assert follow_rename(state, SCOPE) == "old"
    assert (shipped.written_as, empty.written_as) == ("old", "old")
    assert state.instance == "mydb" and state.former_identifiers == ["old"]
    assert not state.name_recorded and follow_rename(state, SCOPE) is None


@pytest.mark.parametrize("body", [b'{"name_record": 1, "instance": "x"}',
                                  b'{"name_record": 1, "instance": 3, "resource_id": "r"}'])
def test_a_malformed_name_record_is_a_corrupt_state(body: bytes) -> None:
    with pytest.raises(StateCorruptError, match="name record"):
        read_name_key(body, "k")
