"""Leases in S3 (conditional writes against a local S3 server)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest

from shipper.lease import Lease, LeaseManager
from shipper.s3store import S3Store
from tests.support.fakes import FakeClock

TTL = 0.5


@pytest.fixture
def key() -> str:
    return f"_leases/account=1/region=eu-west-1/instance=db-{uuid.uuid4().hex[:8]}.json"


def lease_doc(store: S3Store, key: str) -> dict[str, Any]:
    stored = store.get(key)
    assert stored is not None
    doc: dict[str, Any] = json.loads(stored.body)
    return doc


def acquired(manager: LeaseManager, key: str) -> Lease:
    lease = manager.acquire(key)
    assert lease is not None
    return lease


def test_first_acquirer_gets_a_fresh_lease(store: S3Store, key: str) -> None:
    before = time.time()
    lease = acquired(LeaseManager(store, "run-a", ttl=30), key)
    assert lease.holder == "run-a" and lease.key == key
    assert lease.previous_crashed is False and lease.lost is False
    assert before + 30 <= lease.expires_at <= time.time() + 30
    assert lease.valid()
    doc = lease_doc(store, key)
    assert (doc["holder"], doc["released"]) == ("run-a", False)
    assert doc["expires_at"] == pytest.approx(lease.expires_at)


def test_second_manager_cannot_take_a_live_lease(store: S3Store, key: str) -> None:
    acquired(LeaseManager(store, "run-a", ttl=30), key)
    assert LeaseManager(store, "run-b", ttl=30).acquire(key) is None
    assert lease_doc(store, key)["holder"] == "run-a"


def test_the_same_holder_does_not_reenter_its_own_live_lease(store: S3Store, key: str) -> None:
    manager = LeaseManager(store, "run-a", ttl=30)
    acquired(manager, key)
    assert manager.acquire(key) is None


def test_expired_lease_is_taken_over_and_reports_a_crash(store: S3Store, key: str) -> None:
    clock = FakeClock()
    acquired(LeaseManager(store, "run-a", ttl=TTL, clock=clock), key)
    clock.advance(TTL + 0.1)
    lease = acquired(LeaseManager(store, "run-b", ttl=30, clock=clock), key)
    assert lease.previous_crashed is True
    assert lease_doc(store, key)["holder"] == "run-b"


def test_released_lease_is_free_at_once_and_reports_no_crash(store: S3Store, key: str) -> None:
    manager_a = LeaseManager(store, "run-a", ttl=30)
    manager_a.release(acquired(manager_a, key))
    assert lease_doc(store, key)["released"] is True
    lease = acquired(LeaseManager(store, "run-b", ttl=30), key)
    assert lease.previous_crashed is False


def test_renew_extends_the_lease_in_s3(store: S3Store, key: str) -> None:
    clock = FakeClock()
    manager = LeaseManager(store, "run-a", ttl=30, clock=clock)
    lease = acquired(manager, key)
    etag, expires = lease.etag, lease.expires_at
    clock.advance(10)
    manager.renew(lease)
    assert not lease.lost
    assert lease.etag != etag
    assert lease.expires_at > expires
    assert lease_doc(store, key)["expires_at"] == pytest.approx(lease.expires_at)


def test_renew_after_expiry_marks_the_lease_lost_without_writing(store: S3Store,
                                                                 key: str) -> None:
    clock = FakeClock()
    manager_a = LeaseManager(store, "run-a", ttl=TTL, clock=clock)
    lease_a = acquired(manager_a, key)
    clock.advance(TTL + 0.1)
    acquired(LeaseManager(store, "run-b", ttl=30, clock=clock), key)
    manager_a.renew(lease_a)
    assert lease_a.lost and not lease_a.valid()
    assert lease_doc(store, key)["holder"] == "run-b"


def test_renew_of_a_lease_overwritten_by_another_run_marks_it_lost(
    store: S3Store, key: str, s3_client: Any
) -> None:
    """A takeover seen through the ETag, even while our own clock says the lease is live."""
    manager_a = LeaseManager(store, "run-a", ttl=30)
    lease_a = acquired(manager_a, key)
    intruder = json.dumps({"holder": "run-b", "expires_at": time.time() + 30,
                           "released": False}).encode()
    s3_client.put_object(Bucket=store.bucket, Key=key, Body=intruder)
    manager_a.renew(lease_a)
    assert lease_a.lost
    assert lease_doc(store, key)["holder"] == "run-b"


def test_release_of_a_lost_lease_leaves_the_new_holder_alone(store: S3Store, key: str) -> None:
    clock = FakeClock()
    manager_a = LeaseManager(store, "run-a", ttl=TTL, clock=clock)
    lease_a = acquired(manager_a, key)
    clock.advance(TTL + 0.1)
    acquired(LeaseManager(store, "run-b", ttl=30, clock=clock), key)
    manager_a.release(lease_a)
    doc = lease_doc(store, key)
    assert (doc["holder"], doc["released"]) == ("run-b", False)
    assert LeaseManager(store, "run-c", ttl=30, clock=clock).acquire(key) is None


def test_release_after_a_silent_takeover_does_not_clobber(
    store: S3Store, key: str, s3_client: Any
) -> None:
    manager_a = LeaseManager(store, "run-a", ttl=30)
    lease_a = acquired(manager_a, key)
    s3_client.put_object(Bucket=store.bucket, Key=key, Body=json.dumps(
        {"holder": "run-b", "expires_at": time.time() + 30, "released": False}).encode())
    manager_a.release(lease_a)
    assert lease_a.lost
    assert lease_doc(store, key)["holder"] == "run-b"


def test_renew_all_renews_held_leases_and_skips_released(store: S3Store) -> None:
    manager = LeaseManager(store, "run-a", ttl=30)
    keys = [f"_leases/{uuid.uuid4().hex}.json" for _ in range(3)]
    leases = [acquired(manager, k) for k in keys]
    manager.release(leases[2])
    released_etag = store.get(keys[2])
    etags = [lease.etag for lease in leases]
    manager.renew_all()
    assert leases[0].etag != etags[0] and leases[1].etag != etags[1]
    assert store.get(keys[2]) == released_etag


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"expires_at": "soon"}',
                                  b"\xff\xfe"])
def test_unreadable_lease_is_taken_over_as_crashed(store: S3Store, key: str,
                                                   s3_client: Any, body: bytes) -> None:
    s3_client.put_object(Bucket=store.bucket, Key=key, Body=body)
    lease = acquired(LeaseManager(store, "run-a", ttl=30), key)
    assert lease.previous_crashed is True


def test_lease_validity_follows_expiry_and_loss() -> None:
    lease = Lease("k", "h", '"e"', expires_at=100.0, previous_crashed=False)
    assert lease.valid(clock=99.0)
    assert not lease.valid(clock=100.0)
    lease.lost = True
    assert not lease.valid(clock=50.0)


def test_concurrent_acquirers_get_exactly_one_lease(store: S3Store) -> None:
    for _ in range(5):
        key = f"_leases/race-{uuid.uuid4().hex}.json"
        barrier = threading.Barrier(6)
        results: list[Lease | None] = []
        lock = threading.Lock()

        def contend(holder: str, race_key: str = key, gate: threading.Barrier = barrier) -> None:
            manager = LeaseManager(store, holder, ttl=30)
            gate.wait()
            lease = manager.acquire(race_key)
            with lock:
                results.append(lease)

        threads = [threading.Thread(target=contend, args=(f"run-{i}",)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        winners = [lease for lease in results if lease is not None]
        assert len(results) == 6 and len(winners) == 1
        assert lease_doc(store, key)["holder"] == winners[0].holder


def test_runs_started_together_do_not_work_an_instance_twice(store: S3Store, key: str) -> None:
    started = time.time()
    first = LeaseManager(store, "run-a", ttl=30)
    first.release(acquired(first, key))
    lease, why = LeaseManager(store, "run-b", ttl=30).acquire_for_run(key, run_started=started)
    assert lease is None and why == "done"


def test_a_later_run_takes_an_instance_released_before_it_started(store: S3Store,
                                                                  key: str) -> None:
    clock = FakeClock()
    first = LeaseManager(store, "run-a", ttl=30, clock=clock)
    first.release(acquired(first, key))
    clock.advance(0.01)
    lease, why = LeaseManager(store, "run-b", ttl=30, clock=clock).acquire_for_run(
        key, run_started=clock())
    assert lease is not None and why is None and not lease.previous_crashed


def test_live_lease_is_refused_as_held(store: S3Store, key: str) -> None:
    acquired(LeaseManager(store, "run-a", ttl=30), key)
    lease, why = LeaseManager(store, "run-b", ttl=30).acquire_for_run(key, run_started=0.0)
    assert lease is None and why == "held"


def test_a_lease_expires_by_the_managers_clock_not_the_wall_clock(store: S3Store,
                                                                   key: str) -> None:
    clock = FakeClock()
    manager = LeaseManager(store, "run-a", ttl=30, clock=clock)
    lease = acquired(manager, key)
    assert lease.expires_at == clock() + 30 and lease.valid()
    clock.advance(29.9)
    assert lease.valid()
    clock.advance(0.2)
    assert not lease.valid()
    manager.renew(lease)  # too late: lost, and nothing written
    assert lease.lost and lease_doc(store, key)["expires_at"] == pytest.approx(lease.expires_at)


def test_a_lease_whose_holder_went_silent_over_twice_the_ttl_is_refused_as_stale(
        store: S3Store, key: str) -> None:
    """A holder gone with a lease that outlives it (written with a TTL ten times ours): held
    while it could still be renewing, stale once silent for over twice our TTL (issue 18)."""
    clock = FakeClock()
    acquired(LeaseManager(store, "run-a", ttl=300, clock=clock), key)
    skipper = LeaseManager(store, "run-b", ttl=30, clock=clock)
    clock.advance(59)
    assert skipper.acquire_for_run(key, run_started=0.0) == (None, "held")
    clock.advance(2)
    assert skipper.acquire_for_run(key, run_started=0.0) == (None, "stale")
    clock.advance(240)  # its own expiry: taken over as crashed, as before
    lease, why = skipper.acquire_for_run(key, run_started=0.0)
    assert lease is not None and lease.previous_crashed and why is None


def test_take_uses_the_closed_etag_while_the_lease_has_it_else_reads_it(store: S3Store,
                                                                        key: str) -> None:
    """``take``: on the ETag a final commit recorded, the state read is current; once anyone
    wrote the lease since, it is read and taken as ``acquire_for_run`` decides."""
    first = LeaseManager(store, "run-a", ttl=30)
    lease = acquired(first, key)
    closed = first.retire(lease)
    assert closed is not None
    taken = LeaseManager(store, "run-b", ttl=30).take(key, closed)
    assert taken.lease is not None and taken.on_closed_etag and taken.refusal is None
    # run-b holds it now: the old ETag no longer works, and the read finds it held
    refused = LeaseManager(store, "run-c", ttl=30).take(key, closed)
    assert (refused.lease, refused.on_closed_etag, refused.refusal) == (None, False, "held")
    assert LeaseManager(store, "run-d", ttl=30).take(f"{key}.new", None).on_closed_etag is False
