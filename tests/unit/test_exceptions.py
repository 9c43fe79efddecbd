"""Error classes and exit codes: the operator-facing contract."""

from __future__ import annotations

import pytest

from shipper.exceptions import (
    AwsAccessError,
    ConfigError,
    DownloadMismatchError,
    InstanceGoneError,
    LeaseLostError,
    LogFileGoneError,
    ShipperError,
    StateConflictError,
    StateCorruptError,
    StopRequested,
)
from shipper.exitcodes import ExitCode


def test_exit_code_values_are_the_documented_ones() -> None:
    assert {c.name: c.value for c in ExitCode} == {
        "OK": 0, "PARTIAL_FAILURE": 1, "CONFIG": 2, "AWS_ACCESS": 3, "STATE_CORRUPT": 4,
        "MAX_RUNTIME": 5, "INTERRUPTED": 130, "TERMINATED": 143,
    }


@pytest.mark.parametrize(("cls", "code"), [
    (ShipperError, ExitCode.PARTIAL_FAILURE),
    (AwsAccessError, ExitCode.AWS_ACCESS),
    (StateCorruptError, ExitCode.STATE_CORRUPT),
    (StateConflictError, ExitCode.PARTIAL_FAILURE),
    (LeaseLostError, ExitCode.PARTIAL_FAILURE),
    (InstanceGoneError, ExitCode.PARTIAL_FAILURE),
    (LogFileGoneError, ExitCode.PARTIAL_FAILURE),
    (DownloadMismatchError, ExitCode.PARTIAL_FAILURE),
    (StopRequested, ExitCode.PARTIAL_FAILURE),
])
def test_error_classes_carry_their_exit_code(cls: type[ShipperError], code: ExitCode) -> None:
    err = cls("message")
    assert err.exit_code == code
    assert isinstance(err, ShipperError)


def test_config_error_names_its_setting_and_exits_2() -> None:
    err = ConfigError("SHIPPER_RATE", "is bad", "use 5")
    assert err.setting == "SHIPPER_RATE"
    assert err.exit_code == ExitCode.CONFIG
    assert err.one_line() == "SHIPPER_RATE: is bad (hint: use 5)"


def test_one_line_collapses_whitespace_and_appends_the_hint() -> None:
    err = ShipperError("two\nlines\r\n  here", "a\thint")
    assert err.one_line() == "two lines here (hint: a hint)"
    assert ShipperError("no hint").one_line() == "no hint"
    assert str(ShipperError("msg", "hint")) == "msg"
