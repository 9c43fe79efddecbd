"""Property-based schedules: whatever happens to the logs, the API and the runs, the archive ends
up byte-for-byte right and every loss is reported.

Hypothesis generates a small world (2-4 instances of any engine, 100-200 KB/hour, some with a
retention of a few hours, small Aurora audit rotation sizes, SQL Server rename chains) and a
schedule that interleaves:

* world steps: time passing (appends, hourly rotations, MySQL ``.N`` names reused a day later,
  retention deleting files), forced rotations, long lines appended to the file being written;
* runs: in-process (optionally with S3 PutObject failures: 500, refused connection, or a lost
  answer after the object was written), a child process, a child stopped with SIGTERM or
  killed with SIGKILL right after its n-th S3 request of some kind (a data object written and
  nothing after it, a state commit, a lease write...), and two or three children at once;
  each run under a fault profile of the simulated RDS API (throttling bursts, 5xx, dropped
  connections and streams, latency, listing quirks, overlapping and short portions, small
  pages);
* identity events (issue 24: an instance is its DbiResourceId): between runs a rename (to a
  new identifier, or one another instance had), a blue/green switchover (green twins made at
  the start, ``Schedule.greens``, or deployed by a Switchover that finds no pair), an instance
  deleted and re-created under its identifier; during a run a switchover or rename fired by a
  simulator hook as a listing is asked for (``MidRun``). About one schedule in three has one.

Each schedule runs under one variant of every ambiguity the public sources leave open
(``shipper.simulator.faults.AMBIGUITIES``: the marker's hour, what markers count in a filtered
file, a Marker after Oracle's 1,000th record...), drawn from its seed (``schedule_faults``);
the simulator's other defaults are real RDS's (binary refusals, rotations, filtered logs).

After the schedule: faults off, leases expired, one clean run, then the checks (``check``):

1. the oracle: no duplicate, overlapping, corrupt or unmatched data, no hole inside a shipped
   generation; every generation still on RDS complete;
2. a run that exited 0 archived everything it listed: each generation is archived at least up
   to the size it had when such a run started (this also makes every generation that existed
   at a successful run "required" for the oracle, partial only if it was deleted later);
3. the final run ends with nothing left to do (a second clean run writes and downloads
   nothing); each physical instance has one state, under its resource id, naming its current
   identifier and every identifier it was committed under before (``former_identifiers``);
4. gaps are never false alarms: per instance, the bytes the state records as gaps are at most
   the bytes of deleted generations that never reached S3, and a suspected gap (a family
   break) is recorded only where some deleted generation did not reach S3 in full;
5. gaps are never silent: bytes a run listed (and committed to the state) that were deleted
   before reaching S3 are all recorded as gap bytes; and a generation deleted by retention
   that no run ever listed, in a family the state already knew when it was created, leaves a
   suspected gap for that family in the state;
   (checks 4-5 are per physical instance; 5a and 5b skip a deleted instance: what it had not
   shipped when it was deleted can never be listed again, nor counted);
6. every run that printed a summary printed the same ``gap_bytes``/``suspected_gaps`` in its
   EMF record, and nothing printed a Traceback.

Long schedules (``long_schedules``, issue 28) move the clock hour by hour over 31-38 hours,
runs every 1-3 hours, MySQL or MariaDB among the instances (load swinging hour by hour), so
the ``.N`` names come back a day later with new bytes; the test asserts they did.

Examples: ``RELIABILITY_EXAMPLES`` (default 12) in CI, derandomized for reproducibility;
``RELIABILITY_EXAMPLES=120`` for a deeper local run, ``RELIABILITY_RANDOM=1`` for fresh seeds.
Schedules that once failed are kept as ``@example``s below.
"""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, currently_in_test_context, example, given, note, settings
from hypothesis import strategies as st

from shipper.names import continuity_family
from shipper.simulator.faults import Faults, RequestInfo
from shipper.simulator.s3server import LocalS3
from shipper.simulator.server import QUIRKS
from shipper.simulator.world import DEFAULT_START, GenerationRecord, Instance, World
from tests.reliability.harness import (
    LEASE_SECONDS,
    TALLY,
    KillPoint,
    S3Faults,
    S3Tap,
    resource_states,
    spawn,
    wait_leases_expired,
)
from tests.support.runs import Run, assert_no_traceback, finish, run_inproc
from tests.support.world import AwsWorld, fresh_aws

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

EXAMPLES = int(os.environ.get("RELIABILITY_EXAMPLES", "12"))
# Long horizons (a day and more of hourly runs, ~30-70 s each on 2 cores) cost several short
# schedules each: a sixth as many, scaled with RELIABILITY_EXAMPLES (2 in CI, 20 at 10x),
# plus their @example.
LONG_EXAMPLES = max(1, round(EXAMPLES / 6))
RANDOM = os.environ.get("RELIABILITY_RANDOM", "") not in ("", "0")
VERBOSE = os.environ.get("RELIABILITY_VERBOSE", "") not in ("", "0")
MAX_SIMULATED_MINUTES = 28 * 60  # one MySQL day of reused .N names, and a bit
RUN_ENV = {"SHIPPER_LEASE_SECONDS": str(LEASE_SECONDS), "SHIPPER_OBJECT_MIB": "1"}

# --- the schedule language ----------------------------------------------------------------------


@dataclass(frozen=True)
class Inst:
    """``load_swing``: each hour writes ``bytes_per_hour`` times a factor in [1 - swing,
    1 + swing] (``World.add_instance``), so a MySQL ``.N`` reused a day later may have grown."""

    engine: str
    bytes_per_hour: int = 150_000
    retention_hours: float | None = None
    opts: tuple[tuple[str, Any], ...] = ()
    load_swing: float = 0.0


@dataclass(frozen=True)
class Advance:
    minutes: int


@dataclass(frozen=True)
class Rotate:
    which: int


@dataclass(frozen=True)
class LongLine:
    which: int
    nbytes: int


@dataclass(frozen=True)
class Fx:
    """Faults during one run (RDS simulator knobs; ``s3_rate``: in-process runs only)."""

    throttle: tuple[int, float] | None = None
    error_rate: float = 0.0
    drop_rate: float = 0.0
    drop_mid_stream_rate: float = 0.0
    latency_ms: float = 0.0
    size_lag_rate: float = 0.0
    empty_listing_rate: float = 0.0
    overlap_rate: float = 0.0
    early_end_rate: float = 0.0
    page_bytes: int = 1_048_576
    max_attempts: int = 8
    s3_rate: float = 0.0
    s3_kinds: tuple[str, ...] = ("data", "state", "lease")

    @property
    def listing_quirks(self) -> bool:
        return self.size_lag_rate > 0 or self.empty_listing_rate > 0


@dataclass(frozen=True)
class Ship:
    """mode: inproc | proc | term (SIGTERM at ``at``) | kill (SIGKILL at ``at``) | group (``n``
    children at once, the first one killed at ``at`` if ``kill_first``)."""

    mode: str = "inproc"
    fx: Fx = Fx()
    at: tuple[str, str, int] = ("PUT", "data", 1)
    n: int = 2
    kill_first: bool = False


# --- issue 18 shapes (steps) -------------------------------------------------------------------


@dataclass(frozen=True)
class Burst:
    """``runs`` children started together while the world rotates: every 0.25 s the clock
    moves ``minutes`` simulated minutes, ``ticks`` times (hourly rotations within a second),
    then the runs are waited for."""

    runs: int = 3
    minutes: int = 30
    ticks: int = 8


@dataclass(frozen=True)
class LargeStop:
    """``nbytes`` appended to every instance's active text file, then a child run stopped with
    SIGTERM ``after_s`` seconds after its first download began, with RDS and S3 PUTs slow."""

    nbytes: int = 2_000_000
    after_s: float = 0.5


# --- end of issue 18 shapes (steps) ------------------------------------------------------------

# --- issue 24 shapes (steps): an instance's identity is its DbiResourceId -------------------


@dataclass(frozen=True)
class Rename:
    """``ModifyDBInstance NewDBInstanceIdentifier`` between runs: the instance ``which``
    (an index into the current instances, sorted by identifier) gets a new identifier, or,
    with ``reuse``, one another instance had (a former blue's, a deleted instance's, its own
    former one) when one is free."""

    which: int
    reuse: bool = False


@dataclass(frozen=True)
class Switchover:
    """A blue/green switchover between runs: the pair ``which`` (blue/green twins made at the
    start, ``Schedule.greens``, or by an earlier Switchover that found no pair: a new
    deployment) switches; the green takes the blue's identifier, the blue becomes ``-oldN``
    and both go on logging."""

    which: int


@dataclass(frozen=True)
class Recreate:
    """The instance ``which`` deleted (its files gone with it) and created again at once under
    the same identifier, engine and options: another DbiResourceId."""

    which: int


@dataclass(frozen=True)
class MidRun:
    """An in-process run during which an identifier moves: ``switchover`` (the pair
    ``which``; a rename of the instance ``which`` when no pair is left) or ``rename`` (the
    instance ``which``), as the run's first DescribeDBLogFiles is asked (before it is
    answered: if it lists the target, it lists the name's new holder; other jobs of the run
    may hold the target's lease already). ``late``: at the target's own first listing
    instead, after other instances' jobs may have committed (a draft that confirmed the
    identifier from a DescribeDBInstances snapshot shared by the jobs for 5 s shipped the
    green's files as the blue's here)."""

    kind: str = "switchover"
    which: int = 0
    fx: Fx = Fx()
    late: bool = False


