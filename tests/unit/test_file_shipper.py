"""One file's shipping by its kind (``shipper.file_shipper``), over the in-memory fakes: the
bytes that land reassemble to the file, and each kind takes the path it should."""

from __future__ import annotations

import gzip
import threading

import pytest

from shipper.claims import Claims
from shipper.config import Settings
from shipper.continuity import judge_listing
from shipper.exceptions import DownloadMismatchError
from shipper.file_shipper import FileShipper, NeedsProof
from shipper.identity import FileJob, JobKind, make_plan
from shipper.instance_run import InstanceRun
from shipper.layout import Scope
from shipper.lease import LeaseManager
from shipper.ledger import Ledger
from shipper.listing import Listing, LogFile
from shipper.state import Generation, InstanceState, RangeCheck, Sighting
from shipper.stats import RunStats
from tests.support.fakes import FakeClock, FakeRdsApi, FakeStream, MemoryStore, ServedFile

SCOPE = Scope("rds-logs/", "123456789012", "eu-west-1", "db-1")
NAME = "error/postgresql.log.2024-01-02-03"
BODY = b"".join(f"2024-01-02 03:00:{i:02d} UTC LOG: statement {i}\n".encode()
                for i in range(80))
PORTION = "DownloadDBLogFilePortion"
REST = "DownloadCompleteLogFile"


class Shop:
    """A ledger over a MemoryStore, a fake API serving ``files``, and the run they share."""

    def __init__(self, files: dict[str, ServedFile]) -> None:
        self.store = MemoryStore()
        clock = FakeClock()
        lease = LeaseManager(self.store, "run-a", 60, clock=clock)
        held = lease.acquire(SCOPE.lease_key())
        assert held is not None
        self.ledger = Ledger(SCOPE, InstanceState("db-1", "eu-west-1", "123456789012"), None,
                             held, self.store, RunStats(), "run-a",
                             clock=clock)
        self.api = FakeRdsApi(files, page_bytes=1000)
        self.shared = InstanceRun(self.ledger, Claims(), self.api,
                                  Settings(bucket="b"), RunStats(), threading.Event())

    def ship(self, job: FileJob) -> None:
        """Ship ``job`` as a run of its own would (claims last one run)."""
        self.shared.claims = Claims()
        FileShipper(self.shared, job).run()

    def listed(self, name: str = NAME) -> LogFile:
        return next(f for f in self.api.log_files("db-1") if f.name == name)

    def shipped(self, gen: Generation) -> bytes:
        """Every object of ``gen``, in every dt partition the state lists, in offset order."""
        keys = [k for day in gen.dt_days for k in self.store.list_keys(
            SCOPE.data_key(gen.gen_id, day, 0).rsplit("/", 1)[0])]
        keys.sort(key=lambda k: k.rsplit("/", 1)[1])
        return b"".join(gzip.decompress(self.store.objects[k].body) for k in keys)

    def actions(self) -> set[str]:
        return {action for action, _, _ in self.api.calls}


def test_a_new_growing_file_ships_by_portions_and_keeps_the_last_marker() -> None:
    shop = Shop({NAME: ServedFile(BODY, hour=3)})
    gen = shop.ledger.open_generation(shop.listed(), active=True)
    shop.ship(FileJob(JobKind.KNOWN, shop.listed(), True, gen=gen))
    assert shop.shipped(gen) == BODY and gen.offset == len(BODY)
    assert (gen.marker, gen.marker_name) == (f"3:{len(BODY)}", NAME)
    assert shop.actions() == {PORTION}


def test_a_closed_file_ships_over_rest_without_asking_for_a_marker() -> None:
    shop = Shop({NAME: ServedFile(BODY)})
    gen = shop.ledger.open_generation(shop.listed(), active=False)
    shop.ship(FileJob(JobKind.KNOWN, shop.listed(), False, gen=gen))
    assert shop.shipped(gen) == BODY and gen.marker is None
    assert shop.actions() == {REST}


