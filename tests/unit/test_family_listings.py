"""Name checks gathered into one family listing (``shipper.family_listings``): checks that
arrive together share one, and no check is ever served by a listing asked before it began."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from shipper.exceptions import InstanceGoneError, StopRequested
from shipper.family_listings import FamilyListings
from shipper.grouped import BlockedWorkers
from shipper.listing import Listing, LogFile

FAMILY = "log/ERROR"
HANG = 10.0  # a check still unanswered by then is a hang (never reached when it works)


class Lister:
    """Answers the n-th listing with a file whose Size is n; ``hold`` keeps the first one in
    flight until released."""

    def __init__(self, hold: bool = False) -> None:
        self.calls = 0
        self.in_flight = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self._lock = threading.Lock()

    def __call__(self, family: str) -> Listing:
        with self._lock:
            self.calls += 1
            number = self.calls
        if number == 1:
            self.in_flight.set()
            assert self.release.wait(HANG)
        return Listing([LogFile(f"{family}.1", number, 0)])


def answered(future: Future[Listing]) -> int:
    return future.result(timeout=HANG)[0].size


def test_checks_that_arrive_together_share_one_listing() -> None:
    lister = Lister()
    families = FamilyListings(lister, threading.Event(), gather_seconds=HANG)
    for _ in range(3):
        families.expect(FAMILY)
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(families.after_now, FAMILY) for _ in range(3)]
        assert [answered(f) for f in futures] == [1, 1, 1]
    assert lister.calls == 1 and families.asked == 1


def test_a_check_that_began_while_a_listing_was_in_flight_waits_for_the_next() -> None:
    """The listing in flight may have been asked before the job read its bytes: it proves
    nothing of them (``shipper.name_check``)."""
    lister = Lister(hold=True)
    families = FamilyListings(lister, threading.Event(), gather_seconds=0.0)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(families.after_now, FAMILY)
        assert lister.in_flight.wait(HANG)
        later = pool.submit(families.after_now, FAMILY)
        lister.release.set()
        assert (answered(first), answered(later)) == (1, 2)
    assert lister.calls == 2


def test_a_job_that_will_not_check_is_not_waited_for() -> None:
    lister = Lister()
    families = FamilyListings(lister, threading.Event(), gather_seconds=1000.0)
    families.expect(FAMILY)
    families.expect(FAMILY)
    with ThreadPoolExecutor(1) as pool:
        check = pool.submit(families.after_now, FAMILY)
        families.done(FAMILY)  # the other job failed, or its name needs no check
        assert answered(check) == 1


def test_a_straggler_is_waited_for_no_longer_than_the_gathering() -> None:
    families = FamilyListings(Lister(), threading.Event(), gather_seconds=0.01)
    families.expect(FAMILY)
    families.expect(FAMILY)  # still reading; it never arrives here
    assert families.after_now(FAMILY)[0].size == 1


def test_families_do_not_wait_for_each_other() -> None:
    lister = Lister()
    families = FamilyListings(lister, threading.Event(), gather_seconds=1000.0)
    families.expect("slowquery/mysql-slowquery.log")  # another family's job, still reading
    families.expect(FAMILY)
    assert families.after_now(FAMILY)[0].name == f"{FAMILY}.1"


def test_a_failed_listing_fails_every_check_it_served() -> None:
    def gone(family: str) -> Listing:
        raise InstanceGoneError("instance db-1 is gone")

    families = FamilyListings(gone, threading.Event(), gather_seconds=HANG)
    families.expect(FAMILY)
    families.expect(FAMILY)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(families.after_now, FAMILY) for _ in range(2)]
        for future in futures:
            with pytest.raises(InstanceGoneError):
                future.result(timeout=HANG)
    assert families.asked == 1


def test_a_stop_ends_the_wait() -> None:
    stop = threading.Event()
    families = FamilyListings(Lister(), stop, gather_seconds=1000.0)
    families.expect(FAMILY)
    families.expect(FAMILY)
    with ThreadPoolExecutor(1) as pool:
        check = pool.submit(families.after_now, FAMILY)
        stop.set()
        with pytest.raises(StopRequested):
            check.result(timeout=HANG)


def test_when_every_worker_waits_the_checks_do_not_wait_for_queued_jobs() -> None:
    """Three jobs expected, two workers: the third job is queued behind the two waiting
    checks and cannot arrive, so they share a listing at once instead of idling the pool."""
    lister = Lister()
    families = FamilyListings(lister, threading.Event(), BlockedWorkers(2),
                              gather_seconds=1000.0)
    for _ in range(3):
        families.expect(FAMILY)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(families.after_now, FAMILY) for _ in range(2)]
        assert [answered(f) for f in futures] == [1, 1]
    assert lister.calls == 1