# --- end of issue 24 shapes (steps) -----------------------------------------------------------

Step = Advance | Rotate | LongLine | Ship | Burst | LargeStop | Rename | Switchover | Recreate \
    | MidRun
IDENTITY_STEPS = (Rename, Switchover, Recreate, MidRun)


@dataclass(frozen=True)
class Schedule:
    """``horizon_minutes``: the most simulated time its Advance steps may take (long
    schedules go past a day). ``variants``: ambiguity variants that win over the ones drawn
    from ``seed`` (``schedule_faults``). ``greens``: indexes into ``insts`` of the instances
    that start with a green twin (same engine and options), for Switchover and MidRun."""

    insts: tuple[Inst, ...]
    steps: tuple[Step, ...]
    seed: int = 0
    horizon_minutes: int = MAX_SIMULATED_MINUTES
    variants: tuple[tuple[str, str], ...] = ()
    greens: tuple[int, ...] = ()  # instances given a blue/green twin at the start (issue 24)


# --- strategies ---------------------------------------------------------------------------------

_ENGINE_OPTS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "postgres": st.fixed_dictionaries({}, optional={
        "rotation_minutes": st.sampled_from([30, 60]), "gz_archives": st.just(1)}),
    "aurora-postgresql": st.just({}),
    "mysql": st.just({}),
    "mariadb": st.just({}),
    "aurora-mysql": st.fixed_dictionaries({
        "audit_rotate_bytes": st.sampled_from([15_000, 40_000])}),
    "sqlserver-se": st.fixed_dictionaries({
        "rotation_minutes": st.sampled_from([60, 120]), "max_error_logs": st.integers(1, 3),
        "trace_files": st.booleans(), "trace_rotate_bytes": st.just(30_000),
        "xel_bytes": st.just(4096)}),
    "oracle-ee": st.fixed_dictionaries({
        "traces_per_hour": st.sampled_from([1.0, 3.0]), "trace_bytes": st.just(4096)}),
}


SWINGS = st.sampled_from([0.0, 0.5])


@st.composite
def insts(draw: st.DrawFn) -> Inst:
    engine = draw(st.sampled_from(sorted(_ENGINE_OPTS)))
    opts = draw(_ENGINE_OPTS[engine])
    return Inst(engine, draw(st.sampled_from([100_000, 200_000])),
                draw(st.sampled_from([None, None, 1.0, 2.0, 4.0])),
                tuple(sorted(opts.items())), draw(SWINGS))


# One named fault per profile makes a failure easy to attribute; up to three are combined,
# and a fully random mix is drawn as well.
PROFILES: dict[str, Fx] = {
    "throttle": Fx(throttle=(5, 40.0)),
    "errors": Fx(error_rate=0.3, max_attempts=2),
    "drops": Fx(drop_rate=0.15, drop_mid_stream_rate=0.5),
    "slow": Fx(latency_ms=15.0),
    "size-lag": Fx(size_lag_rate=0.9),
    "empty-listings": Fx(empty_listing_rate=0.6),
    "portions": Fx(overlap_rate=0.5, early_end_rate=0.5, page_bytes=4096),
    "s3": Fx(s3_rate=0.3),
    "s3-state": Fx(s3_rate=0.5, s3_kinds=("state",)),
}


def combine(names: list[str]) -> Fx:
    fields: dict[str, Any] = {}
    for name in names:
        profile = PROFILES[name]
        fields.update({k: v for k, v in profile.__dict__.items() if v != getattr(Fx(), k)})
    return Fx(**fields)


fx_strategy = st.one_of(
    st.lists(st.sampled_from(sorted(PROFILES)), max_size=3, unique=True).map(combine),
    st.builds(
        Fx,
        throttle=st.sampled_from([None, (5, 40.0), (20, 25.0)]),
        error_rate=st.sampled_from([0.0, 0.05, 0.2]),
        drop_rate=st.sampled_from([0.0, 0.05, 0.15]),
        drop_mid_stream_rate=st.sampled_from([0.0, 0.3]),
        latency_ms=st.sampled_from([0.0, 10.0]),
        size_lag_rate=st.sampled_from([0.0, 0.4]),
        empty_listing_rate=st.sampled_from([0.0, 0.3]),
        overlap_rate=st.sampled_from([0.0, 0.4]),
        early_end_rate=st.sampled_from([0.0, 0.4]),
        page_bytes=st.sampled_from([1_048_576, 16_384, 4096]),
        max_attempts=st.sampled_from([2, 8]),
        s3_rate=st.sampled_from([0.0, 0.1, 0.3]),
        s3_kinds=st.sampled_from([("data", "state", "lease"), ("data",), ("state",)]),
    ),
)

kill_points = st.one_of(
    st.tuples(st.just("PUT"), st.sampled_from(["data", "state", "lease"]), st.integers(1, 6)),
    st.tuples(st.sampled_from(["GET", "PUT"]), st.just("any"), st.integers(1, 20)),
)

steps_strategy = st.one_of(
    st.builds(Advance, st.sampled_from([10, 30, 60, 90, 150, 300])),
    st.builds(Advance, st.sampled_from([60, 90, 1500])),
    st.builds(Rotate, st.integers(0, 3)),
    st.builds(LongLine, st.integers(0, 3), st.sampled_from([3_000, 70_000, 1_100_000])),
    st.builds(Ship, mode=st.sampled_from(["inproc", "inproc", "proc"]), fx=fx_strategy),
    st.builds(Ship, mode=st.sampled_from(["term", "kill", "group"]), fx=fx_strategy,
              at=kill_points, n=st.integers(2, 3), kill_first=st.booleans()),
)

# --- issue 18 shapes (strategies) ---------------------------------------------------------------
issue18_steps = st.one_of(
    st.builds(Burst, runs=st.integers(2, 3), minutes=st.sampled_from([15, 30, 60]),
              ticks=st.integers(2, 8)),
    st.builds(LargeStop, nbytes=st.sampled_from([1_500_000, 3_000_000]),
              after_s=st.floats(0.0, 1.5)),
    st.builds(Advance, st.integers(1, 6).map(lambda hours: hours * 60)),
)
# --- end of issue 18 shapes (strategies) -------------------------------------------------------

# --- issue 24 shapes (strategies) ---------------------------------------------------------------
# One branch among the ten of a step (``.map`` keeps one_of from flattening it): about one
# schedule in three has an identity event, most runs see none, so the CI cost barely moves.
identity_steps = st.one_of(
    st.builds(Rename, st.integers(0, 5), st.booleans()),
    st.builds(Switchover, st.integers(0, 3)),
    st.builds(Recreate, st.integers(0, 5)),
    st.builds(MidRun, st.sampled_from(["switchover", "switchover", "rename"]),
              st.integers(0, 5), st.one_of(st.just(Fx()), fx_strategy), st.booleans()),
).map(lambda step: step)
# --- end of issue 24 shapes (strategies) -------------------------------------------------------


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    insts_ = draw(st.lists(insts(), min_size=2, max_size=4).map(tuple))
    steps = draw(st.lists(st.one_of(steps_strategy, issue18_steps, identity_steps),
                          min_size=2, max_size=9).map(tuple))
    greens: tuple[int, ...] = ()
    if any(isinstance(s, Switchover) or (isinstance(s, MidRun) and s.kind == "switchover")
           for s in steps):
        greens = (draw(st.integers(0, len(insts_) - 1)),)
    return Schedule(insts_, steps, draw(st.integers(0, 2**16)), greens=greens)

# --- long horizons (issue 28) -------------------------------------------------------------------
# The schedules above last hours; MySQL's slow and general logs come back under the same
# ``.N`` names a day later, with new bytes (grown or shrunk: ``load_swing``), and a name
# check reading only the first DescribeDBLogFiles page (20 records: the page-size ambiguity)
# deferred ``.5``-``.9`` forever from the second day on. These schedules move the clock hour
# by hour over 31-38 hours with a run every 1-3 hours, MySQL/MariaDB among the engines, some
# of the usual faults, kills and rotations; each must cross a day of reused names
# (``reused_names``, asserted by the test).

# 31 hours at least: the reused names that sort last in a family listing, .5-.9, come back
# from hour 29 on (the clock starts at 00:07).
LONG_HOURS = (31, 38)


@st.composite
def mysql_insts(draw: st.DrawFn) -> Inst:
    """A MySQL or MariaDB instance that keeps its ``.N`` files until they are reused (the
    default retention: two weeks for MySQL, 24 hours for MariaDB), its load swinging or not."""
    return Inst(draw(st.sampled_from(["mysql", "mariadb"])),
                draw(st.sampled_from([100_000, 200_000])), None, (),
                draw(st.sampled_from([0.5, 0.0])))  # swinging first: a reused name grows


@st.composite
def long_ships(draw: st.DrawFn) -> Ship:
    """Mostly clean in-process runs (a day of them must stay affordable); some under a fault
    profile, in a child process, stopped or killed, or several at once."""
    kind = draw(st.sampled_from(["clean"] * 5 + ["faults"] * 3 + ["child"]))
    if kind == "clean":
        return Ship("inproc")
    if kind == "faults":
        return Ship(draw(st.sampled_from(["inproc", "inproc", "proc"])), draw(fx_strategy))
    return draw(st.builds(Ship, mode=st.sampled_from(["term", "kill", "group"]),
                          fx=fx_strategy, at=kill_points, n=st.integers(2, 3),
                          kill_first=st.booleans()))


