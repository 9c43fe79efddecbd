"""Shipping one planned file: portions for the growing file's new bytes, REST for the rest.

What the file is was planned (``shipper.identity``); how it ships follows from its kind. Its
objects and what they prove are recorded through the ledger (``shipper.ledger``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from shipper.claims import Claims
from shipper.complete_file import CompleteFile
from shipper.config import Settings
from shipper.deferrals import Reason, RunDeferrals
from shipper.exceptions import DownloadMismatchError, StopRequested
from shipper.identity import FileJob, JobKind, content_may_prove, marker_may_prove
from shipper.ledger import Ledger, record_sighting
from shipper.lines import WholeLineObjects
from shipper.listing import Listing, LogFile, believed_listing
from shipper.name_check import (
    forget_when_handed_on,
    name_still_holds,
    needs_name_check,
    rests_on_listing,
)
from shipper.names import family, name_may_move
from shipper.portions import (
    NeedCompleteDownload,
    PagingStart,
    RotatedWhilePaging,
    pages,
    portions_suit,
    tail_marker,
)
from shipper.rdsapi import RdsApi
from shipper.state import Generation
from shipper.stats import RunStats
from shipper.transfer import SealedObject

log = logging.getLogger("shipper")


class NeedsProof(Exception):
    """A grown file turned out not to hold the generation last seen under its name."""


@dataclass
class InstanceRun:
    """What one instance's file jobs share during a run."""

    ledger: Ledger
    claims: Claims
    api: RdsApi
    settings: Settings
    stats: RunStats
    stop: threading.Event
    listing: list[LogFile] = field(default_factory=list)  # the one the plan was made from
    deferrals: RunDeferrals = field(default_factory=RunDeferrals)  # files left for the next run