HELD = BODY[:3000].rfind(b"\n") + 1  # 3000 bytes end inside a line: it starts at HELD


def test_a_growing_file_holds_back_its_partial_last_line() -> None:
    shop = Shop({NAME: ServedFile(BODY[:3000], hour=3)})
    gen = shop.ledger.open_generation(shop.listed(), active=True)
    shop.ship(FileJob(JobKind.KNOWN, shop.listed(), True, gen=gen))
    assert 2000 < HELD < 3000 and gen.offset == HELD and shop.shipped(gen) == BODY[:HELD]
    assert shop.shared.stats.bytes_held_back == 3000 - HELD
    # the marker of the page the held-back line starts in (pages are 1000 bytes here)
    assert (gen.marker, gen.marker_name) == ("3:2000", NAME)
    assert gen.seen_size == 3000  # read to the listed size: the rename rule still matches


def test_a_closed_file_ships_its_partial_last_line() -> None:
    shop = Shop({NAME: ServedFile(BODY[:3000])})
    gen = shop.ledger.open_generation(shop.listed(), active=False)
    shop.ship(FileJob(JobKind.KNOWN, shop.listed(), False, gen=gen))
    assert gen.offset == 3000 and shop.shipped(gen) == BODY[:3000]
    assert shop.shared.stats.bytes_held_back == 0


def test_a_grown_file_resumes_exactly_at_its_held_back_line() -> None:
    shop = Shop({NAME: ServedFile(BODY[:3000], hour=3)})
    gen = shop.ledger.open_generation(shop.listed(), active=True)
    shop.ship(FileJob(JobKind.KNOWN, shop.listed(), True, gen=gen))
    shop.api.files[NAME] = ServedFile(BODY, hour=3, last_written_ms=1_704_164_460_000)
    shop.api.calls.clear()
    shop.ship(FileJob(JobKind.GROWN, shop.listed(), True, gen=gen))
    assert shop.shipped(gen) == BODY  # the held-back line once, whole, in the next object
    assert shop.api.calls[0] == (PORTION, NAME, "3:2000")  # its page again, bytes skipped
    assert gen.offset == len(BODY) and gen.marker == f"3:{len(BODY)}"


def test_a_grown_file_written_on_a_new_day_lands_in_that_days_partition() -> None:
    shop = Shop({NAME: ServedFile(BODY[:HELD], hour=3)})
    gen = shop.ledger.open_generation(shop.listed(), active=True)
    shop.ship(FileJob(JobKind.KNOWN, shop.listed(), True, gen=gen))
    next_day_ms = 1_704_164_400_000 + 86_400_000
    shop.api.files[NAME] = ServedFile(BODY, hour=3, last_written_ms=next_day_ms)
    shop.ship(FileJob(JobKind.GROWN, shop.listed(), True, gen=gen))
    assert gen.dt_days == ["2024-01-02", "2024-01-03"] and shop.shipped(gen) == BODY
    second = [k for k in shop.store.objects if "/dt=2024-01-03/" in k]
    assert len(second) == 1 and second[0].endswith(f"/{gen.gen_id}/{HELD:015d}.log.gz")


def grown_with_new_hour(body: bytes) -> tuple[Shop, Generation]:
    """A file shipped to 3000 under marker hour 3, now listed grown with markers of hour 4."""
    shop = Shop({NAME: ServedFile(BODY[:3000], hour=3)})
    gen = shop.ledger.open_generation(shop.listed(), active=True)
    shop.ship(FileJob(JobKind.KNOWN, shop.listed(), True, gen=gen))
    shop.api.files[NAME] = ServedFile(body, hour=4, last_written_ms=1_704_164_460_000)
    shop.api.calls.clear()
    return shop, gen


