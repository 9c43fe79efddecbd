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

Each file needing work becomes a ``FileJob`` of one ``JobKind``. A file that GREW under the
name we last saw it by resumes from its stored DownloadDBLogFilePortion marker, but only after
every content proof of the instance has run (a proof may show that generation moved to another
name, making this file a new one), and only while the marker's hour still matches (a reused
name holds a generation of another hour).

A generation is minted for a listed name before any of its data (the intent), but the name is
read later, and it may be handed on in between: a chain slot (SQL Server ``ERROR.N``, MySQL
``.N``) shifts, and a running file without a stamp in its name (MySQL
``mysql-error-running.log``, ``mysql-slowquery.log``, SQL Server ``ERROR``, Oracle's alert log)
rotates. The name then holds the bytes of another file, which its own job (or the next run)
ships as well. A generation with shipped bytes is safe, its range checks prove the stream; one
with none (offset 0) has nothing to prove it by. So before the first object of an empty
generation read under such a name, its family is listed again (``needs_name_check``,
``name_still_holds``), after the stream was opened. That is one ``DescribeDBLogFiles`` per
family and rotation (hourly for MySQL's running logs), none in an idle run:

* a chain slot still showing the LastWritten the plan saw held that same file from the listing
  until now (a rename keeps the mtime and renames only move forward). Otherwise nothing is
  written, and the generation stays with the (Size, LastWritten) recorded: the rename rule
  finds the file under its next slot, and if it was pushed out of the chain, its loss counts;
* a running file is unrotated while no other file of its family was last written at or after
  the plan's listed LastWritten, unless the plan's listing showed it so already (a rotation
  keeps the mtime; a new file can share the millisecond of the one rotated before). Otherwise
  nothing is written and an empty generation minted from this listing is forgotten
  (``Ledger.forget_empty``): the listed (Size, LastWritten) belong to the file that rotated
  away, and kept, they would hand that file to this generation by the rename rule even where
  another generation had shipped its bytes (a rotation mid-paging, tests/scenarios/
  test_quirks.py). The next listing decides both files afresh; the rotated one is kept under
  its new name for the retention period, and until then what the listing showed of it is kept
  for continuity (a ``Sighting``, ``shipper.continuity``). An
  empty generation that a grown file was planned as is kept instead: it was recorded by an
  earlier listing, while the name held it, so its (Size, LastWritten) hand it no other file;
  and it is what tells the family's continuity that the rotated file is the one it became
  (forgotten, the chain pushing out the family's last shipped file read as a break: property
  example Q2, a false suspected gap).

The listing's word is as stale for bytes a grown generation gets only because the listing
said so: pages that came back with another hour than the stored marker's, continued because
the listing proved the name (``name_proves``), and a header-only generation proven by its
header (``header_proves``). Before their first object the family is listed again too
(``needs_name_check(on_listing_word=True)``, one request, only when the hour differs); if the
name was handed on meanwhile, nothing is written and the generation waits for the next listing,
which shows its file under the new name (property example R: the next hour's bytes were
appended to MySQL's general log). And a grown file that turns out not to be its generation is
asked the same before the generation is given up: handed on after the listing, the generation
is not missing, only under a name this run's listing does not show.

The name check reads "handed on" from the family listing: the name missing, older, or (a
running log) another file of its family written since. That listing must be the whole family,
every page (``RdsApi.log_files_like``), or a name past the first page reads as handed on in a
world where nothing moved. Issue 28 was exactly that: MySQL's slow and general families hold 25
names, ``….log.5`` to ``….log.9`` sort last, and with a 20-record page (the API reference sets
no page size) every one of them failed the check. A reused name is no exception to the rule
once the listing is whole. A day-old generation under ``….log.N`` is prev for the new file
under that name; when the new file is larger it is GROWN, its proof fails (other bytes), and
the name check finds the name listed with the LastWritten the plan saw (a closed slot keeps it)
or, for a running file, no newer file of the family: not handed on, so the file is proven
against the other candidates and else shipped as new. The same holds for every reused name:
SQL Server's ``ERROR.N`` and ``SQLAGENT.N`` and MariaDB's ``server_audit.log.N`` (chain slots,
renamed forward with their mtime: a shift after the listing changes the slot's LastWritten, a
real hand-on), and Oracle's ``alert_<SID>.log.YYYY-MM-DD`` (stamped: never checked). A file
left for the next listing by this or any other rule is counted, and the second time in a row
is an error (``shipper.deferrals``): a misread that defers a file forever cannot stay quiet.

A generation minted for a file after a content proof matched none of its candidates is
forgotten too, under either kind of name: the proof streamed the name, and may have read the
file it was handed to, so the listed file may still be one of the candidates. Kept, a slot's
generation would be handed that file by the rename rule, its bytes shipped twice (property
example O). ``forget_when_handed_on`` is the rule. A generation with a failed write is never
forgotten: that object may be durable, and only a generation in the state is looked for by
the next run (``Ledger.adopt_dangling``). It is kept, and rightly handed the listed file:
the write passed the name check, so its bytes are that file's.

A family listing that comes back empty says nothing (listings are empty for a moment at
times): it is asked for again before it is believed (``rdsapi.believed_listing``).

Read fresh under the old listing instead, the new file's bytes were filed under a generation
first seen before the file existed (a wrong ``dt=`` partition, and the rotated file's loss
would go unnoticed): the property suite's "continued by a later file" check found it in
rotation bursts. Names carrying their hour and numbered trace files are never handed on. Two
runs never hold one instance at once (``shipper.lease``; the state commit is conditional on its
ETag), so this one-holder window was the one to close.

Every identity rule lives here: the plan from a listing (``make_plan``), and the rules applied
while a file is read (``marker_may_prove``, ``content_may_prove``, ``prove_by_content``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import Enum

from shipper.rdsapi import LogFile
from shipper.state import Generation, InstanceState
from shipper.transfer import RangeVerifier

# Rotation suffixes, most specific first; one is stripped to name a file's family.
_SUFFIXES = (
    re.compile(r"\.\d{4}-\d{2}-\d{2}-\d{2}-\d{2}\.\d+$"),  # Aurora MySQL audit
    re.compile(r"\.\d{4}-\d{2}-\d{2}-\d{2}(\d{2})?(\.gz)?$"),  # PostgreSQL hourly (Aurora HHMM)
    re.compile(r"\.\d{4}-\d{2}-\d{2}\.\d{2}$"),  # MySQL error log, renamed hourly
    # Oracle's alert log, renamed daily (trace/alert_<SID>.log.YYYY-MM-DD); PostgreSQL's
    # daily log_filename (postgresql.log.YYYY-MM-DD)
    re.compile(r"\.\d{4}-\d{2}-\d{2}$"),
    # MySQL .N, SQL Server ERROR.N and SQLAGENT.N, MariaDB server_audit.log.N
    re.compile(r"\.\d+$"),
)
# The timestamped ones name a file for good: it is never renamed to another timestamp.
_STAMPED = _SUFFIXES[:4]
# The last one numbers the slots of a rename chain, which the next rotation gives on.
_CHAIN_SLOT = _SUFFIXES[-1]
# Running logs whose own name carries a suffix their rotated names do not: SQL Server's agent
# log log/SQLAGENT.OUT cycles to log/SQLAGENT.1 .. .9 (sp_cycle_agent_errorlog).
_RUNNING_SUFFIXES = (re.compile(r"(?<=/SQLAGENT)\.OUT$"),)
TINY_GENERATION = 4096
HOUR_MS = 3_600_000
HEADER_ONLY_REACH_MS = HOUR_MS + 10 * 60_000
# A reused name (MySQL .N) comes back with a generation of the same hour a day later; within
# this window a matching marker hour identifies the generation.
MARKER_TRUST_MS = 23 * HOUR_MS


def family(name: str) -> str:
    for pattern in _SUFFIXES:
        stripped = pattern.sub("", name)
        if stripped != name:
            return stripped
    return running_base(name)


def running_base(name: str) -> str:
    """The family a running log's name stands for (``log/SQLAGENT.OUT`` -> ``log/SQLAGENT``);
    other names are their own."""
    for pattern in _RUNNING_SUFFIXES:
        name = pattern.sub("", name)
    return name


def is_running_name(name: str) -> bool:
    """A name without a rotation suffix: RDS hands it to the next file at each rotation."""
    return not any(p.search(name) for p in _SUFFIXES)


class JobKind(Enum):
    """What a listed file is known to be, which decides how (and in which phase) it ships."""

    KNOWN = "known"  # certainly ``gen``: same name and LastWritten, or an exact rename
    NEW = "new"  # certainly a new generation: recorded (an intent) before any of its data
    PROVE = "prove"  # content decides among ``candidates``; none proven: a new generation
    # Grew under the name ``gen`` was last seen by; tried after the content proofs (a proof
    # may show ``gen`` moved elsewhere), then proven like PROVE if it turns out not to be it.
    GROWN = "grown"
    # ``gen`` was being written under this name and is listed with a newer LastWritten but
    # no more bytes: an append-only log that was written must have grown, so this is either
    # a listing whose Size lags or a new file of the same size. Decided last, and left for
    # the next run unless ``gen`` was proven elsewhere. (A closed file that comes back with
    # a newer LastWritten is proven by content like a rename.)
    SAME_SIZE = "same-size"


@dataclass
class FileJob:
    """One listed file that needs work this run.

    ``gen``: the generation the kind is about (KNOWN: the file's; GROWN, SAME_SIZE: the one
    last seen under its name); None for NEW and PROVE. ``candidates``: known generations to
    prove by content (renamed ones), longest first. ``resume_portion``: a KNOWN file whose
    stored marker belongs to its name. ``header_proves``: a GROWN ``gen`` holds only the
    engine's header, which proves it only because the listing shows its name was not
    rotated since (a marker of that name proves more). ``name_proves``: a GROWN file whose
    name the listing proves still holds ``gen`` (``_name_proves``), so the marker's hour,
    only a hint, need not agree.
    """

    kind: JobKind
    file: LogFile
    active: bool
    gen: Generation | None = None
    candidates: list[Generation] = field(default_factory=list)
    resume_portion: bool = False
    header_proves: bool = False
    name_proves: bool = False

    @property
    def name(self) -> str:
        return self.file.name

    def opened(self, gen: Generation) -> FileJob:
        """A NEW file once its generation is recorded: it ships as that generation."""
        return replace(self, kind=JobKind.KNOWN, gen=gen)

    def unproven(self) -> FileJob:
        """A GROWN file that turned out not to hold ``gen``: content decides what it is."""
        return replace(self, kind=JobKind.PROVE, gen=None)


@dataclass
class Plan:
    """The listed files that need work, grouped by the phase they ship in (see
    ``shipper.instance_job``), and what the listing says about the other known generations."""

    known: list[FileJob]
    new: list[FileJob]
    proofs: list[FileJob]
    grown: list[FileJob]
    same_size: list[FileJob]
    unchanged: list[Generation]  # listed as last seen, nothing to ship
    displaced: list[Generation]  # not matched by name or rename: proven, moved or gone

    @property
    def jobs(self) -> list[FileJob]:
        return [*self.known, *self.new, *self.proofs, *self.grown, *self.same_size]


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
    if gen.offset > file.size or file.last_written_ms < gen.seen_last_written_ms:
        return False
    if stamp(gen.name) not in (None, stamp(file.name)):
        return False  # a file named for its hour keeps that name (PostgreSQL's next hour)
    if gen.offset == 0:
        return False  # nothing to prove it by
    if gen.header_only and file.last_written_ms - gen.seen_last_written_ms > HEADER_ONLY_REACH_MS:
        # Only the engine's common header to prove it by: it can be the file its name was
        # rotated to (last written within the hour after it was seen), not a later hour's.
        return False
    if family(gen.name) != family(file.name):
        return False
    return not _quiet_tiny(gen, file)


def _empty_and_stale(gen: Generation, file: LogFile) -> bool:
    """Nothing shipped, so nothing to prove it by: a file under its name over an hour later
    (its name rotated away meanwhile) is a new one, not its continuation."""
    return (gen.offset == 0
            and file.last_written_ms - gen.seen_last_written_ms > HEADER_ONLY_REACH_MS)


def _unprovable_growth(gen: Generation, file: LogFile) -> bool:
    """A header-only generation can be resumed under its name only by a marker of that name
    whose hour the file still matches: with none, or over MARKER_TRUST_MS later, and past the
    header's reach, nothing could prove it (the file is a new one, decided as such now)."""
    if not gen.header_only:
        return False
    quiet_for = file.last_written_ms - gen.seen_last_written_ms
    usable_marker = bool(gen.marker) and gen.marker_name == file.name \
        and quiet_for < MARKER_TRUST_MS
    return quiet_for > HEADER_ONLY_REACH_MS and not usable_marker


def _provable_here(gen: Generation, file: LogFile) -> bool:
    """May ``file``, listed under ``gen``'s own name, be proven to be ``gen`` whatever its
    listed Size says? Only if ``gen`` has distinguishing bytes to prove it by."""
    return (gen.offset > 0 and file.last_written_ms >= gen.seen_last_written_ms
            and not (gen.header_only
                     and file.last_written_ms - gen.seen_last_written_ms > HEADER_ONLY_REACH_MS)
            and not _quiet_tiny(gen, file))


def is_chain_slot(name: str) -> bool:
    """A name that the next rotation gives to another file (``ERROR.1`` -> ``ERROR.2``)."""
    return _CHAIN_SLOT.search(name) is not None and stamp(name) is None


def needs_name_check(gen: Generation, job: FileJob, on_listing_word: bool = False) -> bool:
    """Must ``job``'s name be listed again before its next object of ``gen`` (module
    docstring)? Before an empty generation's first object read under a chain slot or under a
    running file's unstamped name; and before the first object whose bytes are ``gen``'s only
    on the plan's listing's word (``on_listing_word``: pages of another marker hour continued
    because the listing proved the name, a header-only generation proven by its header), under
    a name without a stamp: that word is stale once the name was handed on after the listing."""
    if on_listing_word:
        return name_may_move(job.name)
    if gen.offset != 0:
        return False
    return name_may_move(job.name) if job.active else is_chain_slot(job.name)


def name_may_move(name: str) -> bool:
    """May RDS give this name to another file (a running log's, a chain slot)? A name that
    carries its timestamp never is."""
    return stamp(name) is None


def rests_on_listing(gen: Generation, hour_verified: bool) -> bool:
    """Are the bytes a stream is about to append to ``gen`` its own only because the plan's
    listing said so? A header-only generation proven by its header (``header_proves``)
    without pages of its stored marker's hour: any file of the engine starts that way."""
    return gen.header_only and not hour_verified


def forget_when_handed_on(job: FileJob, gen: Generation) -> bool:
    """The name check found ``job``'s name handed on before the first object of ``gen``, an
    empty generation: forget it (True), or keep it (module docstring)? A grown file's own
    generation is kept: an earlier listing recorded it. One minted from this listing is kept
    only for a closed chain slot that no known generation could be, with the listed (Size,
    LastWritten) for the rename rule to find the file under its next slot: a running file's
    listed entry belongs to the file that rotated away, and a file with candidates may have
    been proven against another file's bytes (the stream read the name after it was handed
    on), so the listed file may well be one of them."""
    if job.kind is JobKind.GROWN and gen is job.gen:
        return False
    return job.active or bool(job.candidates) or job.kind is JobKind.SAME_SIZE


def name_still_holds(planned: LogFile, active: bool, listing: list[LogFile],
                     before: Iterable[LogFile] = ()) -> bool:
    """Does the name still hold the file the plan saw (``listing``: its family now;
    ``before``: the plan's listing)? Listed, not older, and not smaller unless its LastWritten
    is the same (a listed Size lags behind a file being written at times: FIDELITY.md; a new
    file under the name has a new LastWritten); a closed slot with the same LastWritten (a
    rename keeps it, two files of a chain never share it); a running file not rotated since:
    no other file of its family that the plan's listing did not show so, last written at or
    after the plan's listed LastWritten. A rotation keeps the mtime, and the plan's Size may
    have lagged, so the Size cannot tell the rotated file; a file listed before with that
    LastWritten is not it, even written in the same millisecond as the new one."""
    now = next((f for f in listing if f.name == planned.name), None)
    if now is None or now.last_written_ms < planned.last_written_ms:
        return False
    if now.size < planned.size and now.last_written_ms != planned.last_written_ms:
        return False
    if not active:
        return now.last_written_ms == planned.last_written_ms
    fam = family(planned.name)
    listed_before = {(f.name, f.last_written_ms) for f in before}
    return not any(
        f.name != planned.name and family(f.name) == fam
        and f.last_written_ms >= planned.last_written_ms
        and (f.name, f.last_written_ms) not in listed_before
        for f in listing)


def continuity_family(name: str) -> str:
    """Files that replace one another over time (digits folded: Oracle and SQL Server trace
    files get new numbered names), for noticing that all of them vanished between runs."""
    return re.sub(r"\d+", "#", family(name))


def _quiet_tiny(gen: Generation, file: LogFile) -> bool:
    """A tiny closed generation (often nothing but the engine's common header) whose name comes
    back over an hour later is a new file: real logs do not reopen a closed file that late, and
    content alone cannot tell two copies of the same header apart."""
    quiet_for = file.last_written_ms - gen.seen_last_written_ms
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


@dataclass
class _Matching:
    """What the steps of ``make_plan`` decided so far: listed names taken, generations matched."""

    listing: list[LogFile]
    active: set[str]
    taken_names: set[str] = field(default_factory=set)
    matched: set[str] = field(default_factory=set)
    known: list[FileJob] = field(default_factory=list)
    unchanged: list[Generation] = field(default_factory=list)

    def match(self, gen: Generation, file: LogFile, resume_portion: bool = False) -> None:
        self.taken_names.add(file.name)
        self.matched.add(gen.gen_id)
        active = file.name in self.active
        # Read to its end at this LastWritten: a larger listed Size is only a hint.
        complete = gen.ended_below_listed and file.last_written_ms == gen.seen_last_written_ms
        if gen.offset < file.size and not complete and not _only_held_back(gen, file, active):
            self.known.append(FileJob(JobKind.KNOWN, file, active, gen=gen,
                                      resume_portion=resume_portion))
        else:
            self.unchanged.append(gen)


def _only_held_back(gen: Generation, file: LogFile, active: bool) -> bool:
    """Is all that is left of a growing file its unfinished last line, read before and held
    back (shipper.lines)? Until a write completes it (a new LastWritten) or the file closes,
    reading it again cannot ship anything."""
    return (active and file.size == gen.read_end == gen.seen_size
            and file.last_written_ms == gen.seen_last_written_ms)


def make_plan(state: InstanceState, listing: list[LogFile], complete: bool = True) -> Plan:
    """Match each listed file to what we know, most certain rule first (module docstring).
    ``complete``: False for a listing that may leave files out (``rdsapi.Listing``). It can
    show a rotation, never that there was none, so it proves no grown file by its name or
    header (``name_proves``, ``header_proves``): content and markers decide."""
    matching = _Matching(listing, active_names(listing))
    _match_unchanged(state, matching)
    _match_renamed(state, matching)
    open_gens = [g for g in state.generations.values() if g.gen_id not in matching.matched]
    plan = Plan(matching.known, [], [], [], [], matching.unchanged, open_gens)
    for file in listing:
        if file.name not in matching.taken_names:
            job = _classify(file, file.name in matching.active, open_gens, listing, complete)
            {JobKind.NEW: plan.new, JobKind.PROVE: plan.proofs, JobKind.GROWN: plan.grown,
             JobKind.SAME_SIZE: plan.same_size}[job.kind].append(job)
    return plan


def _match_unchanged(state: InstanceState, matching: _Matching) -> None:
    """Rule 1: same name, same LastWritten, not smaller than what we shipped. (A listed Size
    may lag behind the file, never behind our offset unless the name now holds a new file
    written in the same millisecond: that case is proven by content.)"""
    by_name = {f.name: f for f in matching.listing}
    for gen in state.generations.values():
        f = by_name.get(gen.name)
        if f is not None and f.last_written_ms == gen.seen_last_written_ms \
                and f.size >= gen.offset and f.name not in matching.taken_names:
            matching.match(gen, f, resume_portion=_can_resume(gen, f.name))


def _match_renamed(state: InstanceState, matching: _Matching) -> None:
    """Rule 2: another name of its family carries exactly the last seen (Size, LastWritten)."""
    for gen in state.generations.values():
        if gen.gen_id in matching.matched or gen.seen_size <= 0:
            continue
        for f in matching.listing:
            if f.name not in matching.taken_names and family(f.name) == family(gen.name) \
                    and (f.size, f.last_written_ms) == (gen.seen_size, gen.seen_last_written_ms):
                matching.match(gen, f)
                break


def _classify(file: LogFile, active: bool, open_gens: list[Generation],
              listing: list[LogFile], complete: bool) -> FileJob:
    """Rule 3, for a file no generation matched: grown under its old name (tried last), the
    same size under a newer LastWritten, candidates to prove by content (a rename that grew,
    or a reused name), or certainly new."""
    prev = _last_under(file.name, open_gens)
    others = [g for g in open_gens if g is not prev and _plausible(g, file)]
    if prev is not None:
        kind = _kind_under_old_name(prev, file, listing)
        if kind is not None:
            others.sort(key=lambda g: g.offset, reverse=True)
            by_listing = kind is JobKind.GROWN and complete
            return FileJob(kind, file, active, gen=prev, candidates=others,
                           header_proves=by_listing and _header_proves(prev, file, listing),
                           name_proves=by_listing and _name_proves(prev, file, listing))
        if _provable_here(prev, file):
            # Smaller than before: a new file, or a listing whose Size lags behind the file
            # (even behind what we shipped); the stream, not the listing, decides.
            others.append(prev)
    others.sort(key=lambda g: g.offset, reverse=True)
    return FileJob(JobKind.PROVE if others else JobKind.NEW, file, active, candidates=others)


def _kind_under_old_name(prev: Generation, file: LogFile, listing: list[LogFile]
                         ) -> JobKind | None:
    """GROWN or SAME_SIZE when ``file`` may be ``prev`` written further under its name."""
    if file.last_written_ms <= prev.seen_last_written_ms or _quiet_tiny(prev, file) \
            or _empty_and_stale(prev, file) or _rotated_away(prev, listing):
        return None
    if file.size > prev.seen_size and not _unprovable_growth(prev, file):
        return JobKind.GROWN
    if file.size == prev.seen_size and prev.active:
        return JobKind.SAME_SIZE  # only a file being written can have a listed Size that lags
    return None


def _last_under(name: str, gens: list[Generation]) -> Generation | None:
    """The generation last listed under ``name``. A run that stopped early may leave an older
    one recorded under the same name (it could not yet conclude where that one went); the
    newest is the one the name held last, the older one proves nothing about this file."""
    same = [g for g in gens if g.name == name and g.missing_since_ms is None]
    return max(same, key=lambda g: (g.seen_last_written_ms, g.offset, g.first_seen_ms),
               default=None)


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
            and file.last_written_ms - gen.seen_last_written_ms <= HEADER_ONLY_REACH_MS
            and not _rotation_seen(gen, listing))


def _name_proves(gen: Generation, file: LogFile, listing: list[LogFile]) -> bool:
    """Does the listing prove that ``file``, grown under the name ``gen`` was last seen by,
    still holds ``gen``? A name carrying its timestamp is never given to another file; a
    running log's name is, but only at a rotation, which the listing shows (the rotated file
    is written after ``gen`` was seen). Slot names (``.N``), reused by a later rotation with
    no trace in the listing, are not proven this way."""
    if file.name != gen.name:
        return False
    if stamp(file.name) is not None:
        return True
    return is_running_name(file.name) and not _rotation_seen(gen, listing)


def _running_log(gen: Generation) -> bool:
    """A generation last seen being written under a base name (no rotation suffix): the
    name is handed to the next file at rotation."""
    return gen.active and is_running_name(gen.name)


def _rotation_seen(gen: Generation, listing: list[LogFile]) -> bool:
    """Does the listing show a rotation of ``gen``'s name since it was seen: a closed file
    of its family under another name that was written after it was seen (the rotation closed
    it), or that carries exactly its (Size, LastWritten) (a rename keeps the mtime)?"""
    fam = family(gen.name)
    for f in listing:
        if f.name == gen.name or family(f.name) != fam or f.name.endswith(".gz"):
            continue
        if f.last_written_ms > gen.seen_last_written_ms or (f.size == gen.seen_size
                                                and f.last_written_ms == gen.seen_last_written_ms):
            return True
    return False


def still_under_its_name(gen: Generation, listing: list[LogFile],
                         known: list[Generation]) -> bool:
    """Is the file listed under ``gen``'s name still ``gen`` as far as anyone can tell? Its
    name is listed, not smaller and not older than when seen, and the name was never handed
    on: it carries its hour, or its family was never seen rotating (no known generation of
    it under another name: a rotation whose files retention deleted leaves no trace in the
    listing) and no other file of its family was written since. For an empty
    generation (nothing shipped to prove it by) this keeps its family continuous: nothing of
    it can have been lost, and the file is shipped again from offset 0 as a new one. (An
    empty generation whose name was handed on cannot be told from a loss: see continuity.)"""
    f = next((f for f in listing if f.name == gen.name), None)
    if f is None or f.size < gen.seen_size or f.last_written_ms < gen.seen_last_written_ms:
        return False
    if stamp(gen.name) is not None:
        return True
    fam = family(gen.name)
    seen_rotating = any(g.name != gen.name and family(g.name) == fam for g in known)
    return not seen_rotating and not _rotated_away(gen, listing)


def _can_resume(gen: Generation, name: str) -> bool:
    return bool(gen.marker) and gen.marker_name == name


# --- identity by what the file holds (while it is being read) ----------------------------------


def marker_may_prove(gen: Generation, file: LogFile) -> bool:
    """A GROWN file resumes from ``gen``'s stored marker only if the marker was taken under
    this name within MARKER_TRUST_MS; the pages then prove it by the marker's hour."""
    return (file.last_written_ms - gen.seen_last_written_ms < MARKER_TRUST_MS and bool(gen.marker)
            and gen.marker_name == file.name)


def content_may_prove(gen: Generation, job: FileJob, hour_verified: bool = False) -> bool:
    """May the bytes shipped so far prove that ``job``'s file is ``gen``? Not when they are only
    the engine's header (any file's header): then only pages carrying the stored marker's hour
    (``hour_verified``) or the listing (``job.header_proves``) can tell."""
    return not gen.header_only or hour_verified or job.header_proves


def prove_by_content(candidates: list[Generation], chunks: Iterable[bytes],
                     available: Callable[[Generation], bool]) -> Generation | None:
    """Which of ``candidates`` (longest first) the file streamed as ``chunks`` from offset 0
    is: the longest whose range checks all match and that ``available`` still allows."""
    verifiers = [(g, RangeVerifier(g.checks)) for g in candidates]
    until = max(g.offset for g in candidates)
    pos = 0
    for chunk in chunks:
        for gen, verifier in verifiers:
            if pos < gen.offset:
                verifier.feed(pos, chunk[: gen.offset - pos])
        pos += len(chunk)
        if pos >= until:
            break
    for gen, verifier in verifiers:
        if pos >= gen.offset and verifier.matches(gen.offset) and available(gen):
            return gen
    return None
