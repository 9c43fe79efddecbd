"""What one instance's file jobs share during a run."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from shipper.claims import Claims
from shipper.config import Settings
from shipper.deferrals import RunDeferrals
from shipper.ledger import Ledger
from shipper.listing import LogFile
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