def test_a_changed_marker_hour_is_a_hint_the_content_decides() -> None:
    """The marker's hour is opaque: a changed one proves no other generation. The same bytes
    are proven by content and continued; other bytes are not this generation."""
    shop, gen = grown_with_new_hour(BODY)
    shop.ship(FileJob(JobKind.GROWN, shop.listed(), True, gen=gen))
    assert shop.shipped(gen) == BODY and REST in shop.actions()
    other = bytes(b ^ 1 if b != 10 else b for b in BODY)
    shop, gen = grown_with_new_hour(other)
    with pytest.raises(NeedsProof):
        shop.ship(FileJob(JobKind.GROWN, shop.listed(), True, gen=gen))
    assert gen.offset == HELD and not shop.shared.claims.is_taken(gen)


def test_a_grown_file_the_listing_proves_resumes_whatever_the_marker_hour() -> None:
    shop, gen = grown_with_new_hour(BODY)
    shop.ship(FileJob(JobKind.GROWN, shop.listed(), True, gen=gen, name_proves=True))
    assert shop.shipped(gen) == BODY and shop.actions() == {PORTION}
    assert gen.marker == f"4:{len(BODY)}"


def test_a_renamed_file_is_proven_by_content_and_continued() -> None:
    old = "error/postgresql.log.2024-01-02-02"
    shop = Shop({old: ServedFile(BODY[:2000])})
    gen = shop.ledger.open_generation(shop.listed(old), active=False)
    shop.ship(FileJob(JobKind.KNOWN, shop.listed(old), False, gen=gen))
    shop.api.files = {NAME: ServedFile(BODY)}
    other = Generation("ffffffffffffffffffff", "x", "x", 1, offset=1500,
                       checks=[RangeCheck(0, 1500, "0" * 64)])
    shop.ship(FileJob(JobKind.PROVE, shop.listed(), False, candidates=[gen, other]))
    assert shop.shipped(gen) == BODY and gen.name == NAME
    assert len(shop.ledger.state.generations) == 1  # no new generation


def test_a_file_no_candidate_matches_is_a_new_generation() -> None:
    shop = Shop({NAME: ServedFile(BODY)})
    stranger = Generation("eeeeeeeeeeeeeeeeeeee", "y", "y", 1, offset=100,
                          checks=[RangeCheck(0, 100, "1" * 64)])
    shop.ship(FileJob(JobKind.PROVE, shop.listed(), False, candidates=[stranger]))
    (new,) = shop.ledger.state.generations.values()
    assert new is not stranger and shop.shipped(new) == BODY and stranger.offset == 100



def test_an_empty_generation_of_a_chain_slot_writes_nothing_once_the_slot_shifted() -> None:
    """Issue 18: ``log/ERROR.2`` was listed and given a generation, then the chain shifted
    before it was read: the name now holds ``ERROR.1``'s bytes, which their own generation
    ships. Nothing is written under this one; unshifted, the same job ships the file."""
    old, shifted = BODY[:2000], BODY[2000:]
    slot = "log/ERROR.2"
    shop = Shop({slot: ServedFile(old, last_written_ms=1_704_160_000_000)})
    listed = shop.listed(slot)
    gen = shop.ledger.open_generation(listed, active=False)
    shop.api.files[slot] = ServedFile(shifted, last_written_ms=1_704_163_600_000)
    with pytest.raises(DownloadMismatchError):
        shop.ship(FileJob(JobKind.KNOWN, listed, False, gen=gen))
    assert gen.offset == 0 and not shop.store.list_keys(SCOPE.prefix + "data/")
    assert ("DescribeDBLogFiles", "log/ERROR", None) in shop.api.calls
    shop.api.files[slot] = ServedFile(old, last_written_ms=1_704_160_000_000)
    shop.ship(FileJob(JobKind.KNOWN, listed, False, gen=gen))
    assert shop.shipped(gen) == old



