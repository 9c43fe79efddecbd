"""`rds-log-shipper demo` without the [demo] extra (as in the container image) is one line."""

from __future__ import annotations

import importlib.util

import pytest

from shipper.cli import main
from shipper.exitcodes import ExitCode
from tests.infra.common import ROOT


def test_demo_without_the_extra_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "moto" else real(name, *a))
    assert main(["demo"]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "[demo]" in err and "make demo" in err


def test_the_deploy_config_is_git_ignored() -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "infra/deploy.json" in ignored, "it can hold an external id"
