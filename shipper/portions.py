"""DownloadDBLogFilePortion: the marker, the checks every page must pass, and paging.

A page is taken only when its bytes are exactly what its marker says they are: the marker's
offset moved by the page's length, no truncation notice, no binary-data notice (nor the real
API's binary-data refusal), and the marker's hour unchanged within one paging session.

The marker's hour is opaque: public samples disagree on what it is (the hour a generation was
created, the hour of its last write plus one, the hour of the request), so it is a hint, never
proof that the name holds another generation. When a resume's first page comes back with
another hour than the stored marker, the listing may have proven the generation already
(``PagingStart.certain``: paging goes on); otherwise the file is proven by content over REST.
An hour that changes within a session is a hint the name rotated while paging: the pages
taken stay, the rest is left for the next listing. Anything else ends paging with
``NeedCompleteDownload`` (stream the file over REST instead) or ``RotatedWhilePaging``.
``pages`` yields only pages that passed, so its caller keeps exactly the bytes that are right,
and writes them before it lets the error through.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from shipper.exceptions import BinaryLogDataError, StopRequested
from shipper.listing import LogFile
from shipper.ports import LogFileSource
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
    """The marker's hour changed after a page of this session was taken: the name may have
    rotated while paging; leave the rest of this file for the next listing."""

    def __init__(self) -> None:
        super().__init__("marker hour changed while paging")


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
    hour: int  # the marker's hour, as the page's checks parsed it


@dataclass(frozen=True)
class PagingStart:
    """Where paging starts: the marker to ask with, the offset it points at, and the stored
    marker's hour (None for a file read from its beginning). The stored marker may point
    before the shipped offset (a held-back partial line was cut mid-page, ``shipper.lines``):
    the bytes in between are read again and skipped. ``certain``: the listing proved the name
    still holds the generation, so a first page with another hour goes on (the hour is only a
    hint)."""

    marker: str
    hour: int | None
    offset: int = 0
    certain: bool = False

    @classmethod
    def of(cls, gen: Generation, name: str, certain: bool = False) -> PagingStart:
        if not gen.offset:
            return cls("0", None)
        marker = gen.marker_for(name)
        parsed = parse_marker(marker) if marker is not None else None
        if marker is None or parsed is None or parsed[1] > gen.offset:
            raise NeedCompleteDownload("no usable marker for the shipped offset")
        return cls(marker, parsed[0], parsed[1], certain)

    def resumable(self) -> tuple[int, str] | None:
        """The start as a marker an object may carry (a real one, not "0")."""
        return (self.offset, self.marker) if self.hour is not None else None


def pages(api: LogFileSource, instance: str, file: LogFile, offset: int, start: PagingStart,
          stop: threading.Event, on_bytes: Callable[[int], None],
          read_ahead: int) -> Iterator[Page]:
    """The pages of ``file`` from ``offset`` (where ``start.marker`` points), each checked,
    until AdditionalDataPending ends at the listed size or ``read_ahead`` bytes past it.
    Raises StopRequested, NeedCompleteDownload or RotatedWhilePaging instead of a bad page."""
    marker, hour = start.marker, start.hour
    # Resumed pages count as this generation's when the listing proved it, or when they keep
    # the stored marker's hour (a hint that agrees; a disagreeing one ends paging first).
    resumed = hour is not None
    if start.certain:
        hour = None  # the session's hour is the first page's
    end = offset
    early_ends = 0
    stop_at = file.size + read_ahead
    while True:
        if stop.is_set():
            raise StopRequested("stopping")
        try:
            portion = api.portion(instance, file.name, marker)
        except BinaryLogDataError as err:
            # Real RDS refuses a page with non-text bytes with an error, not page data: REST
            # serves the file as stored (a growing one again each run, from its verified
            # prefix: REST has no ranges, so exactly-once rests on the range checks).
            raise NeedCompleteDownload("binary data") from err
        data = portion.data.encode("utf-8")
        on_bytes(len(data))
        hour = _check_page(portion.data, data, portion.marker, end, hour, offset, resumed)
        marker = portion.marker or marker
        yield Page(data, marker, hour)
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
        if end != session_start:
            raise RotatedWhilePaging()
        raise NeedCompleteDownload("the marker's hour differs from the stored one; proving "
                                   "the file by content")
    if new[1] - end != len(data) or TRUNCATION_TEXT in text:
        raise NeedCompleteDownload("portion bytes do not match the marker (truncated, "
                                   "overlapping or re-encoded)", resumed)
    return new[0]


def tail_marker(api: LogFileSource, instance: str, name: str, offset: int) -> str | None:
    """A marker at ``offset``, the end of what a REST download shipped, so the next run can
    resume with cheap portions; None when RDS gives none that points there."""
    try:
        marker = api.tail_marker(instance, name)
    except Exception:  # a missing marker only costs a REST download next run
        return None
    parsed = parse_marker(marker)
    return marker if parsed is not None and parsed[1] == offset else None