def test_an_empty_generation_of_a_running_file_is_forgotten_once_the_file_rotated() -> None:
    """Issue 18's known limit B: ``mysql-slowquery.log`` was listed and given a generation,
    then rotated before it was read: the name holds a new file, the listed one is
    ``….log.2``. Nothing is written, and the generation (which names the rotated file's
    Size and LastWritten) is forgotten, so the next listing cannot hand that file to it by
    the rename rule. Unrotated, the same job ships the file."""
    running, rotated = "slowquery/mysql-slowquery.log", "slowquery/mysql-slowquery.log.2"
    cut = BODY.rfind(b"\n", 0, 2000) + 1
    old, new = BODY[:cut], BODY[cut:cut + 300]
    shop = Shop({running: ServedFile(old, last_written_ms=1_704_160_000_000)})
    listed = shop.listed(running)
    shop.api.files = {running: ServedFile(new, last_written_ms=1_704_163_600_000),
                      rotated: ServedFile(old, last_written_ms=1_704_160_000_000)}
    with pytest.raises(DownloadMismatchError):
        shop.ship(FileJob(JobKind.NEW, listed, True))
    assert not shop.store.list_keys(SCOPE.prefix + "data/")
    assert ("DescribeDBLogFiles", "slowquery/mysql-slowquery.log", None) in shop.api.calls
    assert shop.ledger.state.generations == {}, "the generation of the rotated file was kept"
    shop.api.files = {running: ServedFile(old, last_written_ms=1_704_160_000_000)}
    shop.ship(FileJob(JobKind.NEW, listed, True))
    (gen,) = shop.ledger.state.generations.values()
    assert shop.shipped(gen) == old


class _BrokenStreams(FakeRdsApi):
    """Every complete-file download of ``broken`` breaks mid-stream (a dropped connection)."""

    def __init__(self, files: dict[str, ServedFile], broken: str) -> None:
        super().__init__(files)
        self.broken = broken

    def open_complete(self, instance: str, name: str) -> FakeStream:
        if name == self.broken:
            self.calls.append((REST, name, None))
            raise ConnectionError("injected: the connection dropped")
        return super().open_complete(instance, name)


def test_a_proof_that_failed_leaves_its_candidate_to_the_next_file() -> None:
    """Found by the property suite at 10x: MySQL's running error log was shipped to 6,167
    bytes, then rotated to its hour's name. The next run lists both names, and both may be
    the shipped generation; content decides, the running name first. Its stream broke, so
    that proof decided nothing: the hour's file must still be proven and continued, not
    shipped again from 0 under a new generation (a duplicate)."""
    running = "error/mysql-error-running.log"
    rotated = f"{running}.2024-01-02.03"
    cut = BODY.rfind(b"\n", 0, 2000) + 1
    shop = Shop({running: ServedFile(BODY[:cut], hour=3, last_written_ms=1_704_164_000_000)})
    shop.ship(FileJob(JobKind.NEW, shop.listed(running), True))
    (gen,) = shop.ledger.state.generations.values()
    next_hour = b"2024-01-02 04:00:01 UTC [Note] a new hour\n"
    shop.api = _BrokenStreams({
        running: ServedFile(next_hour, hour=4, last_written_ms=1_704_164_460_000),
        rotated: ServedFile(BODY, hour=3, last_written_ms=1_704_164_399_999)}, broken=running)
    shop.shared.api = shop.api  # type: ignore[assignment]
    plan = make_plan(shop.ledger.state, shop.api.log_files("db-1"))
    assert [(j.name, j.candidates) for j in plan.proofs] == [(running, [gen]), (rotated, [gen])]
    shop.shared.claims = Claims()  # one run: the proofs share its claims, one after another
    shop.shared.settings = Settings(bucket="b", max_attempts=1)
    with pytest.raises(ConnectionError):
        FileShipper(shop.shared, plan.proofs[0]).run()
    FileShipper(shop.shared, plan.proofs[1]).run()
    assert shop.shipped(gen) == BODY and gen.name == rotated
    assert list(shop.ledger.state.generations) == [gen.gen_id], "shipped again as a new one"