long_extras = st.one_of(
    st.builds(Rotate, st.integers(0, 3)),
    st.builds(LongLine, st.integers(0, 3), st.sampled_from([3_000, 70_000])),
    st.builds(Advance, st.sampled_from([10, 30])),
)


@st.composite
def long_schedules(draw: st.DrawFn) -> Schedule:
    insts_ = draw(st.lists(mysql_insts(), min_size=1, max_size=2))
    insts_ += draw(st.lists(insts(), max_size=1))
    hours = draw(st.integers(*LONG_HOURS))
    steps: list[Step] = [Advance(draw(st.sampled_from([10, 30, 60])))]
    if draw(st.booleans()):
        steps.append(Ship("inproc"))
    elapsed = 0
    while elapsed < hours:
        gap = draw(st.integers(1, 3))
        steps.extend([Advance(60)] * gap)  # hour by hour
        elapsed += gap
        if draw(st.integers(0, 3)) == 3:  # now and then (the minimal schedule has none)
            steps.append(draw(long_extras))
        steps.append(draw(long_ships()))
    return Schedule(tuple(insts_), tuple(steps), draw(st.integers(0, 2**16)),
                    horizon_minutes=(LONG_HOURS[1] + 2) * 60,
                    variants=(("log_files_max_records",  # pages of 20 half the time
                               draw(st.sampled_from(["20", "100", "20", "1000"]))),))


# --- running a schedule ---------------------------------------------------------------------------


@dataclass
class Observation:
    """What one run saw of the world when it started, per physical instance (resource id):
    truth id -> size, file name -> truth id, and its identifier then."""

    sizes: dict[str, dict[int, int]]
    names: dict[str, dict[str, int]]  # resource id -> file name -> truth id
    at: float
    ids: dict[str, str] = field(default_factory=dict)  # resource id -> identifier


@dataclass
class Ledger:
    """Everything the checks need about the runs of one schedule. Instances are keyed by
    their resource id (issue 24: identifiers move between instances)."""

    runs: list[Run] = field(default_factory=list)
    seen: dict[str, dict[int, int]] = field(default_factory=dict)  # any run started
    committed: dict[str, dict[int, int]] = field(default_factory=dict)  # listed + committed
    shipped_ok: dict[str, dict[int, int]] = field(default_factory=dict)  # by an exit-0 run
    first_run_at: float | None = None
    # (resource id, family) -> world time of the first listing after which the committed
    # state held a live generation of that family: from then on a break in it can be noticed
    known_since: dict[tuple[str, str], float] = field(default_factory=dict)
    # issue 24: every instance ever created (resource id -> the instance, its add_instance
    # arguments), when one was deleted, the blue/green pairs not switched yet (resource ids),
    # every identifier each instance had, and those its committed state was seen under
    insts: dict[str, Instance] = field(default_factory=dict)
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed_at: dict[str, float] = field(default_factory=dict)
    pairs: list[tuple[str, str]] = field(default_factory=list)
    names_of: dict[str, list[str]] = field(default_factory=dict)
    state_names: dict[str, set[str]] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)

    def add(self, world: World, identifier: str, spec: dict[str, Any]) -> Instance:
        inst = world.add_instance(identifier, **spec)
        self.insts[inst.resource_id] = inst
        self.specs[inst.resource_id] = spec
        self.names_of[inst.resource_id] = [identifier]
        return inst

    def renamed(self, inst: Instance) -> None:
        self.names_of[inst.resource_id].append(inst.identifier)

    def live_pairs(self, world: World) -> list[tuple[str, str]]:
        alive = {i.resource_id for i in world.instances()}
        self.pairs = [p for p in self.pairs if p[0] in alive and p[1] in alive]
        return self.pairs

    def identifiers(self, rid: str) -> set[str]:
        return set(self.names_of.get(rid, []))


def _snapshot(world: World) -> Observation:
    files = {inst.resource_id: inst.files() for inst in world.instances()}
    sizes = {rid: {rec.truth_id: rec.size for rec in recs.values()}
             for rid, recs in files.items()}
    names = {rid: {name: rec.truth_id for name, rec in recs.items()}
             for rid, recs in files.items()}
    return Observation(sizes, names, world.now,
                       {inst.resource_id: inst.identifier for inst in world.instances()})


def _merge(target: dict[str, dict[int, int]], inst: str, sizes: dict[int, int]) -> None:
    mine = target.setdefault(inst, {})
    for truth, size in sizes.items():
        mine[truth] = max(mine.get(truth, 0), size)


def _apply_faults(faults: Faults, fx: Fx) -> None:
    faults.set_throttle(fx.throttle[0] if fx.throttle else None,
                        fx.throttle[1] if fx.throttle else 12.0)
    for name in ("error_rate", "drop_rate", "drop_mid_stream_rate", "latency_ms",
                 "size_lag_rate", "empty_listing_rate", "overlap_rate", "early_end_rate",
                 "page_bytes"):
        setattr(faults, name, getattr(fx, name))


def _rotate(world: World, which: int) -> None:
    """A forced rotation, where the engine allows one: SQL Server's sp_cycle_errorlog, a new
    Oracle trace, an early PostgreSQL file, an Aurora audit file. Not MySQL's hourly files: the
    simulator names a forced rotation like the hour's own, which would then overwrite it (real
    RDS never rotates them twice an hour)."""
    insts_ = world.instances()
    inst = insts_[which % len(insts_)]
    if inst.engine in ("mysql", "mariadb"):
        return
    if inst.engine == "aurora-mysql":
        for name in [n for n in inst.files() if n.startswith("audit/")]:
            inst.rotate(name)  # only the file each writer is filling rotates
        return
    inst.rotate()


def _active_text_file(world: World, which: int) -> tuple[str, str] | None:
    insts_ = world.instances()
    inst = insts_[which % len(insts_)]
    files = [(rec.last_written, name) for name, rec in inst.files().items()
             if not name.endswith((".trc", ".xel", ".gz"))]
    if not files:
        return None
    return inst.identifier, max(files)[1]


def _record(ledger: Ledger, aws: AwsWorld, obs: Observation, runs: list[Run], fx: Fx,
            moved: frozenset[str] = frozenset()) -> None:
    """Credit each finished run with what it listed, when its state commit proves it did.
    ``moved``: instances whose identifier moved during the run (never credited)."""
    docs = resource_states(aws)
    _note_state(ledger, docs, obs.at)
    for run in runs:
        ledger.runs.append(run)
        assert_no_traceback(run)
        assert run.crashed is None, run.describe()
        if run.killed or run.code not in (0, 1) or fx.listing_quirks:
            continue
        for rid in obs.sizes:
            doc = docs.get(rid)
            if rid in moved or doc is None or doc.get("last_run_id") != run.run_id:
                continue
            inst = obs.ids[rid]
            if run.instance_errors(inst) or run.skipped(inst):
                continue
            _credit(ledger, obs, run, rid)


def _credit(ledger: Ledger, obs: Observation, run: Run, rid: str) -> None:
    """``run`` listed ``rid`` and committed what it learnt. Files it complained about (a held
    same-size file, a deferral, a failure) are not credited."""
    inst = obs.ids[rid]
    skipped = {obs.names[rid].get(str(line.get("file"))) for line in run.lines
               if line.get("instance") == inst and line.get("file")
               and (line.get("level") in ("WARNING", "ERROR")
                    or "deciding next run" in str(line.get("message")))}
    sizes = {t: size for t, size in obs.sizes[rid].items() if t not in skipped}
    _merge(ledger.committed, rid, sizes)
    if run.code == 0:
        _merge(ledger.shipped_ok, rid, sizes)


def _note_state(ledger: Ledger, docs: dict[str, dict[str, Any]], at: float) -> None:
    for rid, doc in docs.items():
        ledger.state_names.setdefault(rid, set()).add(str(doc.get("instance")))
        for gen in doc.get("generations", {}).values():
            if gen.get("missing_since_ms") is not None:
                continue
            ledger.known_since.setdefault((rid, continuity_family(str(gen.get("name")))), at)


def _ship(aws: AwsWorld, tap: S3Tap, step: Ship, ledger: Ledger, index: int, seed: int,
          moved: set[str] | None = None) -> list[Run]:
    """``moved``: filled during the run by a MidRun hook with the instances it moved."""
    faults = aws.sim.faults
    _apply_faults(faults, step.fx)
    obs = _snapshot(aws.world)
    if ledger.first_run_at is None:
        ledger.first_run_at = obs.at
    for inst, sizes in obs.sizes.items():
        _merge(ledger.seen, inst, sizes)
    env = {**RUN_ENV, "SHIPPER_MAX_ATTEMPTS": str(step.fx.max_attempts)}
    runs: list[Run] = []
    if step.mode == "inproc":
        s3 = S3Faults(step.fx.s3_rate, step.fx.s3_kinds, seed=seed + index) \
            if step.fx.s3_rate else None
        runs.append(run_inproc(aws, "run", s3_faults=s3, **env))
        for mode, n in (s3.injected if s3 else {}).items():
            TALLY[f"S3 PutObject faults ({mode})"] += n
    else:
        count = step.n if step.mode == "group" else 1
        procs = []
        for k in range(count):
            app = f"rel{index}-{k}-{os.getpid()}"
            proc = spawn(aws, app, "run", **env)
            procs.append((app, proc))
            sig = {"term": signal.SIGTERM, "kill": signal.SIGKILL}.get(step.mode)
            if step.mode == "group" and k == 0 and step.kill_first:
                sig = signal.SIGKILL
            if sig is not None:
                method, kind, nth = step.at
                tap.kills.append(KillPoint(app, proc, sig, method, kind, nth))
        started = time.monotonic()
        for app, proc in procs:
            run = finish(proc, step.mode, app, timeout=120)
            fired = [kp for kp in tap.kills if kp.app == app and kp.fired]
            if fired:
                TALLY[f"runs killed ({fired[0].sig.name})"] += 1
            if fired and fired[0].sig == signal.SIGTERM:
                assert run.code == 143, run.describe()
                assert time.monotonic() - started < 60, "SIGTERM took too long"
            if fired and fired[0].sig == signal.SIGKILL:
                assert run.killed, run.describe()
            runs.append(run)
    _apply_faults(faults, Fx())
    _record(ledger, aws, obs, runs, step.fx, frozenset(moved or ()))
    return runs


