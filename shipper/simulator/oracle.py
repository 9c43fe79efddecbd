"""The oracle: prove byte for byte that S3 holds every log generation exactly once.

Why: "the tests pass" means nothing for an archiver unless the archive is compared with what
the database actually wrote. The world's ground truth knows every generation ever created; this
module reads every data object the shipper wrote (``shipper.layout`` metadata), checks that the
objects of each shipped generation tile ``[0, N)`` with no gap, overlap or duplicate, and
matches each shipped generation to exactly one truth generation by content.

Matching is a bipartite assignment, because contents can be identical (every MySQL slow log
starts with the same header; an idle hour's file is header only) and the shipper's generation
ids are its own. An edge joins a shipped generation to a truth generation of the same instance
(the same DbiResourceId, from ``db-resource-id``; objects without one, the same identifier)
when one of the truth generation's names is the object's ``log-file`` and every object's bytes
equal the truth's bytes at the object's offsets. Objects are hashed while streaming (memory
stays bounded even for a 1 GiB generation); truth ranges are hashed the same way.

Which truth generations must be complete is the caller's choice: ``require(g)`` (default: the
file still exists) and ``allow_partial(g)`` (default: never). A required generation must be
shipped completely, or as a non-empty prefix if ``allow_partial(g)``; others may be partial or
missing and are only reported. Gaps inside a shipped generation, overlaps, duplicates, corrupt
objects and shipped data that matches no truth always fail.

Whole lines (``shipper.lines``): every object must end just after a ``\n``, except an object
that ends where its truth generation ends (a closed file's final bytes) and a piece of one line
longer than the long-line bound (an object holding no ``\n`` at all, counted in
``long_line_pieces``); any other object fails as a ``split line``. A generation that still
exists and is shipped up to the start of its final, unfinished line is complete but for that
line: the shipper holds it back until it is whole (``held_back``, not a failure).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from shipper.layout import (
    DATA_SUFFIX,
    DataObjectInfo,
    decode_metadata_value,
    metadata_names,
    metadata_value,
    safe_segment,
)
from shipper.simulator.world import GenerationRecord, World

HEAD_BYTES = 256
READ_CHUNK = 1024 * 1024

Predicate = Callable[[GenerationRecord], bool]


@dataclass(frozen=True)
class ShippedObject:
    key: str
    info: DataObjectInfo
    length: int
    digest: str
    head: bytes = field(repr=False)
    ends_line: bool = True  # the last byte is a line feed (or the object is empty)
    has_newline: bool = True


@dataclass(frozen=True)
class Problem:
    """One thing wrong: ``kind`` is gap, overlap, duplicate, corrupt or unmatched."""

    kind: str
    instance: str
    generation: str | None
    start: int
    end: int
    detail: str
    keys: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f"{self.instance}/{self.generation}" if self.generation else self.instance
        span = f" [{self.start}, {self.end}) ({self.end - self.start} bytes)" \
            if self.end > self.start else ""
        keys = f" keys={list(self.keys)}" if self.keys else ""
        return f"{self.kind}: {where}{span}: {self.detail}{keys}"


@dataclass(frozen=True)
class ShippedGeneration:
    """The objects of one generation of one physical instance (``instance``: the identifier
    its first object was written under; a renamed instance's later objects carry another)."""

    instance: str
    generation: str
    log_files: tuple[str, ...]
    objects: tuple[ShippedObject, ...]
    covered: int  # contiguous bytes from offset 0
    has_gap: bool
    owner: str = ""  # the resource id (``name:<identifier>`` for objects without one)

    @property
    def bytes(self) -> int:
        return sum(o.length for o in self.objects)


@dataclass(frozen=True)
class Match:
    truth: GenerationRecord
    shipped: ShippedGeneration | None
    shipped_bytes: int

    @property
    def missing_bytes(self) -> int:
        return self.truth.size - self.shipped_bytes

    def __str__(self) -> str:
        g = self.truth
        state = f"deleted at {g.deleted_at:.0f}" if g.current_name is None else "exists"
        return (f"#{g.truth_id} {g.instance}:{g.names[-1]!r} ({state}): shipped "
                f"{self.shipped_bytes} of {g.size} bytes"
                + (f" as generation {self.shipped.generation}" if self.shipped else ""))


@dataclass
class OracleReport:
    complete: list[Match] = field(default_factory=list)
    partial: list[Match] = field(default_factory=list)
    missing: list[GenerationRecord] = field(default_factory=list)
    unmatched: list[Problem] = field(default_factory=list)
    corrupt: list[Problem] = field(default_factory=list)
    gaps: list[Problem] = field(default_factory=list)
    overlaps: list[Problem] = field(default_factory=list)
    duplicates: list[Problem] = field(default_factory=list)
    split_lines: list[Problem] = field(default_factory=list)
    held_back: list[Match] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    objects: int = 0
    bytes: int = 0
    shipped_generations: int = 0
    long_line_pieces: int = 0

    @property
    def problems(self) -> list[Problem]:
        return [*self.corrupt, *self.unmatched, *self.gaps, *self.overlaps, *self.duplicates,
                *self.split_lines]

    @property
    def held_back_bytes(self) -> int:
        return sum(m.missing_bytes for m in self.held_back)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.problems

    def summary(self) -> str:
        missing_partial = sum(m.missing_bytes for m in self.partial)
        text = (
            f"{self.objects} data objects ({self.bytes} bytes) in {self.shipped_generations} "
            f"shipped generations: {len(self.complete)} truth generations complete, "
            f"{len(self.partial)} partial ({missing_partial} bytes not shipped), "
            f"{len(self.missing)} missing; {len(self.corrupt)} corrupt objects, "
            f"{len(self.unmatched)} unmatched, {len(self.gaps)} gaps, "
            f"{len(self.overlaps)} overlaps, {len(self.duplicates)} duplicates, "
            f"{len(self.split_lines)} split lines ({self.long_line_pieces} long-line pieces, "
            f"{self.held_back_bytes} bytes of unfinished lines held back); "
            f"{len(self.failures)} requirement failures. "
            + ("OK." if self.ok else "NOT OK.")
        )
        return text

    def details(self, limit: int = 50) -> str:
        lines = [self.summary()]
        lines += [f"  FAIL {f}" for f in self.failures[:limit]]
        lines += [f"  {p}" for p in self.problems[:limit]]
        lines += [f"  partial {m}" for m in self.partial[:limit]]
        return "\n".join(lines)

    def assert_ok(self) -> None:
        if not self.ok:
            raise AssertionError(self.details())


def _list_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if token:
            kwargs["ContinuationToken"] = token
        page = s3.list_objects_v2(**kwargs)
        keys += [obj["Key"] for obj in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            return keys
        token = page["NextContinuationToken"]


def _read_object(s3: Any, bucket: str, key: str) -> tuple[ShippedObject | None, Problem | None]:
    response = s3.get_object(Bucket=bucket, Key=key)
    body = response["Body"]
    metadata = {k.lower(): v for k, v in response.get("Metadata", {}).items()}
    try:
        info = DataObjectInfo.from_metadata(key, metadata)
    except (KeyError, ValueError) as exc:
        body.close()
        return None, Problem("corrupt", metadata.get("db-instance", "?"), None, 0, 0,
                             f"unreadable metadata ({exc!r})", (key,))

    def bad(detail: str) -> tuple[None, Problem]:
        body.close()
        return None, Problem("corrupt", info.instance, info.generation, info.start, info.end,
                             detail, (key,))

    expected_tail = f"/{info.generation}/{info.start:015d}{DATA_SUFFIX}"
    if not key.endswith(expected_tail):
        return bad(f"key does not end with {expected_tail!r}")
    if f"/instance={safe_segment(info.instance)}/" not in key:
        return bad("key's instance partition does not match db-instance metadata")
    if info.end < info.start:
        return bad("end-offset < start-offset")
    digest = hashlib.sha256()
    length = 0
    first = b""
    last = b"\n"
    has_newline = False
    try:
        with gzip.GzipFile(fileobj=body, mode="rb") as stream:
            while True:
                piece = stream.read(READ_CHUNK)
                if not piece:
                    break
                if len(first) < HEAD_BYTES:
                    first += piece[: HEAD_BYTES - len(first)]
                digest.update(piece)
                length += len(piece)
                last = piece[-1:]
                has_newline = has_newline or b"\n" in piece
    except (OSError, EOFError, zlib.error) as exc:
        return bad(f"not valid gzip ({exc})")
    body.close()
    if length != info.end - info.start:
        return bad(f"decompressed length {length} != end-start {info.end - info.start}")
    if info.sha256 and info.sha256 != digest.hexdigest():
        return bad("sha256 metadata does not match the decompressed bytes")
    return ShippedObject(key, info, length, digest.hexdigest(), first, last == b"\n",
                         has_newline), None


def _owner(objs: list[ShippedObject]) -> str:
    """The physical instance a generation's objects belong to: the DbiResourceId they carry,
    or (all written without one) the identifier they were written under."""
    ids = {o.info.resource_id for o in objs if o.info.resource_id}
    return min(ids) if ids else f"name:{objs[0].info.instance}"


def _group(instance: str, generation: str, objs: list[ShippedObject],
           report: OracleReport, owner: str) -> ShippedGeneration:
    objs.sort(key=lambda o: (o.info.start, o.info.end, o.key))
    covered = 0
    has_gap = False
    seen: dict[tuple[int, int], list[str]] = {}
    for o in objs:
        seen.setdefault((o.info.start, o.info.end), []).append(o.key)
    for (start, end), keys in seen.items():
        if len(keys) > 1:
            report.duplicates.append(Problem("duplicate", instance, generation, start, end,
                                             f"{len(keys)} objects hold the same range",
                                             tuple(keys)))
    pos = 0
    last_key = ""
    for (start, end), keys in sorted(seen.items()):
        if start > pos:
            has_gap = True
            report.gaps.append(Problem("gap", instance, generation, pos, start,
                                       "no object holds these bytes", (last_key, keys[0])
                                       if last_key else (keys[0],)))
        elif start < pos:
            report.overlaps.append(Problem("overlap", instance, generation, start,
                                           min(end, pos), "bytes shipped twice",
                                           (last_key, keys[0])))
        if not has_gap:
            covered = max(covered, end)
        if end >= pos:
            pos, last_key = end, keys[0]
    names = tuple(sorted({o.info.log_file for o in objs}))
    return ShippedGeneration(instance, generation, names, tuple(objs), covered, has_gap, owner)


class _Truths:
    """Truth generations of one instance, with cached range hashes."""

    def __init__(self, records: Iterable[GenerationRecord]) -> None:
        self.records = list(records)
        self._hashes: dict[tuple[int, int, int], str] = {}
        self._by_name: dict[str, list[GenerationRecord]] | None = None

    def named(self, name: str) -> list[GenerationRecord]:
        """Truth generations that ever had ``name``."""
        if self._by_name is None:
            self._by_name = {}
            for g in self.records:
                for n in dict.fromkeys(g.names):
                    self._by_name.setdefault(n, []).append(g)
                    cut = decode_metadata_value(metadata_value(n))
                    if cut != n:  # a name too long for S3 metadata is archived cut
                        self._by_name.setdefault(cut, []).append(g)
        return self._by_name.get(name, [])

    def range_digest(self, g: GenerationRecord, start: int, end: int) -> str:
        key = (g.truth_id, start, end)
        cached = self._hashes.get(key)
        if cached is None:
            digest = hashlib.sha256()
            for piece in g.iter_bytes(READ_CHUNK, start, end):
                digest.update(piece)
            cached = self._hashes[key] = digest.hexdigest()
        return cached

    def consistent(self, s: ShippedGeneration, g: GenerationRecord, check_names: bool) -> bool:
        if check_names and not all(any(metadata_names(f, n) for n in g.names)
                                   for f in s.log_files):
            return False
        for o in s.objects:
            if o.info.end > g.size:
                return False
            if g.read(o.info.start, o.info.start + len(o.head)) != o.head:
                return False
        return all(self.range_digest(g, o.info.start, o.info.end) == o.digest
                   for o in s.objects)


def _assign(shipped: list[ShippedGeneration], edges: dict[int, list[GenerationRecord]]
            ) -> dict[int, GenerationRecord]:
    """Maximum bipartite matching (Kuhn); adjacency lists are in preference order."""
    owner: dict[int, int] = {}  # truth_id -> shipped index
    by_id: dict[int, GenerationRecord] = {}

    def augment(i: int, visited: set[int]) -> bool:
        for g in edges.get(i, []):
            if g.truth_id in visited:
                continue
            visited.add(g.truth_id)
            if g.truth_id not in owner or augment(owner[g.truth_id], visited):
                owner[g.truth_id] = i
                by_id[g.truth_id] = g
                return True
        return False

    order = sorted(range(len(shipped)), key=lambda i: (len(edges.get(i, [])), -shipped[i].covered))
    for i in order:
        augment(i, set())
    return {i: by_id[t] for t, i in owner.items()}


def verify(s3_client: Any, bucket: str, prefix: str, world: World, *,
           require: Predicate | None = None, allow_partial: Predicate | None = None,
           instances: Iterable[str] | None = None) -> OracleReport:
    """Check every data object under ``{prefix}data/`` against ``world``'s ground truth.

    ``instances`` limits the truth generations considered (default: every instance). See the
    module docstring for ``require`` and ``allow_partial``.
    """
    must = require or (lambda g: g.current_name is not None)
    partial_ok = allow_partial or (lambda g: False)
    wanted = set(instances) if instances is not None else None
    report = OracleReport()
    groups: dict[str, list[ShippedObject]] = {}
    for key in _list_keys(s3_client, bucket, f"{prefix}data/"):
        obj, problem = _read_object(s3_client, bucket, key)
        owner = obj.info.instance if obj is not None else problem.instance if problem else "?"
        if wanted is not None and owner not in wanted:
            continue
        report.objects += 1
        if problem is not None:
            report.corrupt.append(problem)
            continue
        assert obj is not None
        report.bytes += obj.length
        # One generation, whatever identifiers it was written under (a renamed instance's)
        # and whether its objects carry the resource id (not those written before it was).
        groups.setdefault(obj.info.generation, []).append(obj)
    shipped = [_group(objs[0].info.instance, gen, objs, report, _owner(objs))
               for gen, objs in sorted(groups.items())]
    for gen, objs in sorted(groups.items()):
        ids = sorted({o.info.resource_id for o in objs if o.info.resource_id})
        if len(ids) > 1:  # one generation's bytes from two physical instances
            report.unmatched.append(Problem("unmatched", objs[0].info.instance, gen, 0, 0,
                                            f"objects of two instances: {ids}",
                                            tuple(o.key for o in objs[:3])))
    report.shipped_generations = len(shipped)

    truth = [g for g in world.generations()
             if wanted is None or g.instance in wanted]
    by_instance: dict[str, _Truths] = {}
    for g in truth:
        by_instance.setdefault(g.resource_id or f"name:{g.instance}", _Truths([])
                               ).records.append(g)
        if g.resource_id:  # objects without a resource id name the identifier
            by_instance.setdefault(f"name:{g.instance}", _Truths([])).records.append(g)

    edges: dict[int, list[GenerationRecord]] = {}
    for i, s in enumerate(shipped):
        pool = by_instance.get(s.owner)
        if pool is None:
            continue
        candidates = pool.named(s.log_files[0]) if s.log_files else []
        fits = [g for g in candidates if pool.consistent(s, g, check_names=True)]
        # Prefer truths this stream completes, then required ones, then older ones.
        fits.sort(key=lambda g: (s.covered != g.size or s.has_gap, not must(g), g.truth_id))
        edges[i] = fits
    assignment = _assign(shipped, edges)

    matched_truth: dict[int, int] = {}
    for i, stream in enumerate(shipped):
        assigned = assignment.get(i)
        if assigned is not None:
            matched_truth[assigned.truth_id] = i
            continue
        report.unmatched.append(_diagnose(stream, edges.get(i, []),
                                          by_instance.get(stream.owner), assignment, shipped))

    for i, g in assignment.items():
        _check_whole_lines(shipped[i], g, report)
    for g in truth:
        index = matched_truth.get(g.truth_id)
        got = shipped[index] if index is not None else None
        covered = got.covered if got is not None else 0
        required = must(g)
        if covered >= g.size and (got is None or not got.has_gap):
            report.complete.append(Match(g, got, g.size))
        elif (got is None or not got.has_gap) and _unfinished_line(g, covered):
            report.held_back.append(Match(g, got, covered))
        elif got is None:
            report.missing.append(g)
            if required:
                report.failures.append(
                    f"missing: #{g.truth_id} {g.instance}:{g.names[-1]!r} ({g.size} bytes) "
                    "has no shipped data")
        else:
            match = Match(g, got, covered)
            report.partial.append(match)
            if required and not partial_ok(g):
                report.failures.append(f"incomplete: {match}")
    return report


def _check_whole_lines(s: ShippedGeneration, g: GenerationRecord, report: OracleReport) -> None:
    """Every object ends after a line feed, but a closed file's final bytes and the pieces
    of a line longer than the long-line bound (objects with no line feed at all)."""
    for o in s.objects:
        if o.ends_line or o.info.end == g.size:
            continue
        if not o.has_newline:
            report.long_line_pieces += 1
            continue
        report.split_lines.append(Problem(
            "split line", s.instance, s.generation, o.info.start, o.info.end,
            "object ends inside a line that goes on in the next object", (o.key,)))


def _unfinished_line(g: GenerationRecord, covered: int) -> bool:
    """Is everything after ``covered`` the final, unfinished line of a generation that still
    exists (held back by the shipper until it is whole)?"""
    if not g.exists or covered >= g.size or (covered and g.read(covered - 1, covered) != b"\n"):
        return False
    return all(b"\n" not in piece for piece in g.iter_bytes(READ_CHUNK, covered, g.size))


def _diagnose(s: ShippedGeneration, fits: list[GenerationRecord], pool: _Truths | None,
              assignment: dict[int, GenerationRecord],
              shipped: list[ShippedGeneration]) -> Problem:
    end = max((o.info.end for o in s.objects), default=0)
    keys = tuple(o.key for o in s.objects[:3])
    if pool is None:
        detail = "no truth generation exists for this instance"
    elif fits:
        owners = {g.truth_id: shipped[i].generation for i, g in assignment.items()}
        detail = "duplicate of data already matched: " + ", ".join(
            f"truth #{g.truth_id} (shipped as {owners.get(g.truth_id)})" for g in fits)
    else:
        by_content = [g for g in pool.records if pool.consistent(s, g, check_names=False)]
        if by_content:
            detail = (f"content matches truth #{by_content[0].truth_id} whose names "
                      f"{list(by_content[0].names)} do not include log-file {list(s.log_files)}")
        else:
            detail = (f"bytes match no truth generation of this instance "
                      f"(log-file {list(s.log_files)})")
    return Problem("unmatched", s.instance, s.generation, 0, end, detail, keys)
