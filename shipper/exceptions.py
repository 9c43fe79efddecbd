"""Specific error classes. Each keeps its cause (``raise X from err``) and carries a hint."""

from __future__ import annotations

from shipper.exitcodes import ExitCode


class ShipperError(Exception):
    """Base class: an expected failure with a one-line message for the operator."""

    exit_code: ExitCode = ExitCode.PARTIAL_FAILURE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message if not self.hint else f"{self.message} (hint: {self.hint})"
        return " ".join(text.split())


class ConfigError(ShipperError):
    """A setting is missing or malformed."""

    exit_code = ExitCode.CONFIG

    def __init__(self, setting: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"{setting}: {message}", hint)
        self.setting = setting


class AwsAccessError(ShipperError):
    """Credentials, permissions, bucket or endpoint problems that stop the whole run."""

    exit_code = ExitCode.AWS_ACCESS


class StateCorruptError(ShipperError):
    """An instance's state object cannot be trusted; the instance is skipped, nothing re-shipped."""

    exit_code = ExitCode.STATE_CORRUPT


class StateConflictError(ShipperError):
    """Someone else wrote the state object since we read it (lease lost)."""


class LeaseLostError(ShipperError):
    """Our lease on an instance expired or was taken over; stop work on it."""


class InstanceGoneError(ShipperError):
    """The DB instance was deleted or stopped serving logs while we worked on it."""


class InstanceNotReady(ShipperError):
    """The instance answers but serves no logs right now (paused, stopped, creating)."""


class LogFileGoneError(ShipperError):
    """The log file vanished (retention or rotation) while we read it."""


class BinaryLogDataError(ShipperError):
    """DownloadDBLogFilePortion refused the file as binary (HTTP 400 InvalidParameterValue,
    "This file contains binary data and should be downloaded instead of viewed."). Not a
    failure: the caller downloads the complete file over REST instead."""


class DataObjectTakenError(ShipperError):
    """A data object's key holds a stopped run's object that this run's adoption did not
    find (``shipper.layout.left_by_a_stopped_run``): it is not replaced, and the file waits
    for the next run, which adopts it."""


class DownloadMismatchError(ShipperError):
    """The bytes RDS returned do not belong where we expected (rotation race, overlap)."""


class StopRequested(ShipperError):
    """A stop signal or the max-runtime budget asked us to wind down."""


class InstanceMovedError(ShipperError):
    """The instance's identifier names another instance now (a blue/green switchover or a
    rename during the run): nothing more of it is committed, the next run decides."""
