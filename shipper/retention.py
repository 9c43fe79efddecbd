"""How long RDS keeps a log file after its last write, per engine: the basis of the
retention-headroom metric (how long until RDS deletes the oldest byte not yet shipped).

Each entry is the SHORTEST documented default for any file type the engine writes, because the
headroom must warn before the first loss, not the last. Sources (Amazon RDS / Aurora User
Guides):

* postgres, aurora-postgresql: ``rds.log_retention_period`` defaults to 4320 minutes (3 days)
  ("RDS for PostgreSQL database log files"; Aurora: "Aurora PostgreSQL database log files").
* mysql: slow query and general logs are rotated hourly and files older than 24 hours are
  deleted ("Log rotation and retention for RDS for MySQL"; the error log is kept two weeks).
* mariadb: logs rotate hourly and files older than 24 hours are deleted ("Log rotation and
  retention for MariaDB"; "Accessing MariaDB error logs": the last 24 hours are retained).
* aurora-mysql: taken as RDS for MySQL's 24 hours; the Aurora guide's "Log rotation and
  retention for Aurora MySQL" sets its own schedule and the MySQL guide warns that the two
  differ, so the shorter documented window is the safe one.
* oracle-*: trace files (and audit files) are kept 7 days by default; the alert log 30 days
  ("Amazon RDS for Oracle database log files", section "Retention schedule").
* sqlserver-*: trace and dump files are kept 7 days by default ("Amazon RDS for Microsoft SQL
  Server", "Working with trace and dump files": purged after seven days by default).

Engines not listed get the shortest window above (24 hours). RDS may also delete earlier than
this when logs outgrow their share of storage (MySQL/MariaDB: 2% of allocated storage), so the
headroom is an upper bound; alarm well before it reaches zero.
"""

from __future__ import annotations

import fnmatch

HOUR = 3600.0
DAY = 24 * HOUR

RETENTION_SECONDS: tuple[tuple[str, float], ...] = (
    ("postgres", 3 * DAY),
    ("aurora-postgresql", 3 * DAY),
    ("mysql", DAY),
    ("mariadb", DAY),
    ("aurora-mysql", DAY),
    ("aurora", DAY),  # Aurora MySQL 1 (5.6-compatible) used the bare engine name
    ("oracle-*", 7 * DAY),
    ("custom-oracle-*", 7 * DAY),
    ("sqlserver-*", 7 * DAY),
    ("custom-sqlserver-*", 7 * DAY),
)
UNKNOWN_ENGINE_SECONDS = min(seconds for _, seconds in RETENTION_SECONDS)


def retention_seconds(engine: str) -> float:
    """Seconds RDS keeps a file of this engine after its last write (see the module doc)."""
    name = engine.lower()
    for pattern, seconds in RETENTION_SECONDS:
        if fnmatch.fnmatchcase(name, pattern):
            return seconds
    return UNKNOWN_ENGINE_SECONDS


def headroom_seconds(engine: str, lag_seconds: float) -> float:
    """Time left until RDS deletes the oldest unshipped byte.

    ``lag_seconds`` is the age of the oldest LastWritten among files not fully shipped (0 when
    caught up); RDS deletes a file ``retention`` after its LastWritten, so the file with the
    oldest LastWritten goes first. Negative: that file is already past its retention.
    """
    return retention_seconds(engine) - max(0.0, lag_seconds)