class _Families(FakeRdsApi):
    """Family listings (``log_files_like``) answer ``answers`` in turn (None: the files as
    served), then the files as served."""

    def __init__(self, files: dict[str, ServedFile],
                 answers: list[list[LogFile] | None]) -> None:
        super().__init__(files)
        self.answers = answers

    def log_files_like(self, instance: str, text: str) -> Listing:
        served = super().log_files_like(instance, text)
        answer = self.answers.pop(0) if self.answers else None
        return served if answer is None else Listing(answer, getattr(answer, "complete", True))


RUNNING = "slowquery/mysql-slowquery.log"


def shop_with_families(answers: list[list[LogFile] | None], **settings: int) -> Shop:
    shop = Shop({})
    shop.api = _Families({RUNNING: ServedFile(BODY[:HELD], last_written_ms=1_704_160_000_000)},
                         answers)
    shop.shared.api = shop.api  # type: ignore[assignment]
    shop.shared.settings = Settings(bucket="b", **settings)
    return shop


def test_an_empty_family_listing_is_asked_again_before_it_is_believed() -> None:
    """DescribeDBLogFiles is sometimes empty for a moment (FIDELITY.md row 13). Believed, the
    name check before a running file's first object would take the file for rotated away and
    ship nothing this run."""
    shop = shop_with_families([[]])
    shop.ship(FileJob(JobKind.NEW, shop.listed(RUNNING), True))
    (gen,) = shop.ledger.state.generations.values()
    assert shop.shipped(gen) == BODY[:HELD]
    assert shop.api.calls.count(("DescribeDBLogFiles", RUNNING, None)) == 2


def test_an_incomplete_family_listing_cannot_tell_and_nothing_is_written() -> None:
    """A family listing that ended on an empty page (``rdsapi._Pages.ended_empty``) may
    leave out the file the name was handed to: the name check cannot tell, as with an
    empty one, and the file is left for the next listing."""
    shop = shop_with_families([])
    cut = Listing(shop.api.log_files_like("db-1", RUNNING), complete=False)
    shop.api.answers = [cut]
    with pytest.raises(DownloadMismatchError, match="empty or incomplete"):
        shop.ship(FileJob(JobKind.NEW, shop.listed(RUNNING), True))
    assert not [k for k in shop.store.objects if "/data/" in k]
    assert [d.reason for d in shop.shared.deferrals.all()] == ["listing-empty"]


def test_a_generation_whose_write_may_be_durable_is_kept_when_its_name_rotated() -> None:
    """The first object of a running file's new generation was written, but the answer was
    lost (it may be durable); the stream is read again, and by then the file rotated. The
    generation stays in the state, for the next run to adopt that object: forgotten, the
    object would name no known generation and its bytes would be shipped again."""
    rotated = [LogFile(RUNNING, 300, 1_704_163_600_000),
               LogFile(f"{RUNNING}.2", HELD, 1_704_160_000_000)]
    shop = shop_with_families([None, rotated], portion_max_mib=0, max_attempts=2)
    shop.store.fail_data_writes, shop.store.store_failed_writes = 1, True
    with pytest.raises(DownloadMismatchError):
        shop.ship(FileJob(JobKind.NEW, shop.listed(RUNNING), True))
    (gen,) = shop.ledger.state.generations.values()
    assert gen.offset == 0 and shop.shipped(gen) == BODY[:HELD]  # durable, not recorded
    assert shop.ledger.close(stopped=False, lease_etag=shop.ledger.lease.etag)
    assert not shop.ledger.state.last_run_clean, "the next run would not look for the object"


