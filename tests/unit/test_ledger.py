"""The exactly-once protocol (``shipper.ledger``) against an in-memory S3: intent before data,
at most one uncommitted object per generation, clean and unclean ends, adoption after a crash."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from shipper.adoption import adopt_dangling, adopt_object
from shipper.exceptions import DataObjectTakenError, LeaseLostError
from shipper.instance_identity import follow_rename
from shipper.layout import Scope, data_metadata, partition_day
from shipper.lease import LeaseManager
from shipper.ledger import Ledger, record_object, record_sighting
from shipper.listing import LogFile
from shipper.state import Generation, InstanceState, RangeCheck
from shipper.stats import RunStats
from shipper.transfer import ObjectBuilder, SealedObject
from tests.support.fakes import FakeClock, MemoryStore

# --- adopting an object a crashed run wrote after its last commit -------------------------------

HEADER = b"/rdsdbbin/oscar/bin/mysqld, Version: 8.0.39 (Source). started with:\n" \
    b"Tcp port: 3306  Unix socket: /tmp/mysql.sock\nTime                 Id Command    Argument\n"
SCOPE = Scope("rds-logs/", "123456789012", "eu-west-1", "db-1")


def _gen(name: str = "general/mysql-general.log") -> Generation:
    return Generation("0123456789abcdef0123", name, name, 1_000, active=True)


def _meta(name: str, start: int, data: bytes, marker: str | None) -> dict[str, str]:
    return data_metadata(SCOPE, name, "0123456789abcdef0123", start, start + len(data),
                         hashlib.sha256(data).hexdigest(), marker)


def test_an_adopted_header_is_header_only_and_resumable_by_its_marker() -> None:
    gen = _gen()
    adopt_object(gen, HEADER, _meta(gen.name, 0, HEADER, f"0:{len(HEADER)}"))
    assert (gen.offset, gen.header_only) == (len(HEADER), True)
    assert (gen.marker, gen.marker_name) == (f"0:{len(HEADER)}", gen.name)
    assert gen.checks[0] == RangeCheck(0, len(HEADER), hashlib.sha256(HEADER).hexdigest())


def test_an_adopted_object_past_the_header_is_not_header_only() -> None:
    gen = _gen()
    adopt_object(gen, HEADER, _meta(gen.name, 0, HEADER, None))
    query = b"2024-01-02T00:07:00.000000Z 12 Query SELECT 1\n"
    adopt_object(gen, query, _meta(gen.name, len(HEADER), query, None))
    assert (gen.offset, gen.header_only) == (len(HEADER) + len(query), False)
    assert (gen.marker, gen.marker_name) == (None, None)  # REST objects carry no marker
    assert gen.checks[-1] == RangeCheck(len(HEADER), gen.offset,
                                        hashlib.sha256(query).hexdigest())


def test_a_log_line_is_not_a_header() -> None:
    gen = _gen()
    line = b"2024-01-02T00:07:00.000000Z 12 Query SELECT 1\n"
    adopt_object(gen, line, _meta(gen.name, 0, line, "0:47"))
    assert gen.header_only is False


def test_an_adopted_marker_names_the_file_it_was_read_under() -> None:
    """A crashed run may have followed a rename its state never recorded: the marker belongs
    to the new name. A name cut to fit S3 metadata stands for the generation's own name."""
    renamed = _gen()
    adopt_object(renamed, HEADER, _meta("general/mysql-general.log.0", 0, HEADER, "0:10"))
    assert renamed.marker_name == "general/mysql-general.log.0"
    long_name = "general/" + "x" * 3000
    cut = _gen(long_name)
    adopt_object(cut, HEADER, _meta(long_name, 0, HEADER, "0:10"))
    assert cut.marker_name == long_name


# --- the protocol, over an in-memory S3 -------------------------------------------------------

TAIL = f"3:{len(HEADER) + 10}"
LISTED = LogFile("error/postgresql.log.2024-01-02-03", 5_000, 1_704_164_400_000)


