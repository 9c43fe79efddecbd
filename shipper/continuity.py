"""Noticing files that were created and deleted between two runs (never listed, never counted).

Their bytes cannot be counted, but the break they leave can be seen: a family of files whose
known generations are all gone while newer files of it are listed. Whether a known generation
is gone is certain only once content proofs have run, and a run may stop before that (SIGTERM,
Spot, max runtime, an access error) after recording the newer files; those would then make the
family look continuous to every later run. So a listing sorts each family into:

* continuous: a known generation is certainly still listed (same name and LastWritten, an exact
  rename, a grown file under a name that is never reused, or, for an empty one, a file it may
  have become within the hour or its own name never handed on (``still_under_its_name``)); or
  a file the previous listing showed, whose generation was taken back because its name was
  handed on before it was read (a ``Sighting``), may have become a listed one within the hour,
  and the family was not undecided then;
* broken: no known generation can be in the listing at all (none is even a candidate);
* undecided: known generations are only candidates to prove. The family's baseline (those
  generations) is kept in the state, across runs that stop early, until a complete pass has
  either found one of them (continuous) or none (broken).

A known limit: a family known only by empty generations whose name was handed on since (a
run saw ``ERROR`` empty, then it was rotated more than an hour later) is reported as a break
even when the renamed file is still listed: with no shipped bytes nothing tells that file
from a later one whose predecessors were deleted (tests/reliability/test_gaps.py holds the
lossy twin of that shape, which must warn). Conversely, an empty generation still under its
own name keeps its family continuous only while the family was never seen rotating: a first
run that saw nothing but an empty running log, followed by rotations that retention deleted
before the next run, goes unreported (no listing shows those rotations happened).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shipper.identity import JobKind, Plan, still_under_its_name
from shipper.listing import LogFile
from shipper.names import continuity_family, stamp
from shipper.state import Generation, InstanceState, Sighting
from shipper.windows import HEADER_ONLY_REACH_MS


@dataclass(frozen=True)
class Break:
    family: str
    after_ms: int  # the newest LastWritten of the generations it broke after


def families_listed(listing: Iterable[LogFile]) -> set[str]:
    return {continuity_family(f.name) for f in listing}


def _could_have_become(seen: Sighting, listing: list[LogFile]) -> bool:
    """An empty generation (or a file whose generation was taken back) has nothing to prove
    it by: whatever it became, if a listed file of its family could be it (written within the
    hour after it was seen), nothing was lost. A name that carries its timestamp is never
    given to another file, so such a sighting can only have become the file of its own stamp:
    an Aurora audit file seen empty says nothing of the stamped files written after it."""
    fam = continuity_family(seen.name)
    own = stamp(seen.name)
    return any(continuity_family(f.name) == fam and f.size >= seen.size
               and own in (None, stamp(f.name))
               and 0 <= f.last_written_ms - seen.last_written_ms <= HEADER_ONLY_REACH_MS
               for f in listing)


def presence(plan: Plan, known: list[Generation], listing: list[LogFile]
             ) -> tuple[set[str], set[str]]:
    """(certainly listed, possibly listed) generation ids among ``known``."""
    certain = {g.gen_id for g in plan.unchanged}
    possible: set[str] = set()
    for job in plan.jobs:
        match job.kind:
            case JobKind.KNOWN:
                assert job.gen is not None
                certain.add(job.gen.gen_id)
            case JobKind.GROWN | JobKind.SAME_SIZE:
                assert job.gen is not None
                # a name that carries its hour is never given to another file
                (certain if stamp(job.name) is not None else possible).add(job.gen.gen_id)
            case JobKind.NEW | JobKind.PROVE:
                pass
        possible.update(g.gen_id for g in job.candidates)
    for gen in known:
        if gen.offset == 0 and gen.gen_id not in certain and (
                _could_have_become(gen.sighting(), listing)
                or still_under_its_name(gen, listing, known)):
            certain.add(gen.gen_id)
    return certain, possible - certain


def judge_listing(state: InstanceState, known: list[Generation], plan: Plan,
                  listing: list[LogFile]) -> tuple[list[Break], bool]:
    """Sort each listed family with known generations; record the undecided ones' baselines
    in ``state.pending_breaks``. Returns the certain breaks and whether the state must be
    written for what was decided. A new pending baseline needs no write of its own: it matters
    only once this run records newer files, and every such commit carries it."""
    certain, possible = presence(plan, known, listing)
    # A file whose generation was taken back (its name handed on before it was read) is as
    # good a member of its family as an empty generation, for one listing; but only for a
    # family that was continuous when it was listed: it says nothing of the files between a
    # pending baseline and itself.
    witnessed = {continuity_family(s.name) for s in state.unread
                 if _could_have_become(s, listing)}
    changed = bool(state.unread)
    state.unread.clear()
    by_family: dict[str, list[str]] = {}
    for gen in known:
        by_family.setdefault(continuity_family(gen.name), []).append(gen.gen_id)
    pending = state.pending_breaks
    breaks: list[Break] = []
    for fam in sorted(families_listed(listing)):
        baseline = pending.get(fam) or by_family.get(fam, [])
        if not baseline:
            continue
        if any(g in certain for g in baseline) or (fam in witnessed and fam not in pending):
            changed |= pending.pop(fam, None) is not None
        elif any(g in possible for g in baseline):
            pending.setdefault(fam, list(baseline))
        else:
            breaks.append(Break(fam, _newest(state, baseline)))
            changed |= pending.pop(fam, None) is not None
    return breaks, changed


def decide_pending(state: InstanceState, found: set[str], listing: list[LogFile]
                   ) -> tuple[list[Break], bool]:
    """After a complete pass (every proof ran, vanished generations are marked missing):
    a pending family is continuous if one of its baseline generations was found, broken if
    all of them are missing; still undecided if some were deferred (their download failed)."""
    listed = families_listed(listing)
    breaks: list[Break] = []
    changed = False
    for fam, baseline in sorted(state.pending_breaks.items()):
        if fam not in listed:
            continue
        gens = [state.generations.get(g) for g in baseline]
        if any(g is not None and g.gen_id in found for g in gens):
            del state.pending_breaks[fam]
            changed = True
        elif all(g is None or g.missing_since_ms is not None for g in gens):
            breaks.append(Break(fam, _newest(state, baseline)))
            del state.pending_breaks[fam]
            changed = True
    return breaks, changed


def _newest(state: InstanceState, baseline: list[str]) -> int:
    return max((g.seen_last_written_ms for g in (state.generations.get(i) for i in baseline)
                if g is not None), default=0)
