"""Where data objects end: just after a line feed, so that every object holds whole lines.

Query engines read an archived object line by line (Athena's text SerDe, DuckDB's
``read_csv``): a line split between two objects reads as two half rows, and neither matches a
search on the whole message. So every object ends just after a ``\\n``, with two exceptions:

- a closed generation (a rotated or compressed file, no longer written) ships its final bytes
  whatever they end with: nothing more will ever complete its last line;
- a single line longer than the object limit: its object may grow to ``LONG_LINE_FACTOR``
  times the limit to hold it whole; a line longer still is cut at that bound (counted as
  ``long_lines_split`` in the run summary) so one object never needs unbounded memory.

The partial last line of a growing file is held back: the generation's offset stays at the
start of that line, so the next run resumes exactly there (and the lag counts those bytes as
not shipped). Memory holds the compressed object and at most ``CARRY_LIMIT`` bytes (or the
object limit, if smaller) of a partial line; a longer line starts an object of its own and
streams into it.

The portion marker an object carries is the newest page marker at or before its end: a line
cut mid-page resumes from the start of that page, and paging skips the bytes already shipped.
"""

from __future__ import annotations

from shipper.transfer import ObjectBuilder, SealedObject

LONG_LINE_FACTOR = 4
CARRY_LIMIT = 1024 * 1024


class WholeLineObjects:
    """Cuts one contiguous stream of a generation's bytes, from ``start``, into sealed objects
    that end at line ends; ``feed`` and ``finish`` return the objects they sealed, in order."""

    def __init__(self, start: int, object_bytes: int,
                 marker: tuple[int, str] | None = None) -> None:
        self._object_bytes = max(1, object_bytes)
        self._bound = self._object_bytes * LONG_LINE_FACTOR
        self._carry_limit = min(CARRY_LIMIT, self._object_bytes)
        self._sealed: list[SealedObject] = []  # sealed by the current call, not yet returned
        self._builder = ObjectBuilder(start)
        self._carry = bytearray()  # the partial line after the builder's end
        self._mid_line = False  # the builder holds the start of a long line only
        self._markers: list[tuple[int, str]] = [marker] if marker else []
        self.read_end = start
        self.long_lines_split = 0

    @property
    def shipped_end(self) -> int:
        """Where the objects sealed so far end: the generation's offset after them."""
        return self._builder.start

    @property
    def held_back(self) -> int:
        """Bytes read but not (yet) in a sealed object."""
        return self.read_end - self.shipped_end

    def feed(self, data: bytes, marker: str | None = None) -> list[SealedObject]:
        """Take the next bytes; ``marker``: a portion marker pointing just after them."""
        self.read_end += len(data)
        if marker is not None:
            self.mark(self.read_end, marker)
        cut = data.rfind(b"\n")
        if cut < 0:
            self._extend_line(data)
            return self._hand_over()
        self._builder.feed(bytes(self._carry))
        self._builder.feed(data[: cut + 1])
        self._carry = bytearray(data[cut + 1:])
        self._mid_line = False
        if self._builder.size >= self._object_bytes:
            self._seal_builder()
        self._extend_line(b"")
        return self._hand_over()

    def mark(self, offset: int, marker: str) -> None:
        """A portion marker pointing at ``offset`` (at or before the bytes still to come)."""
        self._markers.append((offset, marker))

    def finish(self, closed: bool) -> list[SealedObject]:
        """The stream ended (or stops here): seal the whole lines read; a closed generation
        also ships its final partial line."""
        if closed:
            self._builder.feed(bytes(self._carry))
            self._carry.clear()
            self._mid_line = False
        if self._builder.size and not self._mid_line:
            self._seal_builder()
        return self._hand_over()

    def _hand_over(self) -> list[SealedObject]:
        sealed, self._sealed = self._sealed, []
        return sealed

    def _extend_line(self, data: bytes) -> None:
        """A line still open: keep it beside the builder while short, else give it an object
        of its own and stream it in, cut only at the long-line bound."""
        if not self._mid_line:
            self._carry += data
            if len(self._carry) <= self._carry_limit:
                return
            if self._builder.size:
                self._seal_builder()
            data, self._carry = bytes(self._carry), bytearray()
            self._mid_line = True
        self._builder.feed(data)
        if self._builder.size >= self._bound:
            self.long_lines_split += 1
            self._seal_builder()
            self._mid_line = True

    def _seal_builder(self) -> None:
        builder = self._builder
        self._sealed.append(builder.seal(self._marker_at(builder.end)))
        self._builder = ObjectBuilder(builder.end)

    def _marker_at(self, offset: int) -> str | None:
        """The newest marker at or before ``offset``; older ones are no longer needed."""
        usable = [m for m in self._markers if m[0] <= offset]
        if not usable:
            return None
        newest = usable[-1]
        self._markers = [newest] + [m for m in self._markers if m[0] > offset]
        return newest[1]
