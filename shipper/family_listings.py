"""One family listing for the name checks that arrive together (issue 25).

A name check needs a whole listing of the job's family asked after everything the job read
for the object it is about to write (``shipper.name_check``). Any listing asked after the
check began serves it as well as one asked for it alone, so the checks of one family are
served in groups (``shipper.grouped``): one listing of a family is in flight at a time, and
the next serves every check that arrived before it was asked.

The listing is asked once every job of the family that was handed to the pool expecting a
check has arrived at it (``expect``, when the job is made), once the first waiting check has
waited ``GATHER_SECONDS``, or once every worker of the pool waits (the jobs still expected
are then queued behind the waiting ones). An instance's file jobs are handed to the pool
together (a backfill of 29 SQL Server ``ERROR.N`` slots, MySQL's hourly ``.N`` slow logs),
so their checks arrive within moments of each other: one listing serves them instead of one
each. A job that never reaches its check (it failed, or its name needs none after all) says
so (``done``) and is not waited for. Under the account's rate limit the wait costs nothing:
the token bucket fills meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from shipper.grouped import BlockedWorkers, Grouped
from shipper.listing import Listing

# The longest a check waits for the other jobs of its family: long enough for the jobs handed
# to the pool together to reach their checks, short beside a run.
GATHER_SECONDS = 2.0


class FamilyListings:
    """The family listings of one instance's pass. ``fetch`` lists a family (every page,
    an empty listing asked again before it is believed)."""

    def __init__(self, fetch: Callable[[str], Listing], stop: threading.Event,
                 workers: BlockedWorkers | None = None,
                 gather_seconds: float = GATHER_SECONDS) -> None:
        self._grouped: Grouped[str, None, Listing] = Grouped(
            lambda family, _checks: fetch(family), stop, gather_seconds, workers)

    @property
    def asked(self) -> int:
        return self._grouped.sent

    def expect(self, family: str) -> None:
        """A job handed to the pool will check a name of ``family``; ``done`` when it did, or
        won't."""
        self._grouped.expect(family)

    def done(self, family: str) -> None:
        self._grouped.done(family)

    def after_now(self, family: str) -> Listing:
        """A listing of ``family`` asked after this call began."""
        return self._grouped.after_now(family, None)
