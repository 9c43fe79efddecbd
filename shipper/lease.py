"""Leases in S3, one per DB instance, taken with conditional writes.

Overlapping scheduled runs and several tasks started at once split the instances between them:
whoever creates (If-None-Match: *) or takes over an expired lease (If-Match on its ETag) works on
the instance; the others skip it. The holder renews before expiry; a crashed holder's lease
simply expires. A lease that expired without being released tells the next holder that the
previous run died mid-way, so it checks for data written after the last state commit.

A run that finished does not release its lease with a write of its own: its final state
commit records the lease's ETag (``InstanceState.closed_lease_etag``) and the next run takes
the lease with If-Match on that ETag, without reading it first (``take_closed``). The argument
is in shipper.ledger's docstring; ``release`` remains for the runs that end without a final
commit and for the operator commands.

A live holder rewrites its lease every third of its time-to-live, and every write carries
``written_at``. A run that finds the lease held can so tell how long its holder has been
silent: over twice the TTL (``STALE_FACTOR``) means the holder is gone but its lease has not
expired (it was written with a longer TTL, or by a clock far ahead). The instance is then
skipped as ``"stale"``, which the run reports as a failure: waiting would not end it soon.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shipper.exceptions import StateConflictError
from shipper.ports import ObjectStore

STALE_FACTOR = 2.0


@dataclass
class Lease:
    key: str
    holder: str
    etag: str
    expires_at: float
    previous_crashed: bool
    lost: bool = False
    retired: bool = False  # no longer renewed: its holder is writing its final commit
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)
    # Renewal and retirement exclude each other, so a retired lease keeps the ETag it had.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def valid(self, clock: float | None = None) -> bool:
        """Held and not expired at ``clock`` (seconds since the epoch; default: now)."""
        return not self.lost and (clock or self.clock()) < self.expires_at


def _body(holder: str, expires_at: float, released: bool, now: float) -> bytes:
    doc = {"holder": holder, "expires_at": expires_at, "released": released,
           "written_at": now}
    return json.dumps(doc, sort_keys=True).encode("utf-8")


@dataclass(frozen=True)
class Taken:
    """What ``LeaseManager.take`` got: the lease, or why not (``acquire_for_run``)."""

    lease: Lease | None
    refusal: str | None = None
    # Taken on the ETag the last run's final commit recorded: nobody wrote since, so the
    # state read before is current (shipper.ledger).
    on_closed_etag: bool = False


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw.decode("utf-8"))
        if isinstance(doc, dict) and isinstance(doc.get("expires_at"), (int, float)):
            return doc
    except (UnicodeDecodeError, json.JSONDecodeError):
        pass
    # An unreadable lease is treated as expired and crashed: safe, since taking it over is
    # still conditional on its ETag.
    return {"expires_at": 0.0, "released": False, "holder": "?"}


def _silent_for(doc: dict[str, Any], now: float) -> float:
    """Seconds since the holder last wrote the lease (0 when the lease does not say)."""
    written = doc.get("written_at")
    return max(0.0, now - float(written)) if isinstance(written, (int, float)) else 0.0


class LeaseManager:
    """Takes, renews and releases leases; ``clock`` (seconds since the epoch) is what expiry is
    measured by, so tests can move time instead of sleeping."""

    def __init__(self, store: ObjectStore, holder: str, ttl: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self.holder = holder
        self.ttl = ttl
        self.clock = clock
        self._held: dict[str, Lease] = {}
        self._lock = threading.Lock()

    def take(self, key: str, closed_etag: str | None,
             run_started: float | None = None) -> Taken:
        """The lease: on ``closed_etag`` (what the last run's final commit recorded) with one
        conditional PUT and no read, while the lease still has it; else read and taken as
        ``acquire_for_run`` decides."""
        if closed_etag is not None:
            lease = self.take_closed(key, closed_etag)
            if lease is not None:
                return Taken(lease, on_closed_etag=True)
        return Taken(*self.acquire_for_run(key, run_started))

    def acquire(self, key: str) -> Lease | None:
        """Take the lease or return None when another live run holds it."""
        return self.acquire_for_run(key)[0]

    def acquire_for_run(self, key: str, run_started: float | None = None
                        ) -> tuple[Lease | None, str | None]:
        """Take the lease, or say why not: ``"held"`` by another live run, ``"stale"``: held
        by a holder silent for over ``STALE_FACTOR`` TTLs (module docstring), or ``"done"``:
        released by a run that finished the instance after ``run_started`` (runs started
        together then never work an instance twice; the next scheduled run takes it)."""
        existing = self._store.get(key)
        now = self.clock()
        expires = now + self.ttl
        try:
            if existing is None:
                etag = self._store.put_conditional(key, self._body(expires, False), None)
                crashed = False
            else:
                doc = _parse(existing.body)
                if not doc.get("released") and float(doc["expires_at"]) > now:
                    return None, "stale" if _silent_for(doc, now) > STALE_FACTOR * self.ttl \
                        else "held"
                released_at = doc.get("written_at")
                if doc.get("released") and run_started is not None \
                        and isinstance(released_at, (int, float)) and released_at >= run_started:
                    return None, "done"
                etag = self._store.put_conditional(
                    key, self._body(expires, False), existing.etag
                )
                crashed = not doc.get("released", False)
        except StateConflictError:
            return None, "held"  # someone else won the race for it
        lease = Lease(key, self.holder, etag, expires, crashed, clock=self.clock)
        with self._lock:
            self._held[key] = lease
        return lease, None

    def take_closed(self, key: str, closed_etag: str) -> Lease | None:
        """Take the lease left by a run whose final commit recorded ``closed_etag``: one
        conditional PUT, no read. None when the lease has changed since (fall back to
        ``acquire_for_run``, which reads it)."""
        expires = self.clock() + self.ttl
        try:
            etag = self._store.put_conditional(key, self._body(expires, False), closed_etag)
        except StateConflictError:
            return None
        lease = Lease(key, self.holder, etag, expires, False, clock=self.clock)
        with self._lock:
            self._held[key] = lease
        return lease

    def take_over(self, key: str) -> Lease | None:
        """Take the lease whoever holds it (conditional on the ETag read; None if it changed
        meanwhile). Only for an instance whose state no run can commit to any more: a corrupt
        state has a new ETag, and every commit is conditional on the ETag of a state read."""
        existing = self._store.get(key)
        expires = self.clock() + self.ttl
        try:
            etag = self._store.put_conditional(key, self._body(expires, False),
                                               existing.etag if existing else None)
        except StateConflictError:
            return None
        crashed = existing is not None and not _parse(existing.body).get("released", False)
        lease = Lease(key, self.holder, etag, expires, crashed, clock=self.clock)
        with self._lock:
            self._held[key] = lease
        return lease

    def retire(self, lease: Lease) -> str | None:
        """Stop renewing ``lease`` before the final commit that records its ETag (None when
        it is no longer ours). Not a write: the final commit is the release."""
        with self._lock:
            self._held.pop(lease.key, None)
        with lease.lock:
            lease.retired = True
            return lease.etag if lease.valid() else None

    def renew_all(self) -> None:
        with self._lock:
            leases = [lease for lease in self._held.values() if not lease.lost]
        for lease in leases:
            self.renew(lease)

    def renew(self, lease: Lease) -> None:
        with lease.lock:
            if lease.retired:
                return
            if lease.lost or self.clock() >= lease.expires_at:
                lease.lost = True
                return
            expires = self.clock() + self.ttl
            try:
                lease.etag = self._store.put_conditional(
                    lease.key, self._body(expires, False), lease.etag
                )
                lease.expires_at = expires
            except StateConflictError:
                lease.lost = True

    def release(self, lease: Lease) -> None:
        with self._lock:
            self._held.pop(lease.key, None)
        if lease.lost:
            return
        try:
            self._store.put_conditional(
                lease.key, self._body(self.clock(), True), lease.etag
            )
        except StateConflictError:
            lease.lost = True

    def _body(self, expires_at: float, released: bool) -> bytes:
        return _body(self.holder, expires_at, released, self.clock())


class LeaseRenewer:
    """Background thread renewing every held lease at a third of its time-to-live."""

    def __init__(self, manager: LeaseManager, stop: threading.Event) -> None:
        self._manager = manager
        self._stop = stop
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lease-renewer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        interval = max(0.2, self._manager.ttl / 3)
        while not self._done.wait(interval):
            # A failed renewal shows up as an expired lease, which every writer checks.
            with contextlib.suppress(Exception):
                self._manager.renew_all()
