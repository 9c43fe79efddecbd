"""The exactly-once protocol: one instance's state in S3 and the data objects it accounts for.

Per generation of a log file:

1. intent: a new generation is written into the state (offset 0) before any of its data
   (``open_generation``);
2. record: a data object's key is (generation, partition day, start offset), the day
   committed before the first object under it, so a retry rewrites the same object; once it
   is durable the generation's offset moves to its end in memory (``write_object``,
   ``record_object``);
3. commit: at most one data object per generation is ever durable but not yet committed in the
   state: before writing a generation's second object, the state is committed (``commit``,
   conditional on the ETag read, so a stale writer cannot overwrite a newer state);
4. adopt: after a crash (an expired lease that was never released, or a run that did not end
   clean) the next holder looks for that one possible object at each generation's committed
   offset and records it as the commit would have (``shipper.adoption``).

A run ends clean only when it stopped for no reason and no data write failed: a failed write
may be durable all the same (an answer lost, a 500 after the write), and the next run must
look for it (``close``).

Requests per instance and run. Idle: GET state and one listing page; nothing is written
(``shipper.idle`` argues each piece of bookkeeping; a pass that writes nothing needs no
lease, and every write it would make is conditional anyway). With work: GET state, PUT lease,
PUT intent (when new files are listed), the data objects and the commits between them, PUT
final commit. Requests it does without, and why that is safe:

* a release PUT. The final commit records the ETag the lease then has
  (``closed_lease_etag``) and the run writes nothing after it; the lease is retired first, so
  no renewal changes that ETag. While the lease still has it, nobody has taken the lease
  since, so it is free. A run that ends without a final commit (its lease lost or a commit
  failed) releases the lease as before or lets it expire, and an expired lease that was not
  released still means a crash. Lease bodies name holder and time, so an ETag never recurs.
* a lease GET. The next run takes the lease with If-Match on the recorded ETag, without
  reading it (``LeaseManager.take_closed``). If that fails, someone took the lease since: it
  reads the lease and decides held, crashed or released as before.
* a GET that re-checks the state under the lease. The state was read before the lease was
  taken, and another run may have shipped in between. When the lease was taken on the ETag
  the state recorded, the lease has not changed since that state's final commit, and every
  state write is made under the lease, so the state read is current. Otherwise the state is
  read again under the lease, and if it changed the plan is made again from it and a new
  listing (``InstanceJob._recheck``). Either way the first commit is still conditional on
  the ETag read (If-Match), which catches whatever this argument missed.

What stays, and why:

* the intent commit. A new generation must be in the state before its first object, or a
  crash leaves an object no state knows. Folding it into the lease PUT would hide it from
  the idle check, which reads only the state: had the new file vanished before the next run,
  that run would be idle, never read the lease, and neither adopt the object nor count the
  file's unshipped bytes as a gap. In the state, the intent also makes ``last_run_clean``
  false until the run ends, so a crash makes the next pass adopt.
* the lease PUT, and the state as a separate object. Folding the lease into the state would
  save this PUT too, but then every renewal rewrites the state, and the lease's takeover,
  expiry and crash rules would all move into the state's schema; the lease PUT is one
  request per instance with work.
* the commit before a generation's second object: it is what bounds a crash to one
  uncommitted object per generation.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from shipper.exceptions import LeaseLostError, StateConflictError
from shipper.layout import (
    Scope,
    data_metadata,
    partition_day,
)
from shipper.lease import Lease
from shipper.listing import LogFile
from shipper.ports import ObjectStore
from shipper.state import Generation, InstanceState, new_generation_id
from shipper.stats import RunStats
from shipper.transfer import SealedObject

log = logging.getLogger("shipper")


class Ledger:
    """One instance's state while a run holds its lease. Every change to the state goes
    through ``lock`` (file jobs run in parallel); ``changing()`` also marks it for the next
    commit. ``lock`` is never held across a network call: state writes are serialized by a
    lock of their own, so file jobs keep recording objects while a commit is in flight."""

    def __init__(self, scope: Scope, state: InstanceState, etag: str | None, lease: Lease,
                 store: ObjectStore, stats: RunStats, run_id: str,
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
        self._writing = threading.Lock()  # one state write at a time, each on the last ETag
        self._uncommitted: set[str] = set()  # generations with a durable, uncommitted object
        # Changes made to the state, and how many of them the last commit wrote: a change
        # made while a commit is in flight is left for the next one.
        self._changes = 0
        self._changes_written = 0
        # generations with a data write that failed: it may be durable all the same
        self._unsure: set[str] = set()
        # Called before every commit (the instance job confirms that the identifier still
        # names its instance: shipper.instance_identity); raises to stop the commit.
        self.before_commit: Callable[[], None] = lambda: None
        self._committed = state.to_bytes()  # what the state object holds now (etag: _etag)

    @contextmanager
    def changing(self) -> Iterator[InstanceState]:
        """Change the state under the lock; it is written by the next commit."""
        with self.lock:
            yield self.state
            self._changes += 1

    def note_listed_size(self, gen: Generation, size: int) -> None:
        """A listing promised ``size`` bytes of ``gen``: what is not shipped of them by the
        time the file is gone counts as lost (``shipper.losses``)."""
        with self.lock:
            if size > gen.max_listed:
                gen.max_listed = size
                self._changes += 1

    def keep_marker(self, gen: Generation, marker: str, name: str) -> None:
        """A marker at the end of what was shipped of ``gen``, read under ``name``: the next
        run's portions start there (``Generation.marker_for``)."""
        with self.changing():
            gen.marker, gen.marker_name = marker, name

    def mark_missing(self, gen: Generation, now_ms: int) -> None:
        """No listed file is ``gen`` after a complete pass: it is missing from now on."""
        with self.changing():
            gen.missing_since_ms = now_ms

    def mark_changed(self) -> None:
        """For a change made under ``lock`` that turned out to be one."""
        with self.lock:
            self._changes += 1

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    # --- 1. intent -----------------------------------------------------------------------

    def open_generation(self, file: LogFile, active: bool, commit: bool = True) -> Generation:
        """A new generation, recorded (and, by default, committed) before any of its data."""
        with self.changing() as state:
            first_seen_ms = file.last_written_ms or self.now_ms()
            gen = Generation(
                gen_id=new_generation_id(), name=file.name, first_name=file.name,
                first_seen_ms=first_seen_ms, seen_size=file.size,
                seen_last_written_ms=file.last_written_ms, active=active,
                dt_days=[partition_day(first_seen_ms)],
            )
            state.generations[gen.gen_id] = gen
        if commit:
            self.commit()
        return gen

    def forget_empty(self, gen: Generation) -> bool:
        """Take back an intent: ``gen`` has no data (nothing durable names it), and the file
        it was minted for is decided afresh by the next listing; what the listing showed of
        it stays as a ``Sighting`` for continuity. Not when a write of it failed (False): that
        object may be durable, and only a generation in the state is looked for by the next
        run (``shipper.adoption``); forgotten, its file would be shipped again under a new one."""
        with self.lock:
            if gen.offset != 0 or gen.gen_id in self._uncommitted:
                raise ValueError(f"generation {gen.gen_id} has data; it cannot be forgotten")
            if gen.gen_id in self._unsure:
                return False
        with self.changing() as state:
            state.generations.pop(gen.gen_id, None)
            state.unread.append(gen.sighting())
        return True

    # --- 2. record -----------------------------------------------------------------------

    def write_object(self, gen: Generation, log_name: str, sealed: SealedObject,
                     marker_name: str | None, written_ms: int) -> None:
        """Write one data object of ``gen`` (read as ``log_name``, whose LastWritten was
        ``written_ms`` when the range was planned) and record it in memory."""
        with self.lock:
            due = self._enter_partition(gen, partition_day(written_ms or self.now_ms())) \
                or gen.gen_id in self._uncommitted
        if due:  # only this job writes ``gen``: nothing makes it uncommitted meanwhile
            self.commit()  # never two uncommitted objects of one generation
        self.check_lease()
        written_as = self.written_as(gen)
        key = self.scope.data_key(gen.gen_id, current_partition(gen), sealed.start, written_as)
        try:
            self._store.put_data(key, sealed.body, data_metadata(
                self.scope, log_name, gen.gen_id, sealed.start, sealed.end, sealed.sha256,
                sealed.marker, written_as))
        except Exception:
            with self.lock:
                self._unsure.add(gen.gen_id)
            raise
        with self.changing():
            record_object(gen, sealed, marker_name)
            self._uncommitted.add(gen.gen_id)
        self._stats.add(objects_written=1, bytes_shipped=sealed.end - sealed.start)

    def _enter_partition(self, gen: Generation, day: str) -> bool:
        """Make ``day``, under the instance's identifier now, the partition of ``gen``'s next
        objects; True when that changed the state (it must be committed before an object
        lands there: adoption looks there)."""
        same_day = current_partition(gen) == day
        if same_day and self.written_as(gen) == self.scope.instance:
            return False
        if not same_day:
            gen.dt_days = [d for d in gen.dt_days or [current_partition(gen)] if d != day] \
                + [day]
        gen.written_as = self.scope.instance
        return True

    def written_as(self, gen: Generation) -> str:
        """The identifier whose partition holds ``gen``'s latest objects (and its next)."""
        return gen.written_as or self.state.instance

    # --- 3. commit -----------------------------------------------------------------------

    def check_lease(self) -> None:
        if not self.lease.valid():
            raise LeaseLostError(f"lease on {self.scope.instance} expired or was taken over")

    def commit(self, clean: bool = False, closing_lease_etag: str | None = None) -> None:
        """Write the state, conditional on the ETag last read or written. Only the final
        commit passes ``closing_lease_etag`` (see ``close``)."""
        self._not_under_lock()
        with self._writing:
            self.check_lease()
            # The body is taken before the identity confirmation is asked: then it holds only
            # what reads that came back before the question was sent told us, all of which
            # the answer covers (a read answered during the question's round trip may have
            # come from another instance, and waits for the next commit).
            with self.lock:  # what the state is now; changes made after wait for the next
                self.state.revision += 1
                self.state.last_run_id = self._run_id
                self.state.last_run_at = self._clock()
                self.state.last_run_clean = clean
                self.state.closed_lease_etag = closing_lease_etag
                body = self.state.to_bytes()
                written = set(self._uncommitted)
                changes = self._changes
            self.before_commit()
            self._put_state(body)
            with self.lock:
                self._committed = body
                self._uncommitted -= written
                self._changes_written = changes
            self._stats.add(state_commits=1)

    def _put_state(self, body: bytes) -> None:
        """The conditional state write (under ``_writing``, which keeps ``_etag`` current)."""
        try:
            self._etag = self._store.put_conditional(self.scope.state_key(), body, self._etag)
        except StateConflictError as err:
            self.lease.lost = True
            raise LeaseLostError(
                f"state of {self.scope.instance} was changed by another run") from err

    def _not_under_lock(self) -> None:
        # A commit waits for the write in flight, which waits for ``lock``: a caller holding
        # it would deadlock, and would hold it across the network call besides.
        if self.lock._is_owned():  # type: ignore[attr-defined]
            raise RuntimeError("a commit was called under the ledger's lock")

    def disown_uncommitted(self) -> None:
        """The identifier named another instance when a commit was due: what this pass
        wrote since its last commit may hold that instance's bytes. Write the last committed
        state back marked clean, so that no run adopts those objects (``shipper.adoption``
        runs only after an unclean end); a later object at the same offset replaces them."""
        self._not_under_lock()
        with self._writing:
            if self._etag is None or not self.lease.valid():
                return  # nothing committed yet, so no object was written
            doc = json.loads(self._committed)
            doc["last_run_clean"] = True
            doc.pop("closed_lease_etag", None)
            self._put_state(
                json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("utf-8"))

    def commit_if_changed(self) -> None:
        with self.lock:
            due = self._changes != self._changes_written
        if due:
            self.commit()

    def close(self, stopped: bool, lease_etag: str | None) -> bool:
        """The run's final commit, which also frees the lease: it records whether this run
        ended clean (the next run adopts after one that did not) and ``lease_etag``, the
        ETag of the retired lease. Returns False when it could not be made (the lease is no
        longer ours), and the lease is then released or expires as before."""
        with self.lock:
            if lease_etag is None or not self.lease.valid():
                return False
            clean = not (stopped or self._unsure)
        self.commit(clean=clean, closing_lease_etag=lease_etag)
        return True


