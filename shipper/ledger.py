"""The exactly-once protocol: one instance's state in S3 and the data objects it accounts for.

Per generation of a log file:

1. intent: a new generation is written into the state (offset 0) before any of its data
   (``open_generation``);
2. record: a data object's key is (generation, start offset), so a retry rewrites the same
   object; once it is durable the generation's offset moves to its end in memory
   (``write_object``, ``record_object``);
3. commit: at most one data object per generation is ever durable but not yet committed in the
   state: before writing a generation's second object, the state is committed (``commit``,
   conditional on the ETag read, so a stale writer cannot overwrite a newer state);
4. adopt: after a crash (an expired lease that was never released, or a run that did not end
   clean) the next holder looks for that one possible object at each generation's committed
   offset and records it as the commit would have (``adopt_dangling``, ``adopt_object``).

A run ends clean only when it stopped for no reason and no data write failed: a failed write
may be durable all the same (an answer lost, a 500 after the write), and the next run must
look for it (``close``).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from shipper.exceptions import LeaseLostError, StateConflictError
from shipper.layout import (
    META_LOG_FILE,
    META_MARKER,
    Scope,
    data_metadata,
    decode_metadata_value,
    metadata_names,
)
from shipper.lease import Lease
from shipper.rdsapi import LogFile
from shipper.s3store import S3Store
from shipper.state import Generation, InstanceState, new_generation_id
from shipper.stats import RunStats
from shipper.transfer import ObjectBuilder, SealedObject

log = logging.getLogger("shipper")


class Ledger:
    """One instance's state while a run holds its lease. Every change to the state goes
    through ``lock`` (file jobs run in parallel); ``changing()`` also marks it for the next
    commit."""

    def __init__(self, scope: Scope, state: InstanceState, etag: str | None, lease: Lease,
                 store: S3Store, stats: RunStats, run_id: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.scope = scope
        self.state = state
        self.lease = lease
        self._etag = etag
        self._store = store
        self._stats = stats
        self._run_id = run_id
        self._clock = clock
        self.lock = threading.RLock()
        self._uncommitted: set[str] = set()  # generations with a durable, uncommitted object
        self._changed = False  # the state differs from what was last committed
        self._unsure_writes = False  # a data write failed: it may be durable all the same

    @contextmanager
    def changing(self) -> Iterator[InstanceState]:
        """Change the state under the lock; it is written by the next commit."""
        with self.lock:
            yield self.state
            self._changed = True

    def mark_changed(self) -> None:
        """For a change made under ``lock`` that turned out to be one."""
        with self.lock:
            self._changed = True

    @property
    def changed(self) -> bool:
        return self._changed

    def now(self) -> float:
        return self._clock()

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    # --- 1. intent -----------------------------------------------------------------------

    def open_generation(self, file: LogFile, active: bool, commit: bool = True) -> Generation:
        """A new generation, recorded (and, by default, committed) before any of its data."""
        with self.changing() as state:
            gen = Generation(
                gen_id=new_generation_id(), name=file.name, first_name=file.name,
                first_seen_ms=file.last_written_ms or self.now_ms(),
                seen_size=file.size, seen_last_written_ms=file.last_written_ms, active=active,
            )
            state.generations[gen.gen_id] = gen
            if commit:
                self.commit()
            return gen

    # --- 2. record -----------------------------------------------------------------------

    def write_object(self, gen: Generation, log_name: str, sealed: SealedObject,
                     marker_name: str | None) -> None:
        """Write one data object of ``gen`` (read as ``log_name``) and record it in memory."""
        with self.lock:
            if gen.gen_id in self._uncommitted:
                self.commit()  # never two uncommitted objects of one generation
            self.check_lease()
        key = self.scope.data_key(gen.gen_id, gen.first_seen_ms, sealed.start)
        try:
            self._store.put_data(key, sealed.body, data_metadata(
                self.scope, log_name, gen.gen_id, sealed.start, sealed.end, sealed.sha256,
                sealed.marker))
        except Exception:
            with self.lock:
                self._unsure_writes = True
            raise
        with self.changing():
            record_object(gen, sealed, marker_name)
            self._uncommitted.add(gen.gen_id)
        self._stats.add(objects_written=1, bytes_shipped=sealed.end - sealed.start)

    # --- 3. commit -----------------------------------------------------------------------

    def check_lease(self) -> None:
        if not self.lease.valid():
            raise LeaseLostError(f"lease on {self.scope.instance} expired or was taken over")

    def commit(self, clean: bool = False) -> None:
        with self.lock:
            self.check_lease()
            self.state.revision += 1
            self.state.last_run_id = self._run_id
            self.state.last_run_at = self._clock()
            self.state.last_run_clean = clean
            try:
                self._etag = self._store.put_conditional(
                    self.scope.state_key(), self.state.to_bytes(), self._etag)
            except StateConflictError as err:
                self.lease.lost = True
                raise LeaseLostError(
                    f"state of {self.scope.instance} was changed by another run") from err
            self._uncommitted.clear()
            self._changed = False
            self._stats.add(state_commits=1)

    def commit_if_changed(self) -> None:
        with self.lock:
            if self._changed:
                self.commit()

    def close(self, stopped: bool) -> None:
        """The run's last commit, when anything is left to say: changes, uncommitted objects,
        or whether this run ended clean (the next run adopts after one that did not)."""
        with self.lock:
            if not self.lease.valid():
                return
            if self._changed or self._uncommitted or not self.state.last_run_clean \
                    or self._unsure_writes:
                self.commit(clean=not (stopped or self._unsure_writes))

    # --- 4. adopt after a crash ----------------------------------------------------------

    def adopt_dangling(self) -> int:
        """The previous holder died mid-run (or gave up on a write): adopt the one object per
        generation that may have become durable after its last commit. Returns how many."""
        adopted = 0
        for gen in list(self.state.generations.values()):
            while self._adopt_next(gen):
                adopted += 1
        if adopted:
            log.info("adopted objects written after the last commit of a crashed run",
                     extra={"instance": self.scope.instance, "objects": adopted})
            self.commit()
        return adopted

    def _adopt_next(self, gen: Generation) -> bool:
        key = self.scope.data_key(gen.gen_id, gen.first_seen_ms, gen.offset)
        if self._store.head(key) is None:
            return False
        obj = self._store.get(key)
        if obj is None:
            return False
        data = gzip.decompress(obj.body)
        end = gen.offset + len(data)
        if obj.metadata.get("end-offset") != str(end) or \
                obj.metadata.get("sha256") not in (None, hashlib.sha256(data).hexdigest()):
            log.warning("found an unreadable object after a crash; it will be rewritten",
                        extra={"instance": self.scope.instance, "generation": gen.gen_id})
            return False
        with self.changing():
            adopt_object(gen, data, obj.metadata)
        return True


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


def record_sighting(gen: Generation, file: LogFile, active: bool,
                    read_whole: bool = False) -> None:
    """Record where ``gen`` was seen. When we read fewer bytes than the listing promised,
    either the name changed hands after the listing (the entry describes another file, so its
    Size is not remembered: the renamed file must not be taken for this one by the rename
    rule, only what we read is), or, after a complete read (``read_whole``), the listed Size
    counts bytes no download returns (a filtered MySQL error log): then everything listed so
    far was read, and the file is complete while its LastWritten stays the same."""
    if gen.name != file.name:
        gen.marker = None if gen.marker_name != file.name else gen.marker
    gen.name = file.name
    gen.max_listed = max(gen.max_listed, file.size)
    consistent = gen.offset >= file.size
    gen.seen_size = file.size if consistent else gen.offset
    gen.seen_last_written_ms = file.last_written_ms
    gen.active = active
    gen.missing_since_ms = None
    gen.ended_below_listed = read_whole and not consistent
    if gen.ended_below_listed:
        gen.max_listed = gen.offset  # no listed byte is missing: a gap counts only what follows
