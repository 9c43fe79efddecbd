"""Which state is an instance's: its DbiResourceId keys it, whatever its identifier.

RDS gives identifiers to other instances in ordinary operations: a rename
(``ModifyDBInstance NewDBInstanceIdentifier``), a blue/green switchover (the green takes the
blue's identifier, the blue becomes ``<name>-oldN`` and goes on logging), and a new instance
created or restored under a deleted one's identifier. The ``DbiResourceId`` is "the Region-
unique, immutable identifier for the DB instance" (API reference, DBInstance). So an
instance's state and lease are keyed by it (``Scope.state_key``), and:

* a renamed instance finds its own state and continues where it was: its generations keep
  their ids, their next objects go under the new ``instance=`` partition (committed before
  the first of them: ``Generation.written_as``), nothing is shipped again;
* a new instance under an old identifier has a state of its own: nothing of it is ever
  appended to another instance's generation, whatever names and sizes match;
* a switchover is both at once, for each side.

Beside the states, one small name record per identifier (``NameRecord``, at the key where
releases before this one kept the whole state) says which resource id last held the name. It
is read only when an instance has no state of its own yet, and written when an instance gets
an identifier (its first run, a rename): a record naming another resource id tells that the
identifier was reused (logged once, counted in ``identifiers_reused``). An idle run reads
nothing more than before: its state, and one listing.

The name can move during a run, too: DescribeDBLogFiles and the downloads take the
identifier, so after a switchover the rest of the pass would read the green's files under the
blue's state. An instance with work asks before every commit whether its identifier still
names its resource id (``InstanceJob._confirm_identity``, ``Ledger.before_commit``); if not,
nothing more is committed and the last committed state is written back marked clean, so no
run adopts the objects written since (``Ledger.disown_uncommitted``).

Upgrade: a whole state at the name record's key was written by a release that keyed states
by identifier. The instance that holds the identifier at the first run of this release adopts
it (its files are then proven by content as always, so a name that changed hands since is
caught by the proofs), commits it under its resource id, and only then replaces it with the
name record, so no other instance can adopt it again. A crash in between leaves both: the
next run writes the record (``name_recorded`` is committed only after it).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from shipper.exceptions import StateCorruptError
from shipper.layout import Scope
from shipper.ledger import keep_partitions
from shipper.ports import ObjectStore
from shipper.state import InstanceState

log = logging.getLogger("shipper")


@dataclass(frozen=True)
class NameRecord:
    """Which instance (resource id) last held an identifier."""

    instance: str
    resource_id: str

    def to_bytes(self) -> bytes:
        return json.dumps({"name_record": 1, "instance": self.instance,
                           "resource_id": self.resource_id},
                          separators=(",", ":"), sort_keys=True).encode("utf-8")


@dataclass
class Loaded:
    """An instance's state as found: its ETag (None: not stored under its resource id yet),
    and what was learnt on the way (``adopted_from``: the legacy key a whole state was read
    from; ``reused_from``: the resource id that held the identifier before)."""

    state: InstanceState
    etag: str | None
    adopted_from: str | None = None
    reused_from: str | None = None
    notes: list[str] = field(default_factory=list)


def load_state(store: ObjectStore, scope: Scope) -> Loaded:
    stored = store.get(scope.state_key())
    if stored is not None:
        return Loaded(InstanceState.from_bytes(stored.body, scope.state_key()), stored.etag)
    fresh = InstanceState(scope.instance, scope.region, scope.account,
                          resource_id=scope.resource_id)
    if not scope.resource_id:
        return Loaded(fresh, None)
    key = scope.name_key()
    named = store.get(key)
    if named is None:
        return Loaded(fresh, None)
    found = read_name_key(named.body, key)
    if isinstance(found, NameRecord):
        reused = found.resource_id if found.resource_id != scope.resource_id else None
        return Loaded(fresh, None, reused_from=reused)
    found.resource_id = scope.resource_id
    found.instance = found.instance or scope.instance
    found.name_recorded = False
    return Loaded(found, None, adopted_from=key)


def read_name_key(body: bytes, key: str) -> NameRecord | InstanceState:
    """The object at an identifier's key: a name record, or a whole state of a release that
    keyed states by identifier."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        doc = None
    if isinstance(doc, dict) and "name_record" in doc:
        instance, resource_id = doc.get("instance"), doc.get("resource_id")
        if isinstance(instance, str) and isinstance(resource_id, str) and resource_id:
            return NameRecord(instance, resource_id)
        raise StateCorruptError("name record is malformed",
                                f"delete it (it is rewritten at the next run); object {key}")
    return InstanceState.from_bytes(body, key)


def needs_settling(state: InstanceState, scope: Scope) -> bool:
    """Has the instance's identity something to write (a rename, a name record, an adopted
    state)? Then its pass is never idle."""
    return bool(scope.resource_id) and (
        state.instance != scope.instance or not state.name_recorded
        or state.resource_id != scope.resource_id)


def follow_rename(state: InstanceState, scope: Scope) -> str | None:
    """Record that the instance has a new identifier; the old one, or None. Generations keep
    the partition their objects are under (``ledger.keep_partitions``)."""
    old = state.instance
    if old == scope.instance:
        return None
    keep_partitions(state, old)
    state.former_identifiers = [i for i in state.former_identifiers if i != old] + [old]
    state.instance = scope.instance
    state.name_recorded = False
    return old


def record_name(store: ObjectStore, scope: Scope) -> None:
    """Write the identifier's name record (replacing a legacy whole state, which must be
    committed under the resource id first)."""
    store.put(scope.name_key(), NameRecord(scope.instance, scope.resource_id).to_bytes())
