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

What a name says (its family, its stamp, whether RDS may hand it on) is ``shipper.names``;
the check that a name still holds its file before the first object read under it is
``shipper.name_check``. The plan from a listing (``make_plan``) and the rules applied while a
file is read (``marker_may_prove``, ``content_may_prove``, ``prove_by_content``) live here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import Enum

from shipper.listing import LogFile
from shipper.names import active_names, family, is_running_name, stamp
from shipper.state import Generation, InstanceState
from shipper.transfer import RangeVerifier
from shipper.windows import HEADER_ONLY_REACH_MS, HOUR_MS, MARKER_TRUST_MS, TINY_GENERATION


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
    return quiet_for > HEADER_ONLY_REACH_MS and not marker_may_prove(gen, file)


def _provable_here(gen: Generation, file: LogFile) -> bool:
    """May ``file``, listed under ``gen``'s own name, be proven to be ``gen`` whatever its
    listed Size says? Only if ``gen`` has distinguishing bytes to prove it by."""
    return (gen.offset > 0 and file.last_written_ms >= gen.seen_last_written_ms
            and not (gen.header_only
                     and file.last_written_ms - gen.seen_last_written_ms > HEADER_ONLY_REACH_MS)
            and not _quiet_tiny(gen, file))


def _quiet_tiny(gen: Generation, file: LogFile) -> bool:
    """A tiny closed generation (often nothing but the engine's common header) whose name comes
    back over an hour later is a new file: real logs do not reopen a closed file that late, and
    content alone cannot tell two copies of the same header apart."""
    quiet_for = file.last_written_ms - gen.seen_last_written_ms
    return gen.offset <= TINY_GENERATION and not gen.active and quiet_for > HOUR_MS


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
            matching.match(gen, f, resume_portion=gen.marker_for(f.name) is not None)


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
        if _provable_here(prev, file) and not _header_rotated_away(prev, listing):
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
    """Has a running log's name been rotated since ``gen`` was seen (``_rotation_seen``)?
    Then the file now under its name is the next one, not its continuation: never GROWN,
    which would resume it by the stored marker, whose hour is only a hint. With bytes
    shipped, content may still be asked (a PROVE candidate); with none, nothing can."""
    return _running_log(gen) and _rotation_seen(gen, listing)


def _header_rotated_away(gen: Generation, listing: list[LogFile]) -> bool:
    """Is ``gen`` a header-only running log whose name the listing shows rotated since it was
    seen? Then it is the rotated file, and the file now under its name a new one that its
    header would match all the same: the stream cannot decide, the listing does."""
    return gen.header_only and is_running_name(gen.name) and _rotation_seen(gen, listing)


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


# --- identity by what the file holds (while it is being read) ----------------------------------


def marker_may_prove(gen: Generation, file: LogFile) -> bool:
    """A GROWN file resumes from ``gen``'s stored marker only if the marker was taken under
    this name within MARKER_TRUST_MS; the pages then prove it by the marker's hour."""
    return (file.last_written_ms - gen.seen_last_written_ms < MARKER_TRUST_MS
            and gen.marker_for(file.name) is not None)


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
