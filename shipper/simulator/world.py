"""The simulated RDS account: instances, their log files, a clock, and the ground truth.

Why: the shipper is correct only if every byte that ever existed in a log file reaches S3 once,
even though files are renamed, reused and deleted under it. The world therefore records every
*generation* (one file's bytes from creation to deletion, whatever names it had) under a truth
id that never changes; ``generations()`` is what the oracle compares S3 with.

Threading: one re-entrant lock guards everything. The HTTP server takes immutable snapshots
(``ContentView``) under the lock and reads bytes without it, so a 1 GiB download never blocks
a test that mutates the world. The clock is simulated: nothing happens until ``advance()``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipper.simulator.content import (
    DEFAULT_CHUNK,
    STYLES,
    Content,
    ContentView,
    Generated,
    Segment,
)
from shipper.simulator.engines import ENGINES, Engine, default_version, make_engine, real_options
from shipper.simulator.faults import ApiError


class NoLogFilesError(ApiError):
    """The log API was asked about an instance whose engine has no RDS log files (DocumentDB,
    Neptune, RDS Custom). The server turns it into the error ``Faults.no_log_files_error``
    chooses; raised by itself it reads as InvalidParameterCombination."""

    def __init__(self, identifier: str, engine: str) -> None:
        super().__init__("InvalidParameterCombination",
                         f"Log files are not available for DB instance {identifier} "
                         f"(engine {engine}).", 400)
        self.identifier = identifier
        self.engine = engine

DEFAULT_START = 1795132800  # 2026-11-20T00:00:00Z
DEFAULT_BYTES_PER_HOUR = 1_000_000

# Statuses in which RDS refuses log calls with InvalidDBInstanceState (and writes nothing).
NOT_READY_STATUSES = frozenset({
    "stopped", "stopping", "starting", "creating", "deleting", "failed",
    "inaccessible-encryption-credentials", "incompatible-restore",
})

_DEFAULT_STYLE = {
    "postgres": "postgres", "aurora-postgresql": "postgres", "mysql": "mysql-error",
    "mariadb": "mysql-error", "aurora-mysql": "mysql-error", "oracle-ee": "oracle-trace",
    "oracle-se2": "oracle-trace", "oracle-ee-cdb": "oracle-trace",
    "oracle-se2-cdb": "oracle-trace",
}


class _Gen:
    """One generation, mutable, owned by the world (tests see ``GenerationRecord``)."""

    __slots__ = ("_gunzipped", "content", "created_at", "current_name", "deleted_at",
                 "hidden", "hidden_total", "instance", "last_written", "names", "resource_id",
                 "truth_id")

    def __init__(self, truth_id: int, instance: str, name: str, created_at: float,
                 last_written: float, resource_id: str = "") -> None:
        self.truth_id = truth_id
        self.instance = instance  # the identifier when it was created
        self.resource_id = resource_id  # the instance's DbiResourceId: never changes
        self.names = [name]
        self.current_name: str | None = name
        self.created_at = created_at
        self.deleted_at: float | None = None
        self.last_written = last_written
        self.content = Content()
        # Filtered files (MySQL error logs): bytes the listed Size counts but no download
        # returns, as (offset in the visible bytes, count) in order.
        self.hidden: list[tuple[int, int]] = []
        self.hidden_total = 0
        self._gunzipped: tuple[int, bytes | None] | None = None

    @property
    def hour(self) -> int:
        return time.gmtime(self.created_at).tm_hour

    def gunzipped(self, view: ContentView) -> bytes | None:
        """The decompressed bytes of a gzip file (None if it is not valid gzip)."""
        cached = self._gunzipped
        if cached is not None and cached[0] == view.size:
            return cached[1]
        try:
            data: bytes | None = gzip.decompress(view.read())
        except (OSError, EOFError, zlib.error):
            data = None
        self._gunzipped = (view.size, data)
        return data


@dataclass(frozen=True)
class GenerationRecord:
    """A snapshot of one generation: its history and (lazily) its bytes at snapshot time.

    ``names`` lists every name it had, oldest first; ``current_name`` is None once deleted.
    The bytes are the raw stored bytes (for ``.gz`` files, the compressed bytes).
    """

    truth_id: int
    instance: str
    names: tuple[str, ...]
    current_name: str | None
    created_at: float
    deleted_at: float | None
    last_written: float
    size: int
    _view: ContentView = field(repr=False, compare=False)
    resource_id: str = ""  # the DbiResourceId of the instance that wrote it
    _cache: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def hour(self) -> int:
        """Hour of day (UTC) of creation: the ``H`` in this generation's portion markers."""
        return time.gmtime(self.created_at).tm_hour

    @property
    def exists(self) -> bool:
        return self.current_name is not None

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        return self._view.read(start, end)

    def iter_bytes(self, chunk: int = DEFAULT_CHUNK, start: int = 0,
                   end: int | None = None) -> Iterator[bytes]:
        return self._view.iter_range(start, end, chunk)

    def sha256(self) -> str:
        cached = self._cache.get("sha256")
        if cached is None:
            digest = hashlib.sha256()
            for piece in self.iter_bytes():
                digest.update(piece)
            cached = self._cache["sha256"] = digest.hexdigest()
        return cached


