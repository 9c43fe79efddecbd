"""The oracle against hand-built archives in a local S3: right ones pass, each flaw is named."""

from __future__ import annotations

import gzip
import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shipper.layout import Scope, data_metadata, partition_day
from shipper.simulator.oracle import OracleReport, verify
from shipper.simulator.s3server import LocalS3
from shipper.simulator.world import GenerationRecord, World

PREFIX = "rds-logs/"
DAY_MS = 1795132800000


@pytest.fixture(scope="module")
def s3server() -> Iterator[LocalS3]:
    with LocalS3() as s3:
        yield s3


@pytest.fixture
def s3(s3server: LocalS3) -> Any:
    return s3server.client()


@pytest.fixture
def bucket(s3server: LocalS3) -> str:
    name = f"oracle-{uuid.uuid4().hex[:12]}"
    s3server.create_bucket(name)
    return name


class Shipper:
    """Writes data objects exactly like the layout contract says (or breaks it on purpose)."""

    def __init__(self, s3: Any, bucket: str, world: World) -> None:
        self.s3, self.bucket, self.world = s3, bucket, world

    def put(self, g: GenerationRecord, start: int, end: int, *, gen_id: str | None = None,
            log_file: str | None = None, data: bytes | None = None, day_ms: int = DAY_MS,
            sha: str | None = None, body: bytes | None = None,
            meta: dict[str, str] | None = None) -> str:
        scope = Scope(PREFIX, self.world.account_id, self.world.region, g.instance)
        gen_id = gen_id or f"{g.truth_id:020x}"
        raw = g.read(start, end) if data is None else data
        key = scope.data_key(gen_id, partition_day(day_ms), start)
        metadata = data_metadata(scope, log_file or g.names[0], gen_id, start, end,
                                 sha or hashlib.sha256(raw).hexdigest())
        metadata.update(meta or {})
        self.s3.put_object(Bucket=self.bucket, Key=key, Metadata=metadata,
                           Body=gzip.compress(raw) if body is None else body)
        return key

    def ship(self, g: GenerationRecord, chunk: int = 40_000, **kwargs: Any) -> None:
        """All of ``g`` in objects of about ``chunk`` bytes, each ending after a line feed."""
        start = 0
        while start < g.size or start == 0:
            end = line_end(g, start + chunk)
            self.put(g, start, end, **kwargs)
            if end >= g.size:
                break
            start = end


    def verify(self, **kwargs: Any) -> OracleReport:
        return verify(self.s3, self.bucket, PREFIX, self.world, **kwargs)


def line_end(g: GenerationRecord, at_least: int) -> int:
    """The end of the line that holds byte ``at_least - 1`` (or the generation's end)."""
    if at_least >= g.size:
        return g.size
    cut = g.read(at_least - 1, g.size).find(b"\n")
    return g.size if cut < 0 else at_least + cut


@pytest.fixture
def world() -> World:
    w = World(seed=11)
    w.add_instance("pg", "postgres", bytes_per_hour=100_000)
    w.advance(3 * 3600 - 60)
    return w


@pytest.fixture
def shipper(s3: Any, bucket: str, world: World) -> Shipper:
    return Shipper(s3, bucket, world)


def test_a_complete_archive_is_ok(world: World, shipper: Shipper) -> None:
    gens = world.generations()
    for g in gens:
        shipper.ship(g)
    report = shipper.verify()
    report.assert_ok()
    assert len(report.complete) == len(gens) == 3
    assert report.bytes == sum(g.size for g in gens)
    assert "OK." in report.summary()


def test_missing_and_partial_generations(world: World, shipper: Shipper) -> None:
    g0, g1, g2 = world.generations()
    shipper.ship(g0)
    cut = line_end(g1, 40_000)
    shipper.put(g1, 0, cut)
    report = shipper.verify()
    assert not report.ok
    assert [m.truth.truth_id for m in report.partial] == [g1.truth_id]
    assert report.partial[0].missing_bytes == g1.size - cut
    assert [g.truth_id for g in report.missing] == [g2.truth_id]
    assert len(report.failures) == 2 and "missing" in report.details()
    with pytest.raises(AssertionError, match="incomplete"):
        report.assert_ok()
    # The caller decides what must be complete.
    assert shipper.verify(require=lambda g: g.truth_id == g0.truth_id).ok
    partial_ok = shipper.verify(require=lambda g: g.truth_id != g2.truth_id,
                                allow_partial=lambda g: True)
    assert partial_ok.ok, partial_ok.details()


def test_deleted_generations_may_be_partial(world: World, shipper: Shipper) -> None:
    pg = world.instance("pg")
    pg.retention_hours = 1
    world.advance(3600)
    deleted = [g for g in world.generations() if g.current_name is None]
    assert deleted
    for g in world.generations():
        if g.current_name is None:
            shipper.put(g, 0, line_end(g, 1000))
        else:
            shipper.ship(g)
    report = shipper.verify()
    report.assert_ok()
    assert len(report.partial) == len(deleted)


