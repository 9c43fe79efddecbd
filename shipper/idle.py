"""Whether a pass over an instance would write anything, decided from its state and listing
alone, before its lease is taken: an idle instance costs one state GET and one listing page.

A pass writes when its plan has work, and otherwise only for what its bookkeeping decides.
Each item, and why an idle pass need not persist it:

* files to ship, or new files (their intent is written before any data): work;
* a run that did not end clean (``last_run_clean`` false): the next holder must look for the
  object it may have made durable after its last commit (``shipper.adoption``): work.
  A crash before a run's first commit is not in the state, only in its lease; but such a run
  had files to ship, and a listing never returns to what the state last saw (LastWritten
  only grows; a file that vanished is unmatched and must be marked missing, see below), so
  the next pass has work too and adopts after reading the crashed lease;
* continuity (``shipper.continuity.judge_listing``): a pending baseline decided by this
  listing, or a family break to report, is written: work. With no files to prove, nothing
  stays undecided, so an idle pass leaves no new baseline behind;
* generations no listed file matches: marking one missing counts its loss (a gap record):
  work; forgetting one missing for longer than ``MISSING_KEEP_MS`` is written by the pass
  that reaches that age (once per generation);
* ``max_listed`` grows only for files with bytes to ship (work);
* lag is computed from the state at every pass and never stored.

An empty listing (after its retry) decides nothing (``InstanceJob._ship``) and so writes
nothing.

A pass with work plans again after taking the lease, on purpose: the state it plans from may
have changed since this judgement (read again under the lease, objects adopted after a
crash, an identity settled), and a plan costs no request.
"""

from __future__ import annotations

from dataclasses import replace

from shipper.continuity import judge_listing
from shipper.identity import make_plan
from shipper.listing import LogFile
from shipper.losses import MISSING_KEEP_MS
from shipper.state import InstanceState


def nothing_to_write(state: InstanceState, listing: list[LogFile], now_ms: int) -> bool:
    """True when a pass with this state and listing would write nothing."""
    if not state.last_run_clean:
        return False
    if not listing:
        return True
    plan = make_plan(state, listing)
    if plan.jobs:
        return False
    if any(g.missing_since_ms is None or now_ms - g.missing_since_ms > MISSING_KEEP_MS
           for g in plan.displaced):
        return False
    # judge_listing edits the pending baselines and clears the unread sightings: judge a copy
    # of both (``replace`` shares every other field; the pass that follows judges the real
    # ones, and must still see the sightings).
    scratch = replace(state, pending_breaks={k: list(v) for k, v in state.pending_breaks.items()},
                      unread=list(state.unread))
    known = [g for g in state.generations.values() if g.missing_since_ms is None]
    breaks, changed = judge_listing(scratch, known, plan, listing)
    return not breaks and not changed and scratch.pending_breaks == state.pending_breaks
