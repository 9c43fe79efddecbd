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

Only the growing (most recently written) file of a family whose other files did not change is
trusted without content proof, so that it can resume through DownloadDBLogFilePortion markers.
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


def family(name: str) -> str:
    for pattern in _SUFFIXES:
        stripped = pattern.sub("", name)
        if stripped != name:
            return stripped
    return name


@dataclass
class FileJob:
    """One listed file that needs work this run."""

    file: LogFile
    active: bool
    gen: Generation | None = None  # identity already certain
    candidates: list[Generation] = field(default_factory=list)  # to prove by content
    resume_portion: bool = False  # certain identity, resume from the stored marker

    @property
    def name(self) -> str:
        return self.file.name


@dataclass
class Plan:
    jobs: list[FileJob]
    unchanged: list[Generation]
    displaced: list[Generation]


def _grew(gen: Generation, file: LogFile) -> bool:
    return (file.size >= gen.seen_size and file.last_written_ms >= gen.seen_lw
            and (file.size, file.last_written_ms) != (gen.seen_size, gen.seen_lw))


def _plausible(gen: Generation, file: LogFile) -> bool:
    """Could ``file`` be ``gen``, renamed and perhaps grown? Content decides, this only filters."""
    if gen.offset > file.size or file.last_written_ms < gen.seen_lw:
        return False
    if family(gen.name) != family(file.name):
        return False
    # A tiny closed generation (often nothing but the engine's common header) whose name comes
    # back over an hour later is a new file: real logs do not reopen a closed file that late,
    # and content alone cannot tell two copies of the same header apart.
    quiet_for = file.last_written_ms - gen.seen_lw
    return not (gen.offset <= TINY_GENERATION and not gen.active and quiet_for > HOUR_MS)


def active_names(listing: Iterable[LogFile]) -> set[str]:
    newest: dict[str, int] = {}
    files = list(listing)
    for f in files:
        fam = family(f.name)
        newest[fam] = max(newest.get(fam, -1), f.last_written_ms)
    return {f.name for f in files
            if f.last_written_ms == newest[family(f.name)] and not f.name.endswith(".gz")}


def make_plan(state: InstanceState, listing: list[LogFile]) -> Plan:
    by_name = {f.name: f for f in listing}
    active = active_names(listing)
    jobs: list[FileJob] = []
    unchanged: list[Generation] = []
    claimed_names: set[str] = set()
    settled: set[str] = set()

    # 1. Same name, same listing entry.
    for gen in state.generations.values():
        f = by_name.get(gen.name)
        if f is not None and (f.size, f.last_written_ms) == (gen.seen_size, gen.seen_lw) \
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

    # 3. Everything else: candidates proven by content, or trusted growth of the active file.
    open_gens = [g for g in state.generations.values() if g.gen_id not in settled]
    changed = [f for f in listing if f.name not in claimed_names]
    changed_families = [family(f.name) for f in changed]
    for f in changed:
        stay = next((g for g in open_gens if g.name == f.name and g.missing_since_ms is None
                     and _grew(g, f)), None)
        others = [g for g in open_gens if g is not stay and g.name != f.name and _plausible(g, f)]
        lone_change = changed_families.count(family(f.name)) == 1
        if stay is not None and not others and lone_change and f.name in active:
            jobs.append(FileJob(f, True, gen=stay, resume_portion=_can_resume(stay, f.name)))
            settled.add(stay.gen_id)
            continue
        candidates = ([stay] if stay is not None else []) + others
        candidates.sort(key=lambda g: g.offset, reverse=True)
        jobs.append(FileJob(f, f.name in active, candidates=candidates))

    displaced = [g for g in open_gens if g.gen_id not in settled]
    # Proving candidates first lets their claims settle before the growing files are read.
    jobs.sort(key=lambda j: (j.gen is not None, j.active))
    return Plan(jobs, unchanged, displaced)


def _can_resume(gen: Generation, name: str) -> bool:
    return bool(gen.marker) and gen.marker_name == name