def ledger_of(store: MemoryStore, clock: FakeClock, holder: str = "run-a",
              ttl: float = 60.0) -> tuple[Ledger, LeaseManager]:
    leases = LeaseManager(store, holder, ttl, clock=clock)
    lease = leases.acquire(SCOPE.lease_key())
    assert lease is not None
    stored = store.get(SCOPE.state_key())
    state = InstanceState.from_bytes(stored.body, "s") if stored else \
        InstanceState(SCOPE.instance, SCOPE.region, SCOPE.account)
    ledger = Ledger(SCOPE, state, stored.etag if stored else None, lease,
                    store, RunStats(), holder, clock=clock)
    return ledger, leases


def committed(store: MemoryStore) -> InstanceState:
    stored = store.get(SCOPE.state_key())
    assert stored is not None
    return InstanceState.from_bytes(stored.body, "s")


def sealed(start: int, data: bytes, marker: str | None = None) -> SealedObject:
    builder = ObjectBuilder(start)
    builder.feed(data)
    return builder.seal(marker)


def data_keys(store: MemoryStore) -> list[str]:
    return store.list_keys(SCOPE.data_prefix())


def test_a_new_generation_is_committed_before_any_of_its_data() -> None:
    store, clock = MemoryStore(), FakeClock()
    ledger, _ = ledger_of(store, clock)
    gen = ledger.open_generation(LISTED, active=True)
    assert data_keys(store) == []
    stored = committed(store).generations[gen.gen_id]
    assert (stored.offset, stored.seen_size, stored.name) == (0, 5_000, LISTED.name)


def test_a_second_object_of_a_generation_commits_the_first_before_it_is_written() -> None:
    store, clock = MemoryStore(), FakeClock()
    ledger, _ = ledger_of(store, clock)
    gen = ledger.open_generation(LISTED, active=True)
    ledger.write_object(gen, LISTED.name, sealed(0, b"a" * 100), LISTED.name,
                        LISTED.last_written_ms)
    assert committed(store).generations[gen.gen_id].offset == 0  # durable, not committed
    ledger.write_object(gen, LISTED.name, sealed(100, b"b" * 50), LISTED.name,
                        LISTED.last_written_ms)
    assert committed(store).generations[gen.gen_id].offset == 100  # the first, committed
    assert len(data_keys(store)) == 2 and gen.offset == 150


