"""Shipping one DB instance: lease, state, identities, downloads, objects, commits.

The exactly-once protocol, per generation of a log file:

* a new generation is written into the state (an intent, offset 0) before any of its data;
* a data object's key is (generation, start offset), so a retry rewrites the same object;
* at most one data object per generation is ever durable but not yet committed in the state:
  before writing a generation's second object, the state is committed;
* after a crash (an expired lease that was never released) the next holder looks for that one
  possible object at each generation's committed offset and adopts it.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import urllib3

from shipper.config import Settings
from shipper.continuity import Break, judge_listing, settle_pending
from shipper.exceptions import (
    AwsAccessError,
    DownloadMismatchError,
    InstanceGoneError,
    LeaseLostError,
    LogFileGoneError,
    ShipperError,
    StateConflictError,
    StopRequested,
)
from shipper.identity import STAY_TRUST_MS, FileJob, Plan, make_plan
from shipper.layout import (
    META_LOG_FILE,
    META_MARKER,
    Scope,
    data_metadata,
    decode_metadata_value,
    metadata_names,
)
from shipper.lease import Lease, LeaseManager
from shipper.rdsapi import STREAM_CHUNK, InstanceNotReady, LogFile, RdsApi
from shipper.retry import RETRYABLE_EXCEPTIONS, Retrier
from shipper.s3store import S3Store
from shipper.state import Generation, InstanceState, new_generation_id
from shipper.stats import RunStats
from shipper.transfer import ObjectBuilder, RangeVerifier, SealedObject

log = logging.getLogger("shipper")

TRUNCATION_TEXT = "[Your log message was truncated]"
BINARY_TEXT = "This file contains binary data and should be downloaded instead of viewed."
_MARKER_RE = re.compile(r"^(\d+):(\d+)$")
MISSING_KEEP_MS = 8 * 24 * 3_600_000
EARLY_END_RETRIES = 2
PORTION_PAGE = 1024 * 1024  # what one DownloadDBLogFilePortion call returns at most


def parse_marker(marker: str | None) -> tuple[int, int] | None:
    """Markers look like "<hour>:<offset>". They are documented as opaque, so we use the parsed
    form only to cross-check what came back, never to invent a marker."""
    if marker is None:
        return None
    match = _MARKER_RE.match(marker)
    return (int(match.group(1)), int(match.group(2))) if match else None


class NeedCompleteDownload(Exception):
    """The portion API cannot give these bytes exactly; stream the file over REST instead.
    ``hour_verified``: the pages came back with the stored marker's hour (same generation)."""

    def __init__(self, message: str, hour_verified: bool = False) -> None:
        super().__init__(message)
        self.hour_verified = hour_verified


class NeedsProof(Exception):
    """A grown file turned out not to hold the generation last seen under its name."""


class RotatedWhilePaging(Exception):
    """The marker now points into another generation: leave this file for the next listing."""

    def __init__(self, first_page: bool) -> None:
        super().__init__("marker hour changed")
        self.first_page = first_page


@dataclass
class Outcome:
    instance: str
    shipped_bytes: int = 0
    files: int = 0
    failures: int = 0
    skipped_reason: str | None = None
    lag_seconds: float = 0.0
    fatal: ShipperError | None = None
    corrupt: ShipperError | None = None
    notes: list[str] = field(default_factory=list)


