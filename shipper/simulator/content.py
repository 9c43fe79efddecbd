"""Deterministic, lazily generated log content.

Why: simulated files range from a few bytes to several GiB (benchmarks), and the oracle compares
every shipped byte with the truth, so the truth cannot simply be stored. A file's bytes are a
list of *segments*: literal ``bytes`` (hostile data a test wants verbatim) or ``Generated``
segments whose bytes are a pure function of ``(seed, style, t0, position)``. A generated segment
is cut into fixed 64 KiB blocks; each block is built on demand from a small pool of realistic
log lines for the style and padded so that it ends exactly on the block boundary with a newline.
Reading any range costs only the blocks it touches; a 1 GiB file costs a few hundred bytes.

Text styles are ASCII only, and the last byte of a text segment is always ``\\n``, so appending
segments never glues two lines together and a page cut at a newline is valid UTF-8. The
``binary`` style is random bytes (SQL Server ``.trc``/``.xel`` files).
"""

from __future__ import annotations

import bisect
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

BLOCK = 64 * 1024
DEFAULT_CHUNK = 1024 * 1024

TEXT_STYLES = (
    "postgres",
    "mysql-error",
    "mysql-slow",
    "mysql-general",
    "mysql-audit",
    "sqlserver",
    "oracle-alert",
    "oracle-trace",
)
STYLES = (*TEXT_STYLES, "binary")


@dataclass(frozen=True)
class Generated:
    """``length`` bytes of generated log lines; ``t0`` (epoch seconds) seeds the timestamps."""

    seed: int
    length: int
    style: str = "postgres"
    t0: int = 0

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"unknown content style {self.style!r}; use one of {STYLES}")
        if self.length < 0:
            raise ValueError("length must be >= 0")


Segment = bytes | Generated

_STATEMENTS = (
    "SELECT id, name, created_at FROM orders WHERE customer_id = 48213 ORDER BY created_at DESC"
    " LIMIT 50",
    "UPDATE inventory SET quantity = quantity - 1 WHERE sku = 'A-1177' AND quantity > 0",
    "INSERT INTO events (kind, payload) VALUES ('login', '{\"user\": 1182, \"ok\": true}')",
    "DELETE FROM sessions WHERE expires_at < now() - interval '1 day'",
    "SELECT count(*) FROM audit_log WHERE ts BETWEEN '2026-11-19' AND '2026-11-20'",
    "BEGIN",
    "COMMIT",
    "SELECT pg_sleep(0.01)",
    "WITH recent AS (SELECT * FROM payments WHERE amount > 100) SELECT customer_id, sum(amount)"
    " FROM recent GROUP BY customer_id HAVING sum(amount) > 10000 ORDER BY 2 DESC",
    "VACUUM ANALYZE public.orders",
)


