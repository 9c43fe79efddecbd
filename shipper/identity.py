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
# The timestamped ones name a file for good: it is never renamed to another timestamp.
_STAMPED = _SUFFIXES[:3]
TINY_GENERATION = 4096
HOUR_MS = 3_600_000
HEADER_ONLY_REACH_MS = HOUR_MS + 10 * 60_000
# A reused name (MySQL .N) comes back with a generation of the same hour a day later; within
# this window a matching marker hour identifies the generation.
STAY_TRUST_MS = 23 * HOUR_MS


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
    ``header_proves``: ``stay`` holds only the engine's header, which proves it only because
    the listing shows its name was not rotated since (a marker of that name proves more).
    """

    file: LogFile
    active: bool
    gen: Generation | None = None
    stay: Generation | None = None
    hold: Generation | None = None
    candidates: list[Generation] = field(default_factory=list)
    resume_portion: bool = False
    header_proves: bool = False

    @property
    def name(self) -> str:
        return self.file.name


@dataclass
class Plan:
    jobs: list[FileJob]
    unchanged: list[Generation]
    displaced: list[Generation]


def stamp(name: str) -> str | None:
    """The timestamp a rotated name carries (``.2024-01-02-03``), without ``.gz``; None for
    names without one (running logs, ``.N`` slots, SQL Server's chain, trace files)."""
    for pattern in _STAMPED:
        match = pattern.search(name)
        if match:
            return match.group(0).removesuffix(".gz")
    return None


def _plausible(gen: Generation, file: LogFile) -> bool:
    """Could ``file`` be ``gen``, renamed and perhaps grown? Content decides, this only filters."""
    if gen.offset > file.size or file.last_written_ms < gen.seen_lw:
        return False
    if stamp(gen.name) not in (None, stamp(file.name)):
        return False  # a file named for its hour keeps that name (PostgreSQL's next hour)
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


def _unprovable_stay(gen: Generation, file: LogFile) -> bool:
    """A header-only generation can be resumed under its name only by a marker of that name
    whose hour the file still matches: with none, or over STAY_TRUST_MS later, and past the
    header's reach, nothing could prove it (the file is a new one, decided as such now)."""
    if not gen.header_only:
        return False
    quiet_for = file.last_written_ms - gen.seen_lw
    usable_marker = bool(gen.marker) and gen.marker_name == file.name \
        and quiet_for < STAY_TRUST_MS
    return quiet_for > HEADER_ONLY_REACH_MS and not usable_marker


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
        prev = _last_under(f.name, open_gens)
        stay = hold = None
        header_proves = False
        others = [g for g in open_gens if g is not prev and _plausible(g, f)]
        if prev is not None and f.last_written_ms > prev.seen_lw and not _quiet_tiny(prev, f) \
                and not _empty_and_stale(prev, f) and not _rotated_away(prev, listing):
            if f.size > prev.seen_size and not _unprovable_stay(prev, f):
                stay = prev
                header_proves = _header_proves(prev, f, listing)
            elif f.size == prev.seen_size and prev.active:
                hold = prev  # only a file being written can have a listed Size that lags
        if prev is not None and stay is None and hold is None and _provable_here(prev, f):
            # Smaller than before: a new file, or a listing whose Size lags behind the file
            # (even behind what we shipped); the stream, not the listing, decides.
            others.append(prev)
        others.sort(key=lambda g: g.offset, reverse=True)
        jobs.append(FileJob(f, f.name in active, stay=stay, hold=hold, candidates=others,
                            header_proves=header_proves))

    return Plan(jobs, unchanged, open_gens)


def _last_under(name: str, gens: list[Generation]) -> Generation | None:
    """The generation last listed under ``name``. A run that stopped early may leave an older
    one recorded under the same name (it could not yet conclude where that one went); the
    newest is the one the name held last, the older one proves nothing about this file."""
    same = [g for g in gens if g.name == name and g.missing_since_ms is None]
    return max(same, key=lambda g: (g.seen_lw, g.offset, g.first_seen_ms), default=None)


def _rotated_away(gen: Generation, listing: list[LogFile]) -> bool:
    """Has an empty generation's name been rotated since it was seen? Nothing was shipped, so
    content cannot tell; the listing can (``_rotation_seen``). Then the file now under its
    name is the next one, not its continuation."""
    return gen.offset == 0 and _running_log(gen) and _rotation_seen(gen, listing)


def _header_proves(gen: Generation, file: LogFile, listing: list[LogFile]) -> bool:
    """May a header-only generation with no usable marker be proven by its header alone to be
    the running log now under its name? Only while the listing shows that name was not
    rotated since it was seen, and within the header's reach (an older rotation may be gone
    from the listing by retention)."""
    return (gen.header_only and _running_log(gen) and file.name == gen.name
            and file.last_written_ms - gen.seen_lw <= HEADER_ONLY_REACH_MS
            and not _rotation_seen(gen, listing))


def _running_log(gen: Generation) -> bool:
    """A generation last seen being written under a base name (no rotation suffix): the
    name is handed to the next file at rotation."""
    return gen.active and family(gen.name) == gen.name


def _rotation_seen(gen: Generation, listing: list[LogFile]) -> bool:
    """Does the listing show a rotation of ``gen``'s name since it was seen: a closed file
    of its family under another name that was written after it was seen (the rotation closed
    it), or that carries exactly its (Size, LastWritten) (a rename keeps the mtime)?"""
    fam = family(gen.name)
    for f in listing:
        if f.name == gen.name or family(f.name) != fam or f.name.endswith(".gz"):
            continue
        if f.last_written_ms > gen.seen_lw or (f.size == gen.seen_size
                                                and f.last_written_ms == gen.seen_lw):
            return True
    return False


def _can_resume(gen: Generation, name: str) -> bool:
    return bool(gen.marker) and gen.marker_name == name