def test_a_proof_read_from_a_shifted_slot_mints_nothing_that_outlives_it() -> None:
    """Found by the property suite at 10x (O): SQL Server's agent log was shipped to 3 MB
    under ``log/SQLAGENT.OUT``, then cycled. A run listed it as ``log/SQLAGENT.3`` and had
    it proven by content, but the chain shifted before the stream: ``.3`` held another
    file, the proof failed, and a new generation was minted with the listed (Size,
    LastWritten). Kept when the name check found the slot shifted, it was handed that file
    at its next slot by the rename rule, and the 3 MB were shipped again. A generation
    minted after a failed proof is forgotten instead: the next listing proves the file."""
    agent, slot3, slot4 = "log/SQLAGENT.OUT", "log/SQLAGENT.3", "log/SQLAGENT.4"
    cut = BODY.rfind(b"\n", 0, 2000) + 1
    shop = Shop({agent: ServedFile(BODY[:cut], last_written_ms=1_704_160_000_000)})
    shop.ship(FileJob(JobKind.NEW, shop.listed(agent), True))
    (gen,) = shop.ledger.state.generations.values()
    cycled = ServedFile(BODY, last_written_ms=1_704_160_200_000)  # closed, a little longer
    later = ServedFile(b"2024-01-02 05:00:00 another agent log\n" * 20,
                       last_written_ms=1_704_167_000_000)
    listed = LogFile(slot3, len(BODY), cycled.last_written_ms)
    shop.api.files = {slot3: later, slot4: cycled}  # shifted between listing and stream
    with pytest.raises(DownloadMismatchError):
        shop.ship(FileJob(JobKind.PROVE, listed, False, candidates=[gen]))
    assert list(shop.ledger.state.generations) == [gen.gen_id], "the stale mint was kept"
    plan = make_plan(shop.ledger.state, shop.api.log_files("db-1"))
    (job,) = [j for j in plan.jobs if j.name == slot4]
    shop.ship(job)
    assert shop.shipped(gen) == BODY and gen.name == slot4


GENERAL = "general/mysql-general.log"  # a running name: handed to the next file each hour
HOUR_3_MS = 1_704_164_000_000
NEXT_HOUR = b"2024-01-02 04:00:01 UTC Query select 1\n" * 100


def general_log_shipped_in_hour_3() -> tuple[Shop, Generation, LogFile]:
    """MySQL's general log shipped to its held-back line in hour 3, then listed grown."""
    shop = Shop({GENERAL: ServedFile(BODY[:3000], hour=3, last_written_ms=HOUR_3_MS)})
    shop.ship(FileJob(JobKind.NEW, shop.listed(GENERAL), True))
    (gen,) = shop.ledger.state.generations.values()
    shop.api.files[GENERAL] = ServedFile(BODY, hour=3, last_written_ms=HOUR_3_MS + 300_000)
    listed = shop.listed(GENERAL)
    shop.api.calls.clear()
    return shop, gen, listed


def rotate_general_log(shop: Shop) -> None:
    shop.api.files = {GENERAL: ServedFile(NEXT_HOUR, hour=4, last_written_ms=HOUR_3_MS + 4e6),
                      f"{GENERAL}.3": shop.api.files[GENERAL]}


def test_pages_continued_on_a_stale_listing_are_not_written() -> None:
    """Found by the property suite at 10x (R): the listing proved that the general log's
    name still held the generation (no rotated file yet), so paging went on although the
    first page came back with another marker hour. The file had rotated after the listing:
    the hour-4 file's bytes were appended to the hour-3 generation. A listing made after the
    pages were read must agree before they are written."""
    shop, gen, listed = general_log_shipped_in_hour_3()
    rotate_general_log(shop)
    with pytest.raises(DownloadMismatchError, match="rotated after it was listed"):
        shop.ship(FileJob(JobKind.GROWN, listed, True, gen=gen, name_proves=True))
    assert gen.offset == HELD and shop.shipped(gen) == BODY[:HELD]
    assert shop.shared.claims.accounted_for(gen), "not missing: its file is listed next run"


