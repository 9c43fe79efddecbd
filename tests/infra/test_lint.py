"""The linters as tests: cfn-lint and hadolint (from the test extras, installed from uv.lock) and
checkov (from .venv-checkov, which infra/checks.sh creates from infra/checkov.lock; `make test`
runs that script first)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra import cfntools as cfn
from tests.infra.common import ROOT, tool_or_skip

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it


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
def assert_checkov_clean(args: list[str]) -> list[dict[str, Any]]:
    """checkov with the project's config on ``args``: no failed check, no parse error;
    returns its reports."""
    checkov = tool_or_skip("checkov", ".venv-checkov")
    result = subprocess.run(
        [checkov, "--config-file", "infra/.checkov.yaml", *args, "-o", "json"],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [f"{c['check_id']} {c['resource']} {c['file_path']}: {c['check_name']}"
              for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    assert failed == []
    assert result.returncode == 0, result.stderr
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports)
    return reports


@pytest.mark.parametrize(("framework", "target"), [
    ("cloudformation", ["-d", "infra"]),
    ("dockerfile", ["-f", "Dockerfile"]),
])
def test_checkov_clean(framework: str, target: list[str]) -> None:
    for r in assert_checkov_clean([*target, "--framework", framework]):
        assert r["summary"]["passed"] > 0
        for skipped in r.get("results", {}).get("skipped_checks", []):
            reason = (skipped.get("check_result") or {}).get("suppress_comment", "")
            assert len(reason) > 20, f"skip of {skipped['check_id']} needs a real reason"


def _variants(tmp_path: Path) -> dict[str, list[Path]]:
    """infra/variants.py's copies: one directory per capacity x schedule combination."""
    subprocess.run([sys.executable, str(cfn.INFRA / "variants.py"), str(tmp_path)], check=True,
                   capture_output=True, timeout=60)
    return {d.name: sorted(d.glob("*.yaml")) for d in sorted(tmp_path.iterdir())}


def test_every_combination_is_written(tmp_path: Path) -> None:
    combos = _variants(tmp_path)
    assert sorted(combos) == sorted(
        f"{c}-{s}" for c in ("ec2_spot_fleet", "ec2_spot_asg", "fargate_spot")
        for s in ("rule", "scheduler"))
    for name, files in combos.items():
        capacity, schedule = name.rsplit("-", 1)
        assert [f.name for f in files] == ["cluster.yaml", "shipper.yaml"]
        cluster = cfn.parameter_defaults(cfn_yaml_load(files[0]))
        shipper = cfn.parameter_defaults(cfn_yaml_load(files[1]))
        assert cluster["CapacityChoice"] == shipper["CapacityChoice"] == capacity.upper()
        assert shipper["ScheduleKind"] == schedule.upper()


def cfn_yaml_load(path: Path) -> dict[str, object]:
    from cfnlint.decode import cfn_yaml

    return cfn._plain(cfn_yaml.load(str(path)))  # type: ignore[no-any-return]


def test_cfn_lint_finds_nothing_in_any_combination(tmp_path: Path) -> None:
    from cfnlint.api import ManualArgs, lint_file

    # A copy identical to a template linted above (or to another copy) is linted once.
    seen = {(cfn.INFRA / name).read_text() for name in cfn.TEMPLATES}
    found, linted = [], 0
    for files in _variants(tmp_path).values():
        for path in files:
            if path.read_text() in seen:
                continue
            seen.add(path.read_text())
            linted += 1
            found += [f"{path.parent.name}/{path.name}: {m}"
                      for m in lint_file(path, config=ManualArgs(include_checks=["I"]))]
    assert found == []
    assert linted == 7, "2 more clusters (ASG, Fargate Spot), 5 more shippers"


@pytest.mark.slow  # 15 s; `make infra-checks` runs it too
def test_checkov_clean_in_every_combination(tmp_path: Path) -> None:
    tool_or_skip("checkov", ".venv-checkov")
    _variants(tmp_path / "variants")
    assert_checkov_clean(["-d", str(tmp_path / "variants"), "--framework", "cloudformation"])