class InstanceContext:
    """Everything one instance's file jobs share: state, lease, commit protocol, claims."""

    def __init__(self, scope: Scope, state: InstanceState, etag: str | None, lease: Lease,
                 store: S3Store, settings: Settings, stats: RunStats, run_id: str,
                 stop: threading.Event) -> None:
        self.scope = scope
        self.state = state
        self.etag = etag
        self.lease = lease
        self.store = store
        self.settings = settings
        self.stats = stats
        self.run_id = run_id
        self.stop = stop
        self.lock = threading.RLock()
        self.uncommitted: set[str] = set()
        self.claimed: set[str] = set()
        self.deferred: set[str] = set()
        self.found: set[str] = set()  # generations matched to a listed file by this run
        self.dirty = False
        self.unsure_writes = False  # a data write failed: it may be durable all the same

    # --- the commit protocol -----------------------------------------------------------

    def check_lease(self) -> None:
        if not self.lease.valid():
            raise LeaseLostError(f"lease on {self.scope.instance} expired or was taken over")

    def commit(self, clean: bool = False) -> None:
        with self.lock:
            self.check_lease()
            self.state.revision += 1
            self.state.last_run_id = self.run_id
            self.state.last_run_at = time.time()
            self.state.last_run_clean = clean
            try:
                self.etag = self.store.put_conditional(
                    self.scope.state_key(), self.state.to_bytes(), self.etag
                )
            except StateConflictError as err:
                self.lease.lost = True
                raise LeaseLostError(
                    f"state of {self.scope.instance} was changed by another run"
                ) from err
            self.uncommitted.clear()
            self.dirty = False
            self.stats.add(state_commits=1)

    def put_object(self, gen: Generation, log_name: str, sealed: SealedObject,
                   marker_name: str | None) -> None:
        with self.lock:
            if gen.gen_id in self.uncommitted:
                self.commit()
            self.check_lease()
        key = self.scope.data_key(gen.gen_id, gen.first_seen_ms, sealed.start)
        try:
            self.store.put_data(key, sealed.body, data_metadata(
                self.scope, log_name, gen.gen_id, sealed.start, sealed.end, sealed.sha256,
                sealed.marker))
        except Exception:
            # S3 may have stored it all the same (an answer lost, a 500 after the write):
            # the run must not end clean, so that the next one looks for it and adopts it.
            with self.lock:
                self.unsure_writes = True
            raise
        with self.lock:
            record_object(gen, sealed, marker_name)
            self.uncommitted.add(gen.gen_id)
            self.dirty = True
        self.stats.add(objects_written=1, bytes_shipped=sealed.end - sealed.start)

    def unclaim(self, gen: Generation) -> None:
        with self.lock:
            self.claimed.discard(gen.gen_id)

    def claim(self, gen: Generation) -> bool:
        with self.lock:
            if gen.gen_id in self.claimed:
                return False
            self.claimed.add(gen.gen_id)
            return True

    def mint(self, file: LogFile, active: bool, commit: bool = True) -> Generation:
        """A new generation, recorded (and, by default, committed) before any of its data."""
        with self.lock:
            gen = Generation(
                gen_id=new_generation_id(), name=file.name, first_name=file.name,
                first_seen_ms=file.last_written_ms or int(time.time() * 1000),
                seen_size=file.size, seen_lw=file.last_written_ms, active=active,
            )
            self.state.generations[gen.gen_id] = gen
            self.claimed.add(gen.gen_id)
            self.dirty = True
            if commit:
                self.commit()
            return gen

    def settle(self, gen: Generation, file: LogFile, active: bool) -> None:
        """Record where ``gen`` was seen. When we read fewer bytes than the listing promised,
        the name changed hands after the listing: the entry describes another file, so its
        Size is not remembered (the renamed file must not be taken for this one by the
        rename rule), only what we read."""
        with self.lock:
            if gen.name != file.name:
                gen.marker = None if gen.marker_name != file.name else gen.marker
            gen.name = file.name
            gen.max_listed = max(gen.max_listed, file.size)
            consistent = gen.offset >= file.size
            gen.seen_size = file.size if consistent else gen.offset
            gen.seen_lw = file.last_written_ms
            gen.active = active
            gen.missing_since_ms = None
            self.found.add(gen.gen_id)
            self.dirty = True