def test_gap_is_reported_with_its_bytes(world: World, shipper: Shipper) -> None:
    g = world.generations()[0]
    shipper.put(g, 0, 30_000)
    shipper.put(g, 50_000, g.size)
    report = shipper.verify(require=lambda r: False)
    assert not report.ok
    (gap,) = report.gaps
    assert (gap.start, gap.end) == (30_000, 50_000) and "20000 bytes" in str(gap)


def test_overlap_is_reported(world: World, shipper: Shipper) -> None:
    g = world.generations()[0]
    shipper.put(g, 0, 60_000)
    shipper.put(g, 50_000, g.size)
    report = shipper.verify(require=lambda r: r.truth_id == g.truth_id)
    (overlap,) = report.overlaps
    assert (overlap.start, overlap.end) == (50_000, 60_000)
    assert not report.ok and len(report.complete) == 1


def test_duplicate_objects_are_reported(world: World, shipper: Shipper) -> None:
    g = world.generations()[0]
    shipper.ship(g)
    cut = line_end(g, 40_000)
    shipper.put(g, 0, cut, day_ms=DAY_MS + 86_400_000)  # same range, another partition
    report = shipper.verify(require=lambda r: r.truth_id == g.truth_id)
    (dup,) = report.duplicates
    assert (dup.start, dup.end) == (0, cut) and len(dup.keys) == 2


def test_corrupt_objects(world: World, shipper: Shipper) -> None:
    g = world.generations()[0]
    shipper.ship(g)
    bad_gzip = shipper.put(g, 10, 20, body=b"definitely not gzip")
    bad_sha = shipper.put(g, 20, 30, sha="0" * 64)
    bad_len = shipper.put(g, 30, 45, data=b"short")
    scope = Scope(PREFIX, world.account_id, world.region, "pg")
    no_meta = scope.data_key("f" * 20, partition_day(DAY_MS), 0)
    shipper.s3.put_object(Bucket=shipper.bucket, Key=no_meta, Body=gzip.compress(b"x"))
    report = shipper.verify(require=lambda r: r.truth_id == g.truth_id)
    corrupt = {p.keys[0]: p.detail for p in report.corrupt}
    assert set(corrupt) == {bad_gzip, bad_sha, bad_len, no_meta}
    assert "gzip" in corrupt[bad_gzip] and "sha256" in corrupt[bad_sha]
    assert "length" in corrupt[bad_len] and "metadata" in corrupt[no_meta]
    assert not report.ok and len(report.complete) == 1


def test_key_and_metadata_must_agree(world: World, shipper: Shipper) -> None:
    g = world.generations()[0]
    key = shipper.put(g, 0, g.size, meta={"start-offset": "5", "end-offset": str(g.size + 5)})
    report = shipper.verify(require=lambda r: False)
    assert [p.keys[0] for p in report.corrupt] == [key]


def test_wrong_bytes_match_nothing(world: World, shipper: Shipper) -> None:
    g = world.generations()[0]
    data = bytearray(g.read())
    data[12345] ^= 1
    shipper.put(g, 0, g.size, data=bytes(data))
    report = shipper.verify(require=lambda r: r.truth_id == g.truth_id)
    (problem,) = report.unmatched
    assert "match no truth" in problem.detail
    assert g.truth_id in [m.truth_id for m in report.missing]
    assert report.failures == [f for f in report.failures if f.startswith("missing: #1 ")]


def test_log_file_must_be_one_of_the_generation_names(world: World, shipper: Shipper) -> None:
    g = world.generations()[0]
    shipper.ship(g, log_file="error/some-other-name")
    report = shipper.verify(require=lambda r: False)
    (problem,) = report.unmatched
    assert "do not include log-file" in problem.detail


def test_one_generation_shipped_twice_is_a_duplicate(world: World, shipper: Shipper) -> None:
    g = world.generations()[0]
    shipper.ship(g, gen_id="a" * 20)
    shipper.ship(g, gen_id="b" * 20)
    report = shipper.verify(require=lambda r: r.truth_id == g.truth_id)
    assert len(report.complete) == 1
    (problem,) = report.unmatched
    assert "duplicate of data already matched" in problem.detail