def _pool(style: str) -> tuple[bytes, ...]:
    """Line bodies for ``style`` (without timestamp prefix), built once from a fixed RNG."""
    rng = random.Random(f"pool:{style}")  # noqa: S311 - test data, not crypto
    lines: list[str] = []
    for i in range(96):
        stmt = rng.choice(_STATEMENTS)
        dur = rng.uniform(0.05, 9000.0)
        pid = rng.randint(1000, 65000)
        if style == "postgres":
            kind = rng.choice(["LOG", "LOG", "LOG", "ERROR", "WARNING", "FATAL"])
            body = (
                f"10.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}({rng.randint(30000, 65000)}):"
                f"app_user@appdb:[{pid}]:{kind}:  "
                + (f"duration: {dur:.3f} ms  statement: {stmt}" if kind == "LOG"
                   else f"relation \"tbl_{i}\" does not exist at character {rng.randint(1, 90)}")
            )
        elif style == "mysql-error":
            level = rng.choice(["Note", "Warning", "ERROR"])
            body = (f"{pid} [{level}] [MY-0{rng.randint(10000, 13999)}]"
                    f" [Server] Aborted connection {pid} to db: 'appdb' user: 'app' host:"
                    f" '10.0.3.{rng.randint(1, 254)}' (Got an error reading communication packets)")
        elif style == "mysql-slow":
            body = (f"# Query_time: {dur / 1000:.6f}  Lock_time: 0.000{rng.randint(10, 99)} "
                    f"Rows_sent: {rng.randint(0, 500)}  Rows_examined: {rng.randint(0, 90000)}"
                    f"\nSET timestamp=17{rng.randint(10**7, 10**8 - 1)};\n{stmt};")
        elif style == "mysql-general":
            body = f"{rng.randint(10, 9999):>6} {rng.choice(['Query', 'Connect', 'Quit'])}\t{stmt}"
        elif style == "mysql-audit":
            body = (f"ip-10-0-1-{rng.randint(1, 254)},app,10.0.2.{rng.randint(1, 254)},{pid},"
                    f"{rng.randint(1, 10**7)},QUERY,appdb,'{stmt.replace(chr(39), '')}',0")
        elif style == "sqlserver":
            body = (f"spid{rng.randint(10, 200)}     "
                    + rng.choice([
                        "Login succeeded for user 'admin'. Connection made using SQL Server"
                        " authentication. [CLIENT: 10.0.4.12]",
                        "Starting up database 'appdb'.",
                        f"Error: 18456, Severity: 14, State: {rng.randint(1, 40)}.",
                        "CHECKDB for database 'appdb' finished without errors.",
                        f"SQL Server has encountered {rng.randint(1, 9)} occurrence(s) of I/O"
                        " requests taking longer than 15 seconds to complete.",
                    ]))
        elif style == "oracle-alert":
            body = rng.choice([
                f"Thread 1 advanced to log sequence {rng.randint(100, 99999)} (LGWR switch)",
                f"  Current log# {rng.randint(1, 4)} seq# {rng.randint(100, 99999)} mem# 0:"
                " /rdsdbdata/db/ORCL_A/onlinelog/o1_mf_1.log",
                f"ORA-{rng.randint(1, 9999):05d}: simulated error in process {pid}",
                "Archived Log entry 4242 added for T-1.S-1188 ID 0x5c4f2 LAD:1",
                f"Resize operation completed for file# {rng.randint(1, 30)}",
            ])
        else:  # oracle-trace
            body = (f"*** {rng.choice(['SESSION ID', 'CLIENT ID', 'SERVICE NAME', 'MODULE NAME'])}"
                    f":({rng.randint(1, 9999)}.{rng.randint(1, 99999)}) kcbz{rng.randint(1, 99)}"
                    f" stmt={stmt[: rng.randint(min(5, len(stmt)), len(stmt))]}")
        lines.append(body)
    return tuple(line.encode("ascii") for line in lines)


_POOLS: dict[str, tuple[bytes, ...]] = {}


def _pool_for(style: str) -> tuple[bytes, ...]:
    pool = _POOLS.get(style)
    if pool is None:
        pool = _POOLS[style] = _pool(style)
    return pool


def _prefix(style: str, ts: int) -> bytes:
    t = time.gmtime(ts)
    if style == "postgres":
        return time.strftime("%Y-%m-%d %H:%M:%S UTC:", t).encode()
    if style in ("mysql-error", "mysql-general"):
        return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z ", t).encode()
    if style == "mysql-slow":
        return time.strftime("# Time: %Y-%m-%dT%H:%M:%S.000000Z\n", t).encode()
    if style == "mysql-audit":
        return f"{ts}000000,".encode()
    if style == "sqlserver":
        return time.strftime("%Y-%m-%d %H:%M:%S.00 ", t).encode()
    if style == "oracle-alert":
        return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00\n", t).encode()
    return time.strftime("*** %Y-%m-%dT%H:%M:%S.000000+00:00\n", t).encode()


def _mix(seed: int, index: int) -> int:
    return (seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)


def _lines(seed: int, style: str, t0: int, index: int, upto: int) -> tuple[list[bytes], int]:
    """The whole lines that start block ``index``, until at least ``upto`` bytes or the block
    is full. ``random.choices`` draws one value per item in order, so a short prefix is the
    same as the start of the full block: small segments need not build 64 KiB."""
    rng = random.Random(_mix(seed, index))  # noqa: S311 - test data, not crypto
    eol = b"\r\n" if style == "sqlserver" else b"\n"
    pool = _pool_for(style)
    prefix = _prefix(style, t0 + index)
    parts: list[bytes] = []
    total = 0
    want = BLOCK // 60 if upto >= BLOCK else upto // 30 + 2
    for body in rng.choices(pool, k=want):
        line = prefix + body + eol
        if total + len(line) > BLOCK:
            break
        parts.append(line)
        total += len(line)
        if total >= upto and upto < BLOCK:
            return parts, total
    if upto < BLOCK and total < upto:  # the estimate was short: build the full block
        return _lines(seed, style, t0, index, BLOCK)
    remaining = BLOCK - total
    if remaining:
        filler = (prefix + rng.choice(pool))[: max(remaining - len(eol), 0)]
        if remaining < len(eol):
            parts.append(b"\n")
        else:
            parts.append(filler.ljust(remaining - len(eol), b" ") + eol)
    return parts, BLOCK


@lru_cache(maxsize=64)
def _block(seed: int, style: str, t0: int, index: int) -> bytes:
    """Block ``index`` of a generated segment: exactly ``BLOCK`` bytes, ending with a newline."""
    if style == "binary":
        rng = random.Random(_mix(seed, index))  # noqa: S311 - test data, not crypto
        return rng.randbytes(BLOCK)
    return b"".join(_lines(seed, style, t0, index, BLOCK)[0])