class FileShipper:
    """Ships one planned file job: portions for the growing file, REST for the rest."""

    def __init__(self, ctx: InstanceContext, api: RdsApi, job: FileJob) -> None:
        self.ctx = ctx
        self.api = api
        self.job = job
        self.instance = ctx.scope.instance
        self.object_bytes = ctx.settings.object_bytes

    def run(self) -> None:
        try:
            self._run()
        except NeedsProof:
            raise
        except Exception:
            # A grown file whose download failed keeps its listed Size: if it is deleted
            # before the next run, the loss is counted in full. Whatever it might have been
            # is undecided, not vanished.
            job = self.job
            with self.ctx.lock:
                if job.stay is not None and job.file.size > job.stay.max_listed:
                    job.stay.max_listed = job.file.size
                    self.ctx.dirty = True
                for gen in (job.gen, job.stay, job.hold, *job.candidates):
                    if gen is not None:
                        self.ctx.deferred.add(gen.gen_id)
            raise
        self.ctx.stats.add(files_shipped=1)

    def _run(self) -> None:
        job = self.job
        if job.gen is not None:
            self.ctx.claim(job.gen)
            fresh = job.gen.offset == 0
            if (job.resume_portion or fresh) and self._portion_suits(job.gen):
                self._ship_portions(job.gen)
            elif not self._ship_rest_known(job.gen):
                self._defer(job.gen)
            return
        if job.stay is not None:
            if self.ctx.claim(job.stay):
                if self._try_stay(job.stay):
                    return
                self.ctx.unclaim(job.stay)
            raise NeedsProof()
        candidates = [g for g in job.candidates if g.gen_id not in self.ctx.claimed]
        if candidates and self._ship_rest_candidates(candidates):
            return
        if job.hold is not None and job.hold.gen_id not in self.ctx.claimed:
            log.info("file has a newer LastWritten but the same size; deciding next run",
                     extra=self._extra())
            return
        gen = self.ctx.mint(job.file, job.active)
        if self._portion_suits(gen):
            self._ship_portions(gen)
        elif not self._ship_rest_known(gen):
            raise DownloadMismatchError(f"{job.name} changed while it was read")

    def _try_stay(self, gen: Generation) -> bool:
        """The file grew under the name we last saw its generation by. Resume with portions if
        the stored marker's hour still matches, else prove it by content. False: not it."""
        recent = self.job.file.last_written_ms - gen.seen_lw < STAY_TRUST_MS
        if recent and gen.marker and gen.marker_name == self.job.name \
                and self._portion_suits(gen):
            try:
                self._page(gen)
                return True
            except RotatedWhilePaging as rotated:
                if rotated.first_page:
                    return False
                self._defer(gen)
                log.warning("file rotated while paging; the rest is picked up at the next "
                            "listing", extra=self._extra())
                return True
            except NeedCompleteDownload as why:
                self._note_fallback(why)
                if gen.header_only and not (why.hour_verified or self.job.header_proves):
                    return False  # its bytes are any file's header: only a marker can tell
                return self._ship_rest_known(gen)
        if gen.header_only and not self.job.header_proves:
            return False  # its bytes are any file's header: a marker or the listing must tell
        return self._ship_rest_known(gen)

    def _defer(self, gen: Generation) -> None:
        with self.ctx.lock:
            self.ctx.deferred.add(gen.gen_id)
        log.warning("file no longer holds the bytes shipped before (rotated since listing); "
                    "it is picked up at the next listing", extra=self._extra())

    def _note_fallback(self, why: Exception) -> None:
        log.info("portion data not exact; streaming the complete file instead",
                 extra=self._extra(reason=str(why)))
        self.ctx.stats.add(recovered_truncations=1)

    def _portion_suits(self, gen: Generation) -> bool:
        """Portions for the growing file's new bytes. A new file larger than one page goes
        over REST instead: one request, then one more for a marker at its end."""
        limit = self.ctx.settings.portion_max_bytes
        if gen.offset == 0:
            limit = min(limit, PORTION_PAGE)
        return (self.job.active and limit > 0 and not self.job.name.endswith(".gz")
                and self.job.file.size - gen.offset <= limit)

    # --- portions ----------------------------------------------------------------------

    def _ship_portions(self, gen: Generation) -> None:
        try:
            self._page(gen)
        except NeedCompleteDownload as why:
            self._note_fallback(why)
            if not self._ship_rest_known(gen):
                self._defer(gen)
        except RotatedWhilePaging:
            self._defer(gen)

    def _page(self, gen: Generation) -> None:
        file = self.job.file
        marker = "0"
        hour: int | None = None
        if gen.offset:
            parsed = parse_marker(gen.marker) if gen.marker_name == file.name else None
            if parsed is None or parsed[1] != gen.offset or gen.marker is None:
                raise NeedCompleteDownload("no usable marker for the shipped offset")
            marker, hour = gen.marker, parsed[0]
        session_start = gen.offset
        resumed = hour is not None  # every page is checked against the stored marker's hour
        builder = ObjectBuilder(gen.offset)
        early_ends = 0
        stop_at = file.size + self.ctx.settings.portion_max_bytes
        while True:
            self._check_stop(gen, builder, marker)
            page = self.api.portion(self.instance, file.name, marker)
            data = page.data.encode("utf-8")
            self.ctx.stats.add(bytes_downloaded=len(data))
            if page.data.strip() == BINARY_TEXT:
                self._flush(gen, builder, marker)
                raise NeedCompleteDownload("binary data")
            new = parse_marker(page.marker)
            if new is None:
                self._flush(gen, builder, marker)
                raise NeedCompleteDownload("marker is not in the <hour>:<offset> form")
            if hour is not None and new[0] != hour:
                nothing_taken = builder.end == session_start
                self._flush(gen, builder, marker)
                raise RotatedWhilePaging(first_page=nothing_taken)
            if new[1] - builder.end != len(data) or TRUNCATION_TEXT in page.data:
                self._flush(gen, builder, marker)
                raise NeedCompleteDownload("portion bytes do not match the marker (truncated, "
                                           "overlapping or re-encoded)", resumed)
            hour = new[0]
            builder.feed(data)
            marker = page.marker or marker
            if builder.size >= self.object_bytes:
                self._put(gen, builder.seal(marker))
                builder = ObjectBuilder(builder.end)
            if page.pending:
                if builder.end >= stop_at:
                    break
                continue
            if builder.end < file.size and early_ends < EARLY_END_RETRIES:
                # AdditionalDataPending=false before the listed size: ask again.
                early_ends += 1
                continue
            if builder.end < file.size:
                self._flush(gen, builder, marker)
                raise NeedCompleteDownload("AdditionalDataPending ended before the listed size",
                                           resumed)
            break
        self._flush(gen, builder, marker)
        self.ctx.settle(gen, file, self.job.active)

    def _flush(self, gen: Generation, builder: ObjectBuilder, marker: str | None) -> None:
        if builder.size:
            self._put(gen, builder.seal(marker))

    def _put(self, gen: Generation, sealed: SealedObject) -> None:
        self.ctx.put_object(gen, self.job.name, sealed, self.job.name)

    def _check_stop(self, gen: Generation, builder: ObjectBuilder, marker: str | None) -> None:
        if self.ctx.stop.is_set():
            self._flush(gen, builder, marker)
            raise StopRequested("stopping")

    # --- REST --------------------------------------------------------------------------

    def _chunks(self) -> tuple[urllib3.BaseHTTPResponse, Any]:
        resp = self.api.open_complete(self.instance, self.job.name)
        return resp, resp.stream(STREAM_CHUNK, decode_content=False)

    def _ship_rest_known(self, gen: Generation) -> bool:
        """Stream the file, prove it is ``gen`` up to its offset, ship the rest; False when the
        file is not ``gen`` (nothing written then). Retries the whole stream on connection
        errors: progress already durable is skipped, not re-sent."""
        attempts = 0
        while True:
            attempts += 1
            try:
                if not self._stream_and_ship(gen):
                    return False
                break
            except RETRYABLE_EXCEPTIONS as err:
                if attempts >= self.ctx.settings.max_attempts:
                    raise
                self.ctx.stats.add(retries=1)
                log.info("complete-file stream broke; resuming", extra=self._extra(
                    error=type(err).__name__))
                if self.ctx.stop.wait(min(8.0, 0.25 * 2 ** attempts)):
                    raise StopRequested("stopping") from err
        self.ctx.settle(gen, self.job.file, self.job.active)
        if self.job.active and not self.job.name.endswith(".gz"):
            self._remember_tail_marker(gen)
        return True

    def _stream_and_ship(self, gen: Generation) -> bool:
        resp, chunks = self._chunks()
        try:
            verifier = RangeVerifier(gen.checks)
            pos = 0
            builder: ObjectBuilder | None = None
            for chunk in chunks:
                self.ctx.stats.add(bytes_downloaded=len(chunk))
                chunk_end = pos + len(chunk)
                if pos < gen.offset:
                    verifier.feed(pos, chunk[: gen.offset - pos])
                if chunk_end > gen.offset:
                    if builder is None:
                        if not verifier.matches(gen.offset):
                            return False
                        builder = ObjectBuilder(gen.offset)
                    builder.feed(chunk[max(0, gen.offset - pos):])
                    if builder.size >= self.object_bytes:
                        self._put(gen, builder.seal(None))
                        builder = ObjectBuilder(builder.end)
                    if self.ctx.stop.is_set():
                        self._flush(gen, builder, None)
                        raise StopRequested("stopping")
                pos = chunk_end
            if builder is None:
                return verifier.matches(pos) and pos >= gen.offset
            self._flush(gen, builder, None)
            return True
        finally:
            resp.release_conn()

    def _ship_rest_candidates(self, candidates: list[Generation]) -> bool:
        """Prove which known generation this file is (the longest verified prefix wins), then
        ship the rest. False: none of them (nothing written). One candidate: one stream."""
        if len(candidates) == 1:
            gen: Generation | None = candidates[0]
        else:
            gen = self._prove(candidates)
        if gen is None or not self.ctx.claim(gen):
            return False
        if self._ship_rest_known(gen):
            self._recognised(gen)
            return True
        self.ctx.unclaim(gen)
        return False

    def _prove(self, candidates: list[Generation]) -> Generation | None:
        verifiers = [(g, RangeVerifier(g.checks)) for g in candidates]
        until = max(g.offset for g in candidates)
        resp, chunks = self._chunks()
        pos = 0
        try:
            for chunk in chunks:
                self.ctx.stats.add(bytes_downloaded=len(chunk))
                for gen, verifier in verifiers:
                    if pos < gen.offset:
                        verifier.feed(pos, chunk[: gen.offset - pos])
                pos += len(chunk)
                if pos >= until:
                    break
        finally:
            resp.release_conn()
        for gen, verifier in verifiers:  # longest first
            if pos >= gen.offset and verifier.matches(gen.offset) \
                    and gen.gen_id not in self.ctx.claimed:
                return gen
        return None

    def _recognised(self, gen: Generation) -> None:
        log.info("recognised a known generation under this name",
                 extra=self._extra(generation=gen.gen_id))

    def _remember_tail_marker(self, gen: Generation) -> None:
        """After a REST download of the growing file, ask for a marker at its end, so the next
        run can resume with cheap portions instead of streaming the whole file again."""
        try:
            marker = self.api.tail_marker(self.instance, self.job.name)
        except Exception:  # a missing marker only costs a REST download next run
            return
        parsed = parse_marker(marker)
        with self.ctx.lock:
            if parsed is not None and parsed[1] == gen.offset:
                gen.marker, gen.marker_name = marker, self.job.name
                self.ctx.dirty = True

    def _extra(self, **more: Any) -> dict[str, Any]:
        return {"instance": self.instance, "file": self.job.name, **more}


