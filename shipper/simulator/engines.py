"""How each RDS engine names, writes and rotates its log files.

Why: a log file's name is not its identity. PostgreSQL makes a new name every hour; MySQL
renames its running error log and reuses the same ``.N`` slow/general names every day; SQL
Server shifts a rename chain; Oracle keeps one alert log forever and sprays short-lived trace
files. Each engine here drives those patterns through the small ``FileOps`` interface that the
world implements (create, rename, delete, append), so the world stays engine-agnostic and the
ground truth sees every generation, rename and deletion.

Time-driven rotations happen at ``next_boundary``; size-driven ones (Aurora MySQL audit logs,
SQL Server trace files) happen while writing. ``rotate(now)`` forces a rotation as if a boundary
had come (a PostgreSQL rotation that would reuse the current name is a no-op, as in PostgreSQL).
"""

from __future__ import annotations

import gzip
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from shipper.simulator.content import Generated, Segment, generate

HOUR = 3600


class FileOps(Protocol):
    """What an engine may do to its instance's files (implemented by ``world.Instance``)."""

    def _op_create(self, name: str, segments: Sequence[Segment], at: float,
                   last_written: float | None = None) -> None: ...

    def _op_rename(self, old: str, new: str) -> None: ...

    def _op_delete(self, name: str) -> None: ...

    def _op_append_generated(self, name: str, nbytes: int, style: str, at: float) -> None: ...

    def _op_append_hidden(self, name: str, nbytes: int, at: float) -> None: ...

    def _op_size(self, name: str) -> int: ...

    def _op_exists(self, name: str) -> bool: ...

    def _op_seed(self) -> int: ...


def fmt(ts: float, pattern: str) -> str:
    return time.strftime(pattern, time.gmtime(ts))


def floor_to(ts: float, step: int) -> int:
    return int(math.floor(ts / step) * step)


def next_multiple(ts: float, step: int) -> int:
    """The first multiple of ``step`` strictly after ``ts``."""
    return int(math.floor(ts / step) * step + step)


@dataclass(frozen=True)
class Stream:
    """An active file the engine writes at ``weight`` of the instance's rate."""

    name: str
    style: str
    weight: float
    rotate_bytes: int | None = None


class Engine:
    """Base class: options, rate split and the hooks the world calls."""

    engines: ClassVar[tuple[str, ...]] = ()
    default_version: ClassVar[str] = ""
    default_retention_hours: ClassVar[float] = 72.0
    defaults: ClassVar[Mapping[str, Any]] = {}
    max_records_ignored: ClassVar[bool] = False
    has_log_files: ClassVar[bool] = True

    def __init__(self, engine: str, ops: FileOps, options: Mapping[str, Any]) -> None:
        unknown = set(options) - set(self.defaults) - {"retention_hours"}
        if unknown:
            raise TypeError(f"{engine}: unknown engine option(s) {sorted(unknown)}; "
                            f"known: {sorted([*self.defaults, 'retention_hours'])}")
        self.engine = engine
        self.ops = ops
        self.opts: dict[str, Any] = {**self.defaults, **options}
        self.retention_hours = float(options.get("retention_hours", self.default_retention_hours))

    # --- hooks -----------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Create the files a fresh instance has."""

    def next_boundary(self, now: float) -> float | None:
        """The next time-driven rotation strictly after ``now`` (None: never)."""
        return None

    def on_boundary(self, t: float) -> None:
        """Rotate what rotates at boundary ``t``."""

    def rotate(self, now: float, name: str | None = None) -> None:
        """Force a rotation now (of ``name`` only, if given and it rotates)."""

    def streams(self) -> list[Stream]:
        return []

    def protected(self) -> set[str]:
        """Names retention must never delete (files being written)."""
        return {s.name for s in self.streams()}

    def retention_for(self, name: str) -> float:
        """Hours a file is kept after its last write."""
        return self.retention_hours

    def write(self, nbytes: int, at: float, seconds: float) -> None:
        """Spread ``nbytes`` (written over the ``seconds`` ending at ``at``) over the active
        streams; size-rotate where a stream asks for it."""
        streams = self.streams()
        total_weight = sum(s.weight for s in streams)
        if nbytes <= 0 or total_weight <= 0:
            return
        left = nbytes
        for i, stream in enumerate(streams):
            share = left if i == len(streams) - 1 else int(nbytes * stream.weight / total_weight)
            left -= share
            self._write_stream(stream, share, at, seconds)

    def _write_stream(self, stream: Stream, nbytes: int, at: float, seconds: float) -> None:
        name = stream.name
        total, done = nbytes, 0
        while done < total:
            room = total - done
            if stream.rotate_bytes is not None:
                room = min(room, max(stream.rotate_bytes - self.ops._op_size(name), 1))
            done += room
            # A size-rotating stream fills up part-way through the interval: date it so.
            t = at - seconds * (total - done) / total
            self.ops._op_append_generated(name, room, stream.style, t)
            if stream.rotate_bytes is not None and self.ops._op_size(name) >= stream.rotate_bytes:
                name = self.size_rotate(name, t)

    def size_rotate(self, name: str, at: float) -> str:
        """Rotate a size-limited stream; return the name now being written."""
        return name


