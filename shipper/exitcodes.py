"""Process exit codes: one per failure class, documented in the README."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Every selected instance was shipped up to the end of what RDS listed."""

    PARTIAL_FAILURE = 1
    """Some instances or files failed (see the error lines); the rest shipped and committed."""

    CONFIG = 2
    """A setting is missing or malformed, or the command line is wrong. Nothing was touched."""

    AWS_ACCESS = 3
    """AWS refused us before any work: no credentials, access denied, missing bucket,
    unreachable endpoint."""

    STATE_CORRUPT = 4
    """An instance's state object is corrupt or from a newer version. That instance was left
    alone (nothing re-shipped); see `rds-log-shipper state --help` for the recovery."""

    MAX_RUNTIME = 5
    """The max-runtime budget ran out: progress is committed and the next run continues."""

    INTERRUPTED = 130
    """SIGINT (Ctrl-C): progress that was durable is committed."""

    TERMINATED = 143
    """SIGTERM (Spot interruption, docker stop, ECS StopTask): durable progress committed."""