# --- issue 18 shapes (running them) ------------------------------------------------------------


def _burst(aws: AwsWorld, step: Burst, ledger: Ledger, index: int) -> None:
    """Runs started together inside a rotation burst. They are not credited (check 2): a
    rotation during a run may delete a file before it is read, which is no failure; the oracle
    and the final run judge what they did (a generation shipped twice is a duplicate)."""
    procs = [spawn(aws, f"burst{index}-{k}-{os.getpid()}", "run", **RUN_ENV)
             for k in range(step.runs)]
    for _ in range(step.ticks):
        time.sleep(0.25)
        aws.world.advance(step.minutes * 60)
    for k, proc in enumerate(procs):
        run = finish(proc, "group", f"burst{index}-{k}-{os.getpid()}", timeout=120)
        assert_no_traceback(run)
        assert run.code in (0, 1), run.describe()
        ledger.runs.append(run)
    TALLY["runs started inside a rotation burst"] += step.runs
    _note_state(ledger, resource_states(aws), aws.world.now)


def _slow_puts(inner: Any) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("REQUEST_METHOD") == "PUT":
            time.sleep(0.02 + 0.3 * int(environ.get("CONTENT_LENGTH") or 0) / 1_048_576)
        return inner(environ, start_response)
    return app


def _large_stop(aws: AwsWorld, tap: S3Tap, step: LargeStop, ledger: Ledger,
                index: int) -> None:
    for inst in aws.world.instances():
        target = _active_text_file(aws.world, aws.world.instances().index(inst))
        if target is not None:
            line = b"LARGE " + b"y" * 994 + b"\n"
            aws.world.instance(target[0]).append(target[1], line * (step.nbytes // 1000))
    obs = _snapshot(aws.world)
    faults = aws.sim.faults
    faults.latency_ms, faults.latency_ms_per_mb = 5, 40
    downloads: list[str] = []
    remove = aws.sim.add_hook(lambda info: downloads.append(info.action)
                              if info.action.startswith("Download") else None)
    server = aws.s3._server
    server.app = _slow_puts(tap)
    app_id = f"stop{index}-{os.getpid()}"
    proc = spawn(aws, app_id, "run", **RUN_ENV)
    try:
        deadline = time.monotonic() + 60
        while not downloads and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(step.after_s)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        run = finish(proc, "term", app_id, timeout=60)
    finally:
        server.app = tap
        remove()
        faults.latency_ms, faults.latency_ms_per_mb = 0.0, 0.0
    # A signal that arrives after the run finished (its summary printed, its handlers put
    # back) ends the process by default: everything was committed already.
    finished = run.summary_if_any is not None and run.summary_if_any["exit_code"] == 0
    assert run.code in (0, 143) or (run.code == -signal.SIGTERM and finished), run.describe()
    if run.code == -signal.SIGTERM:
        run = replace(run, code=0)
    assert not any("clean stop took too long" in m for m in run.messages()), run.describe()
    if run.code == 143:
        TALLY["runs stopped mid-stream (SIGTERM, slow S3)"] += 1
    _record(ledger, aws, obs, [run], Fx())


# --- end of issue 18 shapes (running them) -----------------------------------------------------

# --- issue 24 shapes (running them) ------------------------------------------------------------


def _pick(world: World, which: int) -> Instance:
    insts_ = world.instances()
    return insts_[which % len(insts_)]


def _fresh_identifier(world: World, ledger: Ledger, inst: Instance, index: int) -> str:
    taken = {i.identifier for i in world.instances()}
    name = f"rn{index}-{inst.engine}"
    while name in taken:
        name += "x"
    return name


def _freed_identifiers(world: World, ledger: Ledger) -> list[str]:
    """Identifiers some instance had that none has now."""
    taken = {i.identifier for i in world.instances()}
    return sorted({n for names in ledger.names_of.values() for n in names} - taken)


def _rename(world: World, ledger: Ledger, inst: Instance, step: Rename, index: int) -> str:
    freed = _freed_identifiers(world, ledger) if step.reuse else []
    new = freed[step.which % len(freed)] if freed else \
        _fresh_identifier(world, ledger, inst, index)
    old = inst.identifier
    world.rename_instance(old, new)
    ledger.renamed(inst)
    return f"renamed {old} -> {new} ({inst.resource_id})"


def _add_green(world: World, ledger: Ledger, blue: Instance, tag: str) -> Instance:
    green = ledger.add(world, f"{blue.identifier}-green-{tag}", ledger.specs[blue.resource_id])
    ledger.pairs.append((blue.resource_id, green.resource_id))
    return green


def _switchover(world: World, ledger: Ledger, which: int, index: int) -> str:
    """Switch the pair ``which``; with none left, deploy a green for the instance ``which``
    (it switches at a later Switchover)."""
    pairs = ledger.live_pairs(world)
    if not pairs:
        blue = _pick(world, which)
        green = _add_green(world, ledger, blue, f"s{index}")
        return f"deployed green {green.identifier} for {blue.identifier}"
    blue_rid, green_rid = pairs.pop(which % len(pairs))
    blue, green = ledger.insts[blue_rid], ledger.insts[green_rid]
    before = (blue.identifier, green.identifier)
    old_blue = world.switchover(blue.identifier, green.identifier)
    ledger.renamed(blue)
    ledger.renamed(green)
    return f"switched over {before[0]} ({blue_rid}) -> {old_blue}, {before[1]} ({green_rid}) " \
        f"-> {before[0]}"


def _recreate(world: World, ledger: Ledger, step: Recreate) -> str:
    old = _pick(world, step.which)
    identifier, rid = old.identifier, old.resource_id
    world.remove_instance(identifier)
    ledger.removed_at[rid] = world.now
    new = ledger.add(world, identifier, ledger.specs[rid])
    return f"re-created {identifier}: {rid} -> {new.resource_id}"


def _mid_run(aws: AwsWorld, tap: S3Tap, step: MidRun, ledger: Ledger, index: int,
             seed: int) -> None:
    """An in-process run whose target's identifier moves as its listing is asked for (before
    it is answered: the listing is the moved name's new holder's). The instances concerned
    are not credited: the run skips them (``instances_moved``) or lists the new holder."""
    world = aws.world
    pairs = ledger.live_pairs(world)
    if step.kind == "switchover" and pairs:
        blue_rid, green_rid = pairs[step.which % len(pairs)]
        target = ledger.insts[blue_rid].identifier
    else:
        target = _pick(world, step.which).identifier
    moved: set[str] = set()
    done: list[str] = []

    def move(info: RequestInfo) -> None:
        if done or info.action != "DescribeDBLogFiles" or (step.late
                                                          and info.instance != target):
            return
        if step.kind == "switchover" and pairs:
            done.append(_switchover(world, ledger, step.which, index))
            moved.update((blue_rid, green_rid))
        else:
            inst = world.instance(target)
            done.append(_rename(world, ledger, inst, Rename(step.which), index))
            moved.add(inst.resource_id)

    remove = aws.sim.add_hook(move)
    try:
        runs = _ship(aws, tap, Ship("inproc", step.fx), ledger, index, seed, moved)
    finally:
        remove()
    ledger.events.extend(f"during run: {d}" for d in done)
    run = runs[0]
    # Under injected faults the run may also find RDS unreachable (every attempt of
    # DescribeDBInstances dropped): exit 3, nothing committed, as any Ship step may.
    assert run.code in ((0, 1) if step.fx == Fx() else (0, 1, 3)), run.describe()
    if step.fx == Fx():  # a move is no failure
        assert run.code == 0 and not run.errors(), run.describe()
    if done:
        TALLY[f"identifiers moved during a run ({step.kind})"] += 1
        if run.summary_if_any is not None:
            TALLY["instances skipped as moved (instances_moved)"] += \
                run.summary_if_any.get("instances_moved", 0)


# --- end of issue 24 shapes (running them) -----------------------------------------------------


def execute(local_s3: LocalS3, tap: S3Tap, schedule: Schedule) -> list[str]:
    """Run ``schedule`` and check it; returns ``reused_names`` (for the long schedules)."""
    if VERBOSE:
        print(f"\n{schedule!r}\n  variants: {schedule_faults(schedule).variants()}")
    tap.reset()
    faults = schedule_faults(schedule)
    # Start at 00:07 so that runs do not land on the hour, where every new file is empty.
    with fresh_aws(local_s3, seed=schedule.seed + 1, faults=faults,
                   start=DEFAULT_START + 7 * 60) as aws:
        world = aws.world
        ledger = Ledger()
        for i, spec in enumerate(schedule.insts):
            opts = dict(spec.opts)
            if spec.retention_hours is not None:
                opts["retention_hours"] = spec.retention_hours
            inst = ledger.add(world, f"db{i}-{spec.engine}", dict(
                engine=spec.engine, bytes_per_hour=spec.bytes_per_hour,
                load_swing=spec.load_swing, **opts))
            if i in schedule.greens:
                _add_green(world, ledger, inst, f"g{i}")
        minutes = 0
        for index, step in enumerate(schedule.steps):
            started = time.monotonic()
            if isinstance(step, Advance):
                step_minutes = min(step.minutes, schedule.horizon_minutes - minutes)
                minutes += step_minutes
                world.advance(step_minutes * 60)
            elif isinstance(step, Rotate):
                _rotate(world, step.which)
            elif isinstance(step, LongLine):
                target = _active_text_file(world, step.which)
                if target is not None:
                    body = b"LONG-LINE " + b"x" * max(0, step.nbytes - 11) + b"\n"
                    world.instance(target[0]).append(target[1], body)
            elif isinstance(step, Burst):
                _burst(aws, step, ledger, index)
            elif isinstance(step, LargeStop):
                _large_stop(aws, tap, step, ledger, index)
            elif isinstance(step, Rename):
                ledger.events.append(_rename(world, ledger, _pick(world, step.which), step,
                                             index))
            elif isinstance(step, Switchover):
                ledger.events.append(_switchover(world, ledger, step.which, index))
            elif isinstance(step, Recreate):
                ledger.events.append(_recreate(world, ledger, step))
            elif isinstance(step, MidRun):
                _mid_run(aws, tap, step, ledger, index, schedule.seed)
            else:
                _ship(aws, tap, step, ledger, index, schedule.seed)
            if VERBOSE:
                codes = [r.code for r in ledger.runs[-3:]] \
                    if isinstance(step, Ship | MidRun) else ""
                event = ledger.events[-1] if isinstance(step, IDENTITY_STEPS) and \
                    ledger.events else ""
                print(f"  {time.monotonic() - started:6.2f}s {step} {codes} {event}")
        tap.kills.clear()
        wait_leases_expired(aws)
        final_obs = _snapshot(world)
        final = run_inproc(aws, "run", **RUN_ENV, SHIPPER_LOG_LEVEL="debug")
        assert final.code == 0 and not final.errors(), final.describe()
        ledger.runs.append(final)
        _note_state(ledger, resource_states(aws), final_obs.at)
        for rid, sizes in final_obs.sizes.items():
            _merge(ledger.seen, rid, sizes)
            _credit(ledger, final_obs, final, rid)
        # Nothing is left to do, except a file held because it has the same size as the one
        # last seen under its name ("deciding next run"): one more run decides it. An idle
        # run downloads nothing (issue 24: nor after renames, switchovers, re-created names).
        held = any("deciding next run" in str(line.get("message")) for line in final.lines)
        for attempt in range(2 if held else 1):
            downloads: list[str] = []
            remove = aws.sim.add_hook(
                lambda info: downloads.append(f"{info.instance}:{info.log_file}")
                if info.action.startswith("Download") else None)
            try:
                idle = run_inproc(aws, "run", **RUN_ENV)
            finally:
                remove()
            ledger.runs.append(idle)
            assert idle.code == 0 and idle.summary is not None, idle.describe()
            _note_state(ledger, resource_states(aws), final_obs.at)
            for rid in final_obs.sizes:
                _credit(ledger, final_obs, idle, rid)
            if idle.summary["objects_written"] == 0 and not downloads:
                break
            assert held and attempt == 0, (
                f"a clean run after the final one still wrote objects or downloaded "
                f"{downloads}:\n" + idle.describe() + "\n--- final run\n" + final.describe())
        if ledger.events and currently_in_test_context():
            note("identity events: " + "; ".join(ledger.events))
        check(aws, ledger)
        # every data key is written once: a retry or an adoption writes none again, so the
        # S3 notifications log tools follow name each object once
        twice = {key: n for key, n in tap.data_writes().items() if n > 1}
        assert not twice, f"data objects written more than once: {twice}"
        _tally(schedule, ledger, aws.sim.stats.snapshot())
        return reused_names(world, ledger)


def reused_names(world: World, ledger: Ledger) -> list[str]:
    """MySQL ``.N`` names (``instance:name``) that held two generations a day apart, both
    listed by some run: the schedule crossed a day of reused names with the shipper watching.
    (A name is reused only by a rotation one day after the one that first gave it.)"""
    found = []
    for inst in world.instances():
        if inst.engine not in ("mysql", "mariadb"):
            continue
        seen = ledger.seen.get(inst.resource_id, {})
        holders: dict[str, list[GenerationRecord]] = {}
        for g in inst.generations():
            for name in set(g.names):
                if re.search(r"\.log\.\d+$", name):
                    holders.setdefault(name, []).append(g)
        for name, gens in sorted(holders.items()):
            listed = [g for g in gens if g.truth_id in seen and g.size > 0]
            if len(listed) >= 2 and max(g.created_at for g in listed) - min(
                    g.created_at for g in listed) >= 23 * 3600:
                found.append(f"{inst.identifier}:{name}")
    return found


# --- the ambiguities: a variant of each, drawn per schedule ------------------------------------


def schedule_faults(schedule: Schedule) -> Faults:
    """The simulated API's faults for ``schedule``: one variant of every ambiguity public
    sources leave open (FIDELITY.md), drawn from the schedule's seed, so a failing schedule
    replays under the same variants. A falsifying example's report names them."""
    faults = Faults.drawn(schedule.seed, **dict(schedule.variants))
    if currently_in_test_context():  # also replayed outside hypothesis, by hand
        note(f"variants (drawn from seed {schedule.seed}): {faults.variants()}")
    return faults


def _tally_variants(schedule: Schedule) -> None:
    for name, variant in Faults.drawn(schedule.seed, **dict(schedule.variants)).variants().items():
        TALLY[f"variant {name}={variant}"] += 1


def _tally(schedule: Schedule, ledger: Ledger, sim: dict[str, Any]) -> None:
    """What the passing schedules put the shipper through (printed at the end of the session)."""
    _tally_variants(schedule)
    TALLY["schedules"] += 1
    TALLY["instances"] += len(schedule.insts)
    TALLY["runs"] += len(ledger.runs)
    TALLY["concurrent groups"] += sum(isinstance(s, Ship) and s.mode == "group"
                                      for s in schedule.steps)
    TALLY["forced rotations"] += sum(isinstance(s, Rotate) for s in schedule.steps)
    TALLY["long lines"] += sum(isinstance(s, LongLine) for s in schedule.steps)
    TALLY["identity events (renames, switchovers, re-created, green deployments)"] += \
        len(ledger.events)
    TALLY["schedules with identity events"] += bool(ledger.events)
    TALLY["RDS API requests"] += sum(sim["requests"].values())
    for key in ("throttled", "errors_injected", "dropped", *QUIRKS):
        TALLY[f"RDS API {key.replace('_', ' ')}"] += sim[key]


# --- the checks -----------------------------------------------------------------------------------

# Bugs this suite found, all fixed now, each kept as a regression test (test_gaps.py,
# test_regressions.py, test_hostile_input.py) and, where the property found it, as an
# @example below: A an empty or header-only generation found again in a later file; B traces
# deleted unseen without a suspected gap; C listed bytes of a failed download not counted;
# D a lagging listed Size re-shipping a file; E an empty listing turned into false gaps; F a
# header-only log re-shipped under its rotated name (a regression of the fix for A); G an
# empty generation continued by a later file of its name (over an hour later, then G' within
# the hour, when the rename is in the same listing); H false gaps from a run that stopped
# early; I a false gap for a generation that shipped nothing; J a break in continuity first
# listed by a run that stopped early, never reported; K a stale empty generation left under a
# name by a run that stopped early, taken for the file shipping under that name (duplicates);
# L a running file rotated between the listing and its stream, read under the old file's
# generation (test_quirks.py covers the rotation mid-paging that the first fix broke); N a
# proof whose stream broke kept its candidate from the next listed file, which then shipped
# the candidate's bytes again under a new generation (test_file_shipper.py); O a generation
# minted after a proof that read a shifted chain slot, kept with the listed entry, then handed
# the file its candidate held (test_file_shipper.py); R pages of another marker hour, continued
# because the listing had proven the name, appended the next hour's file to a running log's
# generation (the name rotated after the listing), and with it a grown file failing its proof
# after such a rotation counted its generation lost; Q2 an empty generation a grown file was
# planned as, forgotten at its rotation, left its family looking broken when the chain pushed
# out the family's last shipped file (all three in test_file_shipper.py), then a sighting of a
# taken-back file settling a family left undecided before it (test_continuity.py). And two
# bugs of this suite's own: M
# check 4b called a right suspected gap false (retention had expired a file of the family
# between the runs; nothing else had been written to lose); P check 5b demanded a suspected
# gap for files a Burst's runs had listed, then archived in full or counted as lost (the
# ledger does not see what they list).
# If a new one shows up and cannot be fixed at once, pin it with an xfail test and set it
# aside here, narrowly, with a note that names that test.


def _trail(ledger: Ledger, inst: str, limit: int = 80) -> str:
    """What the runs said about one instance (an identifier, or a resource id: every
    identifier it had), for failure messages."""
    names = ledger.identifiers(inst) or {inst}
    out = []
    if ledger.events:
        out.append("  identity events: " + "; ".join(ledger.events))
    for k, run in enumerate(ledger.runs):
        for line in run.lines:
            if line.get("instance") not in names:
                continue
            extra = {key: line[key] for key in ("file", "kind", "size", "generation", "family",
                                                "gap_bytes", "error", "reason") if key in line}
            out.append(f"  run {k} [{run.mode} {run.code}] {line.get('level')} "
                       f"{line.get('message')} {extra}")
    return "\n".join(out[-limit:])


def _covered(report: Any) -> dict[int, int]:
    covered: dict[int, int] = {}
    for match in [*report.complete, *report.partial, *report.held_back]:
        covered[match.truth.truth_id] = match.shipped_bytes
    return covered


def _must_ship(truth: Any, size: int) -> int:
    """Of the ``size`` bytes a run listed, what it must ship: up to the last line feed (a
    growing file's unfinished last line is held back until complete, shipper.lines; a closed
    file's final bytes are checked by the oracle and the unit tests)."""
    return truth.read(0, size).rfind(b"\n") + 1 if size else 0


def check(aws: AwsWorld, ledger: Ledger) -> None:
    world = aws.world
    truths = {g.truth_id: g for g in world.generations()}
    must = {t for sizes in ledger.shipped_ok.values() for t, s in sizes.items()
            if _must_ship(truths[t], s) > 0}
    report = aws.verify(require=lambda g: g.exists or g.truth_id in must,
                        allow_partial=lambda g: not g.exists)
    if not report.ok:
        involved = sorted({p.instance for p in report.problems}
                          | {f.split(" ")[2].split(":")[0] for f in report.failures
                             if f.count(" ") >= 2 and ":" in f.split(" ")[2]})
        raise AssertionError(report.details() + "".join(
            f"\n--- what the runs said about {inst}\n{_trail(ledger, inst)}"
            for inst in involved))
    covered = _covered(report)

    # 2. exit 0 means everything listed is archived (but an unfinished last line)
    for inst, sizes in ledger.shipped_ok.items():
        for truth, size in sizes.items():
            assert covered.get(truth, 0) >= _must_ship(truths[truth], size), (
                f"{inst}: truth #{truth} {truths[truth].names} had {size} bytes when a run "
                f"that exited 0 started, but only {covered.get(truth, 0)} reached S3\n"
                + report.details())

    docs = resource_states(aws)
    # 3. identity: no generation is filed as first seen before its file existed (that would be
    # an older generation continued by a newer file: wrong dt= partition, and a loss between
    # them would go unnoticed)
    stitched = _stitched(report, docs)
    assert not stitched, "generations continued by a later file: " + "; ".join(stitched) + "".join(
        f"\n--- what the runs said about {inst}\n{_trail(ledger, inst)}"
        for inst in sorted({line.split(":")[0] for line in stitched}))
    first = ledger.first_run_at if ledger.first_run_at is not None else float("inf")
    current = {i.resource_id: i.identifier for i in world.instances()}
    # 3b. (issue 24) each physical instance has one state, keyed by its resource id, under
    # the identifier it has now, naming every identifier it was committed under before
    for rid, identifier in current.items():
        doc = docs.get(rid)
        assert doc is not None, f"{identifier} ({rid}) has no state of its own"
        assert doc.get("instance") == identifier, (
            f"{rid}'s state names {doc.get('instance')}, the instance is {identifier}\n"
            + _trail(ledger, rid))
        former = set(doc.get("former_identifiers", []))
        earlier = ledger.state_names.get(rid, set()) - {identifier}
        assert earlier <= former, (
            f"{identifier} ({rid}) was committed under {sorted(earlier)}, its state's former "
            f"identifiers are {sorted(former)}\n" + _trail(ledger, rid))
    for rid, inst_ in ledger.insts.items():
        removed = rid in ledger.removed_at
        doc = docs.get(rid, {})
        gaps = doc.get("gaps", [])
        gens = [g for g in truths.values() if g.resource_id == rid]
        lost = {g.truth_id: g.size - covered.get(g.truth_id, 0) for g in gens if not g.exists}
        recorded = sum(int(x.get("bytes", 0)) for x in gaps)
        # 4. no false alarms
        assert recorded <= sum(lost.values()), (
            f"{inst_.identifier} ({rid}): the state records {recorded} gap bytes but only "
            f"{sum(lost.values())} bytes of deleted generations are missing from S3: {gaps}\n"
            + report.details() + f"\n--- what the runs said about it\n{_trail(ledger, rid)}")
        # 4b. no suspected gap where nothing can have been lost (issue 18: the demo warned of
        # files deleted unseen while its oracle found nothing missing). A family whose
        # retention expired a file since the break's reference may have lost files unseen,
        # whether or not the world happened to write one in that window: no listing can tell
        # (the schedule kept as example M). (The known limit in shipper/continuity.py: a family
        # whose only reference was empty.)
        suspicions = [x for x in gaps if x.get("kind") == "unseen"
                      and not _empty_reference(doc, x)
                      and not _expired_since(ledger, gens, x)]
        assert not suspicions or any(lost.values()), (
            f"{rid}: suspected gaps {suspicions} but every deleted generation reached S3 "
            "in full\n" + _trail(ledger, rid))
        if removed:
            # A deleted instance is never listed again: the loss of what it had not shipped
            # when it was deleted cannot be noticed, nor counted (checks 5a and 5b).
            continue
        # 5a. listed bytes that were deleted before reaching S3 are counted
        committed = ledger.committed.get(rid, {})
        silent = {t: min(lost[t], committed[t] - covered.get(t, 0)) for t in lost
                  if t in committed and committed[t] > covered.get(t, 0)}
        assert recorded >= sum(silent.values()), (
            f"{rid}: bytes a run listed and committed were lost without being counted: "
            + ", ".join(f"#{t} {truths[t].names} listed at {committed[t]}, archived "
                        f"{covered.get(t, 0)}" for t in silent)
            + f"; the state records {recorded} gap bytes: {gaps}\n" + _trail(ledger, rid))
        # 5b. generations deleted by retention that no run listed leave a suspected gap. (The
        # ledger sees what existed when a Ship step started; runs of a Burst list files written
        # during it. A file with bytes in S3, or whose loss the state counts, was listed: P, a
        # check of the suite's own.)
        counted = {str(x.get("file")) for x in gaps if x.get("kind") != "unseen"}
        unseen = [g for g in gens if not g.exists and g.size > 0
                  and g.truth_id not in ledger.seen.get(rid, {})
                  and covered.get(g.truth_id, 0) == 0 and not counted.intersection(g.names)
                  and (g.deleted_at or 0) > first and _deleted_by_age(ledger, g)
                  and ledger.known_since.get((rid, continuity_family(g.names[-1])),
                                             float("inf")) <= g.created_at]
        suspected = {x.get("family") for x in gaps if x.get("kind") == "unseen"}
        missed = [g for g in unseen if continuity_family(g.names[-1]) not in suspected]
        assert not missed, (
            f"{rid}: generations deleted by retention before any run listed them, with no "
            f"suspected gap for their family: "
            + ", ".join(f"#{g.truth_id} {g.names} ({g.size} bytes)" for g in missed)
            + f"; state gaps: {gaps}\n" + _trail(ledger, rid))

    # 6. summaries and EMF agree
    for run in ledger.runs:
        summary, emf = run.summary_if_any, run.emf
        if summary is None:
            assert run.killed or run.code not in (0, 1), run.describe()
            continue
        assert emf is not None, run.describe()
        assert emf["GapBytes"] == summary["gap_bytes"], run.describe()
        assert emf["SuspectedGaps"] == summary["suspected_gaps"], run.describe()
        assert emf["exit_code"] == run.code, run.describe()
        # a file left unshipped by two runs in a row for the same reason (shipper.deferrals)
        assert summary.get("files_stuck", 0) == 0, run.describe()


def _expired_since(ledger: Ledger, gens: list[GenerationRecord], gap: dict[str, Any]) -> bool:
    """Did retention delete a file of the gap's family after the break's reference was
    written? Then a file written and deleted between two runs could have existed."""
    return any(not g.exists and continuity_family(g.names[-1]) == gap.get("family")
               and (g.deleted_at or 0) * 1000 > int(gap.get("after_ms", 0))
               and _deleted_by_age(ledger, g) for g in gens)


def _empty_reference(doc: dict[str, Any], gap: dict[str, Any]) -> bool:
    """Was every generation of the gap's family that the break came after empty (nothing
    shipped to tell a renamed file from a later one)?"""
    refs = [g for g in doc.get("generations", {}).values()
            if continuity_family(str(g["name"])) == gap.get("family")
            and int(g.get("seen_lw", 0)) <= int(gap.get("after_ms", 0))]
    return all(int(g["offset"]) == 0 for g in refs)


def _stitched(report: Any, docs: dict[str, dict[str, Any]]) -> list[str]:
    """Shipped generations whose state says they were first seen before the truth generation
    they hold was created (the oracle has checked their bytes; their identity is wrong)."""
    found: list[str] = []
    for match in [*report.complete, *report.partial]:
        if match.shipped is None:
            continue
        gen = docs.get(match.truth.resource_id, {}).get("generations", {}).get(
            match.shipped.generation)
        if gen is not None and gen["first_seen_ms"] < int(match.truth.created_at * 1000) - 1:
            found.append(f"{match.truth.instance}: truth #{match.truth.truth_id} "
                         f"{match.truth.names} created at {match.truth.created_at:.3f}, "
                         f"generation {match.shipped.generation} first seen at "
                         f"{gen['first_seen_ms'] / 1000:.3f}")
    return found


def _deleted_by_age(ledger: Ledger, g: GenerationRecord) -> bool:
    """Deleted by the retention period, not pushed out by a rename (SQL Server's chain, MySQL's
    reused ``.N`` names), nor with its instance."""
    inst = ledger.insts.get(g.resource_id)
    if inst is None or g.deleted_at is None or g.deleted_at == ledger.removed_at.get(
            g.resource_id):
        return False
    return g.deleted_at - g.last_written >= inst.retention_hours * 3600 - 1


# --- the property ---------------------------------------------------------------------------


@pytest.mark.timeout(0)
@settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example],
          print_blob=True)