class PostgresEngine(Engine):
    """``error/postgresql.log.YYYY-MM-DD-HH`` (Aurora and sub-hour rotation: ``-HHMM``)."""

    engines: ClassVar[tuple[str, ...]] = ("postgres", "aurora-postgresql")
    default_version = "16.4"
    default_retention_hours = 72.0
    defaults: ClassVar[Mapping[str, Any]] = {
        "rotation_minutes": 60,
        "log_filename": "hourly",
        "gz_archives": 0,
        "gz_archive_bytes": 64 * 1024,
    }

    def __init__(self, engine: str, ops: FileOps, options: Mapping[str, Any]) -> None:
        super().__init__(engine, ops, options)
        self.step = int(self.opts["rotation_minutes"]) * 60
        if not 60 <= self.step <= 1440 * 60:
            raise ValueError("rotation_minutes must be 1..1440")
        pattern = self.opts["log_filename"]
        if pattern not in ("hourly", "daily"):
            raise ValueError("log_filename must be 'hourly' (postgresql.log.%Y-%m-%d-%H) or "
                             "'daily' (postgresql.log.%Y-%m-%d)")
        self.hhmm = engine == "aurora-postgresql" or self.step != HOUR
        self.suffix = "%Y-%m-%d" if pattern == "daily" else (
            "%Y-%m-%d-%H%M" if self.hhmm else "%Y-%m-%d-%H")
        self.active = ""

    def name_at(self, ts: float) -> str:
        """A rotation that lands on the current name keeps appending to it (PostgreSQL's
        behaviour with log_truncate_on_rotation off): a daily pattern is one file a day."""
        return "error/postgresql.log." + fmt(ts, self.suffix)

    def start(self, now: float) -> None:
        archives = int(self.opts["gz_archives"])
        for k in range(archives, 0, -1):
            hour = floor_to(now, HOUR) - k * HOUR
            raw = generate(self.ops._op_seed(), int(self.opts["gz_archive_bytes"]), "postgres",
                           hour)
            data = gzip.compress(raw, compresslevel=6, mtime=0)
            name = "error/postgresql.log." + fmt(hour, "%Y-%m-%d-%H") + ".gz"
            self.ops._op_create(name, [data], hour, last_written=hour + HOUR - 1)
        self.active = self.name_at(floor_to(now, self.step))
        self.ops._op_create(self.active, [], now)

    def next_boundary(self, now: float) -> float:
        return next_multiple(now, self.step)

    def on_boundary(self, t: float) -> None:
        self._new_file(t)

    def rotate(self, now: float, name: str | None = None) -> None:
        if name is None or name == self.active:
            self._new_file(now)

    def _new_file(self, t: float) -> None:
        name = self.name_at(floor_to(t, 60))
        if name != self.active and not self.ops._op_exists(name):
            self.active = name
            self.ops._op_create(name, [], t)

    def streams(self) -> list[Stream]:
        return [Stream(self.active, "postgres", 1.0)] if self.active else []


def mysql_header(version: str, engine: str) -> bytes:
    flavour = "MariaDB-log" if engine == "mariadb" else "(Source distribution)"
    return (
        f"/rdsdbbin/mysql/bin/mysqld, Version: {version} {flavour}. started with:\n"
        "Tcp port: 3306  Unix socket: /tmp/mysql.sock\n"
        "Time                 Id Command    Argument\n"
    ).encode()


ERROR_RUNNING = "error/mysql-error-running.log"
SLOW_LOG = "slowquery/mysql-slowquery.log"
GENERAL_LOG = "general/mysql-general.log"
SERVER_AUDIT = "audit/server_audit.log"
MYSQL_RETENTION_HOURS = 14 * 24.0


