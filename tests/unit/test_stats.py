"""Run counters shared by worker threads."""

from __future__ import annotations

import threading
from dataclasses import fields

from shipper.stats import Counts, RunStats


def test_add_is_exact_under_concurrency() -> None:
    stats = RunStats()

    def work() -> None:
        for _ in range(2000):
            stats.add(bytes_shipped=3, retries=1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (stats.bytes_shipped, stats.retries) == (8 * 2000 * 3, 8 * 2000)


def test_observe_lag_keeps_the_maximum() -> None:
    stats = RunStats()
    for lag in (5.0, 42.0, 7.0):
        stats.observe_lag(lag)
    assert stats.max_lag_seconds == 42.0


def test_counts_has_every_counter_and_no_lock() -> None:
    stats = RunStats()
    stats.add(files_shipped=2)
    doc = stats.counts()
    assert "_lock" not in doc and "max_lag_seconds" not in doc  # the verdict's, not a count
    assert doc["files_shipped"] == 2
    assert {"bytes_shipped", "objects_written", "failures", "throttles", "gap_bytes"} <= set(doc)


def test_every_counter_is_named_in_counts_and_is_a_field() -> None:
    """``Counts`` types ``add``'s names for mypy; a counter missing from it could not be
    added to, one missing from ``RunStats`` would fail at run time."""
    counters = {f.name for f in fields(RunStats) if f.type in ("int", int)}
    assert set(Counts.__annotations__) == counters