@given(schedule=schedules())
# The exactly-once core, always run: SIGKILL right after the second data object became durable
# (before the state commit that would record it), then a run that must adopt it.
@example(schedule=Schedule(
    insts=(Inst("postgres", 150_000), Inst("mysql", 150_000)),
    steps=(Advance(90), Ship("kill", at=("PUT", "data", 2)), Advance(20), Ship("inproc")),
    seed=2))
# Three runs at once, the first killed after its second state commit; then a SIGTERM.
@example(schedule=Schedule(
    insts=(Inst("aurora-mysql", 150_000, 2.0, (("audit_rotate_bytes", 15_000),)),
           Inst("sqlserver-se", 150_000, None, (
               ("max_error_logs", 2), ("rotation_minutes", 60), ("trace_files", True),
               ("trace_rotate_bytes", 30_000), ("xel_bytes", 4096)))),
    steps=(Advance(150), Ship("group", n=3, kill_first=True, at=("PUT", "state", 2)),
           Advance(200), Ship("term", at=("PUT", "data", 2))),
    seed=3))
# Found by this property: bug F (header-only logs re-shipped under their rotated name).
@example(schedule=Schedule(
    insts=(Inst("mariadb", 100_000),),
    steps=(Ship("inproc", combine(["drops"])), Advance(60)), seed=0))