class MySQLEngine(Engine):
    """Running error log renamed hourly; slow/general logs rotated to ``.N`` (hour of day)."""

    engines: ClassVar[tuple[str, ...]] = ("mysql", "mariadb")
    default_version = "8.0.39"
    default_retention_hours = 24.0
    defaults: ClassVar[Mapping[str, Any]] = {
        "slow_log": True,
        "general_log": True,
        # Rotated names: "dated" (name.YYYY-MM-DD.HH, public listings since 2019) or "hour"
        # (name.H, H = 0..23, reused every day: listings from 2013 to 2020).
        "error_log_naming": "dated",
        "slow_general_naming": "hour",
        # Share of the error log's bytes that the listed Size counts but no download returns
        # ("the error logs are filtered ... they might have 0 bytes when you download them").
        "error_log_filtered_ratio": 0.0,
        # The MariaDB Audit Plugin (MARIADB_AUDIT_PLUGIN option): audit/server_audit.log,
        # renamed to .1 .. .N when it reaches SERVER_AUDIT_FILE_ROTATE_SIZE.
        "server_audit": False,
        "server_audit_rotate_bytes": 1_000_000,
        "server_audit_rotations": 9,
    }
    versions: ClassVar[Mapping[str, str]] = {"mariadb": "10.11.9"}

    def __init__(self, engine: str, ops: FileOps, options: Mapping[str, Any],
                 version: str = "") -> None:
        super().__init__(engine, ops, options)
        if engine == "mysql" and "retention_hours" not in options:
            # RDS for MySQL keeps two weeks; MariaDB (and this class's default) 24 hours.
            self.retention_hours = MYSQL_RETENTION_HOURS
        self.header = mysql_header(version or self.default_version, engine)
        for option in ("error_log_naming", "slow_general_naming"):
            if self.opts[option] not in ("dated", "hour"):
                raise ValueError(f"{option} must be 'dated' or 'hour'")
        self.filtered = float(self.opts["error_log_filtered_ratio"])
        if not 0.0 <= self.filtered <= 1.0:
            raise ValueError("error_log_filtered_ratio must be 0..1")

    def hourly(self) -> list[tuple[str, str, float]]:
        files = [(ERROR_RUNNING, "mysql-error", 0.1)]
        if self.opts["slow_log"]:
            files.append((SLOW_LOG, "mysql-slow", 0.45))
        if self.opts["general_log"]:
            files.append((GENERAL_LOG, "mysql-general", 0.45))
        return files

    def start(self, now: float) -> None:
        for name, _style, _w in self.hourly():
            self._fresh(name, now)
        if self.opts["server_audit"]:
            self.ops._op_create(SERVER_AUDIT, [], now)

    def _fresh(self, name: str, t: float) -> None:
        self.ops._op_create(name, [] if name == ERROR_RUNNING else [self.header], t)

    def next_boundary(self, now: float) -> float:
        return next_multiple(now, HOUR)

    def on_boundary(self, t: float) -> None:
        for name, _style, _w in self.hourly():
            self._rotate_one(name, t - 0.001, t)

    def rotate(self, now: float, name: str | None = None) -> None:
        for active, _style, _w in self.hourly():
            if name is None or name == active:
                self._rotate_one(active, now, now)

    def _rotate_one(self, name: str, label_time: float, t: float) -> None:
        naming = self.opts["error_log_naming" if name == ERROR_RUNNING else "slow_general_naming"]
        if naming == "dated":
            target = f"{name}.{fmt(label_time, '%Y-%m-%d.%H')}"
        else:
            target = f"{name}.{int(fmt(label_time, '%H'))}"
        self.ops._op_rename(name, target)
        self._fresh(name, t)

    def streams(self) -> list[Stream]:
        streams = [Stream(name, style, w) for name, style, w in self.hourly()]
        if self.opts["server_audit"]:
            streams.append(Stream(SERVER_AUDIT, "mysql-audit", 0.3,
                                  int(self.opts["server_audit_rotate_bytes"])))
        return streams

    def protected(self) -> set[str]:
        # The audit chain is bounded by its count (SERVER_AUDIT_FILE_ROTATIONS), not by age.
        rotations = int(self.opts["server_audit_rotations"])
        return {*super().protected(), *(f"{SERVER_AUDIT}.{k}" for k in range(1, rotations + 1))}

    def _write_stream(self, stream: Stream, nbytes: int, at: float, seconds: float) -> None:
        if stream.name == ERROR_RUNNING and self.filtered > 0 and nbytes > 0:
            hidden = int(nbytes * self.filtered)
            super()._write_stream(stream, nbytes - hidden, at, seconds)
            self.ops._op_append_hidden(ERROR_RUNNING, hidden, at)
            return
        super()._write_stream(stream, nbytes, at, seconds)

    def size_rotate(self, name: str, at: float) -> str:
        if name != SERVER_AUDIT:
            return name
        top = int(self.opts["server_audit_rotations"])
        if top == 0:
            return name  # SERVER_AUDIT_FILE_ROTATIONS=0: the file never rotates
        if self.ops._op_exists(f"{SERVER_AUDIT}.{top}"):
            self.ops._op_delete(f"{SERVER_AUDIT}.{top}")
        for k in range(top - 1, 0, -1):
            if self.ops._op_exists(f"{SERVER_AUDIT}.{k}"):
                self.ops._op_rename(f"{SERVER_AUDIT}.{k}", f"{SERVER_AUDIT}.{k + 1}")
        self.ops._op_rename(SERVER_AUDIT, f"{SERVER_AUDIT}.1")
        self.ops._op_create(SERVER_AUDIT, [], at)
        return SERVER_AUDIT


