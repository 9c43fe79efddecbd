"""Running the shipper: in this process (``run_inproc``, the one in-process runner) or as a
child process (``finish`` collects it); either way the result is a ``Run``."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from unittest import mock

import shipper.runner
from shipper.cli import main
from shipper.simulator.harness import json_lines, run_summary


class HasEnv(Protocol):
    """Where a run's environment comes from: an ``AwsWorld`` or an ``Environment``."""

    env: dict[str, str]


@dataclass
class Environment:
    """An environment with nothing behind it, for runs that must stop before any AWS call."""

    env: dict[str, str]


@dataclass
class Run:
    """One shipper process (or in-process call) and what it printed."""

    mode: str
    code: int | None
    stdout: str
    stderr: str
    killed: bool = False
    run_id: str | None = None
    crashed: str | None = None  # an exception that escaped main() (in-process runs)
    lines: list[dict[str, Any]] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def summary_if_any(self) -> dict[str, Any] | None:
        return run_summary(self.lines)

    @property
    def summary(self) -> dict[str, Any]:
        found = self.summary_if_any
        if found is None:
            raise AssertionError(f"no summary line in output:\n{self.describe()}")
        return found

    @property
    def emf(self) -> dict[str, Any] | None:
        for line in reversed(self.lines):
            if "_aws" in line:
                return line
        return None

    def messages(self, level: str | None = None) -> list[str]:
        return [str(x.get("message")) for x in self.lines
                if level is None or x.get("level") == level]

    def errors(self) -> list[dict[str, Any]]:
        return [x for x in self.lines if x.get("level") == "ERROR"]

    def instance_errors(self, instance: str) -> list[dict[str, Any]]:
        """Errors about the instance as a whole (no file named): it was not fully processed."""
        return [x for x in self.errors()
                if x.get("instance") == instance and not x.get("file")]

    def skipped(self, instance: str) -> bool:
        return any(x.get("instance") == instance and "skipping" in str(x.get("message"))
                   for x in self.lines)

    def describe(self) -> str:
        return (f"[{self.mode}] exit {self.code} killed={self.killed} crashed={self.crashed}\n"
                f"--- stdout (tail)\n{self.stdout[-6000:]}\n--- stderr (tail)\n"
                f"{self.stderr[-3000:]}")


def run_inproc(aws: HasEnv, *argv: str, s3_faults: Any = None,
               session_hook: Callable[[Any], None] | None = None, **env: str) -> Run:
    """``shipper.cli.main(argv or ["run"])`` in this process with the world's environment
    (``env`` on top; an empty value unsets a variable). ``s3_faults``/``session_hook`` are
    applied to every boto3 session the run creates. An exception escaping ``main`` is
    recorded in ``crashed``, not raised."""
    out, err = io.StringIO(), io.StringIO()
    merged = {**aws.env, **env}
    run_id = merged.get("SHIPPER_RUN_ID") or f"rel-{uuid.uuid4().hex[:10]}"
    merged["SHIPPER_RUN_ID"] = run_id
    hooks = [h for h in (s3_faults.register if s3_faults else None, session_hook) if h]
    real = shipper.runner.make_session

    def make_session(*a: Any, **k: Any) -> Any:
        session = real(*a, **k)
        for hook in hooks:
            hook(session)
        return session

    crashed = None
    code: int | None = None
    with mock.patch.dict(os.environ, merged, clear=False), \
            mock.patch.object(shipper.runner, "make_session", make_session), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        for name in [k for k, v in merged.items() if v == ""]:
            os.environ.pop(name, None)
        try:
            code = main(list(argv) or ["run"])
        except BaseException as exc:
            crashed = f"{type(exc).__name__}: {exc}"
    return Run("inproc", code, out.getvalue(), err.getvalue(), run_id=run_id, crashed=crashed,
               lines=json_lines(out.getvalue()))


def run_cli(aws: HasEnv, *argv: str, **env: str) -> Run:
    """Any subcommand in this process (``status``/``state`` print non-JSON text too)."""
    res = run_inproc(aws, *argv, **env)
    res.mode = "cli"
    return res


def finish(proc: subprocess.Popen[str], mode: str = "child", run_id: str | None = None,
           timeout: float = 120.0) -> Run:
    """Wait for a child process; one that does not finish in time is killed (and says so)."""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        stderr += f"\n[test] child did not finish within {timeout}s and was killed"
    code = proc.returncode
    return Run(mode, code, stdout, stderr, killed=code == -signal.SIGKILL, run_id=run_id,
               lines=json_lines(stdout))


def describe(run: Run) -> str:
    return run.describe()


def assert_no_traceback(run: Run) -> None:
    for stream in (run.stdout, run.stderr):
        assert "Traceback" not in stream, run.describe()
    assert 'File "' not in run.stderr, run.describe()