# Found by this property: bug I (S3 failures on a fresh instance, then a rotation).
@example(schedule=Schedule(
    insts=(Inst("mysql", 200_000, 4.0),),
    steps=(Ship("inproc", combine(["s3"])), Advance(90)), seed=0))
# Found by this property: bugs J and K (SIGTERM'd runs, a day later another, then size lag);
# then a header-only slow log that 'stayed' a day later hid the break from the listing.
@example(schedule=Schedule(
    insts=(Inst("mysql", 200_000, 4.0), Inst("aurora-postgresql", 100_000, 1.0)),
    steps=(Ship("term", at=("PUT", "data", 1)), Advance(1530),
           Ship("term", at=("PUT", "data", 6)),
           Ship("inproc", Fx(throttle=(5, 40.0), drop_rate=0.05, latency_ms=10.0,
                             size_lag_rate=0.4, max_attempts=2, s3_rate=0.1,
                             s3_kinds=("state",)))),
    seed=14))
# Found by the no-leak runs: bug D (a lagging listed size re-ships the file).
@example(schedule=Schedule(
    insts=(Inst("mysql", 100_000), Inst("postgres", 100_000)),
    steps=(Advance(30), Ship("inproc"), Advance(10), Ship("inproc", Fx(size_lag_rate=0.9))),
    seed=1))
