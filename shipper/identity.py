"""Which listed log file is which generation: the identity rules.

A log file's name is not its identity. RDS renames the same bytes to a new name (SQL Server
``ERROR`` -> ``ERROR.1``, MySQL ``mysql-error-running.log`` -> ``….YYYY-MM-DD.HH``) and gives an
old name new bytes (MySQL ``mysql-slowquery.log.N`` every day, each starting with the same
header). So each listed file is matched against what we know, in order of certainty:

1. same name, same (Size, LastWritten) as last seen: the same generation, unchanged;
2. another name with exactly the last seen (Size, LastWritten): renamed (a rename keeps mtime);
3. otherwise it is a candidate match, proven by content: sha256 range checks of bytes we shipped
   (the head and recent tails) are compared while the file streams from offset 0, and the longest
   verified match wins; no match means a new generation.

A file that grew under the name we last saw it by ("stay") resumes from its stored
DownloadDBLogFilePortion marker, but only after every content proof of the instance has run (a
proof may show that generation moved to another name, making this file a new one), and only
while the marker's hour still matches (a reused name holds a generation of another hour).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from shipper.rdsapi import LogFile
from shipper.state import Generation, InstanceState

# Rotation suffixes, most specific first; one is stripped to name a file's family.
_SUFFIXES = (
    re.compile(r"\.\d{4}-\d{2}-\d{2}-\d{2}-\d{2}\.\d+$"),  # Aurora MySQL audit
    re.compile(r"\.\d{4}-\d{2}-\d{2}-\d{2}(\d{2})?(\.gz)?$"),  # PostgreSQL hourly (Aurora HHMM)
    re.compile(r"\.\d{4}-\d{2}-\d{2}\.\d{2}$"),  # MySQL error log, renamed hourly
    re.compile(r"\.\d+$"),  # MySQL .N, SQL Server ERROR.N
)
TINY_GENERATION = 4096
HOUR_MS = 3_600_000
HEADER_ONLY_REACH_MS = HOUR_MS + 10 * 60_000


def family(name: str) -> str:
    for pattern in _SUFFIXES:
        stripped = pattern.sub("", name)
        if stripped != name:
            return stripped
    return name


@dataclass
class FileJob:
    """One listed file that needs work this run.

    ``gen``: identity certain. ``stay``: the generation last seen under this name, grown since;
    tried after the content proofs of the instance (a proof may show it moved elsewhere).
    ``hold``: the generation last seen under this name while it was being written, which has a
    newer LastWritten but no more bytes: an append-only log that was written must have grown,
    so this is either a listing whose Size lags or a new file of the same size; it is decided
    last, and left for the next run unless that generation was proven elsewhere. (A closed
    file that comes back with a newer LastWritten is proven by content like a rename.)
    ``candidates``: known generations to prove by content (renamed ones).
    """

    file: LogFile
    active: bool
    gen: Generation | None = None
    stay: Generation | None = None
    hold: Generation | None = None
    candidates: list[Generation] = field(default_factory=list)
    resume_portion: bool = False

    @property
    def name(self) -> str:
        return self.file.name


@dataclass
class Plan:
    jobs: list[FileJob]
    unchanged: list[Generation]
    displaced: list[Generation]


def _plausible(gen: Generation, file: LogFile) -> bool:
    """Could ``file`` be ``gen``, renamed and perhaps grown? Content decides, this only filters."""
    if gen.offset > file.size or file.last_written_ms < gen.seen_lw:
        return False
    if gen.offset == 0:
        return False  # nothing to prove it by
    if gen.header_only and file.last_written_ms - gen.seen_lw > HEADER_ONLY_REACH_MS:
        # Only the engine's common header to prove it by: it can be the file its name was
        # rotated to (last written within the hour after it was seen), not a later hour's.
        return False
    if family(gen.name) != family(file.name):
        return False
    return not _quiet_tiny(gen, file)


def _empty_and_stale(gen: Generation, file: LogFile) -> bool:
    """Nothing shipped, so nothing to prove it by: a file under its name over an hour later
    (its name rotated away meanwhile) is a new one, not its continuation."""
    return gen.offset == 0 and file.last_written_ms - gen.seen_lw > HEADER_ONLY_REACH_MS


def _provable_here(gen: Generation, file: LogFile) -> bool:
    """May ``file``, listed under ``gen``'s own name, be proven to be ``gen`` whatever its
    listed Size says? Only if ``gen`` has distinguishing bytes to prove it by."""
    return (gen.offset > 0 and file.last_written_ms >= gen.seen_lw
            and not (gen.header_only
                     and file.last_written_ms - gen.seen_lw > HEADER_ONLY_REACH_MS)
            and not _quiet_tiny(gen, file))


def continuity_family(name: str) -> str:
    """Files that replace one another over time (digits folded: Oracle and SQL Server trace
    files get new numbered names), for noticing that all of them vanished between runs."""
    return re.sub(r"\d+", "#", family(name))


def _quiet_tiny(gen: Generation, file: LogFile) -> bool:
    """A tiny closed generation (often nothing but the engine's common header) whose name comes
    back over an hour later is a new file: real logs do not reopen a closed file that late, and
    content alone cannot tell two copies of the same header apart."""
    quiet_for = file.last_written_ms - gen.seen_lw
    return gen.offset <= TINY_GENERATION and not gen.active and quiet_for > HOUR_MS


_TRACE_SUFFIXES = (".trc", ".trm", ".xel")


def _activity_group(name: str) -> str:
    """Files of which only the newest is being written: a family, except that trace files
    (Oracle, SQL Server), each a new numbered name, form one group per pattern."""
    return continuity_family(name) if name.endswith(_TRACE_SUFFIXES) else family(name)


def active_names(listing: Iterable[LogFile]) -> set[str]:
    newest: dict[str, int] = {}
    files = list(listing)
    for f in files:
        group = _activity_group(f.name)
        newest[group] = max(newest.get(group, -1), f.last_written_ms)
    return {f.name for f in files
            if f.last_written_ms == newest[_activity_group(f.name)]
            and not f.name.endswith(".gz")}


def make_plan(state: InstanceState, listing: list[LogFile]) -> Plan:
    by_name = {f.name: f for f in listing}
    active = active_names(listing)
    jobs: list[FileJob] = []
    unchanged: list[Generation] = []
    claimed_names: set[str] = set()
    settled: set[str] = set()

    # 1. Same name, same LastWritten, not smaller than what we shipped: the same generation
    # (a listed Size may lag behind the file, never behind our offset unless the name now
    # holds a new file written in the same millisecond: that case is proven in step 3).
    for gen in state.generations.values():
        f = by_name.get(gen.name)
        if f is not None and f.last_written_ms == gen.seen_lw and f.size >= gen.offset \
                and f.name not in claimed_names:
            claimed_names.add(f.name)
            settled.add(gen.gen_id)
            if gen.offset < f.size:
                jobs.append(FileJob(f, f.name in active, gen=gen,
                                    resume_portion=_can_resume(gen, f.name)))
            else:
                unchanged.append(gen)

    # 2. Renamed, unchanged: another name carries exactly the last seen entry.
    for gen in state.generations.values():
        if gen.gen_id in settled:
            continue
        for f in listing:
            if f.name in claimed_names or family(f.name) != family(gen.name):
                continue
            if (f.size, f.last_written_ms) == (gen.seen_size, gen.seen_lw) and gen.seen_size > 0:
                claimed_names.add(f.name)
                settled.add(gen.gen_id)
                if gen.offset < f.size:
                    jobs.append(FileJob(f, f.name in active, gen=gen))
                else:
                    unchanged.append(gen)
                break

    # 3. Everything else: a grown file under its old name (tried last), or candidates to prove
    # by content (a rename that grew, or a reused name), or a new generation.
    open_gens = [g for g in state.generations.values() if g.gen_id not in settled]
    for f in listing:
        if f.name in claimed_names:
            continue
        prev = next((g for g in open_gens if g.name == f.name and g.missing_since_ms is None),
                    None)
        stay = hold = None
        others = [g for g in open_gens if g is not prev and _plausible(g, f)]
        if prev is not None and f.last_written_ms > prev.seen_lw and not _quiet_tiny(prev, f) \
                and not _empty_and_stale(prev, f):
            if f.size > prev.seen_size:
                stay = prev
            elif f.size == prev.seen_size and prev.active:
                hold = prev  # only a file being written can have a listed Size that lags
        if prev is not None and stay is None and hold is None and _provable_here(prev, f):
            # Smaller than before: a new file, or a listing whose Size lags behind the file
            # (even behind what we shipped); the stream, not the listing, decides.
            others.append(prev)
        others.sort(key=lambda g: g.offset, reverse=True)
        jobs.append(FileJob(f, f.name in active, stay=stay, hold=hold, candidates=others))

    return Plan(jobs, unchanged, open_gens)


def _can_resume(gen: Generation, name: str) -> bool:
    return bool(gen.marker) and gen.marker_name == name
