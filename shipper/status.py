"""``rds-log-shipper status``: per instance, the lag and the last run, read from the state."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from typing import Any

from shipper.config import Settings
from shipper.exceptions import StateCorruptError
from shipper.exitcodes import ExitCode
from shipper.losses import lag_seconds
from shipper.s3store import open_store
from shipper.state import InstanceState


def _row(key: str, body: bytes) -> dict[str, Any]:
    try:
        state = InstanceState.from_bytes(body, key)
    except StateCorruptError as err:
        return {"state_key": key, "error": err.one_line()}
    live = [g for g in state.generations.values() if g.missing_since_ms is None]
    behind = [g for g in live if g.offset < g.seen_size]
    return {
        "instance": state.instance,
        "resource_id": state.resource_id or None,
        "former_identifiers": state.former_identifiers,
        "region": state.region,
        "account": state.account,
        "last_run_at": (datetime.fromtimestamp(state.last_run_at, tz=timezone.utc)
                        .strftime("%Y-%m-%dT%H:%M:%SZ") if state.last_run_at else None),
        "last_run_clean": state.last_run_clean,
        "files": len(live),
        "bytes_shipped": sum(g.offset for g in state.generations.values()),
        "bytes_behind": sum(g.seen_size - g.offset for g in behind),
        "lag_seconds": round(lag_seconds(state, time.time()), 1),
        "gap_bytes": sum(g.bytes_lost for g in state.gaps),
    }


def _name_record(body: bytes) -> dict[str, Any] | None:
    """An identifier's name record (``shipper.instance_identity``), not a state."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None  # reported as an unusable state
    return doc if isinstance(doc, dict) and "name_record" in doc else None


def collect_status(settings: Settings) -> list[dict[str, Any]]:
    store = open_store(settings)
    rows = []
    names: dict[str, str] = {}  # resource id -> the identifier its name record names
    for key in store.list_keys(f"{settings.prefix}_state/"):
        if not key.endswith(".json"):
            continue
        obj = store.get(key)
        if obj is None:
            continue
        record = _name_record(obj.body)
        if record is not None:
            names[str(record.get("resource_id"))] = str(record.get("instance"))
        else:
            rows.append(_row(key, obj.body))
    for row in rows:  # an unusable state still tells which instance it is, by its key
        if "error" in row:
            resource = row["state_key"].rsplit("/resource=", 1)[-1].removesuffix(".json")
            row["instance"] = names.get(resource)
    return rows


def show_status(settings: Settings, as_json: bool = False) -> int:
    rows = collect_status(settings)
    if as_json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"no state under s3://{settings.bucket}/{settings.prefix}_state/ yet")
    else:
        header = f"{'instance':<32} {'region':<14} {'last run (UTC)':<21} {'lag s':>8} " \
                 f"{'behind':>10} {'shipped':>12} {'gaps':>8}  resource id (former names)"
        print(header)
        for r in rows:
            if "error" in r:
                named = f"{r['instance']} " if r.get("instance") else ""
                print(f"{named}{r['state_key']}: {r['error']}")
                continue
            print(f"{r['instance'][:32]:<32} {r['region']:<14} {r['last_run_at'] or '-':<21} "
                  f"{r['lag_seconds']:>8} {r['bytes_behind']:>10} {r['bytes_shipped']:>12} "
                  f"{r['gap_bytes']:>8}  {r['resource_id'] or '-'}"
                  + (f" ({', '.join(r['former_identifiers'])})"
                     if r["former_identifiers"] else ""))
    sys.stdout.flush()
    return int(ExitCode.STATE_CORRUPT if any("error" in r for r in rows) else ExitCode.OK)
