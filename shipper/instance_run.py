"""What one instance's file jobs share during a run."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from shipper.claims import Claims
from shipper.config import Settings
from shipper.deferrals import RunDeferrals
from shipper.family_listings import FamilyListings
from shipper.grouped import BlockedWorkers
from shipper.ledger import Ledger
from shipper.listing import Listing, LogFile, believed_listing
from shipper.ports import LogFileSource
from shipper.stats import RunStats


@dataclass
class InstanceRun:
    """What one instance's file jobs share during a run."""

    ledger: Ledger
    claims: Claims
    api: LogFileSource
    settings: Settings
    stats: RunStats
    stop: threading.Event
    listing: list[LogFile] = field(default_factory=list)  # the one the plan was made from
    deferrals: RunDeferrals = field(default_factory=RunDeferrals)  # files left for the next run
    workers: BlockedWorkers | None = None  # of the file pool, shared by every instance
    families: FamilyListings = field(init=False)  # the name checks' listings

    def __post_init__(self) -> None:
        self.families = FamilyListings(self._list_family, self.stop, self.workers)

    def _list_family(self, family: str) -> Listing:
        return believed_listing(
            lambda: self.api.log_files_like(self.ledger.scope.instance, family), self.stop)