def test_a_marker_hour_the_listing_overrules_costs_one_family_listing() -> None:
    """The hour is only a hint (it may be the request's hour): with no rotation since the
    listing, the pages are the generation's. Checking costs one DescribeDBLogFiles, and only
    when the hour differs."""
    shop, gen, listed = general_log_shipped_in_hour_3()
    shop.api.files[GENERAL].hour = 4
    shop.ship(FileJob(JobKind.GROWN, listed, True, gen=gen, name_proves=True))
    assert shop.shipped(gen) == BODY
    assert [c[0] for c in shop.api.calls].count("DescribeDBLogFiles") == 1
    shop, gen, listed = general_log_shipped_in_hour_3()
    shop.ship(FileJob(JobKind.GROWN, listed, True, gen=gen, name_proves=True))
    assert shop.shipped(gen) == BODY
    assert "DescribeDBLogFiles" not in shop.actions()


def test_a_grown_file_that_is_not_its_generation_after_a_rotation_is_not_a_loss() -> None:
    """Found by the property suite at 10x: MySQL's error log, listed grown, rotated before it
    was read; the file under its name failed the content proof. Its generation was then
    left unclaimed and, no listed file having proven it, counted lost (1,166 bytes) although
    it was only under a name this run's listing did not show yet."""
    shop, gen, listed = general_log_shipped_in_hour_3()
    rotate_general_log(shop)
    with pytest.raises(DownloadMismatchError, match="rotated after it was listed"):
        shop.ship(FileJob(JobKind.GROWN, listed, True, gen=gen, name_proves=True))
    assert shop.shared.claims.accounted_for(gen)
    assert list(shop.ledger.state.generations) == [gen.gen_id]
    assert gen.max_listed == len(BODY), "a loss of the rotated file would be counted in full"


SLOT = "slowquery/mysql-slowquery.log.6"
DAY_MS = 86_400_000


def slow_lines(day: int, count: int) -> bytes:
    return b"".join(f"# Time: 2024-01-0{day}T06:{i % 60:02d}:00Z\nSELECT {i};\n".encode()
                    for i in range(count))


def test_a_reused_slot_left_for_the_next_listing_is_not_its_old_generations_size() -> None:
    """Found in CI (the long property draw, seed 351): MySQL's slow log ``.6`` of day 2 was
    listed larger than day 1's, so the plan took it for day 1's generation grown. Its proof
    failed and the name check's family listing came back empty, so the file was left for the
    next listing, and day 1's generation was handed the new file's Size. The next run
    proved the file new, day 1's generation (shipped in full) went missing, and the
    difference between the two days' sizes was recorded as a gap that lost nothing."""
    day1, day2 = slow_lines(1, 200), slow_lines(2, 201)
    shop = Shop({})
    running = ServedFile(slow_lines(2, 3), last_written_ms=1_704_164_400_000 + DAY_MS + 60_000)
    shop.api = _Families({RUNNING: running,
                          SLOT: ServedFile(day1, last_written_ms=1_704_164_400_000)}, [])
    shop.shared.api = shop.api  # type: ignore[assignment]
    shop.ship(FileJob(JobKind.NEW, shop.listed(SLOT), False))
    (gen,) = shop.ledger.state.generations.values()
    assert shop.shipped(gen) == day1 and gen.max_listed == len(day1)
    shop.api.files[SLOT] = ServedFile(day2, last_written_ms=1_704_164_400_000 + DAY_MS)
    shop.api.answers = [[], []]  # the name check's family listing, asked twice, is empty
    plan = make_plan(shop.ledger.state, shop.api.log_files("db-1"))
    (job,) = [j for j in plan.jobs if j.name == SLOT]
    assert job.kind is JobKind.GROWN and job.gen is gen and not job.name_proves
    with pytest.raises(DownloadMismatchError, match="listing came back empty"):
        shop.ship(job)
    assert gen.max_listed == len(day1), "day 2's Size was taken for day 1's generation"
    assert shop.shared.claims.accounted_for(gen)


