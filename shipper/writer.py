"""The write path of one file job, and the only code in it that changes a generation.

The paging and REST paths hand it the bytes they read past what is shipped. It cuts them
into whole-line objects (``shipper.lines``), runs the name check before each object
(``shipper.name_check``), writes each through the ledger (``shipper.ledger``), and records
what the job learnt of its generations: where a file was seen and read to, the marker the
next run's portions start from, the Size a listing promised, a generation opened for a new
file. A name handed to another file since the plan's listing stops the write, and the file
is left for the next listing (``shipper.deferrals``).
"""

from __future__ import annotations

from shipper.deferrals import Reason
from shipper.exceptions import DownloadMismatchError
from shipper.identity import FileJob
from shipper.instance_run import InstanceRun
from shipper.ledger import record_sighting
from shipper.lines import WholeLineObjects
from shipper.name_check import (
    expects_name_check,
    forget_when_handed_on,
    name_still_holds,
    needs_name_check,
)
from shipper.names import family, name_may_move
from shipper.state import Generation
from shipper.transfer import SealedObject


class JobWriter:
    """Writes one file job's objects: ``start`` a generation at its offset, ``feed`` the
    bytes that follow (``mark`` portion markers), then ``finish`` at the end of what was read
    or ``cut_short`` when reading failed."""

    def __init__(self, run: InstanceRun, job: FileJob) -> None:
        self._run = run
        self._ledger = run.ledger
        self.job = job
        # The bytes being read are the generation's only on the plan's listing's word, not
        # yet checked against a listing made after they were read (name_check.needs_name_check).
        self.on_listing_word = False
        # the last name check's family listing was empty or incomplete: it could not tell
        self._family_unknown = False
        self._gen: Generation | None = None
        self._lines: WholeLineObjects | None = None
        self._expected = False  # counted among the family's checks to come

    # --- the job's name check, gathered with its family's (shipper.family_listings) ---

    def expect_check(self) -> None:
        """The job is handed to the pool: count it among its family's checks to come, if it
        will check."""
        if expects_name_check(self.job):
            self._run.families.expect(family(self.job.name))
            self._expected = True

    def no_more_checks(self) -> None:
        """The job checked, or will not: its family's listing need not wait for it."""
        if self._expected:
            self._expected = False
            self._run.families.done(family(self.job.name))

    # --- objects -------------------------------------------------------------------------

    def start(self, gen: Generation, marker: tuple[int, str] | None = None) -> None:
        """Write ``gen`` from its offset on; ``marker``: a portion marker at a known offset."""
        self._gen = gen
        self._lines = WholeLineObjects(gen.offset, self._run.settings.object_bytes, marker)
        if not needs_name_check(gen, self.job, self.on_listing_word):
            self.no_more_checks()

    def feed(self, data: bytes, marker: str | None = None) -> None:
        """The next bytes read; ``marker``: a portion marker pointing just after them."""
        self._write_all(self._cutter().feed(data, marker))

    def mark(self, offset: int, marker: str) -> None:
        self._cutter().mark(offset, marker)

    def finish(self) -> int:
        """The end of what was read: a growing file's partial last line is held back. Returns
        how far the file was read."""
        lines = self._cutter()
        self._write_all(lines.finish(closed=not self.job.active))
        self._run.stats.add(bytes_held_back=lines.held_back,
                            long_lines_split=lines.long_lines_split)
        return lines.read_end

    def cut_short(self) -> None:
        """Reading stopped on an error: the whole lines read are written, the rest is read
        again by whatever reads the file next."""
        self._write_all(self._cutter().finish(closed=False))

    def _cutter(self) -> WholeLineObjects:
        if self._lines is None:
            raise RuntimeError("JobWriter.start was not called")
        return self._lines

    def _write_all(self, sealed: list[SealedObject]) -> None:
        for obj in sealed:
            self._write(obj)

    def _write(self, sealed: SealedObject) -> None:
        gen, job = self._gen, self.job
        assert gen is not None
        if needs_name_check(gen, job, self.on_listing_word):
            if self.handed_on_since_listing():
                if gen.offset == 0 and forget_when_handed_on(job, gen):
                    # Unless a write of it failed: then it stays, for the next run to look for.
                    self._ledger.forget_empty(gen)
                raise self.rotated_after_listing()
            self.on_listing_word = False  # what was read so far came from the listed file
        self._ledger.write_object(gen, job.name, sealed, job.name, job.file.last_written_ms)

    # --- the name check ------------------------------------------------------------------

    def handed_on_since_listing(self) -> bool:
        """Was the job's name handed to another file after the plan's listing? One family
        listing; a stamped name never is. A family listing empty even when asked again
        cannot tell (a name handed on leaves a file in its family), nor can an incomplete
        one (the file the name was handed to may be among those it left out): then the
        answer is yes, and nothing is written, but the deferral says why
        (``Reason.LISTING_EMPTY``)."""
        if not name_may_move(self.job.name):
            return False
        family_now = self._run.families.after_now(family(self.job.name))
        self.no_more_checks()
        self._family_unknown = not family_now or not family_now.complete
        return self._family_unknown or not name_still_holds(
            self.job.file, self.job.active, family_now, self._run.listing)

    def rotated_after_listing(self) -> DownloadMismatchError:
        """The error that ends a job whose name was handed on; the file is left."""
        if self._family_unknown:
            self.leave(Reason.LISTING_EMPTY)
            return DownloadMismatchError(f"{self.job.name}: its family's listing came back "
                                         "empty or incomplete; it is picked up at the next "
                                         "listing")
        self.leave(Reason.HANDED_ON)
        return DownloadMismatchError(f"{self.job.name} was rotated after it was listed; "
                                     "it is picked up at the next listing")

    def leave(self, reason: Reason) -> None:
        """The listed file is left for the next listing (``shipper.deferrals``)."""
        self._run.deferrals.add(self.job.name, reason, self.job.file.last_written_ms)

    # --- records -------------------------------------------------------------------------

    def open_generation(self) -> Generation:
        """A generation for the job's file, which no known one is."""
        return self._ledger.open_generation(self.job.file, self.job.active)

    def seen(self, gen: Generation, read_end: int, read_whole: bool = False) -> None:
        """The job's file is ``gen``, read up to ``read_end`` (``ledger.record_sighting``)."""
        with self._ledger.changing():
            record_sighting(gen, self.job.file, self.job.active, read_end, read_whole)
        self._run.claims.found(gen)

    def keep_marker(self, gen: Generation, marker: str) -> None:
        self._ledger.keep_marker(gen, marker, self.job.name)

    def note_listed_size(self, gen: Generation) -> None:
        self._ledger.note_listed_size(gen, self.job.file.size)
