"""The linters as tests: cfn-lint and hadolint (from the test extras, installed from uv.lock) and
checkov (from .venv-checkov, which infra/checks.sh creates from infra/checkov.lock; `make test`
runs that script first)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.infra import cfntools as cfn
from tests.infra.common import ROOT, tool_or_skip


@pytest.mark.parametrize("name", cfn.TEMPLATES)
def test_cfn_lint_finds_nothing(name: str) -> None:
    from cfnlint.api import ManualArgs, lint_file

    # Errors, warnings and informational rules alike: a finding that must stay is silenced in
    # the template's Metadata with a reason, not here.
    matches = lint_file(Path(cfn.INFRA / name), config=ManualArgs(include_checks=["I"]))
    assert [str(m) for m in matches] == []


def test_cfn_lint_config_lists_every_template() -> None:
    config = (cfn.INFRA / ".cfnlintrc.yaml").read_text()
    listed = {line.strip()[2:] for line in config.splitlines()
              if line.strip().startswith("- infra/")}
    on_disk = {f"infra/{p.name}" for p in cfn.INFRA.glob("*.yaml") if not p.name.startswith(".")}
    assert listed == on_disk


def test_hadolint_clean() -> None:
    hadolint = tool_or_skip("hadolint", ".venv")
    result = subprocess.run(
        [hadolint, "--config", str(ROOT / "infra/.hadolint.yaml"), str(ROOT / "Dockerfile")],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow  # 12 s; `make infra-checks` runs checkov too
@pytest.mark.parametrize(("framework", "target"), [
    ("cloudformation", ["-d", "infra"]),
    ("dockerfile", ["-f", "Dockerfile"]),
])
def test_checkov_clean(framework: str, target: list[str]) -> None:
    checkov = tool_or_skip("checkov", ".venv-checkov")
    result = subprocess.run(
        [checkov, "--config-file", "infra/.checkov.yaml", *target, "--framework", framework,
         "-o", "json"],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [f"{c['check_id']} {c['resource']} {c['file_path']}: {c['check_name']}"
              for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    assert failed == []
    assert result.returncode == 0, result.stderr
    for r in reports:
        assert r["summary"]["parsing_errors"] == 0
        assert r["summary"]["passed"] > 0
        for skipped in r.get("results", {}).get("skipped_checks", []):
            reason = (skipped.get("check_result") or {}).get("suppress_comment", "")
            assert len(reason) > 20, f"skip of {skipped['check_id']} needs a real reason"
