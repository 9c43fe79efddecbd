"""Files a run leaves unshipped for a reason of its own, and the rule that makes them loud.

A run may leave a listed file's bytes for the next listing: its name was handed on after the
listing (the name check), it rotated while it was read, or it changed while it was read. Each
is right once: the next listing shows the file as it is now. The same file left again for the
same reason at the next run is not a race any more but a rule that will never let it through,
and RDS deletes it when its retention ends (issue 28: MySQL's slow-log files deferred day
after day by a name check that misread a listing, exit 0, nothing lost on the record).

So every deferral is counted in the run's summary (``files_deferred``) and kept in the
instance's state. The next run that defers the same file for the same reason calls it stuck
(for an empty listing, the fourth in a row): an error line with the file and the reason,
``files_stuck`` in the summary and metrics, a failure (the run exits 1 and the failure alarms
fire). The file is still retried every run.

The same file is the same name with the same listed LastWritten: nothing happened to it
between the two runs, so only a rule of ours can have left it again (issue 28's ``.5`` was
closed and listed the same day after day). A running log listed with a newer LastWritten is
another listing: two runs that each race a rotation of it (runs started together) leave two
files under one name, each rightly, and the rotated files ship under their new names.

Not a deferral: an unfinished last line held back until the engine completes it, and a file
listed with a newer LastWritten but no more bytes than were shipped (both wait for the file,
not for us: nothing listed is left unshipped), a file that vanished (counted as a loss), a
download that failed (counted as a failure at once).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Reason(Enum):
    HANDED_ON = "handed-on"  # the name check: the name moved after the listing
    ROTATED_WHILE_READ = "rotated-while-read"  # paging or a stream no longer matched
    CHANGED_WHILE_READ = "changed-while-read"  # a new file's stream did not match its listing
    # The name check's family listing came back empty (asked twice), or incomplete (a page
    # after a Marker came back empty every time): it cannot tell. Empty listings are an API
    # glitch of a moment (FIDELITY.md row 13), not a rule of ours, so only four runs in a row
    # make it stuck (an hour of the 15-minute schedule).
    LISTING_EMPTY = "listing-empty"


# How many runs in a row may leave a file for the same reason before that is an error.
STUCK_AFTER = {Reason.LISTING_EMPTY.value: 4}


@dataclass(frozen=True)
class Deferral:
    """One listed file left for the next listing; ``runs``: how many runs in a row did."""

    name: str
    reason: str
    last_written_ms: int
    runs: int = 1

    def to_json(self) -> list[Any]:
        return [self.name, self.reason, self.last_written_ms, self.runs]

    @classmethod
    def from_json(cls, raw: Any) -> Deferral:
        if not (isinstance(raw, list) and len(raw) == 4):
            raise ValueError("a deferral is not a [name, reason, last written, runs] list")
        name, reason, written, runs = raw
        if not (isinstance(name, str) and reason in _REASONS and type(written) is int
                and type(runs) is int and written >= 0 and runs >= 1):
            raise ValueError("malformed deferral")
        return cls(name, reason, written, runs)


_REASONS = frozenset(r.value for r in Reason)


class RunDeferrals:
    """The deferrals of one instance's pass, collected from its file jobs (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, Deferral] = {}

    def add(self, name: str, reason: Reason, last_written_ms: int) -> None:
        with self._lock:
            self._by_name.setdefault(name, Deferral(name, reason.value, last_written_ms))

    def all(self) -> list[Deferral]:
        with self._lock:
            return sorted(self._by_name.values(), key=lambda d: d.name)


def carry_forward(previous: list[Deferral], now: list[Deferral],
                  pass_complete: bool) -> tuple[list[Deferral], list[Deferral]]:
    """(what the state keeps, the stuck ones): a deferral of this pass of a file (name and
    listed LastWritten) the last pass deferred for the same reason is stuck, its ``runs`` one
    more. A pass that stopped early keeps the earlier deferrals of files it never reached
    (it did not retry them)."""
    before = {_same(d): d.runs for d in previous}
    again = [Deferral(d.name, d.reason, d.last_written_ms, before.get(_same(d), 0) + 1)
             for d in now]
    names = {d.name for d in now}
    untried = [] if pass_complete else [d for d in previous if d.name not in names]
    return again + untried, [d for d in again if d.runs >= STUCK_AFTER.get(d.reason, 2)]


def _same(d: Deferral) -> tuple[str, str, int]:
    return d.name, d.reason, d.last_written_ms