# --- the instance pipeline ---------------------------------------------------------------


class InstanceJob:
    def __init__(self, scope: Scope, api: RdsApi, store: S3Store, leases: LeaseManager,
                 settings: Settings, stats: RunStats, run_id: str, stop: threading.Event,
                 pool: ThreadPoolExecutor, retrier: Retrier,
                 file_filter: Callable[[str], bool], run_started: float | None = None) -> None:
        self.scope = scope
        self.api = api
        self.store = store
        self.leases = leases
        self.settings = settings
        self.stats = stats
        self.run_id = run_id
        self.stop = stop
        self.pool = pool
        self.retrier = retrier
        self.file_filter = file_filter
        self.run_started = run_started

    def run(self) -> Outcome:
        try:
            return self._run()
        except ShipperError as err:
            outcome = Outcome(self.scope.instance)
            self._classify(err, outcome)
            return outcome
        except Exception as err:  # one instance's surprise must not stop the others
            outcome = Outcome(self.scope.instance, failures=1)
            self.stats.add(failures=1)
            log.error(f"instance failed: {type(err).__name__}: {_safe(err)}",
                      extra={"instance": self.scope.instance, "error": type(err).__name__},
                      exc_info=log.isEnabledFor(logging.DEBUG))
            return outcome

    def _run(self) -> Outcome:
        outcome = Outcome(self.scope.instance)
        lease, refusal = self.leases.acquire_for_run(self.scope.lease_key(), self.run_started)
        if lease is None:
            outcome.skipped_reason = "leased by another run"
            log.info("instance is being shipped by another run; skipping" if refusal == "held"
                     else "instance was shipped by another run since this run started; skipping",
                     extra={"instance": self.scope.instance})
            return outcome
        ctx: InstanceContext | None = None
        try:
            state, etag = self._load_state()
            ctx = InstanceContext(self.scope, state, etag, lease, self.store, self.settings,
                                  self.stats, self.run_id, self.stop)
            if lease.previous_crashed or not state.last_run_clean:
                self._adopt_dangling(ctx)
            self._ship(ctx, outcome)
        except ShipperError as err:
            self._classify(err, outcome)
        finally:
            self._finish(ctx, lease, outcome)
        return outcome

    def _classify(self, err: ShipperError, outcome: Outcome) -> None:
        from shipper.exceptions import StateCorruptError

        if isinstance(err, StateCorruptError):
            outcome.corrupt = err
        elif isinstance(err, AwsAccessError):
            outcome.fatal = err
        elif isinstance(err, InstanceGoneError):
            outcome.skipped_reason = "instance deleted during the run"
            log.info("instance disappeared during the run", extra={"instance": outcome.instance})
        elif isinstance(err, InstanceNotReady):
            outcome.skipped_reason = "serves no logs right now"
            log.info("instance serves no logs right now; skipping",
                     extra={"instance": outcome.instance, "reason": err.one_line()})
        elif isinstance(err, StopRequested):
            outcome.notes.append("stopped")
        else:
            outcome.failures += 1
            log.error(err.one_line(), extra={"instance": outcome.instance,
                                             "error": type(err).__name__})

    def _finish(self, ctx: InstanceContext | None, lease: Lease, outcome: Outcome) -> None:
        try:
            if ctx is not None and lease.valid() and (ctx.dirty or ctx.uncommitted
                                                      or not ctx.state.last_run_clean
                                                      or ctx.unsure_writes):
                ctx.commit(clean=not (self.stop.is_set() or ctx.unsure_writes))
        except ShipperError as err:
            outcome.failures += 1
            log.error(f"could not commit state: {err.one_line()}",
                      extra={"instance": outcome.instance})
        except Exception as err:
            outcome.failures += 1
            log.error(f"could not commit state: {type(err).__name__}: {err}",
                      extra={"instance": outcome.instance})
        finally:
            try:
                self.leases.release(lease)
            except Exception:
                log.warning("could not release lease; it expires by itself",
                            extra={"instance": outcome.instance})

    def _load_state(self) -> tuple[InstanceState, str | None]:
        stored = self.store.get(self.scope.state_key())
        if stored is None:
            return InstanceState(self.scope.instance, self.scope.region, self.scope.account), None
        state = InstanceState.from_bytes(stored.body, self.scope.state_key())
        return state, stored.etag

    def _adopt_dangling(self, ctx: InstanceContext) -> None:
        """The previous holder died mid-run: adopt the one object per generation that may have
        become durable after its last commit."""
        adopted = 0
        for gen in list(ctx.state.generations.values()):
            while True:
                key = self.scope.data_key(gen.gen_id, gen.first_seen_ms, gen.offset)
                head = self.store.head(key)
                if head is None:
                    break
                obj = self.store.get(key)
                if obj is None:
                    break
                data = gzip.decompress(obj.body)
                end = gen.offset + len(data)
                if obj.metadata.get("end-offset") != str(end) or \
                        obj.metadata.get("sha256") not in (None, hashlib.sha256(data).hexdigest()):
                    log.warning("found an unreadable object after a crash; it will be rewritten",
                                extra={"instance": ctx.scope.instance, "generation": gen.gen_id})
                    break
                adopt_object(gen, data, obj.metadata)
                adopted += 1
        if adopted:
            log.info("adopted objects written after the last commit of a crashed run",
                     extra={"instance": ctx.scope.instance, "objects": adopted})
            ctx.commit()

    def _list(self) -> list[LogFile]:
        files = self.api.log_files(self.scope.instance)
        if not files:
            # Listings are occasionally empty for a moment: ask once more before believing it.
            if self.stop.wait(1.0):
                raise StopRequested("stopping")
            files = self.api.log_files(self.scope.instance)
        return [f for f in files if self.file_filter(f.name)]

    def _ship(self, ctx: InstanceContext, outcome: Outcome) -> None:
        listing = self._list()
        self.stats.add(files_seen=len(listing))
        known_before = [g for g in ctx.state.generations.values() if g.missing_since_ms is None]
        plan = make_plan(ctx.state, listing)
        # What this listing shows about continuity is recorded in the same commit as the new
        # files' generations: a run that stops early must not hide a break from later runs.
        with ctx.lock:
            breaks, changed = judge_listing(ctx.state, known_before, plan, listing)
            ctx.dirty |= changed
        self._report_breaks(ctx, breaks)
        with ctx.lock:  # what the listing promised, so a later loss is counted in full
            for job in plan.jobs:
                if job.gen is not None and job.file.size > job.gen.max_listed:
                    job.gen.max_listed = job.file.size
                    ctx.dirty = True
        if log.isEnabledFor(logging.DEBUG):
            for job in plan.jobs:
                log.debug("planned", extra={
                    "instance": ctx.scope.instance, "file": job.name, "size": job.file.size,
                    "kind": "certain" if job.gen else "stay" if job.stay else
                    "hold" if job.hold else "proof" if job.candidates else "new",
                    "candidates": len(job.candidates)})
        # Certainly-new files get their generation recorded in one commit before any data.
        for job in plan.jobs:
            if job.gen is None and job.stay is None and job.hold is None \
                    and not job.candidates:
                job.gen = ctx.mint(job.file, job.active, commit=False)
        if ctx.dirty:
            ctx.commit()
        certain = [j for j in plan.jobs if j.gen is not None]
        proofs = [j for j in plan.jobs if j.gen is None and j.stay is None and j.hold is None]
        stays = [j for j in plan.jobs if j.stay is not None]
        holds = [j for j in plan.jobs if j.hold is not None]
        # Content proofs run one after another (two of them may want the same generation).
        # Files grown in place go next, in parallel (each wants only its own generation); those
        # that turn out to be something else, and the held files, are decided last, serially.
        first = [(j, self.pool.submit(FileShipper(ctx, self.api, j).run)) for j in certain]
        if proofs:
            first.append((proofs[0], self.pool.submit(self._run_serially, ctx, proofs)))
        errors = self._collect(first, outcome)
        unproven: list[FileJob] = []
        completed = False
        if not errors and not self.stop.is_set():
            second = [(j, self.pool.submit(FileShipper(ctx, self.api, j).run)) for j in stays]
            errors += self._collect(second, outcome, unproven)
            last = [replace(j, stay=None) for j in unproven] + holds
            if not errors and not self.stop.is_set():
                if last:
                    errors += self._collect(
                        [(last[0], self.pool.submit(self._run_serially, ctx, last))], outcome)
                completed = not errors and not self.stop.is_set()
        # Only a complete pass may conclude that a file vanished: an empty listing (after a
        # retry) says nothing, and files a stopped run did not reach are still there.
        if listing and completed:
            self._account_for_missing(ctx, plan, listing)
            with ctx.lock:
                # found, not claimed: a claim outlives a download that failed
                breaks, changed = settle_pending(ctx.state, set(ctx.found), listing)
                ctx.dirty |= changed
            self._report_breaks(ctx, breaks)
        outcome.lag_seconds = self._lag(ctx, listing)
        self.stats.observe_lag(outcome.lag_seconds, self.scope.state_key())
        if errors:
            raise errors[0] if isinstance(errors[0], ShipperError) else ShipperError(
                str(errors[0]))

    def _run_serially(self, ctx: InstanceContext, jobs: list[FileJob]) -> None:
        failures: list[tuple[FileJob, BaseException]] = []
        for job in jobs:
            if self.stop.is_set():
                raise StopRequested("stopping")
            try:
                FileShipper(ctx, self.api, job).run()
            except (StopRequested, LeaseLostError, AwsAccessError, InstanceGoneError):
                raise
            except Exception as err:
                failures.append((job, err))
        counted = sum(self._report(j, failure, ctx.scope.instance) for j, failure in failures)
        if counted:
            raise _AlreadyReported(counted)

    def _collect(self, futures: list[tuple[FileJob, Future[None]]], outcome: Outcome,
                 unproven: list[FileJob] | None = None) -> list[BaseException]:
        errors: list[BaseException] = []
        for job, future in futures:
            try:
                future.result()
                outcome.files += 1
            except NeedsProof:
                if unproven is not None:
                    unproven.append(job)
            except _AlreadyReported as done:
                outcome.failures += done.count
            except (StopRequested, LeaseLostError, AwsAccessError, InstanceGoneError) as err:
                errors.append(err)
            except Exception as err:
                if self._report(job, err, outcome.instance):
                    outcome.failures += 1
        return errors

    def _report(self, job: FileJob, err: BaseException, instance: str) -> bool:
        """Log one file's failure; True when it counts as a failure of the run."""
        extra = {"instance": instance, "file": job.name}
        if isinstance(err, LogFileGoneError):
            log.info("log file vanished before it was read (retention or rotation)", extra=extra)
            return False
        if isinstance(err, DownloadMismatchError):
            log.warning(err.one_line(), extra=extra)
            return False
        self.stats.add(failures=1)
        if isinstance(err, ShipperError):
            log.error(err.one_line(), extra={**extra, "error": type(err).__name__})
        else:
            log.error(f"failed to ship: {type(err).__name__}: {_safe(err)}",
                      extra={**extra, "error": type(err).__name__})
        return True

    def _report_breaks(self, ctx: InstanceContext, breaks: list[Break]) -> None:
        """Files created and deleted between two runs were never seen, so their bytes cannot
        be counted; the break they leave in their family is reported, never silently."""
        now = int(time.time() * 1000)
        with ctx.lock:
            for brk in breaks:
                ctx.state.gaps.append({"family": brk.family, "kind": "unseen",
                                       "after_ms": brk.after_ms, "at_ms": now})
                ctx.dirty = True
                self.stats.add(suspected_gaps=1)
                log.warning("none of the files shipped before is listed any more: files written "
                            "since then may have been deleted unseen (raise RDS log retention or "
                            "run more often)", extra={"instance": ctx.scope.instance,
                                                      "family": brk.family})

    def _account_for_missing(self, ctx: InstanceContext, plan: Plan,
                             listing: list[LogFile]) -> None:
        now = int(time.time() * 1000)
        with ctx.lock:
            for gen in plan.displaced:
                if gen.gen_id in ctx.claimed or gen.gen_id in ctx.deferred:
                    continue
                if gen.missing_since_ms is None:
                    gen.missing_since_ms = now
                    ctx.dirty = True
                    # A file being written that shipped nothing has no proven identity: it
                    # was most likely renamed as it grew (a closed file keeps its Size and
                    # LastWritten and is found by the rename rule), and its bytes archived
                    # under the generation of its new name. Whole families that vanish are
                    # reported by shipper.continuity.
                    unproven = gen.offset == 0 and gen.active
                    lost = 0 if unproven else max(0, max(gen.seen_size, gen.max_listed)
                                                  - gen.offset)
                    if lost:
                        ctx.state.gaps.append({"generation": gen.gen_id, "file": gen.name,
                                               "bytes": lost, "at_ms": now})
                        self.stats.add(gap_bytes=lost)
                        log.warning("log file disappeared before all of it was shipped",
                                    extra={"instance": ctx.scope.instance, "file": gen.name,
                                           "gap_bytes": lost})
                elif now - gen.missing_since_ms > MISSING_KEEP_MS:
                    del ctx.state.generations[gen.gen_id]
                    ctx.dirty = True

    @staticmethod
    def _lag(ctx: InstanceContext, listing: list[LogFile]) -> float:
        """Seconds since the oldest write we have not shipped yet (0 when caught up)."""
        behind = [
            g.seen_lw for g in ctx.state.generations.values()
            if g.missing_since_ms is None and g.offset < g.seen_size
        ]
        if not behind:
            return 0.0
        return max(0.0, time.time() - min(behind) / 1000)