@dataclass(frozen=True)
class FileEntry:
    """One listed file, as the server needs it."""

    name: str
    last_written_ms: int
    size: int
    recent: bool


@dataclass(frozen=True)
class OpenFile:
    """A readable snapshot of the generation now at a name (what the server pages over).

    ``hidden`` lists the filtered-out bytes (visible offset, count): the listed Size counts
    them, no download returns them."""

    name: str
    truth_id: int
    hour: int
    view: ContentView
    gen: _Gen
    last_written: float = 0.0
    hidden: tuple[tuple[int, int], ...] = ()

    def gunzipped(self) -> bytes | None:
        return self.gen.gunzipped(self.view)


def _record(gen: _Gen) -> GenerationRecord:
    view = gen.content.view()
    return GenerationRecord(
        truth_id=gen.truth_id, instance=gen.instance, names=tuple(gen.names),
        current_name=gen.current_name, created_at=gen.created_at, deleted_at=gen.deleted_at,
        last_written=gen.last_written, size=view.size, _view=view,
        resource_id=gen.resource_id,
    )


class Instance:
    """One DB instance. Attribute writes and file operations take the world's lock."""

    def __init__(self, world: World, identifier: str, engine: str, *, status: str,
                 tags: Mapping[str, str] | None, cluster: str | None, paused: bool,
                 bytes_per_hour: float, engine_version: str | None,
                 options: Mapping[str, Any], load_swing: float = 0.0) -> None:
        self._world = world
        self.identifier = identifier
        # DbiResourceId: "The Amazon Web Services Region-unique, immutable identifier for the
        # DB instance" (API reference, DBInstance); a rename keeps it, a new instance under an
        # old identifier gets its own.
        self.resource_id = world._new_resource_id(identifier)
        self.engine = engine
        self.engine_version = engine_version or default_version(engine)
        self.cluster = cluster
        self.created_at = world.now
        self._status = status
        self._paused = paused
        self._tags: dict[str, str] = dict(tags or {})
        self._bytes_per_hour = float(bytes_per_hour)
        self.load_swing = float(load_swing)
        if not 0.0 <= self.load_swing <= 1.0:
            raise ValueError("load_swing must be 0..1")
        self._files: dict[str, _Gen] = {}
        self._carry = 0.0
        self._written_until = world.now
        self._removed = False
        self._options: dict[str, Any] = {**world.engine_defaults(engine), **options}
        self._engine: Engine = make_engine(engine, self, self._options, self.engine_version)
        self._engine.start(world.now)
        self._next_boundary = self._engine.next_boundary(world.now)

    @property
    def arn(self) -> str:
        w = self._world
        return f"arn:aws:rds:{w.region}:{w.account_id}:db:{self.identifier}"

    # --- mutable attributes --------------------------------------------------------------------

    @property
    def status(self) -> str:
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        with self._world._lock:
            self._status = value

    @property
    def paused(self) -> bool:
        return self._paused

    @paused.setter
    def paused(self, value: bool) -> None:
        with self._world._lock:
            self._paused = value

    @property
    def tags(self) -> dict[str, str]:
        with self._world._lock:
            return dict(self._tags)

    @tags.setter
    def tags(self, value: Mapping[str, str]) -> None:
        with self._world._lock:
            self._tags = dict(value)

    @property
    def bytes_per_hour(self) -> float:
        return self._bytes_per_hour

    @bytes_per_hour.setter
    def bytes_per_hour(self, value: float) -> None:
        with self._world._lock:
            self._bytes_per_hour = float(value)

    @property
    def retention_hours(self) -> float:
        return self._engine.retention_hours

    @retention_hours.setter
    def retention_hours(self, value: float) -> None:
        with self._world._lock:
            self._engine.retention_hours = float(value)

    @property
    def writing(self) -> bool:
        return not self._paused and self._status not in NOT_READY_STATUSES and not self._removed

    # --- test-facing file operations ---------------------------------------------------------

    def rotate(self, name: str | None = None) -> None:
        """Force the engine's rotation now (all rotating files, or only ``name``)."""
        with self._world._lock:
            self._engine.rotate(self._world.now, name)

    def append(self, name: str, data: bytes) -> None:
        """Append literal bytes to the generation now at ``name``."""
        with self._world._lock:
            gen = self._get(name)
            gen.content.append(bytes(data))
            gen.last_written = self._world.now

    def append_generated(self, name: str, nbytes: int, style: str | None = None) -> None:
        """Append ``nbytes`` of lazily generated lines to the generation now at ``name``."""
        with self._world._lock:
            self._op_append_generated(name, nbytes, style or self._style_for(name),
                                      self._world.now)

    def add_file(self, name: str, data_or_nbytes: bytes | int, *, style: str | None = None,
                 last_written: float | None = None) -> GenerationRecord:
        """Create a new file (a new generation; one already at ``name`` is deleted)."""
        with self._world._lock:
            now = self._world.now
            seg: Segment
            if isinstance(data_or_nbytes, int):
                seg = Generated(self._op_seed(), data_or_nbytes, style or self._style_for(name),
                                int(now))
            else:
                seg = bytes(data_or_nbytes)
            self._op_create(name, [seg], now, last_written)
            return _record(self._files[name])

    def delete_file(self, name: str) -> None:
        with self._world._lock:
            self._get(name)
            self._op_delete(name)

    def rename_file(self, old: str, new: str) -> None:
        """Rename like ``mv``: keeps LastWritten; a file already at ``new`` is deleted."""
        with self._world._lock:
            self._get(old)
            self._op_rename(old, new)

    def file(self, name: str) -> GenerationRecord:
        with self._world._lock:
            return _record(self._get(name))

    def files(self) -> dict[str, GenerationRecord]:
        with self._world._lock:
            return {name: _record(gen) for name, gen in sorted(self._files.items())}

    def generations(self) -> list[GenerationRecord]:
        return self._world.generations(resource_id=self.resource_id)

    def _get(self, name: str) -> _Gen:
        gen = self._files.get(name)
        if gen is None:
            raise KeyError(f"{self.identifier}: no file named {name!r}")
        return gen

    def _style_for(self, name: str) -> str:
        if name.endswith((".trc", ".xel")) and self.engine.startswith("sqlserver"):
            return "binary"
        for stream in self._engine.streams():
            if stream.name == name:
                return stream.style
        if self.engine.startswith("sqlserver"):
            return "sqlserver"
        return _DEFAULT_STYLE.get(self.engine, "postgres")

    # --- FileOps (called by the engine with the lock held) -------------------------------------

    def _op_create(self, name: str, segments: Sequence[Segment], at: float,
                   last_written: float | None = None) -> None:
        if name in self._files:
            self._op_delete(name)
        gen = self._world._new_gen(self.identifier, self.resource_id, name, at,
                                   at if last_written is None else last_written)
        for seg in segments:
            gen.content.append(seg)
        self._files[name] = gen

    def _op_rename(self, old: str, new: str) -> None:
        if old == new:
            return
        gen = self._files.pop(old)
        if new in self._files:
            self._op_delete(new)
        gen.names.append(new)
        gen.current_name = new
        self._files[new] = gen

    def _op_delete(self, name: str) -> None:
        gen = self._files.pop(name)
        gen.current_name = None
        gen.deleted_at = self._world.now

    def _op_append_generated(self, name: str, nbytes: int, style: str, at: float) -> None:
        if nbytes <= 0:
            return
        if style not in STYLES:
            raise ValueError(f"unknown style {style!r}")
        gen = self._get(name)
        gen.content.append(Generated(self._op_seed(), nbytes, style, int(at)))
        gen.last_written = max(gen.last_written, at)

    def _op_append_hidden(self, name: str, nbytes: int, at: float) -> None:
        """Bytes the listed Size counts but downloads never return (filtered error logs)."""
        if nbytes <= 0:
            return
        gen = self._get(name)
        gen.hidden.append((gen.content.size, nbytes))
        gen.hidden_total += nbytes
        gen.last_written = max(gen.last_written, at)

    def failover(self) -> None:
        """A Multi-AZ failover: the standby host serves the logs from now on. Every file of
        the old primary leaves the listing, and the engine starts its usual files afresh on
        the new host (new generations, possibly under names the old host used this hour)."""
        with self._world._lock:
            for name in list(self._files):
                self._op_delete(name)
            self._engine = make_engine(self.engine, self, self._options, self.engine_version)
            self._engine.start(self._world.now)
            self._next_boundary = self._engine.next_boundary(self._world.now)

    def _op_size(self, name: str) -> int:
        return self._get(name).content.size

    def _op_exists(self, name: str) -> bool:
        return name in self._files

    def _op_seed(self) -> int:
        return self._world._rng.getrandbits(62)

    # --- clock (lock held) -------------------------------------------------------------------

    def _write_until(self, t: float, boundary: bool) -> None:
        seconds = t - self._written_until
        self._written_until = t
        if seconds <= 0 or not self.writing:
            return
        self._carry += self._bytes_per_hour * self._swing(t) * seconds / 3600.0
        nbytes = int(self._carry)
        self._carry -= nbytes
        at = t - 0.001 if boundary else t
        self._engine.write(nbytes, at, seconds)

    def _swing(self, t: float) -> float:
        """This hour's share of ``bytes_per_hour``: 1, or with ``load_swing`` a factor drawn
        per instance and hour in [1 - swing, 1 + swing]. Real workloads differ hour by hour,
        so a reused name (MySQL's ``.N`` a day later) holds more or fewer bytes than the file
        it replaces; a constant rate makes every day's file the same size."""
        if not self.load_swing:
            return 1.0
        hour = int((t - 0.001) // 3600)
        draw = random.Random(f"{self._world.seed}:{self.identifier}:{hour}")  # noqa: S311
        return 1.0 + self.load_swing * (2.0 * draw.random() - 1.0)

    def _apply_retention(self, now: float) -> None:
        keep = self._engine.protected()
        for name, gen in list(self._files.items()):
            cutoff = now - self._engine.retention_for(name) * 3600.0
            if name not in keep and gen.last_written < cutoff:
                self._op_delete(name)

    def __repr__(self) -> str:
        return f"Instance({self.identifier!r}, {self.engine!r}, status={self._status!r})"


class World:
    """The simulated account and region. See the module docstring."""

    def __init__(self, seed: int = 0, start: float = DEFAULT_START,
                 account_id: str = "123456789012", region: str = "us-east-1",
                 real_rotation: bool = True) -> None:
        """``real_rotation`` (on): every new instance gets ``engines.REAL_OPTIONS`` (the daily
        alert log rotation, the agent log chain, filtered MySQL error logs), unless the test
        passes the option itself. Off: the engines without them, for tests about something
        else that need simpler files."""
        self.real_rotation = real_rotation
        self._lock = threading.RLock()
        self._rng = random.Random(seed)  # noqa: S311 - reproducible content
        self._now = float(start)
        self.seed = seed
        self.account_id = account_id
        self.region = region
        self._instances: dict[str, Instance] = {}
        self._gens: dict[int, _Gen] = {}
        self._created = 0  # instances ever created (their DbiResourceIds differ)

    @property
    def lock(self) -> threading.RLock:
        """The world's lock, for tests that need several changes to appear at once."""
        return self._lock

    @property
    def now(self) -> float:
        return self._now

    @property
    def now_ms(self) -> int:
        return int(self._now * 1000)

    # --- instances -----------------------------------------------------------------------------

    def add_instance(self, identifier: str, engine: str, *, status: str = "available",
                     tags: Mapping[str, str] | None = None, cluster: str | None = None,
                     paused: bool = False, bytes_per_hour: float = DEFAULT_BYTES_PER_HOUR,
                     engine_version: str | None = None, load_swing: float = 0.0,
                     **engine_options: Any) -> Instance:
        """Create an instance whose engine immediately creates its usual files.

        ``load_swing`` (0..1): each hour writes ``bytes_per_hour`` times a factor drawn per
        instance and hour in [1 - load_swing, 1 + load_swing] (0: the same every hour).
        ``engine_options`` are engine specific (see ``engines.py``), e.g. ``retention_hours``,
        ``rotation_minutes``, ``gz_archives``, ``audit_rotate_bytes``, ``max_error_logs``.
        """
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; use one of {sorted(ENGINES)}")
        with self._lock:
            if identifier in self._instances:
                raise ValueError(f"instance {identifier!r} already exists")
            inst = Instance(self, identifier, engine, status=status, tags=tags, cluster=cluster,
                            paused=paused, bytes_per_hour=bytes_per_hour,
                            engine_version=engine_version, options=engine_options,
                            load_swing=load_swing)
            self._instances[identifier] = inst
            return inst

    def engine_defaults(self, engine: str) -> dict[str, Any]:
        """Engine options every new instance of ``engine`` gets before its own options."""
        return dict(real_options(engine)) if self.real_rotation else {}

    def remove_instance(self, identifier: str) -> None:
        """Delete the instance; all its files are deleted (the truth keeps them)."""
        with self._lock:
            inst = self._instances.pop(identifier)
            inst._removed = True
            for name in list(inst._files):
                inst._op_delete(name)

    def instance(self, identifier: str) -> Instance:
        with self._lock:
            return self._instances[identifier]

    def rename_instance(self, old: str, new: str) -> Instance:
        """``ModifyDBInstance`` with ``NewDBInstanceIdentifier``: the same instance, its files
        and its DbiResourceId, under a new identifier (and so a new ARN)."""
        with self._lock:
            if new in self._instances:
                raise ValueError(f"instance {new!r} already exists")
            inst = self._instances.pop(old)
            inst.identifier = new
            self._instances[new] = inst
            return inst

    def switchover(self, blue: str, green: str) -> str:
        """A blue/green switchover: the blue is renamed by appending ``-oldN`` (the first N
        free), the green takes the blue's identifier; both keep their files, DbiResourceIds
        and logging ("Switching a blue/green deployment", RDS and Aurora User Guides: the old
        blue stays up, read-only until rebooted). Returns the old blue's new identifier."""
        with self._lock:
            n = 1
            while f"{blue}-old{n}" in self._instances:
                n += 1
            old_blue = f"{blue}-old{n}"
            self.rename_instance(blue, old_blue)
            self.rename_instance(green, blue)
            return old_blue

    def _new_resource_id(self, identifier: str) -> str:
        """A DbiResourceId like RDS's (``db-`` and 26 upper-case letters and digits), unique
        per instance ever created, drawn without touching the content's random stream."""
        self._created += 1
        digest = hashlib.sha256(f"{self.seed}:{self._created}:{identifier}".encode()).digest()
        return "db-" + base64.b32encode(digest).decode()[:26]

    def instances(self) -> list[Instance]:
        with self._lock:
            return [self._instances[k] for k in sorted(self._instances)]

    # --- clock ---------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the clock: write at each instance's rate, rotate at every boundary on the way
        (in time order), and apply retention."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            end = self._now + seconds
            while True:
                insts = list(self._instances.values())
                due = [i._next_boundary for i in insts
                       if i._next_boundary is not None and i._next_boundary <= end]
                t_next = max(min(due, default=end), self._now)
                for inst in insts:
                    inst._write_until(t_next, inst._next_boundary == t_next)
                self._now = t_next
                for inst in insts:
                    if inst._next_boundary == t_next:
                        inst._engine.on_boundary(t_next)
                        inst._next_boundary = inst._engine.next_boundary(t_next)
                    inst._apply_retention(t_next)
                if t_next >= end:
                    break

    def advance_to(self, when: float) -> None:
        self.advance(max(0.0, when - self._now))

    # --- ground truth --------------------------------------------------------------------------

    def _new_gen(self, instance: str, resource_id: str, name: str, created_at: float,
                 last_written: float) -> _Gen:
        truth_id = len(self._gens) + 1
        gen = _Gen(truth_id, instance, name, created_at, last_written, resource_id)
        self._gens[truth_id] = gen
        return gen

    def generations(self, instance: str | None = None,
                    where: Callable[[GenerationRecord], bool] | None = None,
                    resource_id: str | None = None) -> list[GenerationRecord]:
        """Snapshots of every generation ever created (of the instance created as
        ``instance``, or of the one physical instance ``resource_id``, if given)."""
        with self._lock:
            records = [_record(g) for g in self._gens.values()
                       if (instance is None or g.instance == instance)
                       and (resource_id is None or g.resource_id == resource_id)]
        return [r for r in records if where is None or where(r)]

    def generation(self, truth_id: int) -> GenerationRecord:
        with self._lock:
            return _record(self._gens[truth_id])

    # --- what the server asks (raise ApiError like the real API) ------------------------------

    def _ready_instance(self, identifier: str) -> Instance:
        inst = self._instances.get(identifier)
        if inst is None:
            raise ApiError("DBInstanceNotFound", f"DBInstance {identifier} not found.", 404)
        if not inst._engine.has_log_files:
            raise NoLogFilesError(identifier, inst.engine)
        if inst._paused:
            raise ApiError("DBInstanceNotReady",
                           f"DB instance {identifier} is paused (Aurora Serverless v2 auto-pause)"
                           " and cannot serve this request.", 400)
        if inst._status in NOT_READY_STATUSES:
            raise ApiError("InvalidDBInstanceState",
                           f"DB instance {identifier} is not in available state"
                           f" (status: {inst._status}).", 400)
        return inst

    def list_files(self, identifier: str, recent_seconds: float = 300.0) -> list[FileEntry]:
        with self._lock:
            inst = self._ready_instance(identifier)
            recent_after = self._now - recent_seconds
            return [
                FileEntry(name, int(gen.last_written * 1000),
                          gen.content.size + gen.hidden_total, gen.last_written >= recent_after)
                for name, gen in sorted(inst._files.items())
            ]

    def open_file(self, identifier: str, name: str) -> OpenFile:
        with self._lock:
            inst = self._ready_instance(identifier)
            gen = inst._files.get(name)
            if gen is None:
                raise ApiError("DBLogFileNotFoundFault",
                               f"DBLog File: {name}, is not found on the DB instance", 404)
            return OpenFile(name, gen.truth_id, gen.hour, gen.content.view(), gen,
                            gen.last_written, tuple(gen.hidden))

    def engine_of(self, identifier: str) -> Engine | None:
        with self._lock:
            inst = self._instances.get(identifier)
            return None if inst is None else inst._engine

    def snapshot_instances(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "id": i.identifier, "arn": i.arn, "engine": i.engine,
                    "resource_id": i.resource_id,
                    "version": i.engine_version, "status": i._status, "cluster": i.cluster,
                    "tags": dict(i._tags), "created_at": i.created_at,
                }
                for i in (self._instances[k] for k in sorted(self._instances))
            ]