def keep_partitions(state: InstanceState, old_identifier: str) -> None:
    """The instance is renamed: every generation keeps the partition its objects are under
    (``written_as``), so a retry or an adoption after a crash looks where it was written.
    Every generation, not only those shown shipped: a run that wrote a first object and died
    before committing it left it under the old identifier too (an empty generation moves on
    at its next object)."""
    for gen in state.generations.values():
        if gen.written_as is None:
            gen.written_as = old_identifier


def current_partition(gen: Generation) -> str:
    """The dt partition ``gen``'s next object goes to (and a crashed run's last one is in)."""
    return gen.dt_days[-1] if gen.dt_days else partition_day(gen.first_seen_ms)


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


def record_sighting(gen: Generation, file: LogFile, active: bool, read_end: int,
                    read_whole: bool = False) -> None:
    """Record where ``gen`` was seen, read up to ``read_end`` (past its offset by a held-back
    partial line). When we read fewer bytes than the listing promised, either the name
    changed hands after the listing (the entry describes another file, so its Size is not
    remembered: the renamed file must not be taken for this one by the rename rule, only what
    we read is), or, after a complete read (``read_whole``), the listed Size counts bytes no
    download returns (a filtered MySQL error log): then everything listed so far was read,
    and the file is complete while its LastWritten stays the same."""
    if gen.name != file.name:
        gen.marker = gen.marker_for(file.name)
    gen.name = file.name
    gen.max_listed = max(gen.max_listed, file.size)
    read = max(gen.offset, read_end)
    consistent = read >= file.size
    gen.seen_size = file.size if consistent else read
    gen.read_end = read
    gen.seen_last_written_ms = file.last_written_ms
    gen.active = active
    gen.missing_since_ms = None
    gen.ended_below_listed = read_whole and not consistent
    if gen.ended_below_listed:
        gen.max_listed = read  # no listed byte is missing: a gap counts only what follows