class _SlowStateStore(MemoryStore):
    """A store whose next state write runs ``during`` in another thread first, as a parallel
    file job would while the PUT is in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.during: Callable[[], None] | None = None
        self.finished_during_put = False

    def put_conditional(self, key: str, body: bytes, etag: str | None,
                        content_type: str = "application/json") -> str:
        if self.during is not None:
            job, self.during = threading.Thread(target=self.during), None
            job.start()
            job.join(timeout=5)
            self.finished_during_put = not job.is_alive()
        return super().put_conditional(key, body, etag, content_type)


def test_file_jobs_record_objects_while_a_commit_is_in_flight() -> None:
    """The ledger's lock is not held across the state PUT; an object recorded during it is
    not in the body being written, so it stays uncommitted and its generation's next object
    commits it first."""
    store, clock = _SlowStateStore(), FakeClock()
    ledger, _ = ledger_of(store, clock)
    first = ledger.open_generation(LISTED, active=True)
    other = ledger.open_generation(LogFile("error/postgresql.log.2024-01-02-04", 900,
                                           LISTED.last_written_ms), active=True)
    ledger.write_object(first, LISTED.name, sealed(0, b"a" * 100), LISTED.name,
                        LISTED.last_written_ms)
    store.during = lambda: ledger.write_object(
        other, other.name, sealed(0, b"o" * 40), other.name, LISTED.last_written_ms)
    ledger.write_object(first, LISTED.name, sealed(100, b"b" * 50), LISTED.name,
                        LISTED.last_written_ms)  # commits ``first``'s object before it
    assert store.finished_during_put
    assert committed(store).generations[other.gen_id].offset == 0  # written after the body
    ledger.write_object(other, other.name, sealed(40, b"p" * 10), other.name,
                        LISTED.last_written_ms)
    assert committed(store).generations[other.gen_id].offset == 40


def test_what_is_recorded_while_the_identity_is_confirmed_waits_for_the_next_commit() -> None:
    """The confirmation covers only reads answered before it was asked: an object recorded
    during its round trip (its bytes read meanwhile, maybe from another instance if the
    identifier just moved) is not in the state that confirmation lets through."""
    store, clock = MemoryStore(), FakeClock()
    ledger, _ = ledger_of(store, clock)
    gen = ledger.open_generation(LISTED, active=True)

    def confirm_while_a_job_records() -> None:
        with ledger.changing():
            record_object(gen, sealed(0, b"abc\n"), LISTED.name)

    ledger.before_commit = confirm_while_a_job_records
    ledger.commit()
    assert committed(store).generations[gen.gen_id].offset == 0
    ledger.before_commit = lambda: None
    ledger.commit_if_changed()
    assert committed(store).generations[gen.gen_id].offset == 4


def test_a_commit_under_the_ledgers_lock_is_refused() -> None:
    ledger, _ = ledger_of(MemoryStore(), FakeClock())
    with ledger.lock, pytest.raises(RuntimeError, match="under the ledger's lock"):
        ledger.commit()


def test_the_final_commit_frees_the_lease_by_recording_its_etag() -> None:
    store, clock = MemoryStore(), FakeClock()
    ledger, leases = ledger_of(store, clock)
    gen = ledger.open_generation(LISTED, active=True)
    assert committed(store).closed_lease_etag is None  # a commit mid-run frees nothing
    etag = leases.retire(ledger.lease)
    assert etag is not None and ledger.close(stopped=False, lease_etag=etag)
    final = committed(store)
    assert final.closed_lease_etag == etag and final.last_run_clean
    assert gen.gen_id in final.generations
    # The next run takes the lease on that ETag without reading it; a stale ETag fails.
    assert leases.take_closed(SCOPE.lease_key(), etag) is not None
    assert leases.take_closed(SCOPE.lease_key(), etag) is None


def test_a_retired_lease_is_not_renewed() -> None:
    store, clock = MemoryStore(), FakeClock()
    ledger, leases = ledger_of(store, clock)
    etag = leases.retire(ledger.lease)
    clock.advance(1)
    leases.renew(ledger.lease)
    leases.renew_all()
    assert ledger.lease.etag == etag and store.get(SCOPE.lease_key()).etag == etag


def test_a_run_ends_clean_only_if_it_was_not_stopped() -> None:
    store, clock = MemoryStore(), FakeClock()
    ledger, _ = ledger_of(store, clock)
    gen = ledger.open_generation(LISTED, active=True)
    ledger.write_object(gen, LISTED.name, sealed(0, b"a" * 100), LISTED.name,
                        LISTED.last_written_ms)
    ledger.close(stopped=True, lease_etag=ledger.lease.etag)
    after_stop = committed(store)
    assert after_stop.generations[gen.gen_id].offset == 100 and not after_stop.last_run_clean
    ledger.close(stopped=False, lease_etag=ledger.lease.etag)  # the last run was not clean
    assert committed(store).last_run_clean


def test_a_failed_data_write_leaves_the_run_unclean_and_the_next_run_adopts_it() -> None:
    store, clock = MemoryStore(), FakeClock()
    ledger, leases = ledger_of(store, clock)
    gen = ledger.open_generation(LISTED, active=True)
    store.fail_data_writes, store.store_failed_writes = 1, True  # written, answer lost
    with pytest.raises(ConnectionError):
        ledger.write_object(gen, LISTED.name, sealed(0, HEADER + b"x" * 10, TAIL),
                            LISTED.name, LISTED.last_written_ms)
    ledger.close(stopped=False, lease_etag=ledger.lease.etag)
    leases.release(ledger.lease)
    assert not committed(store).last_run_clean and gen.offset == 0

    clock.advance(5)
    next_run, _ = ledger_of(store, clock, "run-b")
    assert adopt_dangling(next_run, store) == 1
    adopted = committed(store).generations[gen.gen_id]
    assert adopted.offset == len(HEADER) + 10 and adopted.marker == TAIL
    assert adopt_dangling(next_run, store) == 0


def test_a_stopped_runs_object_found_by_a_write_is_left_for_the_next_run_to_adopt() -> None:
    """Issue 27: a stopped run's PUT that S3 applied after this run's adoption looked for it
    (its client died after sending the body). Replacing it would be a second ObjectCreated
    event for the key: the write refuses, the run ends unclean, and the next run adopts the
    object and ships on from its end. Each key is written once."""
    store, clock = MemoryStore(), FakeClock()
    stopped, leases = ledger_of(store, clock)
    gen = stopped.open_generation(LISTED, active=True)
    late = sealed(0, HEADER + b"x" * 10, TAIL)  # the stopped run read less than we will
    key = SCOPE.data_key(gen.gen_id, partition_day(gen.first_seen_ms), 0)
    store.put_data(key, late.body, data_metadata(SCOPE, LISTED.name, gen.gen_id, 0, late.end,
                                                 late.sha256, late.marker))
    leases.release(stopped.lease)  # the late PUT landed after this run's adoption
    clock.advance(5)
    run, leases = ledger_of(store, clock, "run-b")
    gen = run.state.generations[gen.gen_id]
    with pytest.raises(DataObjectTakenError):
        run.write_object(gen, LISTED.name, sealed(0, HEADER + b"x" * 10 + b"y" * 20),
                         LISTED.name, LISTED.last_written_ms)
    assert run.close(stopped=False, lease_etag=run.lease.etag)
    leases.release(run.lease)
    assert not committed(store).last_run_clean and store.data_puts[key] == 1

    clock.advance(5)
    after, _ = ledger_of(store, clock, "run-c")
    assert adopt_dangling(after, store) == 1
    gen = after.state.generations[gen.gen_id]
    assert gen.offset == late.end
    after.write_object(gen, LISTED.name, sealed(late.end, b"y" * 20), LISTED.name,
                       LISTED.last_written_ms)
    assert all(count == 1 for count in store.data_puts.values()) and len(store.data_puts) == 2


def test_an_unreadable_dangling_object_is_not_adopted() -> None:
    store, clock = MemoryStore(), FakeClock()
    ledger, _ = ledger_of(store, clock)
    gen = ledger.open_generation(LISTED, active=True)
    key = SCOPE.data_key(gen.gen_id, partition_day(gen.first_seen_ms), 0)
    store.put_data(key, sealed(0, b"abc").body, {"end-offset": "999"})
    assert adopt_dangling(ledger, store) == 0 and gen.offset == 0


def test_no_commit_once_the_lease_expired() -> None:
    store, clock = MemoryStore(), FakeClock()
    ledger, _ = ledger_of(store, clock, ttl=10)
    gen = ledger.open_generation(LISTED, active=True)
    clock.advance(11)
    with pytest.raises(LeaseLostError):
        ledger.write_object(gen, LISTED.name, sealed(0, b"a"), LISTED.name,
                            LISTED.last_written_ms)
    assert not ledger.close(stopped=False, lease_etag=ledger.lease.etag)  # lease gone
    assert committed(store).generations[gen.gen_id].offset == 0 and not data_keys(store)


def test_a_state_changed_by_another_run_loses_the_lease() -> None:
    store, clock = MemoryStore(), FakeClock()
    ledger, _ = ledger_of(store, clock)
    ledger.open_generation(LISTED, active=True)
    other = committed(store)
    store.put_conditional(SCOPE.state_key(), other.to_bytes(),
                          store.objects[SCOPE.state_key()].etag)
    with pytest.raises(LeaseLostError):
        ledger.commit()
    assert ledger.lease.lost


def test_an_object_of_a_new_day_is_adopted_from_that_days_partition() -> None:
    """The day is committed before the first object under it: a crash right after that
    object leaves it where the next run looks (never a second copy under another day)."""
    store, clock = MemoryStore(), FakeClock()
    ledger, leases = ledger_of(store, clock)
    gen = ledger.open_generation(LISTED, active=True)
    first_day = partition_day(LISTED.last_written_ms)
    ledger.write_object(gen, LISTED.name, sealed(0, b"a" * 100), LISTED.name,
                        LISTED.last_written_ms)
    next_day_ms = LISTED.last_written_ms + 86_400_000
    ledger.write_object(gen, LISTED.name, sealed(100, b"b\n" * 25), LISTED.name, next_day_ms)
    assert committed(store).generations[gen.gen_id].dt_days == \
        [first_day, partition_day(next_day_ms)]  # committed before the object
    leases.release(ledger.lease)  # the run dies here: the second object is not committed

    clock.advance(5)
    next_run, _ = ledger_of(store, clock, "run-b")
    assert adopt_dangling(next_run, store) == 1
    assert committed(store).generations[gen.gen_id].offset == 150
    assert [k.split("/dt=")[1][:10] for k in data_keys(store)] == \
        [first_day, partition_day(next_day_ms)]


def test_a_complete_read_below_the_listed_size_leaves_no_listed_byte_unshipped() -> None:
    """A filtered MySQL error log: a REST download ends below the listed Size. Everything
    listed so far was read; a file that later vanishes counts no gap for the hidden bytes."""
    gen = Generation("a" * 20, "error/mysql-error-running.log", "x", 1, offset=600)
    listed = LogFile("error/mysql-error-running.log", 1000, 1_704_164_400_000)
    record_sighting(gen, listed, active=True, read_end=600, read_whole=True)
    assert gen.ended_below_listed and gen.seen_size == 600 and gen.max_listed == 600
    # paging stopped below it: no such conclusion
    record_sighting(gen, listed, active=True, read_end=600)
    assert not gen.ended_below_listed and gen.max_listed == 1000


def test_after_a_rename_the_next_object_goes_under_the_new_identifier_once_committed() -> None:
    """A generation's objects are under the identifier they were written as; the first object
    under a new identifier is committed first (like a new day), so an adoption after a crash
    looks for it where it was written."""
    store, clock = MemoryStore(), FakeClock()
    before = Scope(SCOPE.prefix, SCOPE.account, SCOPE.region, "db-1", "db-RESOURCE")
    after = Scope(SCOPE.prefix, SCOPE.account, SCOPE.region, "db-1-renamed", "db-RESOURCE")
    leases = LeaseManager(store, "run-a", 60.0, clock=clock)

    def ledger_for(scope: Scope, holder: str) -> tuple[Ledger, InstanceState]:
        stored = store.get(scope.state_key())
        state = InstanceState.from_bytes(stored.body, "s") if stored else \
            InstanceState(scope.instance, scope.region, scope.account)
        lease = leases.acquire(scope.lease_key()) if stored is None else \
            leases.take_closed(scope.lease_key(), state.closed_lease_etag or "")
        assert lease is not None
        return Ledger(scope, state, stored.etag if stored else None, lease, store,
                      RunStats(), holder, clock=clock), state

    ledger, _ = ledger_for(before, "run-a")
    gen = ledger.open_generation(LISTED, active=True)
    ledger.write_object(gen, LISTED.name, sealed(0, b"a" * 100), LISTED.name,
                        LISTED.last_written_ms)
    assert ledger.close(stopped=False, lease_etag=leases.retire(ledger.lease))
    ledger, state = ledger_for(after, "run-b")
    state.generations[gen.gen_id].written_as = "db-1"  # as ledger.keep_partitions
    state.instance = after.instance
    ledger.write_object(state.generations[gen.gen_id], LISTED.name, sealed(100, b"b" * 50),
                        LISTED.name, LISTED.last_written_ms)
    stored = store.get(after.state_key())
    assert stored is not None
    assert InstanceState.from_bytes(stored.body, "s").generations[gen.gen_id].written_as \
        == "db-1-renamed", "committed before the object"
    assert len(store.list_keys(before.data_prefix())) == 1
    new_keys = store.list_keys(after.data_prefix())
    assert len(new_keys) == 1 and new_keys[0].endswith("/000000000000100.log.gz")
    assert store.objects[new_keys[0]].metadata["db-instance"] == "db-1-renamed"
    assert store.objects[new_keys[0]].metadata["db-resource-id"] == "db-RESOURCE"
    # A crash now: the next holder adopts the object where it was written.
    crashed = InstanceState.from_bytes(stored.body, "s")
    adopter = Ledger(after, crashed, stored.etag, ledger.lease, store,
                     RunStats(), "run-c", clock=clock)
    assert adopt_dangling(adopter, store) == 1 and crashed.generations[gen.gen_id].offset == 150


@dataclass
class _CrashedBeforeRename:
    store: MemoryStore
    after: Scope
    state: InstanceState  # the last committed state, as the next run loads it
    gen_id: str
    former: str | None  # what follow_rename returned
    adopter: Ledger  # the next run's ledger under the new identifier


def _crash_then_rename(old: str, new: str, *bodies: bytes) -> _CrashedBeforeRename:
    """A run under ``old`` writes one object per body (only the last is left uncommitted:
    the run dies), then the instance is renamed to ``new`` and the next run loads."""
    store, clock = MemoryStore(), FakeClock()
    before = Scope(SCOPE.prefix, SCOPE.account, SCOPE.region, old, "db-RESOURCE")
    after = Scope(SCOPE.prefix, SCOPE.account, SCOPE.region, new, "db-RESOURCE")
    leases = LeaseManager(store, "run-a", 60.0, clock=clock)
    lease = leases.acquire(before.lease_key())
    assert lease is not None
    ledger = Ledger(before, InstanceState(old, before.region, before.account), None,
                    lease, store, RunStats(), "run-a", clock=clock)
    gen = ledger.open_generation(LISTED, active=True)  # the intent is committed
    start = 0
    for body in bodies:
        ledger.write_object(gen, LISTED.name, sealed(start, body), LISTED.name,
                            LISTED.last_written_ms)
        start += len(body)
    stored = store.get(before.state_key())
    assert stored is not None
    state = InstanceState.from_bytes(stored.body, "s")
    former = follow_rename(state, after)  # the next run sees the new identifier
    adopter = Ledger(after, state, stored.etag, lease, store,
                     RunStats(), "run-b", clock=clock)
    return _CrashedBeforeRename(store, after, state, gen.gen_id, former, adopter)


def test_an_object_a_crashed_run_wrote_before_a_rename_is_adopted_where_it_was_written(
        ) -> None:
    crash = _crash_then_rename("db-1", "db-1-renamed", b"a" * 100, b"b" * 50)
    assert crash.state.generations[crash.gen_id].offset == 100
    assert crash.former == "db-1"
    assert adopt_dangling(crash.adopter, crash.store) == 1
    assert crash.state.generations[crash.gen_id].offset == 150
    assert crash.store.list_keys(crash.after.data_prefix()) == [], "nothing written twice"


def test_the_first_object_of_a_generation_a_crashed_run_wrote_before_a_rename_is_adopted(
        ) -> None:
    """Found by the property suite at 10x (issue 24): a run wrote the first object of a
    generation and its state commit failed; a switchover then gave the instance another
    identifier. The generation had shipped nothing by the state, so the rename did not keep
    where it was written, and the next run shipped the range again under the new
    identifier (two objects of one range)."""
    crash = _crash_then_rename("db-1-green", "db-1", b"a" * 100)
    assert crash.state.generations[crash.gen_id].offset == 0
    assert crash.former == "db-1-green"
    assert adopt_dangling(crash.adopter, crash.store) == 1
    assert crash.state.generations[crash.gen_id].offset == 100
    assert crash.store.list_keys(crash.after.data_prefix()) == [], "nothing written twice"