# Found by this property (fixed in 2304241): files deleted unseen after a run that saw the
# families' first, header-only or empty, files.
@example(schedule=Schedule(
    insts=(Inst("postgres", 100_000, 1.0), Inst("mysql", 100_000, 1.0),
           Inst("oracle-ee", 100_000, 1.0, (("trace_bytes", 4096), ("traces_per_hour", 3.0)))),
    steps=(Ship("inproc"), Advance(180), Ship("inproc")), seed=4))
# Found by this property: an undecided break (yesterday's slow logs only candidates to prove)
# lost across a SIGTERM'd run and a run whose proofs failed under throttling.
@example(schedule=Schedule(
    insts=(Inst("aurora-mysql", 100_000, None, (("audit_rotate_bytes", 15_000),)),
           Inst("mariadb", 100_000)),
    steps=(Advance(90),
           Ship("kill", Fx(throttle=(5, 40.0), drop_rate=0.05, overlap_rate=0.4, s3_rate=0.3),
                at=("PUT", "lease", 6), n=2, kill_first=True),
           Advance(1590),
           Ship("term", combine(["throttle", "errors", "s3-state"]), at=("PUT", "any", 10), n=3),
           Advance(90),
           Ship("proc", Fx(throttle=(20, 25.0), overlap_rate=0.4, early_end_rate=0.4,
                           max_attempts=2)),
           Advance(90)),
    seed=10221))
# Found by this property (1 run in 10: it needs the SIGKILL after the general log's header
# object and before the commit): the adopted header-only generation was continued by the
# hour-2 file, which starts with the same header.
@example(schedule=Schedule(
    insts=(Inst("sqlserver-se", 100_000, 2.0, (
               ("max_error_logs", 2), ("rotation_minutes", 60), ("trace_files", False),
               ("trace_rotate_bytes", 30_000), ("xel_bytes", 4096))),
           Inst("sqlserver-se", 200_000, 2.0, (
               ("max_error_logs", 3), ("rotation_minutes", 120), ("trace_files", False),
               ("trace_rotate_bytes", 30_000), ("xel_bytes", 4096))),
           Inst("aurora-mysql", 100_000, 1.0, (("audit_rotate_bytes", 15_000),))),
    steps=(Ship("kill", combine(["s3-state", "size-lag", "throttle"]), at=("PUT", "state", 3),
                n=2, kill_first=True),
           LongLine(1, 70_000), Advance(90), Ship("inproc", combine(["s3-state"])),
           LongLine(0, 70_000), Advance(90),
           Ship("group", combine(["throttle", "empty-listings", "s3"]), at=("PUT", "data", 4),
                n=2, kill_first=True),
           Ship("inproc", Fx(throttle=(20, 25.0), error_rate=0.05, drop_rate=0.15,
                             drop_mid_stream_rate=0.3, size_lag_rate=0.4, overlap_rate=0.4,
                             early_end_rate=0.4, page_bytes=16384)),
           LongLine(0, 70_000)),
    seed=36062))
# Found by this property (random seed, about 1 run in 6): data writes whose answers were lost
# (stored all the same), then a clean commit: nothing looked for them and the files were
# shipped again under new generations.
@example(schedule=Schedule(
    insts=(Inst("mysql", 200_000, 4.0),
           Inst("aurora-mysql", 100_000, None, (("audit_rotate_bytes", 15_000),)),
           Inst("aurora-postgresql", 100_000, 1.0),
           Inst("aurora-mysql", 100_000, None, (("audit_rotate_bytes", 15_000),))),
    steps=(Ship("inproc", Fx(throttle=(20, 25.0), error_rate=0.2, latency_ms=10.0,
                             empty_listing_rate=0.3, overlap_rate=0.4, page_bytes=4096,
                             max_attempts=2, s3_rate=0.3)),
           Advance(150), LongLine(2, 3000),
           Ship("inproc", Fx(error_rate=0.2, drop_rate=0.15, size_lag_rate=0.4,
                             empty_listing_rate=0.3, overlap_rate=0.4, early_end_rate=0.4,
                             max_attempts=2, s3_rate=0.1, s3_kinds=("data",))),
           Ship("proc", combine(["empty-listings", "portions", "s3"]))),
    seed=809))
# Issue 18's shapes, always run: a SIGTERM during large streams with slow S3 and six hours
# between runs.
@example(schedule=Schedule(
    insts=(Inst("sqlserver-se", 150_000, None, (("max_error_logs", 3), ("rotation_minutes", 60),
                                               ("trace_files", False))),
           Inst("mysql", 150_000), Inst("oracle-ee", 150_000),
           Inst("postgres", 150_000, 2.0)),
    steps=(Ship("inproc"), Advance(90), LargeStop(2_000_000, 0.3),
           Advance(360), Ship("inproc")),
    seed=18))
# Found by this property at 10x (L, every time with these draws): two runs started while the
# clock crossed the hour; MySQL's running files rotated between the listing and their streams,
# and the new files were read under the generations minted for the old ones (first seen before
# the new files existed).
@example(schedule=Schedule(
    insts=(Inst("mariadb", 100_000), Inst("aurora-mysql", 100_000, None,
                                          (("audit_rotate_bytes", 15_000),))),
    steps=(Advance(10), Advance(150), Rotate(0), Burst(runs=2, minutes=60, ticks=2)),
    seed=0))
