"""The Dockerfile built by a real builder (podman) and the image run the way users run it.

The pinned public base cannot be pulled on machines that reach only the Debian and PyPI
registries, so the build uses a stand-in base made from Debian packages
(tests/infra/standin_base.sh, built once into .cache/image-test/) through the Dockerfile's
BASE_IMAGE build argument; everything after FROM is the Dockerfile as shipped. The podman flags
follow /work/shared/container-build-notes.md: runc (crun refuses hybrid cgroups), explicit
ulimits, storage flags on the command line, the host's CA bundle for pip in RUN steps only.

Needs root, podman, runc and mmdebstrap: skipped locally without them, a failure in CI
(.ci/run installs them and sets IMAGE_TEST=required).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.common import ROOT, in_ci
from tests.support.world import AwsWorld

pytestmark = pytest.mark.slow

CACHE = ROOT / ".cache" / "image-test"
IMAGE = "localhost/rds-log-shipper:test"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
UID = "10001:10001"


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "the container test runs podman as root (mmdebstrap --mode=root)"
    absent = [t for t in ("podman", "runc", "mmdebstrap") if shutil.which(t) is None]
    if absent:
        return f"not installed: {', '.join(absent)} (apt-get install podman runc mmdebstrap)"
    return None


def _storage() -> list[str]:
    """Given as flags, not CONTAINERS_* variables, which conmon's cleanup does not see."""
    return ["--root", str(CACHE / "store"), "--runroot", str(CACHE / "run"),
            "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs",
            "--events-backend", "file"]


def _limits() -> list[str]:
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nofile = 65536 if nofile == resource.RLIM_INFINITY else min(nofile, 65536)
    nproc = 32768 if nproc == resource.RLIM_INFINITY else min(nproc, 32768)
    return ["--runtime", "runc", "--ulimit", f"nofile={nofile}:{nofile}",
            "--ulimit", f"nproc={nproc}:{nproc}"]


def podman(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *_storage(), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def run_image(*args: str, env: dict[str, str] | None = None,
              network: str = "none") -> subprocess.CompletedProcess[str]:
    """`docker run` as ECS runs the task: uid 10001, read-only root, /tmp a volume."""
    flags = [f"--env={k}={v}" for k, v in (env or {}).items()]
    return podman("run", "--rm", *_limits(), "--network", network, "--read-only",
                  "--user", UID, "-v", "/tmp", *flags, IMAGE, *args, timeout=120)


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    reason = _missing()
    if reason:
        if in_ci() or os.environ.get("IMAGE_TEST") == "required":
            pytest.fail(f"CI must build the image: {reason}")
        pytest.skip(reason)
    base = subprocess.run(["bash", str(ROOT / "tests" / "infra" / "standin_base.sh"),
                           str(CACHE), *_storage()], capture_output=True, text=True,
                          timeout=900, check=False)
    assert base.returncode == 0, base.stderr[-3000:]
    build = podman("build", *_limits(), "--pull=never", "--network", "host",
                   "--build-arg", f"BASE_IMAGE={base.stdout.strip()}",
                   "-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro",
                   "-t", IMAGE, "-f", "Dockerfile", str(ROOT), timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    yield IMAGE


def test_image_runs_as_10001_with_a_read_only_root(image: str) -> None:
    inspect = podman("image", "inspect", image, "--format",
                     "{{.Config.User}} {{json .Config.Entrypoint}} {{json .Config.Cmd}}")
    assert inspect.stdout.split(" ", 1)[0] == UID, inspect.stdout
    result = run_image("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("rds-log-shipper "), result.stdout
    whoami = podman("run", "--rm", *_limits(), "--network", "none", "--read-only", "-v", "/tmp",
                    "--entrypoint", "python", image, "-c",
                    "import os; open('/tmp/x', 'w').write('ok'); print(os.getuid());"
                    "open('/usr/x', 'w')")
    assert whoami.stdout.strip() == "10001", whoami.stdout + whoami.stderr
    assert "Read-only file system" in whoami.stderr, whoami.stderr


def test_status_with_a_missing_bucket_is_one_line_and_exit_2(image: str) -> None:
    result = run_image("status", env={"AWS_REGION": "eu-west-1"})
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SHIPPER_BUCKET" in lines[0], result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_demo_without_the_extra_is_one_line(image: str) -> None:
    result = run_image("demo")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "[demo]" in result.stderr and "Traceback" not in result.stderr


def test_run_ships_from_the_simulator_into_s3(image: str, aws_world: AwsWorld) -> None:
    aws_world.world.add_instance("pg-1", "postgres")
    aws_world.world.add_instance("my-1", "mysql")
    aws_world.world.advance(3 * 3600)
    result = run_image("run", env=aws_world.env, network="host")
    assert result.returncode == 0, result.stderr[-3000:]
    report = aws_world.verify()
    assert report.ok, report
    metrics = [json.loads(line) for line in result.stdout.splitlines()
               if line.startswith("{") and "_aws" in line]
    assert metrics and metrics[-1]["RunFailed"] == 0 and metrics[-1]["BytesShipped"] > 0


def test_sigterm_stops_the_container_with_143_within_20_s(image: str,
                                                          aws_world: AwsWorld) -> None:
    for i in range(4):
        aws_world.world.add_instance(f"pg-{i}", "postgres")
    aws_world.world.advance(48 * 3600)
    name = f"shipper-{uuid.uuid4().hex[:8]}"
    # A slow request rate keeps the run busy for minutes, so the signal lands mid-run.
    env = {**aws_world.env, "SHIPPER_RATE": "0.2", "SHIPPER_BURST": "1"}
    flags = [f"--env={k}={v}" for k, v in env.items()]
    child = subprocess.Popen(
        ["podman", *_storage(), "run", "--name", name, *_limits(), "--network", "host",
         "--read-only", "--user", UID, "-v", "/tmp", *flags, IMAGE, "run"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = podman("inspect", name, "--format", "{{.State.Running}}", timeout=30)
            if state.stdout.strip() == "true":
                break
            time.sleep(0.5)
        time.sleep(3)  # inside the run, past start-up
        assert child.poll() is None, child.communicate()
        started = time.monotonic()
        podman("kill", "--signal", "TERM", name, timeout=30)
        child.wait(timeout=30)
        elapsed = time.monotonic() - started
    finally:
        if child.poll() is None:
            child.kill()
        out, err = child.communicate()
        podman("rm", "--force", name, timeout=60)
    assert child.returncode == 143, (child.returncode, err[-2000:])
    assert elapsed < 20, elapsed
    assert "stop requested" in out + err


def test_base_argument_defaults_to_the_pinned_public_image() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.12" in text and "@sha256:" in text
    assert Path(ROOT / ".gitignore").read_text().count(".cache/") >= 1
