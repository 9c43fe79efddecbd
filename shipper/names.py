"""What a log file's name says: its family, the timestamp it carries, whether RDS may give
it to another file. Names only: which listed file is which generation is ``shipper.identity``.

RDS names rotated files by engine (``../shared/rds-log-api.md``, the RDS User Guide's pages
per engine): a timestamp for good (PostgreSQL's hourly ``postgresql.log.YYYY-MM-DD-HH``,
Aurora's audit ``audit.log.N.YYYY-MM-DD-HH-MM.K``, MySQL's renamed error log, Oracle's dated
alert log), or a slot of a rename chain that the next rotation hands on (MySQL ``.N``, SQL
Server ``ERROR.N`` and ``SQLAGENT.N``, MariaDB ``server_audit.log.N``). A running log's name
carries neither, and is handed to the next file at each rotation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from shipper.listing import LogFile

# Rotation suffixes, most specific first; one is stripped to name a file's family.
_SUFFIXES = (
    re.compile(r"\.\d{4}-\d{2}-\d{2}-\d{2}-\d{2}\.\d+$"),  # Aurora MySQL audit
    re.compile(r"\.\d{4}-\d{2}-\d{2}-\d{2}(\d{2})?(\.gz)?$"),  # PostgreSQL hourly (Aurora HHMM)
    re.compile(r"\.\d{4}-\d{2}-\d{2}\.\d{2}$"),  # MySQL error log, renamed hourly
    # Oracle's alert log, renamed daily (trace/alert_<SID>.log.YYYY-MM-DD); PostgreSQL's
    # daily log_filename (postgresql.log.YYYY-MM-DD)
    re.compile(r"\.\d{4}-\d{2}-\d{2}$"),
    # MySQL .N, SQL Server ERROR.N and SQLAGENT.N, MariaDB server_audit.log.N
    re.compile(r"\.\d+$"),
)
# The timestamped ones name a file for good: it is never renamed to another timestamp.
_STAMPED = _SUFFIXES[:4]
# The last one numbers the slots of a rename chain, which the next rotation gives on.
_CHAIN_SLOT = _SUFFIXES[-1]
# Running logs whose own name carries a suffix their rotated names do not: SQL Server's agent
# log log/SQLAGENT.OUT cycles to log/SQLAGENT.1 .. .9 (sp_cycle_agent_errorlog).
_RUNNING_SUFFIXES = (re.compile(r"(?<=/SQLAGENT)\.OUT$"),)


def family(name: str) -> str:
    for pattern in _SUFFIXES:
        stripped = pattern.sub("", name)
        if stripped != name:
            return stripped
    return running_base(name)


def running_base(name: str) -> str:
    """The family a running log's name stands for (``log/SQLAGENT.OUT`` -> ``log/SQLAGENT``);
    other names are their own."""
    for pattern in _RUNNING_SUFFIXES:
        name = pattern.sub("", name)
    return name


def is_running_name(name: str) -> bool:
    """A name without a rotation suffix: RDS hands it to the next file at each rotation."""
    return not any(p.search(name) for p in _SUFFIXES)

def stamp(name: str) -> str | None:
    """The timestamp a rotated name carries (``.2024-01-02-03``), without ``.gz``; None for
    names without one (running logs, ``.N`` slots, SQL Server's chain, trace files)."""
    for pattern in _STAMPED:
        match = pattern.search(name)
        if match:
            return match.group(0).removesuffix(".gz")
    return None

def is_chain_slot(name: str) -> bool:
    """A name that the next rotation gives to another file (``ERROR.1`` -> ``ERROR.2``)."""
    return _CHAIN_SLOT.search(name) is not None and stamp(name) is None

def name_may_move(name: str) -> bool:
    """May RDS give this name to another file (a running log's, a chain slot)? A name that
    carries its timestamp never is."""
    return stamp(name) is None

def continuity_family(name: str) -> str:
    """Files that replace one another over time (digits folded: Oracle and SQL Server trace
    files get new numbered names), for noticing that all of them vanished between runs."""
    return re.sub(r"\d+", "#", family(name))

_TRACE_SUFFIXES = (".trc", ".trm", ".xel")


def _activity_group(name: str) -> str:
    """Files of which only the newest is being written: a family, except that trace files
    (Oracle, SQL Server), each a new numbered name, form one group per pattern."""
    return continuity_family(name) if name.endswith(_TRACE_SUFFIXES) else family(name)


def active_names(listing: Iterable[LogFile]) -> set[str]:
    """The files being written: the newest of each activity group, and every running log.
    A running log's name holds the file being written whatever the listing says: a listing
    read page by page across a rotation can show the rotated file newer than the running
    log, and a running log taken for closed escaped the name check (its name is handed on at
    the next rotation all the same)."""
    newest: dict[str, int] = {}
    files = list(listing)
    for f in files:
        group = _activity_group(f.name)
        newest[group] = max(newest.get(group, -1), f.last_written_ms)
    return {f.name for f in files
            if (f.last_written_ms == newest[_activity_group(f.name)] or _running_file(f.name))
            and not f.name.endswith(".gz")}


def _running_file(name: str) -> bool:
    """A running log's name (not a numbered trace file, which is a name of its own)."""
    return is_running_name(name) and not name.endswith(_TRACE_SUFFIXES)