def test_an_empty_generation_a_grown_file_was_planned_as_outlives_its_rotation() -> None:
    """Found by the property suite at 10x (Q2): SQL Server's ``log/ERROR`` was known only by
    an empty generation, listed grown, and cycled before it was read; ``ERROR.1``, fully
    shipped, was pushed out of the chain (one archive kept). Forgotten, the empty generation
    no longer told the family's continuity that the new ``ERROR.1`` is the file it became:
    with the shipped file gone, the next run warned of a suspected gap. An earlier listing
    recorded it, so it hands no other file to it: it is kept."""
    error, slot = "log/ERROR", "log/ERROR.1"
    t0 = 1_704_164_400_000
    shop = Shop({slot: ServedFile(BODY[:2000], last_written_ms=t0 - 600_000),
                 error: ServedFile(BODY[:1000], last_written_ms=t0)})
    shop.ship(FileJob(JobKind.NEW, shop.listed(slot), False))
    empty = shop.ledger.open_generation(shop.listed(error), active=True)
    shop.api.files[error] = ServedFile(BODY, last_written_ms=t0 + 1_200_000)
    grown = FileJob(JobKind.GROWN, shop.listed(error), True, gen=empty)
    shop.api.files = {error: ServedFile(BODY[:500], last_written_ms=t0 + 3_700_000),
                      slot: shop.api.files[error]}  # cycled; the old ERROR.1 pushed out
    with pytest.raises(DownloadMismatchError):
        shop.ship(grown)
    assert empty.gen_id in shop.ledger.state.generations and empty.offset == 0
    assert shop.shared.claims.accounted_for(empty)
    state = shop.ledger.state
    listing = shop.api.log_files("db-1")
    known = list(state.generations.values())
    breaks, _ = judge_listing(state, known, make_plan(state, listing), listing)
    assert not breaks and not state.pending_breaks, "the family looks broken"


def test_a_header_proven_on_a_stale_listing_proves_nothing() -> None:
    """A slow log that held only the engine's header, with no marker to resume by, is proven
    by its header only because the listing showed no rotation of its name. Rotated after the
    listing, the next file starts with the same header: its queries must not be appended."""
    slow = "slowquery/mysql-slowquery.log"
    header = (b"/rdsdbbin/oscar/bin/mysqld, Version: 8.0.39 (Source). started with:\n"
              b"Tcp port: 3306  Unix socket: /tmp/mysql.sock\n"
              b"Time                 Id Command    Argument\n")
    shop = Shop({slow: ServedFile(header, hour=3, last_written_ms=HOUR_3_MS)})
    shop.ship(FileJob(JobKind.NEW, shop.listed(slow), True))
    (gen,) = shop.ledger.state.generations.values()
    assert gen.header_only
    gen.marker = None  # say, its marker was lost with a crashed run's commit
    shop.api.files[slow] = ServedFile(header + BODY, last_written_ms=HOUR_3_MS + 300_000)
    grown = FileJob(JobKind.GROWN, shop.listed(slow), True, gen=gen, header_proves=True,
                    name_proves=True)
    shop.api.files = {slow: ServedFile(header + NEXT_HOUR, last_written_ms=HOUR_3_MS + 4e6),
                      f"{slow}.3": shop.api.files[slow]}
    with pytest.raises(DownloadMismatchError, match="rotated after it was listed"):
        shop.ship(grown)
    assert shop.shipped(gen) == header and gen.offset == len(header)


def test_a_generation_taken_back_at_a_rotation_leaves_a_sighting_of_its_file() -> None:
    """A new running file's generation is taken back when its name rotated before its first
    object (its listed entry is the rotated file's, which the next listing decides afresh).
    What that listing showed stays, for continuity to know the family had the file."""
    shop = Shop({GENERAL: ServedFile(BODY, hour=3, last_written_ms=HOUR_3_MS)})
    listed = shop.listed(GENERAL)
    rotate_general_log(shop)
    with pytest.raises(DownloadMismatchError, match="rotated after it was listed"):
        shop.ship(FileJob(JobKind.NEW, listed, True))
    state = shop.ledger.state
    assert state.generations == {}
    assert state.unread == [Sighting(GENERAL, len(BODY), HOUR_3_MS)]
