"""Counters for one run, shared by every worker thread, reported in the final summary."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypedDict, cast

if TYPE_CHECKING:
    from typing_extensions import Unpack


class Counts(TypedDict, total=False):
    """The run's counters by name: what ``RunStats.add`` takes (mypy checks every name and
    type at each call) and what ``RunStats.counts`` returns. Each one is a field of
    ``RunStats`` too; a unit test keeps the two lists equal."""

    instances: int
    instances_skipped: int
    files_seen: int
    files_shipped: int
    bytes_shipped: int
    bytes_downloaded: int
    objects_written: int
    state_commits: int
    rds_requests: int
    portion_calls: int
    complete_downloads: int
    retries: int
    throttles: int
    failures: int
    recovered_truncations: int
    # bytes read but held back at the end of a growing file (its partial last line), and
    # lines longer than the long-line bound cut between objects (shipper.lines)
    bytes_held_back: int
    long_lines_split: int
    gap_bytes: int
    suspected_gaps: int
    # listed files left for the next listing (shipper.deferrals), and those left so by the
    # last run too, for the same reason (each also a failure)
    files_deferred: int
    files_stuck: int
    # an instance's identity (shipper.instance_identity): renames followed, identifiers
    # found reused by a new instance, states adopted from an earlier release's identifier
    # keys, and instances whose identifier moved to another instance during the run
    instances_renamed: int
    identifiers_reused: int
    states_adopted: int
    instances_moved: int
    incomplete_listings: int  # listings cut at 1,000 records that filters could not complete


@dataclass
class RunStats:
    """The counters of ``Counts`` (described there), added to by every worker thread."""

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
    bytes_held_back: int = 0
    long_lines_split: int = 0
    gap_bytes: int = 0
    suspected_gaps: int = 0
    files_deferred: int = 0
    files_stuck: int = 0
    instances_renamed: int = 0
    identifiers_reused: int = 0
    states_adopted: int = 0
    instances_moved: int = 0
    incomplete_listings: int = 0
    max_lag_seconds: float = 0.0
    # per instance (its state key): the lag its last listing showed, for retention headroom
    _lag_by_instance: dict[str, float] = field(default_factory=dict, repr=False,
                                               compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: Unpack[Counts]) -> None:
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

    def counts(self) -> Counts:
        """Every counter (``max_lag_seconds`` is the summary's, beside the lag verdict)."""
        with self._lock:
            return cast(Counts, {f.name: getattr(self, f.name) for f in fields(self)
                                 if f.name in Counts.__annotations__})


class Verdict(TypedDict, total=False):
    """What the alarms read (``Runner._verdict``; it sets every key). Not total only
    because ``failures`` is a counter too, which ``Counts`` leaves optional."""

    run_failed: int
    failures: int  # at least 1 when the run failed
    # None: not measured (a failed run that listed nothing); the lag alarm then sees
    # missing data, not a reassuring 0
    max_lag_seconds: float | None
    retention_headroom_seconds: float | None
    headroom_instance: str | None


class RunSummary(Counts, Verdict):
    """The ``run finished`` log line's summary, and what the run's metrics are read from."""

    run_id: str
    exit_code: int
    seconds: float
    instances_leased_elsewhere: int
    rate_wait_seconds: float
    rate_limits: list[dict[str, Any]]