class AuroraMySQLEngine(MySQLEngine):
    """MySQL's files plus audit logs: several written at once, each rotating at a size."""

    engines: ClassVar[tuple[str, ...]] = ("aurora-mysql",)
    default_version = "8.0.mysql_aurora.3.07.1"
    defaults: ClassVar[Mapping[str, Any]] = {
        **MySQLEngine.defaults,
        "audit": True,
        "audit_files": 2,
        "audit_rotate_bytes": 100 * 1000 * 1000,
    }

    def __init__(self, engine: str, ops: FileOps, options: Mapping[str, Any],
                 version: str = "") -> None:
        super().__init__(engine, ops, options, version or "8.0.39")
        self.audit_names: list[str] = []
        self.audit_seq = 0

    def _audit_name(self, writer: int, t: float) -> str:
        self.audit_seq += 1
        return f"audit/audit.log.{writer}.{fmt(t, '%Y-%m-%d-%H-%M')}.{self.audit_seq:05d}"

    def start(self, now: float) -> None:
        super().start(now)
        if self.opts["audit"]:
            for writer in range(int(self.opts["audit_files"])):
                name = self._audit_name(writer, now)
                self.audit_names.append(name)
                self.ops._op_create(name, [], now)

    def size_rotate(self, name: str, at: float) -> str:
        if name not in self.audit_names:
            return super().size_rotate(name, at)
        writer = self.audit_names.index(name)
        new = self._audit_name(writer, at)
        self.audit_names[writer] = new
        self.ops._op_create(new, [], at)
        return new

    def rotate(self, now: float, name: str | None = None) -> None:
        super().rotate(now, name)
        for writer, active in enumerate(list(self.audit_names)):
            if name is None or name == active:
                self.audit_names[writer] = self._audit_name(writer, now)
                self.ops._op_create(self.audit_names[writer], [], now)

    def streams(self) -> list[Stream]:
        streams = super().streams()
        if not self.audit_names:
            return streams
        limit = int(self.opts["audit_rotate_bytes"])
        weight = 1.0 / len(self.audit_names)
        return [*streams,
                *(Stream(n, "mysql-audit", weight, limit) for n in self.audit_names)]


AGENT_LOG = "log/SQLAGENT.OUT"


