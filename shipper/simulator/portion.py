"""The paging rules of ``DownloadDBLogFilePortion``, as pure functions over a byte source.

Why separate: these rules decide which bytes the portion API loses or repeats, which is the
heart of what the shipper must survive, so they live apart from HTTP and XML where tests can
read them in one place.

Marker format: ``"<H>:<offset>"`` where ``H`` is the hour of day (UTC, 0-23) at which the
generation now under the name was created and ``offset`` is a byte offset into the served bytes
(decompressed bytes for ``.gz`` files). ``"0"`` means "from the start". The server applies a
marker whose ``H`` does not match the current generation to that generation anyway (quirk 8).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from shipper.simulator.faults import TRUNCATED_MESSAGE, ApiError

_MARKER_RE = re.compile(r"^(\d{1,2}):(\d{1,15})$")
SCAN_CHUNK = 1024 * 1024


class Source(Protocol):
    """Readable bytes with a known size (``ContentView`` or ``BytesSource``)."""

    size: int

    def read(self, start: int = 0, end: int | None = None) -> bytes: ...

    def find(self, needle: bytes, start: int, end: int | None = None,
             chunk: int = SCAN_CHUNK) -> int: ...


class BytesSource:
    """A ``Source`` over bytes in memory (decompressed ``.gz`` files)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.size = len(data)

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        return self._data[max(start, 0): self.size if end is None else end]

    def find(self, needle: bytes, start: int, end: int | None = None,
             chunk: int = SCAN_CHUNK) -> int:
        return self._data.find(needle, start, self.size if end is None else end)


@dataclass(frozen=True)
class Page:
    data: bytes
    end: int
    pending: bool


def parse_marker(marker: str) -> tuple[int | None, int]:
    """``"0"`` -> (None, 0); ``"H:off"`` -> (H, off); anything else is InvalidParameterValue."""
    if marker == "0":
        return None, 0
    match = _MARKER_RE.match(marker)
    if not match or int(match.group(1)) > 23:
        raise ApiError("InvalidParameterValue", f"Invalid marker: {marker}")
    return int(match.group(1)), int(match.group(2))


def format_marker(hour: int, offset: int) -> str:
    return f"{hour}:{offset}"


def char_boundary(data: bytes, cut: int) -> int:
    """Move ``cut`` back so it does not split a UTF-8 sequence."""
    cut = min(cut, len(data))
    back = cut
    while back > 0 and back > cut - 4 and 0x80 <= data[back - 1] < 0xC0:
        back -= 1
    if back > 0 and data[back - 1] >= 0xC0:
        lead = data[back - 1]
        need = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        if cut - (back - 1) < need:
            return back - 1
    return cut


def truncated(window: bytes, budget: int) -> bytes:
    keep = max(budget - len(TRUNCATED_MESSAGE), 0)
    return window[: char_boundary(window, keep)] + TRUNCATED_MESSAGE


def page_from(src: Source, offset: int, lines: int | None, budget: int, *,
              truncate_long_lines: bool = True, stuck_with_lines: bool = True) -> Page:
    """The page starting at ``offset``: whole lines, at most ``budget`` bytes, at most
    ``lines`` lines. A first line longer than ``budget`` is the special case (quirks 1-2)."""
    size = src.size
    if offset >= size:
        return Page(b"", offset, False)
    hi = min(size, offset + budget)
    window = src.read(offset, hi)
    at_eof = hi >= size
    if lines is not None:
        pos = 0
        for _ in range(lines):
            nl = window.find(b"\n", pos)
            if nl < 0:
                break
            pos = nl + 1
        else:
            return Page(window[:pos], offset + pos, offset + pos < size)
        if at_eof:
            return Page(window, size, False)
        if pos > 0:
            return Page(window[:pos], offset + pos, True)
        if stuck_with_lines and truncate_long_lines:
            return Page(truncated(window, budget), offset, True)
    else:
        if at_eof:
            return Page(window, size, False)
        last = window.rfind(b"\n")
        if last >= 0:
            return Page(window[: last + 1], offset + last + 1, True)
    # One line longer than the whole budget.
    if truncate_long_lines:
        nl = src.find(b"\n", hi)
        end = size if nl < 0 else nl + 1
        return Page(truncated(window, budget), end, end < size)
    cut = char_boundary(window, len(window)) or len(window)
    return Page(window[:cut], offset + cut, True)


def tail(src: Source, lines: int, budget: int) -> Page:
    """The last ``lines`` lines, at most ``budget`` bytes of them; the marker is the end."""
    size = src.size
    lo = max(0, size - budget)
    window = src.read(lo, size)
    pos = len(window) - (1 if window.endswith(b"\n") else 0)
    start: int | None = None
    for _ in range(lines):
        nl = window.rfind(b"\n", 0, pos)
        if nl < 0:
            break
        start, pos = nl + 1, nl
    else:
        return Page(window[start or 0:], size, False)
    if lo == 0:
        return Page(window, size, False)
    if start is not None:
        return Page(window[start:], size, False)
    return Page(truncated(window, budget), size, False)
