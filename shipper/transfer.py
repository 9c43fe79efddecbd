"""Streaming pieces: gzip object writer and the range verifier that recognises generations."""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass

from shipper.state import CHECK_WINDOW, RangeCheck

HEAD_BYTES = 4096


# The three lines every MySQL/MariaDB slow and general log generation starts with.
_ENGINE_HEADER = re.compile(
    rb"\A(?:[^\n]*started with:\n)?(?:Tcp port: [^\n]*\n)?(?:Time +Id +Command +Argument\n)?\Z"
)


def is_engine_header(data: bytes) -> bool:
    """True when ``data`` holds nothing but (part of) an engine's common startup header."""
    return bool(data) and _ENGINE_HEADER.match(data) is not None


@dataclass
class SealedObject:
    start: int
    end: int
    body: bytes
    sha256: str
    checks: list[RangeCheck]
    marker: str | None
    header_only: bool = False


class ObjectBuilder:
    """Compresses one contiguous byte range as it streams in; memory holds only the gzip output
    and a 64 KiB tail (for the range check that later recognises this generation)."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.end = start
        self._zip = zlib.compressobj(6, zlib.DEFLATED, 31)
        self._parts: list[bytes] = []
        self._sha = hashlib.sha256()
        self._tail = bytearray()
        self._head = bytearray() if start == 0 else None

    @property
    def size(self) -> int:
        return self.end - self.start

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self._parts.append(self._zip.compress(data))
        self._sha.update(data)
        self.end += len(data)
        self._tail += data[-CHECK_WINDOW:]
        if len(self._tail) > CHECK_WINDOW:
            del self._tail[: len(self._tail) - CHECK_WINDOW]
        if self._head is not None and len(self._head) < HEAD_BYTES:
            self._head += data[: HEAD_BYTES - len(self._head)]

    def seal(self, marker: str | None) -> SealedObject:
        self._parts.append(self._zip.flush())
        checks = []
        if self._head is not None and self._head:
            checks.append(RangeCheck(0, len(self._head), hashlib.sha256(self._head).hexdigest()))
        tail_start = self.end - len(self._tail)
        if not checks or tail_start > 0 or len(self._tail) > len(self._head or b""):
            checks.append(RangeCheck(tail_start, self.end,
                                     hashlib.sha256(self._tail).hexdigest()))
        body = b"".join(self._parts)
        self._parts = []
        header_only = (self.start == 0 and self.end <= HEAD_BYTES
                       and is_engine_header(bytes(self._head or b"")))
        return SealedObject(self.start, self.end, body, self._sha.hexdigest(), checks, marker,
                            header_only)


class RangeVerifier:
    """Hashes exactly the ranges named by a generation's checks while a file streams from 0."""

    def __init__(self, checks: list[RangeCheck]) -> None:
        self._checks = sorted(checks, key=lambda c: c.start)
        self._hashes = [hashlib.sha256() for _ in self._checks]
        self.needed_until = max((c.end for c in self._checks), default=0)

    def feed(self, offset: int, data: bytes) -> None:
        end = offset + len(data)
        for check, digest in zip(self._checks, self._hashes, strict=True):
            lo, hi = max(offset, check.start), min(end, check.end)
            if lo < hi:
                digest.update(data[lo - offset: hi - offset])

    def matches(self, stream_length: int) -> bool:
        if stream_length < self.needed_until:
            return False
        return all(d.hexdigest() == c.sha256
                   for c, d in zip(self._checks, self._hashes, strict=True))