class SQLServerEngine(Engine):
    """``log/ERROR`` shifted down a rename chain; binary ``.trc`` (size-rotated) and ``.xel``."""

    engines: ClassVar[tuple[str, ...]] = (
        "sqlserver-ee", "sqlserver-se", "sqlserver-ex", "sqlserver-web")
    default_version = "16.00.4150.1.v1"
    default_retention_hours = 168.0
    defaults: ClassVar[Mapping[str, Any]] = {
        "max_error_logs": 30,
        "rotation_minutes": 1440,
        "trace_files": True,
        "trace_rotate_bytes": 20 * 1024 * 1024,
        "xel_bytes": 256 * 1024,
        # log/SQLAGENT.OUT, cycled with the error log to SQLAGENT.1 .. .9 ("a maximum of 10
        # agent logs are retained").
        "agent_log": False,
        "max_agent_logs": 9,
    }

    def __init__(self, engine: str, ops: FileOps, options: Mapping[str, Any]) -> None:
        super().__init__(engine, ops, options)
        self.step = int(self.opts["rotation_minutes"]) * 60
        self.trace_no = 0
        self.trace_name = ""

    def start(self, now: float) -> None:
        self.ops._op_create("log/ERROR", [], now)
        if self.opts["agent_log"]:
            self.ops._op_create(AGENT_LOG, [], now)
        if self.opts["trace_files"]:
            self.trace_name = f"log/log_{self.trace_no}.trc"
            self.ops._op_create(self.trace_name, [], now)
            xel = Generated(self.ops._op_seed(), int(self.opts["xel_bytes"]), "binary")
            self.ops._op_create(f"log/system_health_0_{int(now)}.xel", [xel], now)

    def next_boundary(self, now: float) -> float:
        return next_multiple(now, self.step)

    def on_boundary(self, t: float) -> None:
        self._cycle(t)

    def rotate(self, now: float, name: str | None = None) -> None:
        if name is None or name == "log/ERROR":
            self._cycle(now)
        if (name is None or name == self.trace_name) and self.trace_name:
            self.size_rotate(self.trace_name, now)

    def _cycle(self, t: float) -> None:
        self._shift("log/ERROR", "log/ERROR", int(self.opts["max_error_logs"]), t)
        if self.opts["agent_log"]:
            self._shift(AGENT_LOG, "log/SQLAGENT", int(self.opts["max_agent_logs"]), t)

    def _shift(self, current: str, stem: str, top: int, t: float) -> None:
        """``current`` -> ``stem.1`` -> ... -> ``stem.top`` (deleted past it); a fresh
        ``current`` starts (sp_cycle_errorlog / sp_cycle_agent_errorlog)."""
        if self.ops._op_exists(f"{stem}.{top}"):
            self.ops._op_delete(f"{stem}.{top}")
        for k in range(top - 1, 0, -1):
            if self.ops._op_exists(f"{stem}.{k}"):
                self.ops._op_rename(f"{stem}.{k}", f"{stem}.{k + 1}")
        if top >= 1:
            self.ops._op_rename(current, f"{stem}.1")
        else:
            self.ops._op_delete(current)
        self.ops._op_create(current, [], t)

    def size_rotate(self, name: str, at: float) -> str:
        self.trace_no += 1
        self.trace_name = f"log/log_{self.trace_no}.trc"
        self.ops._op_create(self.trace_name, [], at)
        return self.trace_name

    def streams(self) -> list[Stream]:
        streams = [Stream("log/ERROR", "sqlserver", 0.9)]
        if self.opts["agent_log"]:
            streams.append(Stream(AGENT_LOG, "sqlserver", 0.05))
        if self.trace_name:
            streams.append(Stream(self.trace_name, "binary", 0.1,
                                  int(self.opts["trace_rotate_bytes"])))
        return streams

    def protected(self) -> set[str]:
        # The chain is bounded by max_error_logs, not by age.
        return {"log/ERROR", *(f"log/ERROR.{k}" for k in range(1, 100)), self.trace_name,
                AGENT_LOG, *(f"log/SQLAGENT.{k}" for k in range(1, 100))}


