"""The command line: version, usage errors as one line with exit code 2, `run` as default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

import shipper.runner
from shipper import __version__
from shipper.cli import COMMANDS, _normalise, build_parser, main
from shipper.config import SETTINGS, Settings, flags_from_namespace, load_settings
from shipper.exceptions import AwsAccessError
from shipper.exitcodes import ExitCode

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


def assert_one_error_line(err: str) -> None:
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_version_flag_prints_version_and_returns_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    out, err = capsys.readouterr()
    assert out == f"rds-log-shipper {__version__}\n"
    assert err == ""


def test_python_dash_m_shipper_version_works_in_a_subprocess() -> None:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "shipper", "--version"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"rds-log-shipper {__version__}"


def test_help_returns_0_and_lists_commands_and_exit_codes(
    capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--help"]) == 0
    out, _ = capsys.readouterr()
    for command in COMMANDS:
        assert command in out
    assert "Exit codes:" in out and "2 config" in out


def test_run_help_lists_every_setting_flag_and_env_var(
    capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--help"]) == 0
    out, _ = capsys.readouterr()
    for spec in SETTINGS:
        assert spec.flag in out and spec.env in out


@pytest.mark.parametrize("argv", [
    ["--frobnicate"],
    ["frobnicate"],
    ["run", "--no-such-flag", "x"],
    ["run", "--concurrency"],
    ["status", "--bogus"],
    ["state"],
    ["state", "show"],
    ["state", "explode", "--instance", "db-1"],
    ["demo", "--instances", "many"],
], ids=lambda argv: " ".join(argv))
def test_usage_error_exits_2_with_one_stderr_line(
    argv: list[str], clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert_one_error_line(err)
    assert err.startswith("rds-log-shipper")
    assert "(see --help)" in err


def test_unknown_flag_is_named_in_the_error(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--frobnicate"])
    assert "--frobnicate" in capsys.readouterr().err


def test_unknown_command_is_named_in_the_error(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["frobnicate"])
    assert "frobnicate" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "expected"), [
    ([], ["run"]),
    (["--bucket", "b"], ["run", "--bucket", "b"]),
    (["run", "--bucket", "b"], ["run", "--bucket", "b"]),
    (["status", "--json"], ["status", "--json"]),
    (["state", "show"], ["state", "show"]),
    (["demo"], ["demo"]),
    (["--version"], ["--version"]),
    (["-h"], ["-h"]),
])
def test_run_is_the_default_command(argv: list[str], expected: list[str]) -> None:
    assert _normalise(argv) == expected


def test_setting_flags_without_a_command_reach_the_run_settings(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("AWS_REGION", "eu-west-1")
    assert main(["--bucket", "Not_A_Bucket"]) == 2
    _, err = capsys.readouterr()
    assert_one_error_line(err)
    assert "--bucket: 'Not_A_Bucket'" in err


def test_every_setting_flag_is_accepted_by_run_status_and_state() -> None:
    parser = build_parser()
    for prefix in (["run"], ["status"], ["state", "show", "--instance", "db-1"]):
        for spec in SETTINGS:
            args = parser.parse_args([*prefix, spec.flag, "raw-value"])
            assert flags_from_namespace(args)[spec.field] == "raw-value"


def test_parsed_flags_override_env_through_the_parser() -> None:
    args = build_parser().parse_args(["run", "--concurrency", "16", "--bucket", "flag-bucket"])
    env = {"SHIPPER_BUCKET": "env-bucket", "SHIPPER_CONCURRENCY": "4", "AWS_REGION": "eu-west-1"}
    settings = load_settings(env, flags_from_namespace(args))
    assert (settings.bucket, settings.concurrency) == ("flag-bucket", 16)


def test_state_command_parses_its_options() -> None:
    args = build_parser().parse_args(
        ["state", "repair", "--instance", "db-1", "--account", "123456789012",
         "--region-name", "eu-west-1", "--yes"])
    assert (args.command, args.action, args.instance, args.account, args.region_name,
            args.yes) == ("state", "repair", "db-1", "123456789012", "eu-west-1", True)


class _FakeRunner:
    """Stands in for ``shipper.runner.Runner`` so that ``main`` runs without AWS."""

    behaviour: Any = None
    seen: ClassVar[list[Settings]] = []

    def __init__(self, settings: Settings, stdout: Any = None) -> None:
        _FakeRunner.seen.append(settings)

    def run(self) -> int:
        behaviour = _FakeRunner.behaviour
        if isinstance(behaviour, BaseException):
            raise behaviour
        return int(behaviour)


@pytest.fixture
def fake_runner(clean_env: pytest.MonkeyPatch) -> type[_FakeRunner]:
    clean_env.setenv("SHIPPER_BUCKET", "my-log-bucket")
    clean_env.setenv("AWS_REGION", "eu-west-1")
    clean_env.setenv("SHIPPER_LOG_FORMAT", "json")
    clean_env.setattr(shipper.runner, "Runner", _FakeRunner)
    _FakeRunner.seen = []
    return _FakeRunner


def test_run_passes_the_runner_exit_code_through(fake_runner: type[_FakeRunner]) -> None:
    fake_runner.behaviour = ExitCode.MAX_RUNTIME
    assert main([]) == 5
    assert len(fake_runner.seen) == 1


def test_run_gives_the_runner_a_run_id(fake_runner: type[_FakeRunner]) -> None:
    fake_runner.behaviour = 0
    main(["--run-id", "my-run"])
    main([])
    assert fake_runner.seen[0].run_id == "my-run"
    assert fake_runner.seen[1].run_id  # generated


def test_shipper_error_exits_with_its_code_and_one_line(
    fake_runner: type[_FakeRunner], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_runner.behaviour = AwsAccessError("bucket 'my-log-bucket' does not exist",
                                           "create it\nor fix SHIPPER_BUCKET")
    assert main([]) == ExitCode.AWS_ACCESS
    _, err = capsys.readouterr()
    assert_one_error_line(err)
    assert err == ("rds-log-shipper: error: bucket 'my-log-bucket' does not exist "
                   "(hint: create it or fix SHIPPER_BUCKET)\n")


def test_keyboard_interrupt_exits_130_with_one_line(
    fake_runner: type[_FakeRunner], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_runner.behaviour = KeyboardInterrupt()
    assert main([]) == 130
    assert_one_error_line(capsys.readouterr().err)