def test_identical_generations_are_assigned_one_to_one(s3: Any, bucket: str) -> None:
    world = World(seed=5)
    world.add_instance("my", "mysql", bytes_per_hour=0, general_log=False)
    world.advance(4 * 3600)
    slow = [g for g in world.generations() if g.names[0].startswith("slowquery/")]
    assert len(slow) == 5 and len({g.sha256() for g in slow}) == 1
    shipper = Shipper(s3, bucket, world)
    for i, g in enumerate(slow):
        shipper.ship(g, gen_id=f"{i:020x}")
    report = shipper.verify(require=lambda g: g.names[0].startswith("slowquery/"))
    report.assert_ok()
    assert len({m.shipped.generation for m in report.complete if m.shipped}) == 5
    # One fewer stream than truths: a required one is reported missing.
    scope = Scope(PREFIX, world.account_id, world.region, "my")
    shipper.s3.delete_object(Bucket=bucket,
                             Key=scope.data_key(f"{0:020x}", partition_day(DAY_MS), 0))
    report = shipper.verify(require=lambda g: g.names[0].startswith("slowquery/"))
    assert len(report.missing) == 1 and not report.ok


def test_instances_limits_what_is_checked(s3: Any, bucket: str) -> None:
    world = World(seed=5)
    world.add_instance("a", "postgres", bytes_per_hour=1000)
    world.add_instance("b", "postgres", bytes_per_hour=1000)
    world.advance(600)
    shipper = Shipper(s3, bucket, world)
    (ga,) = world.generations("a")
    (gb,) = world.generations("b")
    shipper.ship(ga)
    shipper.put(gb, 0, 10, data=b"not b data")
    assert not shipper.verify().ok
    report = shipper.verify(instances=["a"])
    report.assert_ok()
    assert report.objects == 1


def test_renamed_generation_matches_under_any_of_its_names(s3: Any, bucket: str) -> None:
    world = World(seed=5)
    my = world.add_instance("my", "mysql", bytes_per_hour=50_000)
    world.advance(3600 + 60)
    g = world.generations()[0]
    assert len(g.names) == 2
    shipper = Shipper(s3, bucket, world)
    cut = line_end(g, 1000)
    shipper.put(g, 0, cut, log_file=g.names[0])
    shipper.put(g, cut, g.size, log_file=g.names[1])
    report = shipper.verify(require=lambda r: r.truth_id == g.truth_id)
    report.assert_ok()
    assert my.identifier == "my"


def test_large_generation_is_compared_in_bounded_memory(s3: Any, bucket: str) -> None:
    world = World(seed=5)
    pg = world.add_instance("pg", "postgres", bytes_per_hour=0)
    rec = pg.add_file("error/big.log", 24 * 1024 * 1024)
    shipper = Shipper(s3, bucket, world)
    shipper.ship(rec, chunk=8 * 1024 * 1024)
    report = shipper.verify(require=lambda r: r.truth_id == rec.truth_id)
    report.assert_ok()
    (match,) = [m for m in report.complete if m.truth.truth_id == rec.truth_id]
    assert match.shipped_bytes == rec.size and match.shipped is not None


def test_an_object_ending_inside_a_line_is_a_split_line(world: World, shipper: Shipper) -> None:
    g = world.generations()[0]
    inside = line_end(g, 1000) - 5  # five bytes before a line feed
    shipper.put(g, 0, inside)
    shipper.put(g, inside, g.size)
    report = shipper.verify(require=lambda t: t.truth_id == g.truth_id)
    (split,) = report.split_lines
    assert (split.start, split.end) == (0, inside) and not report.ok
    assert "1 split lines" in report.summary()


def test_identical_files_of_two_instances_are_two_files_not_a_duplicate(
        s3: Any, bucket: str) -> None:
    """Issue 18: two MySQL instances whose slow logs hold only the same header are two files.
    Each shipped once, under its own instance: OK. One instance's file shipped twice (and the
    other's never): a duplicate there and a missing file in the other, not a match across."""
    world = World(seed=5)
    for ident in ("my-a", "my-b"):
        world.add_instance(ident, "mysql", bytes_per_hour=0, general_log=False)
    world.advance(600)
    (ga,) = [g for g in world.generations("my-a") if g.names[0].startswith("slowquery/")]
    (gb,) = [g for g in world.generations("my-b") if g.names[0].startswith("slowquery/")]
    assert ga.size > 0 and ga.read() == gb.read()
    is_slow = lambda g: g.names[0].startswith("slowquery/")  # noqa: E731
    shipper = Shipper(s3, bucket, world)
    shipper.ship(ga, gen_id="a" * 20)
    shipper.ship(gb, gen_id="b" * 20)
    report = shipper.verify(require=is_slow)
    report.assert_ok()
    assert {m.truth.instance for m in report.complete if is_slow(m.truth)} == {"my-a", "my-b"}

    my_b = Scope(PREFIX, world.account_id, world.region, "my-b")
    shipper.s3.delete_object(Bucket=bucket, Key=my_b.data_key("b" * 20, partition_day(DAY_MS), 0))
    shipper.ship(ga, gen_id="c" * 20)  # my-a's header again, under a second generation
    report = shipper.verify(require=is_slow)
    assert [g.instance for g in report.missing] == ["my-b"]
    (problem,) = report.unmatched
    assert problem.instance == "my-a" and "duplicate" in problem.detail