class FileShipper:
    """Ships one planned file job; ``run`` dispatches on the job's kind."""

    def __init__(self, shared: InstanceRun, job: FileJob) -> None:
        self.shared = shared
        self.ledger = shared.ledger
        self.claims = shared.claims
        self.job = job
        self.instance = shared.ledger.scope.instance
        self.rest = CompleteFile(shared.api, self.instance, job.name, self._whole_lines,
                                 self._finish, shared.stats, shared.stop,
                                 shared.settings.max_attempts)
        self._claimed: list[Generation] = []
        # The bytes being read are the generation's only on the plan's listing's word, not
        # yet checked against a listing made after they were read (name_check.needs_name_check).
        self._on_listing_word = False
        # the last name check's family listing was empty or incomplete: it could not tell
        self._family_unknown = False

    def run(self) -> None:
        if self.shared.stop.is_set():
            raise StopRequested("stopping")  # queued behind the stop: start nothing
        try:
            self._dispatch()
        except NeedsProof:
            raise
        except Exception:
            self._undecided()
            raise
        self.shared.stats.add(files_shipped=1)

    def _dispatch(self) -> None:
        job = self.job
        match job.kind:
            case JobKind.KNOWN:
                assert job.gen is not None
                self._ship_known(job.gen)
            case JobKind.GROWN:
                assert job.gen is not None
                self._ship_grown(job.gen)
            case JobKind.PROVE | JobKind.SAME_SIZE | JobKind.NEW:
                self._identify_and_ship()

    def _undecided(self) -> None:
        """A file whose download failed: whatever it might have been is undecided, not
        vanished. A grown file the listing proves to be its generation (``name_proves``)
        keeps its listed Size: if it is deleted before the next run, the loss is counted in
        full. Any other grown file may be another file under a reused name (a slot ``.N`` a
        day later): its Size says nothing of the generation, whose loss would be miscounted
        by the difference (found in CI, seed 351). The generations this job claimed go
        back: it proved nothing, and another listed file may still prove one of them by
        content (a running log whose stream broke must not keep its rotated file, which holds
        the shipped bytes, from being continued: that file would be shipped again from 0)."""
        job = self.job
        for claimed in self._claimed:
            self.claims.release(claimed)
        if job.kind is JobKind.GROWN and job.gen is not None and job.name_proves:
            self.ledger.note_listed_size(job.gen, job.file.size)
        for gen in (job.gen, *job.candidates):
            if gen is not None:
                self.claims.defer(gen)

    # --- by kind -------------------------------------------------------------------------

    def _claim(self, gen: Generation) -> bool:
        """Work on ``gen`` (False: another job does); given back if this job fails."""
        if not self.claims.take(gen):
            return False
        self._claimed.append(gen)
        return True

    def _unclaim(self, gen: Generation) -> None:
        self.claims.release(gen)
        self._claimed.remove(gen)

    def _ship_known(self, gen: Generation) -> None:
        self._claim(gen)
        if (self.job.resume_portion or gen.offset == 0) and self._portions_suit(gen):
            self._ship_portions(gen)
        elif not self._ship_complete(gen):
            self._defer(gen)

    def _ship_grown(self, gen: Generation) -> None:
        if self._claim(gen):
            if self._resume_grown(gen):
                return
            self._unclaim(gen)
            if self._handed_on_since_listing():
                # ``gen`` is under a name this run's listing does not show: not missing.
                raise self._rotated_after_listing()
        raise NeedsProof()

    def _identify_and_ship(self) -> None:
        """PROVE and SAME_SIZE files (and GROWN ones that were not their generation): a
        candidate proven by content, else a file left for the next run, else a new one."""
        job = self.job
        candidates = [g for g in job.candidates if not self.claims.is_taken(g)]
        if candidates and self._ship_candidates(candidates):
            return
        if job.kind is JobKind.SAME_SIZE and job.gen is not None \
                and not self.claims.is_taken(job.gen):
            log.info("file has a newer LastWritten but the same size; deciding next run",
                     extra=self._extra())
            return
        gen = self.ledger.open_generation(job.file, job.active)
        self._claim(gen)
        if self._portions_suit(gen):
            self._ship_portions(gen)
        elif not self._ship_complete(gen):
            self._leave(Reason.CHANGED_WHILE_READ)
            raise DownloadMismatchError(f"{job.name} changed while it was read")

    def _resume_grown(self, gen: Generation) -> bool:
        """The file grew under the name we last saw ``gen`` by. Resume with portions from the
        stored marker (the listing, or else the marker's hour as a hint, says it is still
        ``gen``), else prove it by content. False: not it."""
        if marker_may_prove(gen, self.job.file) and self._portions_suit(gen):
            try:
                self._page(gen)
                return True
            except RotatedWhilePaging:
                self._defer(gen)
                log.warning("file rotated while paging; the rest is picked up at the next "
                            "listing", extra=self._extra())
                return True
            except NeedCompleteDownload as why:
                self._note_fallback(why)
                return self._prove_grown(gen, why.hour_verified)
        return self._prove_grown(gen, hour_verified=False)

    def _prove_grown(self, gen: Generation, hour_verified: bool) -> bool:
        if not content_may_prove(gen, self.job, hour_verified):
            return False
        self._on_listing_word = rests_on_listing(gen, hour_verified)
        return self._ship_complete(gen)

    def _ship_candidates(self, candidates: list[Generation]) -> bool:
        """Prove which known generation this file is (the longest verified prefix wins), then
        ship the rest. False: none of them (nothing written). One candidate: one stream."""
        if len(candidates) == 1:
            gen: Generation | None = candidates[0]
        else:
            gen = self.rest.prove(candidates, lambda g: not self.claims.is_taken(g))
        if gen is None or not self._claim(gen):
            return False
        if self._ship_complete(gen):
            log.info("recognised a known generation under this name",
                     extra=self._extra(generation=gen.gen_id))
            return True
        self._unclaim(gen)
        return False

    # --- portions ------------------------------------------------------------------------

    def _portions_suit(self, gen: Generation) -> bool:
        return portions_suit(gen, self.job.file, self.job.active,
                             self.shared.settings.portion_max_bytes)

    def _ship_portions(self, gen: Generation) -> None:
        try:
            self._page(gen)
        except NeedCompleteDownload as why:
            self._note_fallback(why)
            if not self._ship_complete(gen):
                self._defer(gen)
        except RotatedWhilePaging:
            self._defer(gen)

    def _page(self, gen: Generation) -> None:
        """Ship the pages from ``gen``'s offset; whatever passed its checks is written (in
        whole lines) before an error goes through, but not on a stop: pages not yet sealed are
        dropped then (no S3 write while stopping), the next run pages them again from the
        recorded offset."""
        file = self.job.file
        start = PagingStart.of(gen, file.name, self.job.kind is JobKind.KNOWN
                               or self.job.name_proves)
        objects = self._whole_lines(gen, start.resumable())
        skip = gen.offset - start.offset  # shipped bytes before a held-back line, read again
        stored_hour = start.hour
        try:
            for page in pages(self.shared.api, self.instance, file, start.offset, start,
                              self.shared.stop, self._count_download,
                              self.shared.settings.portion_max_bytes):
                if stored_hour is not None and page.hour != stored_hour:
                    stored_hour = None  # one session has one hour: noted once
                    self._on_listing_word = True  # went on only because start.certain
                data = page.data[skip:]
                skip -= len(page.data) - len(data)
                if data:
                    objects.feed(data, page.marker)
                else:
                    objects.mark(gen.offset - skip, page.marker)
        except (NeedCompleteDownload, RotatedWhilePaging):
            objects.finish(closed=False)
            raise
        self._finish(objects)
        self._seen(gen, objects.read_end)

    def _whole_lines(self, gen: Generation,
                     marker: tuple[int, str] | None = None) -> WholeLineObjects:
        return WholeLineObjects(gen.offset, self.shared.settings.object_bytes,
                                lambda sealed: self._write(gen, sealed), marker)

    def _finish(self, objects: WholeLineObjects) -> None:
        """The end of what was read: a growing file's partial last line is held back."""
        objects.finish(closed=not self.job.active)
        self.shared.stats.add(bytes_held_back=objects.held_back,
                              long_lines_split=objects.long_lines_split)

    def _count_download(self, size: int) -> None:
        self.shared.stats.add(bytes_downloaded=size)

    # --- REST ----------------------------------------------------------------------------

    def _ship_complete(self, gen: Generation) -> bool:
        """Ship ``gen`` over REST; False when the file is not ``gen`` (nothing written). A
        growing file then gets a marker at its end for the next run's portions."""
        read_end = self.rest.ship_after(gen)
        if read_end is None:
            return False
        self._seen(gen, read_end, read_whole=True)
        if self.job.active and not self.job.name.endswith(".gz"):
            marker = tail_marker(self.shared.api, self.instance, self.job.name, gen.offset)
            if marker is not None:
                self.ledger.keep_marker(gen, marker, self.job.name)
        return True

    # --- records -------------------------------------------------------------------------

    def _write(self, gen: Generation, sealed: SealedObject) -> None:
        if needs_name_check(gen, self.job, self._on_listing_word):
            if self._handed_on_since_listing():
                if gen.offset == 0 and forget_when_handed_on(self.job, gen):
                    # Unless a write of it failed: then it stays, for the next run to look for.
                    self.ledger.forget_empty(gen)
                raise self._rotated_after_listing()
            self._on_listing_word = False  # what was read so far came from the listed file
        self.ledger.write_object(gen, self.job.name, sealed, self.job.name,
                                 self.job.file.last_written_ms)

    def _handed_on_since_listing(self) -> bool:
        """Was the job's name handed to another file after the plan's listing? One family
        listing; a stamped name never is. A family listing empty even when asked again
        cannot tell (a name handed on leaves a file in its family), nor can an incomplete
        one (the file the name was handed to may be among those it left out): then the
        answer is yes, and nothing is written, but the deferral says why
        (``Reason.LISTING_EMPTY``)."""
        if not name_may_move(self.job.name):
            return False
        family_now = self._family_now()
        self._family_unknown = not family_now or not family_now.complete
        return self._family_unknown or not name_still_holds(
            self.job.file, self.job.active, family_now, self.shared.listing)

    def _rotated_after_listing(self) -> DownloadMismatchError:
        if self._family_unknown:
            self._leave(Reason.LISTING_EMPTY)
            return DownloadMismatchError(f"{self.job.name}: its family's listing came back "
                                         "empty or incomplete; it is picked up at the next "
                                         "listing")
        self._leave(Reason.HANDED_ON)
        return DownloadMismatchError(f"{self.job.name} was rotated after it was listed; "
                                     "it is picked up at the next listing")

    def _family_now(self) -> Listing:
        return believed_listing(
            lambda: self.shared.api.log_files_like(self.instance, family(self.job.name)),
            self.shared.stop)

    def _seen(self, gen: Generation, read_end: int, read_whole: bool = False) -> None:
        with self.ledger.changing():
            record_sighting(gen, self.job.file, self.job.active, read_end, read_whole)
        self.claims.found(gen)

    def _defer(self, gen: Generation) -> None:
        self.claims.defer(gen)
        self._leave(Reason.ROTATED_WHILE_READ)
        log.warning("file no longer holds the bytes shipped before (rotated since listing); "
                    "it is picked up at the next listing", extra=self._extra())

    def _leave(self, reason: Reason) -> None:
        """The listed file is left for the next listing (``shipper.deferrals``)."""
        self.shared.deferrals.add(self.job.name, reason, self.job.file.last_written_ms)

    def _note_fallback(self, why: Exception) -> None:
        log.info("portion data not exact; streaming the complete file instead",
                 extra=self._extra(reason=str(why)))
        self.shared.stats.add(recovered_truncations=1)

    def _extra(self, **more: Any) -> dict[str, Any]:
        return {"instance": self.instance, "file": self.job.name, **more}
