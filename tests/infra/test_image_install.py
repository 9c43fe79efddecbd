"""The Dockerfile's install steps, without Docker: build the wheels from exactly the build
context the image gets, install only them into a fresh environment, and start the console
script the way the container does (non-root, nothing writable but /tmp).

No Docker engine is needed (CI has none). What this cannot cover: the base image itself, the
BuildKit bind mount, and the container runtime's read-only root filesystem; the Dockerfile's
text is checked in test_templates.py and by hadolint/checkov.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.common import (
    ROOT,
    dockerfile_instructions,
    dockerignore_excludes,
    dockerignore_patterns,
    in_ci,
    tool_or_skip,
)

pytestmark = pytest.mark.slow  # the slow tier: CI runs it, make test-fast skips it

NOBODY = (65534, 65534)


def uv_or_skip() -> str:
    """The uv that `make` installs (.venv-uv), or one on PATH."""
    return tool_or_skip("uv", ".venv-uv")


def runtime_lock(requirements: str) -> dict[str, str]:
    """name -> version of an exported requirements file (markers and hashes dropped)."""
    pins = {}
    for line in requirements.splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


def _as_nobody(argv: list[str]) -> list[str]:
    return ["setpriv", f"--reuid={NOBODY[0]}", f"--regid={NOBODY[1]}", "--clear-groups",
            "--", *argv]


def _interpreter_for_nobody() -> str | None:
    """A Python that user nobody can run (pyenv under /root usually is not readable)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return None
    for candidate in (os.path.realpath(sys.executable), "/usr/bin/python3",
                      "/usr/local/bin/python3"):
        if Path(candidate).exists() and _run(
                _as_nobody([candidate, "-c", "import venv, ensurepip"]),
                timeout=30).returncode == 0:
            return candidate
    return None


@pytest.fixture
def workdir() -> Iterator[Path]:
    # World-readable, unlike pytest's tmp_path, so that user nobody can use what is built.
    path = Path(tempfile.mkdtemp(prefix="rls-image-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _build_context(dest: Path) -> Path:
    """Copy what `docker build .` would send: the repository minus .dockerignore."""
    patterns = dockerignore_patterns()
    tracked = _run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                   cwd=ROOT).stdout.split()
    context = dest / "context"
    for rel in tracked:
        if dockerignore_excludes(rel, patterns) or not (ROOT / rel).is_file():
            continue
        target = context / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    # The Dockerfile's COPY sources must all be there.
    for copy in dockerfile_instructions().get("COPY", []):
        words = [w for w in copy.split() if not w.startswith("--")]
        for source in words[:-1]:
            assert (context / source).exists(), f"COPY {source}: not in the build context"
    return context


@pytest.mark.timeout(300)
def test_wheel_builds_installs_and_starts_as_non_root(workdir: Path) -> None:
    if not (ROOT / "README.md").exists():
        pytest.fail("README.md is missing: pyproject.toml names it as the readme, and the "
                    "image build copies it")
    context = _build_context(workdir)
    nobody_python = _interpreter_for_nobody()
    python = nobody_python or sys.executable

    # Stage 1: the runtime part of uv.lock, hash-checked wheels, then ours (the Dockerfile's
    # build stage, with the uv that `make` installed).
    build_env = workdir / "build-venv"
    assert _run([python, "-m", "venv", str(build_env)]).returncode == 0
    runtime_txt = workdir / "runtime.txt"
    exported = _run([uv_or_skip(), "export", "--frozen", "--no-emit-project", "--format",
                     "requirements-txt", "-o", str(runtime_txt)], cwd=context, timeout=60)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    wheels = workdir / "wheels"
    pip_wheel = [str(build_env / "bin" / "python"), "-m", "pip", "wheel", "--quiet",
                 "--no-deps", "--wheel-dir", str(wheels)]
    built = _run([*pip_wheel, "--require-hashes", "--requirement", str(runtime_txt)],
                 timeout=240)
    assert built.returncode == 0, built.stdout + built.stderr
    built = _run([*pip_wheel, str(context)], timeout=240)
    assert built.returncode == 0, built.stdout + built.stderr
    ours = sorted(wheels.glob("rds_log_shipper-*.whl"))
    assert len(ours) == 1, sorted(p.name for p in wheels.iterdir())

    # Stage 2: only the built wheels, no index.
    runtime = workdir / "runtime"
    assert _run([python, "-m", "venv", str(runtime)]).returncode == 0
    installed = _run([str(runtime / "bin" / "python"), "-m", "pip", "install", "--quiet",
                      "--no-index", "--no-cache-dir", f"--find-links={wheels}", str(ours[0])],
                     timeout=120)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    listed = _run([str(runtime / "bin" / "python"), "-m", "pip", "list", "--format=freeze"])
    versions = dict(line.lower().split("==") for line in listed.stdout.split() if "==" in line)
    locked = runtime_lock(runtime_txt.read_text())
    assert set(locked) >= {"boto3", "botocore", "tenacity", "python-json-logger"}
    extra = set(versions) - set(locked) - {"rds-log-shipper", "pip", "setuptools", "wheel"}
    assert not extra, f"the image would carry more than the runtime needs: {sorted(extra)}"
    for name, version in locked.items():
        assert versions.get(name) == version, f"{name}: uv.lock has {version}, got {versions}"

    # Start it like the container: the entrypoint, non-root, TMPDIR the only writable place.
    os.chmod(runtime, 0o755)
    entry = str(runtime / "bin" / "rds-log-shipper")
    env = {"PATH": f"{runtime / 'bin'}:/usr/bin:/bin", "TMPDIR": "/tmp", "HOME": "/nonexistent",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "AWS_REGION": "eu-west-1",
           "AWS_EC2_METADATA_DISABLED": "true"}
    if nobody_python:
        wrap = _as_nobody
    else:
        message = ("non-root start skipped: not root, or no Python that user nobody can "
                   "read; started as the current user instead")
        if in_ci():
            print(message)

        def wrap(argv: list[str]) -> list[str]:
            return argv

    version = _run(wrap([entry, "--version"]), env=env, timeout=60)
    assert version.returncode == 0, version.stderr
    from shipper import __version__

    assert __version__ in version.stdout + version.stderr
    assert re.search(r"\d+\.\d+", version.stdout + version.stderr)
    # The default command with no bucket configured: a config error (exit 2) before any AWS
    # call, which proves the settings layer loads as this user.
    default = _run(wrap([entry, "run"]), env=env, timeout=60)
    assert default.returncode == 2, default.stdout + default.stderr
    assert "SHIPPER_BUCKET" in default.stdout + default.stderr