def _block_prefix(seed: int, style: str, t0: int, index: int, upto: int) -> bytes:
    """At least the first ``upto`` bytes of a block, cheaply when ``upto`` is small."""
    if style == "binary" or upto > BLOCK // 4:
        return _block(seed, style, t0, index)
    return b"".join(_lines(seed, style, t0, index, upto)[0])


def _read_generated(seg: Generated, start: int, end: int) -> bytes:
    if start >= end:
        return b""
    first, last = start // BLOCK, (end - 1) // BLOCK
    pieces = []
    for index in range(first, last + 1):
        lo = start - index * BLOCK if index == first else 0
        hi = end - index * BLOCK if index == last else BLOCK
        block = _block_prefix(seg.seed, seg.style, seg.t0, index, hi)
        pieces.append(block[lo:hi])
    data = b"".join(pieces)
    if end == seg.length and seg.style != "binary" and data[-1:] != b"\n":
        data = data[:-1] + b"\n"
    return data


def read_segment(seg: Segment, start: int, end: int) -> bytes:
    """Bytes ``[start, end)`` of one segment (offsets relative to the segment)."""
    if isinstance(seg, bytes):
        return seg[start:end]
    return _read_generated(seg, start, end)


def segment_size(seg: Segment) -> int:
    return len(seg) if isinstance(seg, bytes) else seg.length


class ContentView:
    """An immutable snapshot of a ``Content``: the first ``count`` segments, ``size`` bytes.

    Readers take a view under the world lock and read without it: segments are only ever
    appended, so the bytes a view covers never change.
    """

    __slots__ = ("_count", "_segments", "_starts", "size")

    def __init__(self, segments: Sequence[Segment], starts: Sequence[int], count: int,
                 size: int) -> None:
        self._segments = segments
        self._starts = starts
        self._count = count
        self.size = size

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        end = self.size if end is None else min(end, self.size)
        start = max(start, 0)
        if start >= end:
            return b""
        return b"".join(self._pieces(start, end))

    def _pieces(self, start: int, end: int) -> Iterator[bytes]:
        i = bisect.bisect_right(self._starts, start, 0, self._count) - 1
        pos = start
        while pos < end and i < self._count:
            seg_start = self._starts[i]
            seg = self._segments[i]
            seg_end = seg_start + segment_size(seg)
            hi = min(end, seg_end)
            if hi > pos:
                yield read_segment(seg, pos - seg_start, hi - seg_start)
                pos = hi
            i += 1

    def iter_range(self, start: int = 0, end: int | None = None,
                   chunk: int = DEFAULT_CHUNK) -> Iterator[bytes]:
        """Yield ``[start, end)`` in pieces of at most ``chunk`` bytes (memory stays bounded)."""
        end = self.size if end is None else min(end, self.size)
        pos = max(start, 0)
        while pos < end:
            hi = min(end, pos + chunk)
            yield self.read(pos, hi)
            pos = hi

    def find(self, needle: bytes, start: int, end: int | None = None,
             chunk: int = DEFAULT_CHUNK) -> int:
        """Offset of the first ``needle`` (one byte) at or after ``start``, or -1."""
        pos = start
        for piece in self.iter_range(start, end, chunk):
            idx = piece.find(needle)
            if idx >= 0:
                return pos + idx
            pos += len(piece)
        return -1


class Content:
    """An append-only list of segments. Not locked: the world's lock guards appends."""

    def __init__(self, segments: Iterable[Segment] = ()) -> None:
        self._segments: list[Segment] = []
        self._starts: list[int] = []
        self._size = 0
        for seg in segments:
            self.append(seg)

    @property
    def size(self) -> int:
        return self._size

    @property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(self._segments)

    def append(self, seg: Segment) -> None:
        n = segment_size(seg)
        if n == 0:
            return
        # Order matters for lock-free readers: a view counts only segments whose start exists.
        self._starts.append(self._size)
        self._segments.append(seg)
        self._size += n

    def view(self) -> ContentView:
        return ContentView(self._segments, self._starts, len(self._segments), self._size)

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        return self.view().read(start, end)

    def iter_range(self, start: int = 0, end: int | None = None,
                   chunk: int = DEFAULT_CHUNK) -> Iterator[bytes]:
        return self.view().iter_range(start, end, chunk)


def generate(seed: int, length: int, style: str = "postgres", t0: int = 0) -> bytes:
    """Materialise a small generated segment (gzip archives, trace files)."""
    return _read_generated(Generated(seed, length, style, t0), 0, length)