# Found by this property at 10x (M): Oracle traces kept 1 h, 90 min between runs; the trace
# shipped first was deleted by retention the instant the next was written. The suspected gap
# is right (no listing can tell that nothing fell between them); check 4b had called it false.
@example(schedule=Schedule(
    insts=(Inst("aurora-mysql", 100_000, None, (("audit_rotate_bytes", 15_000),)),
           Inst("oracle-ee", 100_000, 1.0, (("trace_bytes", 4096), ("traces_per_hour", 1.0)))),
    steps=(Advance(70), Ship("group", Fx(throttle=(5, 40.0), error_rate=0.05, latency_ms=10.0,
                                         size_lag_rate=0.4, overlap_rate=0.4,
                                         early_end_rate=0.4, max_attempts=2, s3_rate=0.3,
                                         s3_kinds=("state",)),
                             at=("PUT", "state", 1), n=3),
           Advance(60), Rotate(0), Advance(30), Rotate(0),
           LargeStop(3_000_000, 0.025), LargeStop(3_000_000, 0.025)),
    seed=10419))
# Found by this property at 10x (N, about 1 run in 10 alone, 2 in 3 with two suites side by
# side): MySQL's running error log shipped in a burst, then rotated to its hour's name; the
# next run's proof of the running name broke mid-stream and kept the claim on the generation,
# so the hour's file, which holds the shipped bytes, was shipped again under a new one.
@example(schedule=Schedule(
    insts=(Inst("postgres", 200_000), Inst("aurora-postgresql", 100_000, 4.0),
           Inst("mysql", 200_000),
           Inst("oracle-ee", 100_000, 1.0, (("trace_bytes", 4096), ("traces_per_hour", 3.0)))),
    steps=(LongLine(0, 1_100_000), LargeStop(3_000_000, 1.4089108116574178), Advance(30),
           Burst(3, 30, 7), Advance(90), Rotate(1), Burst(3, 30, 7),
           Ship("inproc", Fx(throttle=(5, 40.0), error_rate=0.2, drop_rate=0.15,
                             drop_mid_stream_rate=0.3, latency_ms=10.0, empty_listing_rate=0.3,
                             page_bytes=16384, max_attempts=2, s3_rate=0.1)),
           Ship("term", combine([]), at=("PUT", "lease", 4), n=3, kill_first=True)),
    seed=34294))
# Found by this property at 10x with random draws (O, 2 tries in 2 with two suites side by
# side): SQL Server's agent log shipped to 3 MB, then cycled during a burst; a run proved the
# listed SQLAGENT.3 against it after the chain had shifted, minted a new generation when the
# proof failed and kept it, and the rename rule later handed it the 3 MB file again.
@example(schedule=Schedule(
    insts=(Inst("sqlserver-se", 100_000, 4.0, (
               ("max_error_logs", 1), ("rotation_minutes", 60), ("trace_files", False),
               ("trace_rotate_bytes", 30_000), ("xel_bytes", 4096))),
           Inst("postgres", 200_000, 4.0, (("gz_archives", 1), ("rotation_minutes", 60))),
           Inst("aurora-postgresql", 100_000),
           Inst("postgres", 200_000, 4.0, (("gz_archives", 1), ("rotation_minutes", 60)))),
    steps=(Burst(3, 60, 5), LargeStop(3_000_000, 0.9155074755060317), Burst(2, 60, 8),
           Ship("term", combine([]), at=("PUT", "lease", 4), n=2, kill_first=True),
           LongLine(1, 3000), Ship("inproc"), Ship("inproc", combine(["portions"])),
           Advance(60), Ship("term", combine([]), at=("PUT", "lease", 4), n=2, kill_first=True)),
    seed=65536))
# Found by this property at 10x with random draws (P, every time): a burst's runs shipped
# the hour-01 files in full (or, on a slower try, counted their loss) before retention deleted
# them; check 5b, which sees only what existed when Ship steps started, asked for a suspected
# gap all the same.
@example(schedule=Schedule(
    insts=(Inst("mariadb", 100_000, 4.0), Inst("aurora-postgresql", 100_000)),
    steps=(Rotate(3), Advance(10), Ship("term", combine([]), at=("PUT", "lease", 1), n=2),
           LongLine(1, 1_100_000), Advance(60), LongLine(0, 3000), Advance(90),
           Burst(3, 60, 4), LongLine(3, 3000)),
    seed=1))
# Found by this property at 10x with random draws (R and Q2, then every try side by side):
# rotation bursts right after an hour of faults; MySQL's general, slow and error logs and SQL
# Server's ERROR were listed grown and rotated before they were read.
@example(schedule=Schedule(
    insts=(Inst("postgres", 100_000, None, (("gz_archives", 1), ("rotation_minutes", 60))),
           Inst("mysql", 200_000, 4.0),
           Inst("sqlserver-se", 100_000, None, (
               ("max_error_logs", 1), ("rotation_minutes", 120), ("trace_files", True),
               ("trace_rotate_bytes", 30_000), ("xel_bytes", 4096))),
           Inst("aurora-postgresql", 100_000, 2.0)),
    steps=(Advance(180), Rotate(3), LongLine(2, 3000), LongLine(0, 70_000),
           Ship("inproc", Fx(throttle=(5, 40.0), error_rate=0.2, drop_rate=0.05,
                             drop_mid_stream_rate=0.3, size_lag_rate=0.4, empty_listing_rate=0.3,
                             overlap_rate=0.4, early_end_rate=0.4, page_bytes=4096,
                             s3_rate=0.3)),
           Burst(3, 15, 5)),
    seed=17295))
# Found by this property at 10x with random draws (every try of 12 replayed): after a day's
# gap, a run left the general log's family undecided and took back a generation (an empty
# family listing); the next run let that sighting settle the family, and 24 hourly files
# deleted unseen raised no suspected gap.
@example(schedule=Schedule(
    insts=(Inst("oracle-ee", 200_000, 2.0, (("trace_bytes", 4096), ("traces_per_hour", 1.0))),
           Inst("oracle-ee", 200_000, 1.0, (("trace_bytes", 4096), ("traces_per_hour", 1.0))),
           Inst("oracle-ee", 200_000, None, (("trace_bytes", 4096), ("traces_per_hour", 3.0))),
           Inst("aurora-mysql", 100_000, 2.0, (("audit_rotate_bytes", 15_000),))),
    steps=(Ship("inproc", combine(["s3", "errors", "drops"])),
           LargeStop(1_500_000, 0.8040252115882855),
           Ship("inproc", combine(["empty-listings", "throttle"])),
           Burst(3, 15, 4), Advance(150), Advance(1500),
           Ship("group", combine(["errors", "empty-listings", "s3-state"]), at=("GET", "any", 8),
                n=3, kill_first=True),
           Ship("proc", combine([])), Advance(10)),
    seed=129))
# Issue 24, always run: identifiers move between physical instances. A blue/green
# switchover between runs, a rename (the former green's), the identifier now held by the
# former green deleted and re-created, a switchover (MySQL, 2 h retention) and a rename as
# runs list the instance, then a rename to an identifier another instance had.
@example(schedule=Schedule(
    insts=(Inst("postgres", 150_000), Inst("mysql", 150_000, 2.0)),
    steps=(Advance(70), Ship("inproc"), Switchover(0), Advance(20), Ship("proc"), Rename(3),
           Recreate(0), Advance(30), MidRun("switchover", 0), Advance(60),
           MidRun("rename", 2, late=True), Advance(30), Rename(1, reuse=True), Ship("inproc")),
    seed=24, greens=(0, 1)))
# Found by this property at 10x with random draws: after a switchover in the middle of a
# run, the new holder's audit family was known only by empty stamped files; a differently
# stamped file 46 minutes later was taken for one of them grown, and four audit files
# retention deleted unseen raised no suspected gap. Thread timing decides whether the run
# sees it (2 of 5 replays before the fix); tests/unit/test_continuity.py pins the rule.
@example(schedule=Schedule(
    insts=(Inst("aurora-mysql", 200_000, 4.0, (("audit_rotate_bytes", 15_000),), load_swing=0.5),
           Inst("aurora-postgresql", 100_000)),
    steps=(MidRun("switchover", 0, late=True), Rotate(0), Advance(300), Rotate(0)),
    seed=0, greens=(0,)))
def test_schedules_end_byte_for_byte_right(local_s3: LocalS3, s3tap: S3Tap,
                                           schedule: Schedule) -> None:
    execute(local_s3, s3tap, schedule)


@pytest.mark.timeout(0)
@settings(max_examples=LONG_EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example],
          print_blob=True)
@given(schedule=long_schedules())
# Issue 28, always run: a MySQL instance whose load swings, pages of 20 records, a run every
# two hours for 30 hours (.0-.5 reused). The name check's family listing read only its first
# page, which left the grown slow and general .5-.9 of the second day deferred forever.
@example(schedule=Schedule(
    insts=(Inst("mysql", 100_000, load_swing=0.5),),
    steps=(Advance(10), *[step for _ in range(15) for step in (Advance(60), Advance(60),
                                                               Ship("inproc"))]),
    seed=28, horizon_minutes=(LONG_HOURS[1] + 2) * 60,
    variants=(("log_files_max_records", "20"),)))
def test_long_schedules_cross_a_day_of_reused_names(local_s3: LocalS3, s3tap: S3Tap,
                                                    schedule: Schedule) -> None:
    reused = execute(local_s3, s3tap, schedule)
    assert reused, "the schedule never listed a MySQL .N name reused a day later"
    TALLY["long schedules (a day of reused .N names)"] += 1
    TALLY["reused .N names listed a day apart"] += len(reused)
    note(f"reused names: {reused}")
