"""DownloadDBLogFilePortion: the marker, the checks every page must pass, and paging.

A page is taken only when its bytes are exactly what its marker says they are: the marker's
offset moved by the page's length, no truncation notice, no binary-data notice, and (when we
resume a generation) the marker's hour is the stored marker's. Anything else ends paging with
``NeedCompleteDownload`` (stream the file over REST instead) or ``RotatedWhilePaging`` (the
name now holds another generation). ``pages`` yields only pages that passed, so its caller
keeps exactly the bytes that are right, and writes them before it lets the error through.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from shipper.exceptions import StopRequested
from shipper.rdsapi import LogFile, RdsApi
from shipper.state import Generation

TRUNCATION_TEXT = "[Your log message was truncated]"
BINARY_TEXT = "This file contains binary data and should be downloaded instead of viewed."
EARLY_END_RETRIES = 2
PORTION_PAGE = 1024 * 1024  # what one DownloadDBLogFilePortion call returns at most
_MARKER_RE = re.compile(r"^(\d+):(\d+)$")


def parse_marker(marker: str | None) -> tuple[int, int] | None:
    """Markers look like "<hour>:<offset>". They are documented as opaque, so we use the parsed
    form only to cross-check what came back, never to invent a marker."""
    if marker is None:
        return None
    match = _MARKER_RE.match(marker)
    return (int(match.group(1)), int(match.group(2))) if match else None


class NeedCompleteDownload(Exception):
    """The portion API cannot give these bytes exactly; stream the file over REST instead.
    ``hour_verified``: the pages came back with the stored marker's hour (same generation)."""

    def __init__(self, message: str, hour_verified: bool = False) -> None:
        super().__init__(message)
        self.hour_verified = hour_verified


class RotatedWhilePaging(Exception):
    """The marker now points into another generation: leave this file for the next listing.
    ``first_page``: not one page of this session was taken."""

    def __init__(self, first_page: bool) -> None:
        super().__init__("marker hour changed")
        self.first_page = first_page


def portions_suit(gen: Generation, file: LogFile, active: bool, portion_max_bytes: int) -> bool:
    """Portions for the growing file's new bytes. A new file larger than one page goes over
    REST instead: one request, then one more for a marker at its end."""
    limit = portion_max_bytes if gen.offset else min(portion_max_bytes, PORTION_PAGE)
    return (active and limit > 0 and not file.name.endswith(".gz")
            and file.size - gen.offset <= limit)


@dataclass(frozen=True)
class Page:
    data: bytes
    marker: str  # where the next page starts; the marker of an object ending here


@dataclass(frozen=True)
class PagingStart:
    """Where paging starts: the marker to ask with, the offset it points at, and the hour
    every page must keep (None for a file read from its beginning). The stored marker may
    point before the shipped offset (a held-back partial line was cut mid-page,
    ``shipper.lines``): the bytes in between are read again and skipped."""

    marker: str
    hour: int | None
    offset: int = 0

    @classmethod
    def of(cls, gen: Generation, name: str) -> PagingStart:
        if not gen.offset:
            return cls("0", None)
        parsed = parse_marker(gen.marker) if gen.marker_name == name else None
        if parsed is None or parsed[1] > gen.offset or gen.marker is None:
            raise NeedCompleteDownload("no usable marker for the shipped offset")
        return cls(gen.marker, parsed[0], parsed[1])

    def resumable(self) -> tuple[int, str] | None:
        """The start as a marker an object may carry (a real one, not "0")."""
        return (self.offset, self.marker) if self.hour is not None else None


def pages(api: RdsApi, instance: str, file: LogFile, offset: int, start: PagingStart,
          stop: threading.Event, on_bytes: Callable[[int], None],
          read_ahead: int) -> Iterator[Page]:
    """The pages of ``file`` from ``offset`` (where ``start.marker`` points), each checked,
    until AdditionalDataPending ends at the listed size or ``read_ahead`` bytes past it.
    Raises StopRequested, NeedCompleteDownload or RotatedWhilePaging instead of a bad page."""
    marker, hour = start.marker, start.hour
    resumed = hour is not None  # every page is checked against the stored marker's hour
    end = offset
    early_ends = 0
    stop_at = file.size + read_ahead
    while True:
        if stop.is_set():
            raise StopRequested("stopping")
        portion = api.portion(instance, file.name, marker)
        data = portion.data.encode("utf-8")
        on_bytes(len(data))
        hour = _check_page(portion.data, data, portion.marker, end, hour, offset, resumed)
        marker = portion.marker or marker
        yield Page(data, marker)
        end += len(data)
        if portion.pending:
            if end >= stop_at:
                return
            continue
        if end < file.size and early_ends < EARLY_END_RETRIES:
            early_ends += 1  # AdditionalDataPending=false before the listed size: ask again
            continue
        if end < file.size:
            raise NeedCompleteDownload("AdditionalDataPending ended before the listed size",
                                       resumed)
        return


def _check_page(text: str, data: bytes, marker: str | None, end: int, hour: int | None,
                session_start: int, resumed: bool) -> int:
    """The page's marker hour, if the page holds exactly the bytes from ``end`` it claims."""
    if text.strip() == BINARY_TEXT:
        raise NeedCompleteDownload("binary data")
    new = parse_marker(marker)
    if new is None:
        raise NeedCompleteDownload("marker is not in the <hour>:<offset> form")
    if hour is not None and new[0] != hour:
        raise RotatedWhilePaging(first_page=end == session_start)
    if new[1] - end != len(data) or TRUNCATION_TEXT in text:
        raise NeedCompleteDownload("portion bytes do not match the marker (truncated, "
                                   "overlapping or re-encoded)", resumed)
    return new[0]


def tail_marker(api: RdsApi, instance: str, name: str, offset: int) -> str | None:
    """A marker at ``offset``, the end of what a REST download shipped, so the next run can
    resume with cheap portions; None when RDS gives none that points there."""
    try:
        marker = api.tail_marker(instance, name)
    except Exception:  # a missing marker only costs a REST download next run
        return None
    parsed = parse_marker(marker)
    return marker if parsed is not None and parsed[1] == offset else None
