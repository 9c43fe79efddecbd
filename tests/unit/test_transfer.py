"""Streaming pieces: the gzip object builder and the range verifier."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipper.state import CHECK_WINDOW, RangeCheck
from shipper.transfer import HEAD_BYTES, ObjectBuilder, RangeVerifier, SealedObject


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def build(start: int, chunks: list[bytes], marker: str | None = None) -> SealedObject:
    builder = ObjectBuilder(start)
    for chunk in chunks:
        builder.feed(chunk)
    return builder.seal(marker)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- ObjectBuilder --------------------------------------------------------------------------


def test_object_gunzips_to_exactly_the_fed_bytes() -> None:
    data = payload(300_000)
    sealed = build(0, split(data, [1, 4095, 4097, 70_000, 200_001]), marker="3:300000")
    assert sealed.body[:2] == b"\x1f\x8b"
    assert gzip.decompress(sealed.body) == data
    assert sealed.sha256 == sha(data)
    assert (sealed.start, sealed.end, sealed.marker) == (0, 300_000, "3:300000")


def test_object_from_zero_has_head_and_last_64k_tail_checks() -> None:
    data = payload(100_000)
    sealed = build(0, split(data, [10, 5000, 99_999]))
    assert sealed.checks == [
        RangeCheck(0, HEAD_BYTES, sha(data[:HEAD_BYTES])),
        RangeCheck(100_000 - CHECK_WINDOW, 100_000, sha(data[-CHECK_WINDOW:])),
    ]


def test_object_not_from_zero_has_only_a_tail_check_in_file_offsets() -> None:
    data = payload(80_000)
    sealed = build(1_000_000, [data])
    assert sealed.checks == [
        RangeCheck(1_080_000 - CHECK_WINDOW, 1_080_000, sha(data[-CHECK_WINDOW:]))]
    assert (sealed.start, sealed.end) == (1_000_000, 1_080_000)


def test_short_object_not_from_zero_tail_covers_all_of_it() -> None:
    sealed = build(500, [b"abc", b"def"])
    assert sealed.checks == [RangeCheck(500, 506, sha(b"abcdef"))]


def test_short_object_from_zero_has_a_single_head_check() -> None:
    sealed = build(0, [b"hello ", b"world"])
    assert sealed.checks == [RangeCheck(0, 11, sha(b"hello world"))]


def test_object_between_head_and_window_size_checks_head_and_whole() -> None:
    data = payload(10_000)
    sealed = build(0, [data])
    assert sealed.checks == [RangeCheck(0, HEAD_BYTES, sha(data[:HEAD_BYTES])),
                             RangeCheck(0, 10_000, sha(data))]


def test_size_tracks_fed_bytes_and_empty_feeds_are_ignored() -> None:
    builder = ObjectBuilder(7)
    builder.feed(b"")
    builder.feed(b"12345")
    builder.feed(b"")
    assert (builder.size, builder.start, builder.end) == (5, 7, 12)


def test_empty_object_gunzips_to_nothing() -> None:
    sealed = build(0, [])
    assert gzip.decompress(sealed.body) == b""
    assert sealed.sha256 == sha(b"")


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 150_000), start=st.sampled_from([0, 1, 4096, 10**9]),
       cuts=st.lists(st.integers(0, 150_000), max_size=12), seed=st.integers(0, 2**16))
def test_builder_is_exact_for_any_chunking(size: int, start: int, cuts: list[int],
                                           seed: int) -> None:
    data = payload(size, seed)
    sealed = build(start, split(data, cuts))
    assert gzip.decompress(sealed.body) == data
    assert sealed.sha256 == sha(data)
    assert (sealed.start, sealed.end) == (start, start + size)
    for check in sealed.checks:
        assert start <= check.start <= check.end <= start + size
        assert check.end - check.start <= CHECK_WINDOW
        assert check.sha256 == sha(data[check.start - start: check.end - start])
    heads = [c for c in sealed.checks if c.start == 0]
    if start == 0 and size:
        assert heads[0] == RangeCheck(0, min(size, HEAD_BYTES), sha(data[:HEAD_BYTES]))
    if size:
        assert sealed.checks[-1].end == start + size  # the tail check ends at the end
        assert sealed.checks[-1].start == start + max(0, size - CHECK_WINDOW) or \
            (start == 0 and size <= HEAD_BYTES)


# --- RangeVerifier --------------------------------------------------------------------------


def checks_of(data: bytes, ranges: list[tuple[int, int]]) -> list[RangeCheck]:
    return [RangeCheck(a, b, sha(data[a:b])) for a, b in ranges]


def feed_all(verifier: RangeVerifier, data: bytes, cuts: list[int]) -> None:
    pos = 0
    for chunk in split(data, cuts):
        verifier.feed(pos, chunk)
        pos += len(chunk)


RANGES = [(0, 4096), (50_000, 50_000 + CHECK_WINDOW), (90_000, 100_000)]


def test_verifier_matches_the_bytes_its_checks_came_from() -> None:
    data = payload(120_000)
    verifier = RangeVerifier(checks_of(data, RANGES))
    feed_all(verifier, data, [3, 4095, 4096, 50_001, 99_999])
    assert verifier.matches(len(data))


@pytest.mark.parametrize("flip_at", [0, 4095, 50_000, 114_535, 90_000, 99_999])
def test_verifier_rejects_a_change_inside_a_checked_range(flip_at: int) -> None:
    data = payload(120_000)
    checks = checks_of(data, RANGES)
    changed = bytearray(data)
    changed[flip_at] ^= 0xFF
    verifier = RangeVerifier(checks)
    feed_all(verifier, bytes(changed), [1000, 60_000])
    assert not verifier.matches(len(data))


@pytest.mark.parametrize("flip_at", [4096, 49_999, 115_536, 119_999])
def test_verifier_ignores_bytes_outside_its_ranges(flip_at: int) -> None:
    data = payload(120_000)
    checks = checks_of(data, RANGES)
    changed = bytearray(data)
    changed[flip_at] ^= 0xFF
    verifier = RangeVerifier(checks)
    feed_all(verifier, bytes(changed), [1000, 60_000])
    assert verifier.matches(len(data))


def test_verifier_needs_the_stream_to_reach_the_last_range() -> None:
    data = payload(120_000)
    verifier = RangeVerifier(checks_of(data, RANGES))
    assert verifier.needed_until == 50_000 + CHECK_WINDOW
    feed_all(verifier, data[: verifier.needed_until - 1], [777])
    assert not verifier.matches(verifier.needed_until - 1)


def test_verifier_refuses_a_short_stream_even_if_it_fed_everything() -> None:
    data = payload(10_000)
    verifier = RangeVerifier(checks_of(data, [(0, 10_000)]))
    feed_all(verifier, data, [])
    assert verifier.matches(10_000)
    assert not verifier.matches(9_999)


def test_verifier_fed_nothing_does_not_match_checks() -> None:
    data = payload(5_000)
    verifier = RangeVerifier(checks_of(data, [(0, 4096)]))
    assert not verifier.matches(5_000)


def test_verifier_recognises_a_generation_from_a_builders_checks() -> None:
    data = payload(200_000, seed=3)
    sealed = build(0, [data[:150_000]])
    sealed2 = build(150_000, [data[150_000:]])
    verifier = RangeVerifier(sealed.checks + sealed2.checks)
    feed_all(verifier, data + b"more bytes appended later", [65_536, 131_072])
    assert verifier.matches(len(data))


@settings(max_examples=80, deadline=None)
@given(size=st.integers(1, 120_000), seed=st.integers(0, 2**16),
       raw_ranges=st.lists(st.tuples(st.integers(0, 120_000), st.integers(0, CHECK_WINDOW)),
                           min_size=1, max_size=4),
       cuts=st.lists(st.integers(0, 120_000), max_size=15),
       flip=st.integers(0, 120_000))
def test_verifier_is_exact_for_any_chunking(size: int, seed: int,
                                            raw_ranges: list[tuple[int, int]], cuts: list[int],
                                            flip: int) -> None:
    data = payload(size, seed)
    ranges = [(a % size, min(size, a % size + n)) for a, n in raw_ranges]
    checks = checks_of(data, ranges)

    verifier = RangeVerifier(checks)
    feed_all(verifier, data, cuts)
    assert verifier.matches(size)

    flip %= size
    changed = bytearray(data)
    changed[flip] ^= 0x01
    other = RangeVerifier(checks)
    feed_all(other, bytes(changed), cuts)
    inside = any(a <= flip < b for a, b in ranges)
    assert other.matches(size) is not inside
