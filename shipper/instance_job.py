"""Shipping one DB instance: lease, state, plan, phases, conclusions.

A pass over one instance: load its state, list its log files and stop there when nothing would
be written (``shipper.idle``); otherwise take its lease, read the state again unless the lease
proved it current, adopt what a crashed run left, plan what each file is
(``shipper.identity``), ship them in three phases
(``shipper.file_shipper``), then conclude what the complete pass showed: vanished files and
breaks in their families (``shipper.losses``), and the final commit (``shipper.ledger``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from shipper.adoption import adopt_dangling
from shipper.claims import Claims
from shipper.config import Settings
from shipper.continuity import decide_pending, judge_listing
from shipper.deferrals import carry_forward
from shipper.exceptions import (
    AwsAccessError,
    InstanceGoneError,
    InstanceMovedError,
    InstanceNotReady,
    ShipperError,
    StateCorruptError,
    StopRequested,
)
from shipper.grouped import BlockedWorkers
from shipper.identity import FileJob, Plan, make_plan
from shipper.idle import nothing_to_write
from shipper.instance_identity import (
    Loaded,
    follow_rename,
    load_state,
    needs_settling,
    record_name,
)
from shipper.instance_run import InstanceRun
from shipper.layout import Scope
from shipper.lease import Lease, LeaseManager
from shipper.ledger import Ledger
from shipper.listing import LogFile, believed_listing
from shipper.losses import account_for_missing, lag_seconds, report_breaks
from shipper.phases import Phases, safe_error_text
from shipper.rdsapi import RdsApi
from shipper.s3store import S3Store
from shipper.state import InstanceState
from shipper.stats import RunStats

log = logging.getLogger("shipper")


@dataclass
class Outcome:
    instance: str
    files: int = 0
    failures: int = 0
    skipped_reason: str | None = None
    lag_seconds: float = 0.0
    fatal: ShipperError | None = None
    corrupt: ShipperError | None = None


class InstanceJob:
    def __init__(self, scope: Scope, api: RdsApi, store: S3Store, leases: LeaseManager,
                 settings: Settings, stats: RunStats, run_id: str, stop: threading.Event,
                 pool: ThreadPoolExecutor, file_filter: Callable[[str], bool],
                 run_started: float | None = None, workers: BlockedWorkers | None = None
                 ) -> None:
        self.scope = scope
        self.api = api
        self.store = store
        self.leases = leases
        self.settings = settings
        self.stats = stats
        self.run_id = run_id
        self.stop = stop
        self.pool = pool
        self.workers = workers  # the file pool's, for gathering name checks
        self.file_filter = file_filter
        self.run_started = run_started
        # ``api.reads_of`` when the identifier was last seen naming this instance: the
        # scope's resource id comes from the run's DescribeDBInstances page, read before
        # this ``api`` read any of the instance's files.
        self._confirmed_after = 0

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
            log.error(f"instance failed: {type(err).__name__}: {safe_error_text(err)}",
                      extra={"instance": self.scope.instance, "error": type(err).__name__},
                      exc_info=log.isEnabledFor(logging.DEBUG))
            return outcome

    def _run(self) -> Outcome:
        outcome = Outcome(self.scope.instance)
        loaded = load_state(self.store, self.scope)
        state = loaded.state
        if self._done_since_run_started(state):
            return self._skip(outcome, "done")  # before listing: no RDS call spent on it
        listing, complete = self._list()
        # A cut listing may leave out files that are still there: only a complete one can
        # show that nothing changed.
        if complete and not needs_settling(state, self.scope) \
                and nothing_to_write(state, listing, int(self.leases.clock() * 1000)):
            self.stats.add(files_seen=len(listing))
            self._observe_lag(outcome, state)
            return outcome
        # Only now that there is work. Taken on the ETag the last final commit recorded, the
        # state read is current; otherwise it is read again under the lease.
        taken = self.leases.take(self.scope.lease_key(), state.closed_lease_etag,
                                 self.run_started)
        if taken.lease is None:
            return self._skip(outcome, taken.refusal)
        lease = taken.lease
        ledger: Ledger | None = None
        try:
            if not taken.on_closed_etag:
                loaded, listing, complete = self._recheck(loaded, listing, complete)
            ledger = Ledger(self.scope, loaded.state, loaded.etag, lease, self.store,
                            self.stats, self.run_id)
            ledger.before_commit = self._confirm_identity
            self._settle_identity(ledger, loaded)
            if lease.previous_crashed or not state.last_run_clean:
                adopt_dangling(ledger, self.store)
            self._ship(InstanceRun(ledger, Claims(), self.api, self.settings, self.stats,
                                   self.stop, listing, workers=self.workers),
                       outcome, listing, complete)
        except InstanceMovedError as err:
            self._disown(ledger)
            ledger = None  # no final commit
            self._classify(err, outcome)
        except ShipperError as err:
            self._classify(err, outcome)
        finally:
            self._finish(ledger, lease, outcome)
        return outcome

    def _disown(self, ledger: Ledger | None) -> None:
        if ledger is None:
            return
        try:
            ledger.disown_uncommitted()
        except ShipperError as err:
            log.warning(f"could not mark the state clean: {err.one_line()}",
                        extra={"instance": self.scope.instance})

    def _done_since_run_started(self, state: InstanceState) -> bool:
        """A run that started with this one closed the instance after we started: runs
        started together never work an instance twice (the next scheduled run takes it)."""
        return self.run_started is not None and state.closed_lease_etag is not None \
            and state.last_run_at is not None and state.last_run_at >= self.run_started

    def _recheck(self, loaded: Loaded, listing: list[LogFile], complete: bool
                 ) -> tuple[Loaded, list[LogFile], bool]:
        """Read the state again under the lease: another run may have shipped since it was
        read. If it did, plan from its state and a listing taken after it."""
        fresh = load_state(self.store, self.scope)
        if fresh.etag == loaded.etag and fresh.adopted_from == loaded.adopted_from:
            return loaded, listing, complete
        log.info("state changed since it was read; listing again",
                 extra={"instance": self.scope.instance})
        return fresh, *self._list()

    def _settle_identity(self, ledger: Ledger, loaded: Loaded) -> None:
        """What the state learns of the instance's identity before any of its data
        (``shipper.instance_identity``): an adopted state, a reused identifier, a rename,
        and the identifier's name record."""
        scope, state = self.scope, ledger.state
        extra = {"instance": scope.instance, "resource_id": scope.resource_id}
        if loaded.adopted_from is not None:
            log.info("adopted the state an earlier release kept under the identifier",
                     extra={**extra, "state_key": loaded.adopted_from})
            self.stats.add(states_adopted=1)
            ledger.mark_changed()
        if loaded.reused_from is not None:
            log.info("identifier reused: a new instance has the identifier of another; its "
                     "logs start afresh", extra={**extra, "former_resource_id":
                                                 loaded.reused_from})
            self.stats.add(identifiers_reused=1)
        with ledger.lock:
            former = follow_rename(state, scope)
            if former is not None:
                ledger.mark_changed()
        if former is not None:
            log.info("instance renamed", extra={**extra, "former_identifier": former})
            self.stats.add(instances_renamed=1)
        if scope.resource_id and not state.name_recorded:
            ledger.commit()  # under the resource id first: the record may replace a legacy state
            record_name(self.store, scope)
            with ledger.changing():
                state.name_recorded = True

    def _confirm_identity(self) -> None:
        """Does the identifier still name this instance? Asked before every commit of a pass
        with work (``Ledger.before_commit``): a switchover or rename during the run has the
        rest of it read another instance's files under the name, and nothing of that may be
        committed. An idle pass commits nothing and asks nothing."""
        if not self.scope.resource_id:
            return
        reads = self.api.reads_of(self.scope.instance)
        if reads == self._confirmed_after:
            # Nothing was read since the identifier was last seen naming this instance (by
            # the run's DescribeDBInstances page, or the last confirmation): everything the
            # commit holds was learnt while it did.
            return
        now = self.api.resource_id_after(self.scope.instance)
        # No instance has the name now (deleted, or renamed away): no other instance's files
        # were read under it, so what was read is this one's and may be committed.
        if now is not None and now != self.scope.resource_id:
            raise InstanceMovedError(
                f"identifier {self.scope.instance} names another instance now "
                f"({now or 'none'}, was {self.scope.resource_id}); nothing more of it is "
                "committed this run", "the next run ships each instance under its new name")
        self._confirmed_after = reads

    def _skip(self, outcome: Outcome, refusal: str | None) -> Outcome:
        outcome.skipped_reason = "leased by another run"
        if refusal == "stale":
            # Its holder is gone but the lease does not expire soon: not a success.
            outcome.failures += 1
            self.stats.add(failures=1)
            log.error("instance is leased by a run that stopped renewing the lease over "
                      "twice its TTL ago; skipping (it is shipped once the lease expires)",
                      extra={"instance": self.scope.instance})
            return outcome
        log.info("instance is being shipped by another run; skipping" if refusal == "held"
                 else "instance was shipped by another run since this run started; skipping",
                 extra={"instance": self.scope.instance})
        return outcome

    def _classify(self, err: ShipperError, outcome: Outcome) -> None:
        if isinstance(err, StateCorruptError):
            outcome.corrupt = err
        elif isinstance(err, AwsAccessError):
            outcome.fatal = err
        elif isinstance(err, InstanceMovedError):
            outcome.skipped_reason = "identifier moved to another instance"
            self.stats.add(instances_moved=1)
            log.warning(err.one_line(), extra={"instance": outcome.instance,
                                               "resource_id": self.scope.resource_id})
        elif isinstance(err, InstanceGoneError):
            outcome.skipped_reason = "instance deleted during the run"
            log.info("instance disappeared during the run", extra={"instance": outcome.instance})
        elif isinstance(err, InstanceNotReady):
            outcome.skipped_reason = "serves no logs right now"
            log.info("instance serves no logs right now; skipping",
                     extra={"instance": outcome.instance, "reason": err.one_line()})
        elif not isinstance(err, StopRequested):
            outcome.failures += 1
            log.error(err.one_line(), extra={"instance": outcome.instance,
                                             "error": type(err).__name__})

    def _finish(self, ledger: Ledger | None, lease: Lease, outcome: Outcome) -> None:
        """The final commit frees the lease (shipper.ledger); without one, release it."""
        closed = False
        try:
            closing_etag = self.leases.retire(lease)
            if ledger is not None:
                closed = ledger.close(stopped=self.stop.is_set(), lease_etag=closing_etag)
        except InstanceMovedError as err:  # found by the final commit's confirmation
            self._disown(ledger)
            self._classify(err, outcome)
        except ShipperError as err:
            outcome.failures += 1
            log.error(f"could not commit state: {err.one_line()}",
                      extra={"instance": outcome.instance})
        except Exception as err:
            outcome.failures += 1
            log.error(f"could not commit state: {type(err).__name__}: {err}",
                      extra={"instance": outcome.instance})
        finally:
            if not closed:
                try:
                    self.leases.release(lease)
                except Exception:
                    log.warning("could not release lease; it expires by itself",
                                extra={"instance": outcome.instance})

    def _list(self) -> tuple[list[LogFile], bool]:
        """The listed files this run ships, and whether the listing is complete (a file
        missing from an incomplete one may still be there)."""
        files = believed_listing(lambda: self.api.log_files(self.scope.instance), self.stop)
        return [f for f in files if self.file_filter(f.name)], files.complete

    def _ship(self, shared: InstanceRun, outcome: Outcome, listing: list[LogFile],
              complete: bool) -> None:
        self.stats.add(files_seen=len(listing))
        plan = make_plan(shared.ledger.state, listing, complete)
        opened = self._record_plan(shared, plan, listing, complete)
        phases = Phases(shared, self.pool, self.stop, self.stats).run(plan, opened)
        outcome.files += phases.files
        outcome.failures += phases.failures
        completed, errors = phases.completed, phases.errors
        # Only a complete pass over a complete listing may conclude that a file vanished: an
        # empty listing (after a retry) says nothing, files a stopped run did not reach are
        # still there, and so may be files a cut listing left out.
        if listing and completed and complete:
            self._conclude(shared, plan, listing)
        outcome.failures += self._judge_deferrals(shared, completed)
        self._observe_lag(outcome, shared.ledger.state)
        if errors:
            raise errors[0] if isinstance(errors[0], ShipperError) else ShipperError(
                str(errors[0]))

    def _judge_deferrals(self, shared: InstanceRun, completed: bool) -> int:
        """Keep this pass's deferrals in the state; a file the last pass deferred for the
        same reason is stuck: an error and a failure each (``shipper.deferrals``)."""
        ledger = shared.ledger
        now = shared.deferrals.all()
        with ledger.lock:
            kept, stuck = carry_forward(ledger.state.deferred, now, completed)
            if kept != ledger.state.deferred:
                ledger.state.deferred = kept
                ledger.mark_changed()
        self.stats.add(files_deferred=len(now), files_stuck=len(stuck), failures=len(stuck))
        for d in stuck:
            log.error(f"{d.name} was left unshipped by {d.runs} runs in a row ({d.reason}); "
                      "it is tried again every run and lost when RDS deletes it: report this "
                      "with the run's log", extra={"instance": self.scope.instance,
                                                   "file": d.name, "reason": d.reason,
                                                   "runs": d.runs})
        return len(stuck)

    def _observe_lag(self, outcome: Outcome, state: InstanceState) -> None:
        outcome.lag_seconds = lag_seconds(state, self.leases.clock())
        self.stats.observe_lag(outcome.lag_seconds, self.scope.state_key())

    def _record_plan(self, shared: InstanceRun, plan: Plan, listing: list[LogFile],
                     complete: bool) -> list[FileJob]:
        """Commit, before any data, what the listing showed: continuity (a run that stops
        early must not hide a break from later runs), the sizes it promised (a later loss is
        counted in full) and a generation for each certainly new file. Returns the new files
        as jobs of their generations."""
        ledger = shared.ledger
        known_before = [g for g in ledger.state.generations.values()
                        if g.missing_since_ms is None]
        if complete:  # what an incomplete listing leaves out may still be there
            with ledger.lock:
                breaks, changed = judge_listing(ledger.state, known_before, plan, listing)
                if changed:
                    ledger.mark_changed()
            report_breaks(ledger, breaks, self.stats)
        for job in plan.known:
            assert job.gen is not None
            ledger.note_listed_size(job.gen, job.file.size)
        if log.isEnabledFor(logging.DEBUG):
            for job in plan.jobs:
                log.debug("planned", extra={
                    "instance": self.scope.instance, "file": job.name, "size": job.file.size,
                    "kind": job.kind.value, "candidates": len(job.candidates)})
        opened = []
        for job in plan.new:
            gen = ledger.open_generation(job.file, job.active, commit=False)
            shared.claims.take(gen)
            opened.append(job.opened(gen))
        ledger.commit_if_changed()
        return opened

    def _conclude(self, shared: InstanceRun, plan: Plan, listing: list[LogFile]) -> None:
        """What a complete pass shows: vanished generations, and pending family breaks
        decided by what was found (not claimed: a claim outlives a download that failed)."""
        ledger = shared.ledger
        account_for_missing(ledger, shared.claims, plan, self.stats)
        with ledger.lock:
            breaks, changed = decide_pending(ledger.state, shared.claims.found_ids(), listing)
            if changed:
                ledger.mark_changed()
        report_breaks(ledger, breaks, self.stats)
