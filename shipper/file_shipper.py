"""Shipping one planned file: portions for the growing file's new bytes, REST for the rest.

What the file is was planned (``shipper.identity``); how it ships follows from its kind. The
job's writer (``shipper.writer``) takes the bytes read, writes them, and records what they
prove; nothing here changes a generation itself.
"""

from __future__ import annotations

import logging
from typing import Any

from shipper.complete_file import CompleteFile
from shipper.deferrals import Reason
from shipper.exceptions import DownloadMismatchError, StopRequested
from shipper.identity import FileJob, JobKind, content_may_prove, marker_may_prove
from shipper.instance_run import InstanceRun
from shipper.name_check import rests_on_listing
from shipper.portions import (
    NeedCompleteDownload,
    PagingStart,
    RotatedWhilePaging,
    pages,
    portions_suit,
    tail_marker,
)
from shipper.state import Generation
from shipper.writer import JobWriter

log = logging.getLogger("shipper")


class NeedsProof(Exception):
    """A grown file turned out not to hold the generation last seen under its name."""


class FileShipper:
    """Ships one planned file job; ``run`` dispatches on the job's kind."""

    def __init__(self, shared: InstanceRun, job: FileJob) -> None:
        self.shared = shared
        self.claims = shared.claims
        self.job = job
        self.instance = shared.ledger.scope.instance
        self.writer = JobWriter(shared, job)
        self.rest = CompleteFile(shared.api, self.instance, job.name, self.writer,
                                 shared.stats, shared.stop, shared.settings.max_attempts)
        self._claimed: list[Generation] = []
        self.writer.expect_check()  # made when handed to the pool: its check is to come

    def run(self) -> None:
        if self.shared.stop.is_set():
            self.writer.no_more_checks()
            raise StopRequested("stopping")  # queued behind the stop: start nothing
        try:
            self._dispatch()
        except NeedsProof:
            raise
        except Exception:
            self._undecided()
            raise
        finally:
            self.writer.no_more_checks()
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
            self.writer.note_listed_size(job.gen)
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
            if self.writer.handed_on_since_listing():
                # ``gen`` is under a name this run's listing does not show: not missing.
                raise self.writer.rotated_after_listing()
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
        gen = self.writer.open_generation()
        self._claim(gen)
        if self._portions_suit(gen):
            self._ship_portions(gen)
        elif not self._ship_complete(gen):
            self.writer.leave(Reason.CHANGED_WHILE_READ)
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
        self.writer.on_listing_word = rests_on_listing(gen, hour_verified)
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
        writer = self.writer
        writer.start(gen, start.resumable())
        skip = gen.offset - start.offset  # shipped bytes before a held-back line, read again
        stored_hour = start.hour
        try:
            for page in pages(self.shared.api, self.instance, file, start.offset, start,
                              self.shared.stop, self._count_download,
                              self.shared.settings.portion_max_bytes):
                if stored_hour is not None and page.hour != stored_hour:
                    stored_hour = None  # one session has one hour: noted once
                    writer.on_listing_word = True  # went on only because start.certain
                data = page.data[skip:]
                skip -= len(page.data) - len(data)
                if data:
                    writer.feed(data, page.marker)
                else:
                    writer.mark(gen.offset - skip, page.marker)
        except (NeedCompleteDownload, RotatedWhilePaging):
            writer.cut_short()
            raise
        writer.seen(gen, writer.finish())

    def _count_download(self, size: int) -> None:
        self.shared.stats.add(bytes_downloaded=size)

    # --- REST ----------------------------------------------------------------------------

    def _ship_complete(self, gen: Generation) -> bool:
        """Ship ``gen`` over REST; False when the file is not ``gen`` (nothing written). A
        growing file then gets a marker at its end for the next run's portions."""
        read_end = self.rest.ship_after(gen)
        if read_end is None:
            return False
        self.writer.seen(gen, read_end, read_whole=True)
        if self.job.active and not self.job.name.endswith(".gz"):
            marker = tail_marker(self.shared.api, self.instance, self.job.name, gen.offset)
            if marker is not None:
                self.writer.keep_marker(gen, marker)
        return True

    # --- records -------------------------------------------------------------------------

    def _defer(self, gen: Generation) -> None:
        self.claims.defer(gen)
        self.writer.leave(Reason.ROTATED_WHILE_READ)
        log.warning("file no longer holds the bytes shipped before (rotated since listing); "
                    "it is picked up at the next listing", extra=self._extra())


    def _note_fallback(self, why: Exception) -> None:
        log.info("portion data not exact; streaming the complete file instead",
                 extra=self._extra(reason=str(why)))
        self.shared.stats.add(recovered_truncations=1)

    def _extra(self, **more: Any) -> dict[str, Any]:
        return {"instance": self.instance, "file": self.job.name, **more}
