"""Counters for one run, shared by every worker thread, reported in the final summary."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields


@dataclass
class RunStats:
    instances: int = 0
    instances_skipped: int = 0
    files_seen: int = 0
    files_shipped: int = 0
    bytes_shipped: int = 0
    bytes_downloaded: int = 0
    objects_written: int = 0
    state_commits: int = 0
    rds_requests: int = 0
    portion_calls: int = 0
    complete_downloads: int = 0
    retries: int = 0
    throttles: int = 0
    failures: int = 0
    recovered_truncations: int = 0
    # bytes read but held back at the end of a growing file (its partial last line), and
    # lines longer than the long-line bound cut between objects (shipper.lines)
    bytes_held_back: int = 0
    long_lines_split: int = 0
    gap_bytes: int = 0
    suspected_gaps: int = 0
    # listed files left for the next listing (shipper.deferrals), and those left so by the
    # last run too, for the same reason (each also a failure)
    files_deferred: int = 0
    files_stuck: int = 0
    # an instance's identity (shipper.instance_identity): renames followed, identifiers
    # found reused by a new instance, states adopted from an earlier release's identifier
    # keys, and instances whose identifier moved to another instance during the run
    instances_renamed: int = 0
    identifiers_reused: int = 0
    states_adopted: int = 0
    instances_moved: int = 0
    incomplete_listings: int = 0  # listings cut at 1,000 records that filters could not complete
    max_lag_seconds: float = 0.0
    # per instance (its state key): the lag its last listing showed, for retention headroom
    _lag_by_instance: dict[str, float] = field(default_factory=dict, repr=False,
                                               compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def observe_lag(self, seconds: float, instance: str | None = None) -> None:
        with self._lock:
            self.max_lag_seconds = max(self.max_lag_seconds, seconds)
            if instance is not None:
                self._lag_by_instance[instance] = seconds

    def lags(self) -> dict[str, float]:
        with self._lock:
            return dict(self._lag_by_instance)

    def as_dict(self) -> dict[str, float | int]:
        with self._lock:
            return {
                f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")
            }
