"""Where objects end (``shipper.lines``): after a line feed, except a closed file's final bytes
and a line longer than the long-line bound; a growing file's partial line is held back."""

from __future__ import annotations

import gzip
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shipper.lines import LONG_LINE_FACTOR, WholeLineObjects
from shipper.transfer import SealedObject


class _Collected(WholeLineObjects):
    """Keeps every object the cutter hands over, in order."""

    def __init__(self, sealed: list[SealedObject], *args: Any) -> None:
        super().__init__(*args)
        self._kept = sealed

    def feed(self, data: bytes, marker: str | None = None) -> list[SealedObject]:
        self._kept.extend(out := super().feed(data, marker))
        return out

    def finish(self, closed: bool) -> list[SealedObject]:
        self._kept.extend(out := super().finish(closed))
        return out


class Sink:
    def __init__(self, start: int = 0, object_bytes: int = 100,
                 marker: tuple[int, str] | None = None) -> None:
        self.sealed: list[SealedObject] = []
        self.objects = _Collected(self.sealed, start, object_bytes, marker)

    def bodies(self) -> list[bytes]:
        return [gzip.decompress(s.body) for s in self.sealed]


def test_objects_end_after_a_line_feed_and_the_partial_line_is_held_back() -> None:
    sink = Sink(object_bytes=10)
    for chunk in (b"abc\nde", b"f\nghijk\nl", b"mn"):
        sink.objects.feed(chunk)
    sink.objects.finish(closed=False)
    assert sink.bodies() == [b"abc\ndef\nghijk\n"]
    assert sink.objects.shipped_end == 14 and sink.objects.held_back == 3


def test_a_closed_file_ships_its_final_bytes_whatever_they_end_with() -> None:
    sink = Sink(start=50, object_bytes=1000)
    sink.objects.feed(b"one\ntwo")
    sink.objects.finish(closed=True)
    assert sink.bodies() == [b"one\ntwo"] and sink.sealed[0].start == 50
    assert sink.objects.held_back == 0


def test_objects_are_cut_near_the_limit_at_line_ends() -> None:
    sink = Sink(object_bytes=10)
    sink.objects.feed(b"12345\n" * 6)
    sink.objects.finish(closed=False)
    assert all(b.endswith(b"\n") for b in sink.bodies())
    assert b"".join(sink.bodies()) == b"12345\n" * 6


def test_a_line_longer_than_the_limit_gets_an_object_of_its_own_up_to_the_bound() -> None:
    sink = Sink(object_bytes=10)
    sink.objects.feed(b"ab\n" + b"x" * 25)
    sink.objects.feed(b"x" * 5 + b"\ncd\n")
    sink.objects.finish(closed=False)
    assert sink.bodies() == [b"ab\n", b"x" * 30 + b"\ncd\n"]  # cut after the chunk
    assert sink.objects.long_lines_split == 0


def test_a_line_longer_than_the_bound_is_cut_there_and_counted() -> None:
    sink = Sink(object_bytes=10)
    bound = 10 * LONG_LINE_FACTOR
    for _ in range(9):
        sink.objects.feed(b"y" * 10)
    sink.objects.feed(b"\n")
    sink.objects.finish(closed=False)
    bodies = sink.bodies()
    assert bodies[0] == b"y" * bound and bodies[1] == b"y" * bound
    assert b"".join(bodies) == b"y" * 90 + b"\n"
    assert sink.objects.long_lines_split == 2


def test_an_unfinished_long_line_of_a_growing_file_is_held_back_whole() -> None:
    sink = Sink(object_bytes=10)
    sink.objects.feed(b"ok\n" + b"z" * 30)
    sink.objects.finish(closed=False)
    assert sink.bodies() == [b"ok\n"] and sink.objects.held_back == 30


def test_an_object_carries_the_newest_marker_at_or_before_its_end() -> None:
    sink = Sink(start=100, object_bytes=1000, marker=(100, "3:100"))
    sink.objects.feed(b"line one\n", "3:109")
    sink.objects.feed(b"line two\npart", "3:122")
    sink.objects.finish(closed=False)
    assert [s.marker for s in sink.sealed] == ["3:109"]
    assert sink.sealed[0].end == 118  # "line two\n" follows the marker: resume from 109


@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
       st.integers(min_value=1, max_value=60), st.integers(min_value=1, max_value=17),
       st.booleans())
def test_any_stream_reassembles_exactly_and_only_ends_mid_line_where_allowed(
        lines: list[bytes], object_bytes: int, chunk: int, closed: bool) -> None:
    data = b"".join(line + b"\n" for line in lines) + b"tail"
    sink = Sink(object_bytes=object_bytes)
    for i in range(0, len(data), chunk):
        sink.objects.feed(data[i:i + chunk])
    sink.objects.finish(closed)
    bodies = sink.bodies()
    shipped = b"".join(bodies)
    held = data[len(shipped):]
    assert data.startswith(shipped) and (not held if closed else b"\n" not in held)
    long_cut = object_bytes * LONG_LINE_FACTOR
    for body in bodies[:-1] if closed else bodies:
        assert body.endswith(b"\n") or len(body) >= long_cut
    assert sink.objects.shipped_end + sink.objects.held_back == len(data)
