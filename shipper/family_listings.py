"""One family listing for the name checks that arrive together (issue 25).

A name check needs a whole listing of the job's family asked after everything the job read
for the object it is about to write (``shipper.name_check``). Any listing asked after the
check began serves it as well as one asked for it alone, so the checks of one family are
served in groups, the way a database commits transactions in groups: one listing of a family
is in flight at a time; a check that arrives while one is in flight waits for it to end, and
the next listing serves every check that arrived before it was asked.

When to ask is a matter of cost, not of correctness: the listing is asked once every running
job of the family that expects a check has arrived at it (``expect``), or once the first
waiting check has waited ``GATHER_SECONDS``. An instance's file jobs run side by side (a
backfill of 29 SQL Server ``ERROR.N`` slots, MySQL's hourly ``.N`` slow logs), so their
checks arrive within moments of each other: one listing serves them instead of one each. A
job that never reaches its check (it failed, or its name needs none after all) says so
(``done``) and is not waited for.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable

from shipper.exceptions import StopRequested
from shipper.listing import Listing

# The longest a check waits for the other running jobs of its family: long enough for jobs
# that opened their streams together to reach their checks, short beside a run.
GATHER_SECONDS = 0.5
STOP_POLL_SECONDS = 0.25


class FamilyListings:
    """The family listings of one instance's pass. ``fetch`` lists a family (every page,
    an empty listing asked again before it is believed)."""

    def __init__(self, fetch: Callable[[str], Listing], stop: threading.Event,
                 gather_seconds: float = GATHER_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._stop = stop
        self._gather = gather_seconds
        self._clock = clock
        self._cond = threading.Condition()
        self._tickets = itertools.count(1)
        self._expected: Counter[str] = Counter()  # running jobs with a check ahead of them
        self._waiting: Counter[str] = Counter()  # checks waiting for a listing
        self._asking: set[str] = set()  # families with a listing in flight
        # each family's newest listing: the ticket drawn when it was asked, and its answer
        self._latest: dict[str, tuple[int, Listing | BaseException]] = {}
        self.asked = 0  # listings asked (the tests count them)

    def expect(self, family: str) -> None:
        """A running job will check a name of ``family``; ``done`` when it did, or won't."""
        with self._cond:
            self._expected[family] += 1

    def done(self, family: str) -> None:
        with self._cond:
            self._expected[family] -= 1
            self._cond.notify_all()

    def after_now(self, family: str) -> Listing:
        """A listing of ``family`` asked after this call began (module docstring)."""
        with self._cond:
            ticket = next(self._tickets)
            deadline = self._clock() + self._gather
            self._waiting[family] += 1
            try:
                answer = self._wait_or_lead(family, ticket, deadline)
            finally:
                self._waiting[family] -= 1
            if answer is None:  # this check leads: the listing is asked now
                asked = next(self._tickets)
                self._asking.add(family)
                self.asked += 1
        if answer is None:
            answer = self._ask(family, asked)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def _wait_or_lead(self, family: str, ticket: int, deadline: float
                      ) -> Listing | BaseException | None:
        """Under the lock: a listing asked after ``ticket``, or None when this check is to
        ask one."""
        while True:
            latest = self._latest.get(family)
            if latest is not None and latest[0] > ticket:
                return latest[1]
            if self._stop.is_set():
                raise StopRequested("stopping")
            left = deadline - self._clock()
            if family not in self._asking and (
                    self._waiting[family] >= self._expected[family] or left <= 0):
                return None
            # woken by every answer and every job done; a stop is seen within STOP_POLL_SECONDS
            self._cond.wait(timeout=min(max(left, 0.01), STOP_POLL_SECONDS))

    def _ask(self, family: str, asked: int) -> Listing | BaseException:
        answer: Listing | BaseException
        try:
            answer = self._fetch(family)
        except BaseException as err:  # every check it serves fails the same way
            answer = err
        with self._cond:
            self._latest[family] = (asked, answer)
            self._asking.discard(family)
            self._cond.notify_all()
        return answer
