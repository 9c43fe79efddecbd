"""Losses are reported, never silent: bytes of files deleted before they were shipped (gap
bytes), breaks in a family of files that may hide files deleted unseen (suspected gaps), and how
far behind the instance is (lag). Each is recorded in the state as a typed gap record, counted
in the run's stats and logged."""

from __future__ import annotations

import logging

from shipper.claims import Claims
from shipper.continuity import Break
from shipper.gaps import LostBytes, SuspectedBreak
from shipper.identity import Plan
from shipper.ledger import Ledger
from shipper.state import Generation, InstanceState
from shipper.stats import RunStats

log = logging.getLogger("shipper")

MISSING_KEEP_MS = 8 * 24 * 3_600_000  # how long a vanished generation is remembered


def report_breaks(ledger: Ledger, breaks: list[Break], stats: RunStats) -> None:
    """Files created and deleted between two runs were never seen, so their bytes cannot
    be counted; the break they leave in their family is reported, never silently."""
    now = ledger.now_ms()
    for brk in breaks:
        with ledger.changing() as state:
            state.gaps.append(SuspectedBreak(brk.family, brk.after_ms, now))
        stats.add(suspected_gaps=1)
        log.warning("none of the files shipped before is listed any more: files written "
                    "since then may have been deleted unseen (raise RDS log retention or "
                    "run more often)", extra={"instance": ledger.scope.instance,
                                              "family": brk.family})


def account_for_missing(ledger: Ledger, claims: Claims, plan: Plan, stats: RunStats) -> None:
    """After a complete pass: the displaced generations no file was found for are missing
    from now on; what the listings promised of them and was not shipped is a gap. Missing
    ones are forgotten after MISSING_KEEP_MS."""
    now = ledger.now_ms()
    with ledger.lock:
        for gen in plan.displaced:
            if claims.accounted_for(gen):
                continue
            if gen.missing_since_ms is None:
                ledger.mark_missing(gen, now)
                _count_loss(ledger, gen, now, stats)
            elif now - gen.missing_since_ms > MISSING_KEEP_MS:
                with ledger.changing() as state:
                    del state.generations[gen.gen_id]


def _count_loss(ledger: Ledger, gen: Generation, now: int, stats: RunStats) -> None:
    # A file being written that shipped nothing has no proven identity: it was most likely
    # renamed as it grew (a closed file keeps its Size and LastWritten and is found by the
    # rename rule), and its bytes archived under the generation of its new name. Whole
    # families that vanish are reported by shipper.continuity.
    unproven = gen.offset == 0 and gen.active
    lost = 0 if unproven else max(0, max(gen.seen_size, gen.max_listed) - gen.offset)
    if not lost:
        return
    with ledger.changing() as state:
        state.gaps.append(LostBytes(gen.gen_id, gen.name, lost, now))
    stats.add(gap_bytes=lost)
    log.warning("log file disappeared before all of it was shipped",
                extra={"instance": ledger.scope.instance, "file": gen.name,
                       "gap_bytes": lost})


def lag_seconds(state: InstanceState, now: float) -> float:
    """Seconds since the oldest write we have not shipped yet (0 when caught up); ``now`` in
    seconds since the epoch."""
    behind = [g.seen_last_written_ms for g in state.generations.values()
              if g.missing_since_ms is None and g.offset < g.seen_size]
    if not behind:
        return 0.0
    return max(0.0, now - min(behind) / 1000)