def record_object(gen: Generation, sealed: SealedObject, marker_name: str | None) -> None:
    """What a durable object tells the generation: how far it is shipped, whether that is
    only the engine's header, the range checks that recognise it, and the marker to resume
    from (with the file name it belongs to)."""
    gen.offset = sealed.end
    gen.header_only = sealed.header_only
    for check in sealed.checks:
        gen.add_check(check)
    gen.marker = sealed.marker
    gen.marker_name = marker_name if sealed.marker else None


def adopt_object(gen: Generation, data: bytes, metadata: Mapping[str, str]) -> None:
    """Record an object that a crashed run made durable after its last commit as that run's
    commit would have (the builder recomputes the checks and the header-only flag; adoption
    is rare, so compressing the bytes again is cheap enough), with the portion marker the
    object carries, for the name the file was read under."""
    builder = ObjectBuilder(gen.offset)
    builder.feed(data)
    encoded = metadata.get(META_MARKER)
    read_as = decode_metadata_value(metadata.get(META_LOG_FILE, ""))
    marker_name = gen.name if metadata_names(read_as, gen.name) else read_as
    record_object(gen, builder.seal(decode_metadata_value(encoded) if encoded else None),
                  marker_name)


class _AlreadyReported(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(f"{count} files failed")
        self.count = count


def _safe(err: BaseException) -> str:
    """Exception text without anything that could carry log content or signed URLs."""
    text = str(err).split("\n", 1)[0]
    text = re.sub(r"X-Amz-[A-Za-z-]+=[^&\s]+", "X-Amz-...", text)
    return text[:300]
