"""What a DescribeDBLogFiles listing holds: the files (``LogFile``), whether it is whole
(``Listing``), and when an empty one is believed. The types every module reads a listing by;
the calls that make one are ``shipper.rdsapi`` (and ``shipper.cut_listing`` for Oracle's cut
pages)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from shipper.exceptions import StopRequested


@dataclass(frozen=True)
class LogFile:
    name: str
    size: int
    last_written_ms: int


class Listing(list[LogFile]):
    """A DescribeDBLogFiles listing. ``complete`` is False when it could not list every file
    (a cut Oracle listing that filters could not complete, or one that ended on a page that
    came back empty): then no file may be concluded gone because it is missing from it."""

    def __init__(self, files: Iterable[LogFile] = (), complete: bool = True) -> None:
        super().__init__(files)
        self.complete = complete


ListingT = TypeVar("ListingT", bound=list["LogFile"])


def believed_listing(list_files: Callable[[], ListingT], stop: threading.Event) -> ListingT:
    """A listing, asked for once more a second later when it comes back empty: listings are
    occasionally empty for a moment (FIDELITY.md row 13), and an empty one believed would
    read as every file gone, or as a running log rotated away."""
    files = list_files()
    if not files:
        if stop.wait(1.0):
            raise StopRequested("stopping")
        files = list_files()
    return files
