"""Per-instance state kept in S3 as JSON: what each log file generation has shipped so far.

The state is committed only after the data objects it describes are durable, with If-Match on
the ETag we read, so a stale writer (a lost lease) cannot overwrite a newer state.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from shipper.deferrals import Deferral
from shipper.exceptions import StateCorruptError
from shipper.gaps import Gap, gap_from_json
from shipper.layout import partition_day

# 2: data objects are partitioned by the day their bytes were written (``dt_days``); a
# generation from schema 1 has all its objects under the day it was first seen.
SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)
MAX_CHECKS = 4
CHECK_WINDOW = 64 * 1024


@dataclass
class RangeCheck:
    """sha256 of bytes [start, end) of a generation, used to recognise it again later."""

    start: int
    end: int
    sha256: str

    def to_json(self) -> list[Any]:
        return [self.start, self.end, self.sha256]

    @classmethod
    def from_json(cls, raw: Any) -> RangeCheck:
        start, end, digest = raw
        if not (isinstance(start, int) and isinstance(end, int) and isinstance(digest, str)):
            raise ValueError("malformed range check")
        if not 0 <= start <= end or len(digest) != 64:
            raise ValueError("malformed range check")
        return cls(start, end, digest)


@dataclass
class Generation:
    """One generation of one log file: the bytes between a creation and a deletion, whatever
    names they were listed under."""

    gen_id: str
    name: str
    first_name: str
    first_seen_ms: int
    offset: int = 0
    seen_size: int = 0
    seen_last_written_ms: int = 0
    active: bool = False
    marker: str | None = None
    marker_name: str | None = None
    checks: list[RangeCheck] = field(default_factory=list)
    missing_since_ms: int | None = None
    # Everything shipped so far is the engine's common startup header: content cannot tell
    # this generation from the next file that starts with the same header.
    header_only: bool = False
    # The largest Size any listing showed for it: what a gap is counted against.
    max_listed: int = 0
    # The dt partitions (UTC days, YYYY-MM-DD) holding its objects, in the order they were
    # first written; the last is where its next object goes, committed before any object is
    # written there (so a retry, or the adoption after a crash, finds the same key).
    dt_days: list[str] = field(default_factory=list)
    # How far the file was read when last seen whole (past ``offset`` by an unfinished last
    # line held back, shipper.lines); 0 when not read to its listed end.
    read_end: int = 0
    # A complete read (REST) at ``seen_last_written_ms`` ended below the listed Size: the Size
    # counts bytes no download returns (RDS filters MySQL error logs), so the listed Size is
    # only a hint. While LastWritten stays the same the file is complete.
    ended_below_listed: bool = False
    # The instance identifier whose ``instance=`` partition holds its latest objects (its
    # next object goes there too while the identifier stays): committed before an object
    # lands under a new one, like a new day, so a retry or the adoption after a crash finds
    # the same key after a rename. None: the state's identifier (states before renames).
    written_as: str | None = None

    def marker_for(self, name: str) -> str | None:
        """The stored DownloadDBLogFilePortion marker, if it was taken under ``name``: a
        marker names a position in one file, and a name may hold another file since (the one
        test of a usable marker: the plan, paging and the ledger ask it here)."""
        return self.marker if self.marker and self.marker_name == name else None

    def sighting(self) -> Sighting:
        """What the last listing that showed it said: its name, Size and LastWritten."""
        return Sighting(self.name, self.seen_size, self.seen_last_written_ms)

    def add_check(self, check: RangeCheck) -> None:
        """Keep the head check (from offset 0) and the most recent tail checks."""
        if check.end <= check.start:
            return
        head = [c for c in self.checks if c.start == 0][:1]
        tail = [c for c in self.checks if c not in head] + [check]
        if not head and check.start == 0:
            head, tail = [check], tail[:-1]
        self.checks = head + tail[-(MAX_CHECKS - len(head)):]

    def to_json(self) -> dict[str, Any]:
        raw = {_JSON_NAMES.get(k, k): v for k, v in asdict(self).items()
               if k not in _WRITTEN_WHEN_SET or v}
        raw["checks"] = [c.to_json() for c in self.checks]
        return raw

    @classmethod
    def from_json(cls, raw: Any) -> Generation:
        if not isinstance(raw, dict):
            raise ValueError("a generation entry is not an object")
        checks = [RangeCheck.from_json(c) for c in raw.get("checks", [])]
        if set(raw) & set(_JSON_NAMES):
            raise ValueError("a generation entry has an unknown field")
        values = {_ATTRIBUTE_NAMES.get(str(k), str(k)): v for k, v in raw.items()
                  if k != "checks"}
        gen = cls(**values, checks=checks)
        if "dt_days" not in raw:  # schema 1: every object under the day first seen
            gen.dt_days = [partition_day(gen.first_seen_ms)]
        if not all(isinstance(d, str) and _DAY_RE.fullmatch(d) for d in gen.dt_days):
            raise ValueError("field dt_days is not a list of days")
        for name, kinds in _FIELD_TYPES.items():
            value = getattr(gen, name)
            if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
                raise ValueError(f"field {_JSON_NAMES.get(name, name)} has the wrong type")
        if gen.offset < 0 or gen.seen_size < 0 or gen.seen_last_written_ms < 0:
            raise ValueError("negative offset, size or time")
        return gen


# Fields added later, written only when set: a state that never needed one reads and writes
# back byte for byte.
_WRITTEN_WHEN_SET = frozenset({"ended_below_listed", "written_as"})
# Attributes stored under shorter names (the stored format predates the attribute's name).
_JSON_NAMES = {"seen_last_written_ms": "seen_lw"}
_ATTRIBUTE_NAMES = {v: k for k, v in _JSON_NAMES.items()}
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "gen_id": (str,), "name": (str,), "first_name": (str,), "first_seen_ms": (int,),
    "offset": (int,), "seen_size": (int,), "seen_last_written_ms": (int,), "active": (bool,),
    "marker": (str, type(None)), "marker_name": (str, type(None)),
    "missing_since_ms": (int, type(None)), "header_only": (bool,), "max_listed": (int,),
    "dt_days": (list,), "read_end": (int,), "ended_below_listed": (bool,),
    "written_as": (str, type(None)),
}
_DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class Sighting:
    """A listed file that no generation stands for any more: its name was handed on before
    any of it was read, and the generation minted for it was taken back (``shipper.name_check``).
    It is kept until the next listing is judged, to tell continuity that its family had this
    file (``shipper.continuity``)."""

    name: str
    size: int
    last_written_ms: int

    def to_json(self) -> list[Any]:
        return [self.name, self.size, self.last_written_ms]

    @classmethod
    def from_json(cls, raw: Any) -> Sighting:
        if not (isinstance(raw, list) and len(raw) == 3):
            raise ValueError("a sighting is not a [name, size, last written] triple")
        name, size, written = raw
        if not (isinstance(name, str) and type(size) is int and type(written) is int
                and size >= 0 and written >= 0):
            raise ValueError("malformed sighting")
        return cls(name, size, written)


MAX_SIGHTINGS = 100
@dataclass
class InstanceState:
    instance: str
    region: str
    account: str
    generations: dict[str, Generation] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)
    last_run_id: str | None = None
    last_run_at: float | None = None
    last_run_clean: bool = True
    revision: int = 0
    # Families whose continuity a listing could not decide (their known generations were only
    # candidates to prove): the generation ids to decide it by (see shipper.continuity).
    pending_breaks: dict[str, list[str]] = field(default_factory=dict)
    # Files whose generation was taken back when their name was handed on before any of them
    # was read: until the next listing is judged, what continuity knows of them.
    unread: list[Sighting] = field(default_factory=list)
    # Set only by a run's final commit: the ETag its lease had then. That run writes nothing
    # after it, so while the lease still has this ETag, the lease is free and this state is
    # current (the next run takes the lease with If-Match on it: see shipper.ledger).
    closed_lease_etag: str | None = None
    # Listed files the last pass left for the next listing, and how many passes in a row did
    # (shipper.deferrals: the next deferral of the same file for the same reason is an error).
    deferred: list[Deferral] = field(default_factory=list)
    # The instance's DbiResourceId (empty in states keyed by identifier), the identifiers it
    # had before ``instance`` (renames, switchovers), and whether the name record of
    # ``instance`` names it (shipper.instance_identity).
    resource_id: str = ""
    former_identifiers: list[str] = field(default_factory=list)
    name_recorded: bool = False

    def to_bytes(self) -> bytes:
        doc = {
            "schema": SCHEMA_VERSION,
            "instance": self.instance,
            "region": self.region,
            "account": self.account,
            "revision": self.revision,
            "last_run_id": self.last_run_id,
            "last_run_at": self.last_run_at,
            "last_run_clean": self.last_run_clean,
            "generations": {k: g.to_json() for k, g in sorted(self.generations.items())},
            "gaps": [g.to_json() for g in self.gaps[-100:]],
            "pending_breaks": {fam: sorted(set(ids))
                               for fam, ids in sorted(self.pending_breaks.items()) if ids},
        }
        if self.closed_lease_etag is not None:  # states written before it load unchanged
            doc["closed_lease_etag"] = self.closed_lease_etag
        if self.unread:  # the same
            doc["unread"] = [s.to_json() for s in self.unread[-MAX_SIGHTINGS:]]
        if self.deferred:  # the same
            doc["deferred"] = [d.to_json() for d in self.deferred[-MAX_SIGHTINGS:]]
        if self.resource_id:  # the same
            doc["resource_id"] = self.resource_id
            doc["name_recorded"] = self.name_recorded
        if self.former_identifiers:
            doc["former_identifiers"] = self.former_identifiers[-MAX_SIGHTINGS:]
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> InstanceState:
        hint = (
            f"inspect it with `rds-log-shipper state show`, then `rds-log-shipper state repair "
            f"--instance ...` (keeps positions it can read) or `state reset` (re-ships that "
            f"instance's logs still on RDS); object {where}"
        )
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
            raise StateCorruptError(f"state object is not valid JSON ({err})", hint) from err
        if not isinstance(doc, dict):
            raise StateCorruptError("state object is not a JSON object", hint)
        schema = doc.get("schema")
        if isinstance(schema, int) and schema > SCHEMA_VERSION:
            raise StateCorruptError(
                f"state schema {schema} is newer than this shipper understands "
                f"({SCHEMA_VERSION})", "upgrade rds-log-shipper; nothing was changed",
            )
        if schema not in READABLE_SCHEMAS:
            raise StateCorruptError(f"state schema {schema!r} is not recognised", hint)
        try:
            gens = {
                gen_id: Generation.from_json(raw)
                for gen_id, raw in dict(doc["generations"]).items()
            }
            _check_top_level(doc)
            state = cls(
                instance=str(doc["instance"]),
                region=str(doc["region"]),
                account=str(doc["account"]),
                generations=gens,
                gaps=[gap_from_json(g) for g in doc.get("gaps", [])],
                last_run_id=doc.get("last_run_id"),
                last_run_at=doc.get("last_run_at"),
                last_run_clean=doc.get("last_run_clean", True),
                closed_lease_etag=doc.get("closed_lease_etag"),
                revision=int(doc.get("revision", 0)),
                pending_breaks={str(fam): list(ids)
                                for fam, ids in doc.get("pending_breaks", {}).items()},
                unread=[Sighting.from_json(s) for s in doc.get("unread", [])],
                deferred=[Deferral.from_json(d) for d in doc.get("deferred", [])],
                resource_id=doc.get("resource_id", ""),
                former_identifiers=list(doc.get("former_identifiers", [])),
                name_recorded=doc.get("name_recorded", False),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise StateCorruptError(f"state object is malformed ({err!r})", hint) from err
        for gen_id, gen in gens.items():
            if gen.gen_id != gen_id:
                raise StateCorruptError(f"generation {gen_id} is filed under another id", hint)
        return state

    def by_name(self) -> dict[str, list[Generation]]:
        index: dict[str, list[Generation]] = {}
        for gen in self.generations.values():
            index.setdefault(gen.name, []).append(gen)
        return index

    def live(self) -> Iterable[Generation]:
        return (g for g in self.generations.values() if g.missing_since_ms is None)


def _check_top_level(doc: dict[str, Any]) -> None:
    expected: dict[str, tuple[type, ...]] = {
        "instance": (str,), "region": (str,), "account": (str,), "generations": (dict,),
        "gaps": (list,), "last_run_id": (str, type(None)),
        "last_run_at": (int, float, type(None)), "last_run_clean": (bool,), "revision": (int,),
        "pending_breaks": (dict,), "closed_lease_etag": (str, type(None)),
        "unread": (list,), "deferred": (list,), "resource_id": (str,),
        "former_identifiers": (list,), "name_recorded": (bool,),
    }
    for name, kinds in expected.items():
        if name not in doc:
            if name in ("instance", "region", "account", "generations"):
                raise KeyError(name)
            continue
        value = doc[name]
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise ValueError(f"field {name} has the wrong type")
    for gap in doc.get("gaps", []):
        if not isinstance(gap, dict):
            raise ValueError("a gap entry is not an object")
    if not all(isinstance(n, str) for n in doc.get("former_identifiers", [])):
        raise ValueError("former_identifiers is not a list of identifiers")
    for ids in doc.get("pending_breaks", {}).values():
        if not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
            raise ValueError("a pending break is not a list of generation ids")


def new_generation_id() -> str:
    return secrets.token_hex(10)