class OracleEngine(Engine):
    """``trace/alert_<SID>.log`` grows forever; ``trace/<SID>_ora_<pid>.trc`` come and stop."""

    engines: ClassVar[tuple[str, ...]] = (
        "oracle-ee", "oracle-se2", "oracle-ee-cdb", "oracle-se2-cdb")
    default_version = "19.0.0.0.ru-2024-10.rur-2024-10.r1"
    default_retention_hours = 168.0
    max_records_ignored = True
    defaults: ClassVar[Mapping[str, Any]] = {
        "sid": "ORCL",
        "traces_per_hour": 6.0,
        "trace_bytes": 16 * 1024,
        # "The text alert log is rotated daily with 30-day retention managed by Amazon RDS":
        # at 00:00 UTC it is renamed to trace/alert_<SID>.log.<YYYY-MM-DD of the day ended>.
        "alert_daily_rotation": False,
        "alert_retention_hours": 30 * 24.0,
    }

    def __init__(self, engine: str, ops: FileOps, options: Mapping[str, Any]) -> None:
        super().__init__(engine, ops, options)
        self.alert = f"trace/alert_{self.opts['sid']}.log"
        self.trace_carry = 0.0

    def start(self, now: float) -> None:
        self.ops._op_create(self.alert, [], now)

    def next_boundary(self, now: float) -> float | None:
        return next_multiple(now, 24 * HOUR) if self.opts["alert_daily_rotation"] else None

    def on_boundary(self, t: float) -> None:
        self._rotate_alert(t)

    def _rotate_alert(self, t: float) -> None:
        self.ops._op_rename(self.alert, f"{self.alert}.{fmt(t - 1, '%Y-%m-%d')}")
        self.ops._op_create(self.alert, [], t)

    def retention_for(self, name: str) -> float:
        if name.startswith(self.alert + "."):
            return float(self.opts["alert_retention_hours"])
        return self.retention_hours

    def write(self, nbytes: int, at: float, seconds: float) -> None:
        self.trace_carry += float(self.opts["traces_per_hour"]) * max(seconds, 0.0) / HOUR
        size = int(self.opts["trace_bytes"])
        count = int(self.trace_carry)
        self.trace_carry -= count
        for k in range(count):
            self.new_trace(at - seconds * (count - 1 - k) / count, size)
        super().write(nbytes, at, seconds)

    def new_trace(self, at: float, nbytes: int) -> str:
        seed = self.ops._op_seed()
        pid = 1000 + seed % 60000
        name = f"trace/{self.opts['sid']}_ora_{pid}.trc"
        while self.ops._op_exists(name):
            pid += 1
            name = f"trace/{self.opts['sid']}_ora_{pid}.trc"
        self.ops._op_create(name, [Generated(seed, nbytes, "oracle-trace", int(at))], at)
        return name

    def rotate(self, now: float, name: str | None = None) -> None:
        """A forced rotation starts a new trace file; with ``alert_daily_rotation`` the alert
        log is rotated too (as at midnight) when named."""
        if name is None:
            self.new_trace(now, int(self.opts["trace_bytes"]))
        if name == self.alert and self.opts["alert_daily_rotation"]:
            self._rotate_alert(now)

    def streams(self) -> list[Stream]:
        return [Stream(self.alert, "oracle-alert", 1.0)]


class NoLogFilesEngine(Engine):
    """Engines DescribeDBInstances lists but the RDS log API does not serve: DocumentDB and
    Neptune (which share RDS's control plane) and RDS Custom ("This command doesn't apply to
    RDS Custom"). They have no files; the server answers every log call with an error."""

    engines: ClassVar[tuple[str, ...]] = (
        "docdb", "neptune", "custom-oracle-ee", "custom-oracle-ee-cdb", "custom-oracle-se2",
        "custom-oracle-se2-cdb", "custom-sqlserver-ee", "custom-sqlserver-se",
        "custom-sqlserver-web", "custom-sqlserver-dev")
    default_version = "5.0.0"
    has_log_files = False
    versions: ClassVar[Mapping[str, str]] = {"neptune": "1.3.2.1"}


ENGINE_CLASSES: tuple[type[Engine], ...] = (
    PostgresEngine, MySQLEngine, AuroraMySQLEngine, SQLServerEngine, OracleEngine,
    NoLogFilesEngine,
)
ENGINES: dict[str, type[Engine]] = {name: cls for cls in ENGINE_CLASSES for name in cls.engines}


def default_version(engine: str) -> str:
    cls = ENGINES[engine]
    if issubclass(cls, MySQLEngine) and engine in MySQLEngine.versions:
        return MySQLEngine.versions[engine]
    if cls is NoLogFilesEngine and engine in NoLogFilesEngine.versions:
        return NoLogFilesEngine.versions[engine]
    return cls.default_version


# The rotations and filtering real RDS has, on for every new instance of a world (off only
# with ``World(real_rotation=False)``, for tests about something else). Sources: FIDELITY.md.
REAL_OPTIONS: dict[str, Mapping[str, Any]] = {
    "mysql": {"error_log_filtered_ratio": 0.5},
    **{e: {"agent_log": True} for e in SQLServerEngine.engines},
    **{e: {"alert_daily_rotation": True} for e in OracleEngine.engines},
}


def real_options(engine: str) -> Mapping[str, Any]:
    return REAL_OPTIONS.get(engine, {})


def make_engine(engine: str, ops: FileOps, options: Mapping[str, Any], version: str) -> Engine:
    cls = ENGINES.get(engine)
    if cls is None:
        raise ValueError(f"unknown engine {engine!r}; use one of {sorted(ENGINES)}")
    if issubclass(cls, MySQLEngine):
        return cls(engine, ops, options, version)
    return cls(engine, ops, options)
