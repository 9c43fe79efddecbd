"""``rds-log-shipper state show|repair|reset``: the documented recovery for a bad state object.

``repair`` rebuilds an instance's state from the data objects already in S3 (their metadata
says which generation and byte range each holds), so nothing is shipped twice: the next run
recognises each file by content and continues where the archive ends. ``reset`` forgets the
instance, so whatever RDS still has is shipped again as new generations.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone

from shipper.config import Settings
from shipper.exceptions import ConfigError, ShipperError, StateCorruptError
from shipper.exitcodes import ExitCode
from shipper.instance_identity import NameRecord, read_name_key
from shipper.layout import DataObjectInfo, Scope, safe_segment
from shipper.lease import Lease, LeaseManager
from shipper.s3store import S3Store, StoredObject, open_store
from shipper.state import CHECK_WINDOW, Generation, InstanceState, RangeCheck

_DT_RE = re.compile(r"/dt=(\d{4}-\d{2}-\d{2})/")


def find_scope(store: S3Store, settings: Settings, instance: str, account: str | None,
               region: str | None) -> Scope:
    """The scope of the instance that holds (or last held) the identifier ``instance``: its
    name record gives the resource id its state is keyed by (``shipper.instance_identity``);
    a state an earlier release kept under the identifier is used where it is."""
    region = region or settings.regions[0]
    if not account:
        suffix = f"/region={safe_segment(region)}/instance={safe_segment(instance)}.json"
        keys = [k for k in store.list_keys(f"{settings.prefix}_state/") if k.endswith(suffix)]
        accounts = sorted({k.split("/account=", 1)[1].split("/", 1)[0] for k in keys})
        if len(accounts) != 1:
            raise ConfigError("--account", f"{len(accounts)} accounts have a state for "
                              f"{instance} in {region}; name one" if accounts else
                              f"no state for {instance} in {region}")
        account = accounts[0]
    scope = Scope(settings.prefix, account, region, instance)
    named = store.get(scope.name_key())
    if named is None:
        return scope
    try:
        found = read_name_key(named.body, scope.name_key())
    except StateCorruptError:
        return scope  # a corrupt legacy state: show, repair and reset work on it where it is
    if isinstance(found, NameRecord):
        return replace(scope, resource_id=found.resource_id)
    return scope


def rebuild_state(store: S3Store, scope: Scope) -> tuple[InstanceState, list[str]]:
    """A state whose generations end where the archive's contiguous data ends."""
    notes: list[str] = []
    infos: dict[str, list[DataObjectInfo]] = {}
    days: dict[str, set[str]] = {}
    for key in store.list_keys(scope.data_prefix()):
        head = store.head(key)
        if head is None:
            continue
        try:
            info = DataObjectInfo.from_metadata(key, head.metadata)
        except (KeyError, ValueError):
            notes.append(f"ignored {key}: no shipper metadata")
            continue
        if scope.resource_id and info.resource_id not in (None, scope.resource_id):
            continue  # another instance that held the identifier before
        infos.setdefault(info.generation, []).append(info)
        match = _DT_RE.search(key)
        if match:  # a generation written over several days has objects in each day's dt
            days.setdefault(info.generation, set()).add(match.group(1))
    state = InstanceState(scope.instance, scope.region, scope.account,
                          resource_id=scope.resource_id)
    for gen_id, objs in infos.items():
        objs.sort(key=lambda o: o.start)
        offset, chain = 0, []
        for obj in objs:
            if obj.start != offset:
                notes.append(f"generation {gen_id}: data stops at byte {offset}")
                break
            chain.append(obj)
            offset = obj.end
        if not chain:
            continue
        dt_days = sorted(days.get(gen_id, {"1970-01-01"}))
        day = datetime.strptime(dt_days[0], "%Y-%m-%d")
        gen = Generation(gen_id=gen_id, name=chain[-1].log_file, first_name=chain[0].log_file,
                         first_seen_ms=int(day.replace(tzinfo=timezone.utc).timestamp() * 1000),
                         offset=offset, seen_size=offset, seen_last_written_ms=0,
                         dt_days=dt_days)
        for obj in (chain[0], chain[-1]):
            stored = store.get(obj.key)
            if stored is None:
                continue
            data = gzip.decompress(stored.body)
            if obj.start == 0:
                gen.add_check(RangeCheck(0, min(4096, len(data)),
                                         hashlib.sha256(data[:4096]).hexdigest()))
            tail = data[-CHECK_WINDOW:]
            gen.add_check(RangeCheck(obj.end - len(tail), obj.end,
                                     hashlib.sha256(tail).hexdigest()))
        state.generations[gen_id] = gen
    state.last_run_clean = True
    return state, notes


def _take_lease(leases: LeaseManager, scope: Scope, current: StoredObject | None
                ) -> Lease | None:
    """The instance's lease for an operator command: on the ETag the last run's final
    commit recorded (that run is done), by force when the state is corrupt (no run can
    commit to it: see ``LeaseManager.take_over``), else only if no live run holds it."""
    try:
        state = InstanceState.from_bytes(current.body, scope.state_key()) if current \
            else None
    except StateCorruptError:
        return leases.take_over(scope.lease_key())
    return leases.take(scope.lease_key(),
                       state.closed_lease_etag if state is not None else None).lease


def state_command(settings: Settings, action: str, instance: str, account: str | None,
                  region: str | None, yes: bool) -> int:
    store = open_store(settings)
    scope = find_scope(store, settings, instance, account, region)
    current = store.get(scope.state_key())
    if action == "show":
        if current is None:
            print(f"no state at s3://{settings.bucket}/{scope.state_key()}")
            return int(ExitCode.OK)
        try:
            state = InstanceState.from_bytes(current.body, scope.state_key())
            print(json.dumps(json.loads(state.to_bytes()), indent=2))
            return int(ExitCode.OK)
        except StateCorruptError as err:
            print(f"state at s3://{settings.bucket}/{scope.state_key()} is unusable: "
                  f"{err.one_line()}")
            return int(ExitCode.STATE_CORRUPT)
    if not yes:
        raise ConfigError("--yes", f"`state {action}` changes the state of {instance}; "
                          "add --yes to confirm")
    leases = LeaseManager(store, f"state-{action}-{int(time.time())}", settings.lease_seconds)
    lease = _take_lease(leases, scope, current)
    if lease is None:
        raise ShipperError(f"{instance} is being shipped right now", "retry after the run")
    try:
        if current is not None:
            backup = f"{scope.state_key()}.bak-{int(time.time())}"
            store.put_conditional(backup, current.body, None, "application/octet-stream")
            print(f"previous state kept at s3://{settings.bucket}/{backup}")
        if action == "repair":
            state, notes = rebuild_state(store, scope)
            for note in notes:
                print(f"note: {note}")
            # its holder may have written an object after the data we rebuilt from
            state.last_run_clean = not lease.previous_crashed
        else:
            state = InstanceState(scope.instance, scope.region, scope.account,
                                  resource_id=scope.resource_id)
        state.revision = 1
        store.put_conditional(scope.state_key(), state.to_bytes(),
                              current.etag if current else None)
        shipped = sum(g.offset for g in state.generations.values())
        print(f"{action}: {len(state.generations)} generations, {shipped} bytes accounted for")
    finally:
        leases.release(lease)
    sys.stdout.flush()
    return int(ExitCode.OK)
