"""Tools of the reliability suite: fresh worlds, S3 fault injection, kill points, output checks.

Everything drives the real shipper through its CLI, either in this process
(``tests.support.runs.run_inproc``) or as a child process (``spawn``: the console script, for
SIGTERM, SIGKILL and runs started at once).

S3 failures come from two places:

* ``S3Faults`` (in-process runs only): botocore event handlers (``before-call`` and
  ``after-call``) on every session the shipper makes (``shipper.runner.make_session`` is
  wrapped) fail a fraction of PutObject calls with HTTP 500 (nothing written), a refused
  connection (nothing written), or a lost answer (the object IS written, then the connection
  breaks: botocore sees ``ConnectionClosedError``).
* ``S3Tap`` (any process): wraps the WSGI app of the session's ``LocalS3`` server, so the test
  sees every S3 request as it is served (method, key kind, the ``AWS_SDK_UA_APP_ID`` of the
  sender) and can act right after a request was applied and before its answer leaves: send
  SIGKILL to the sender (it dies with that object durable and nothing after it) or SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError

from shipper.simulator.s3server import LocalS3
from tests.support.runs import Run, assert_no_traceback, run_inproc
from tests.support.world import PREFIX, AwsWorld

HOUR = 3600
LEASE_SECONDS = 2.0
# What the property suite put the shipper through, printed at the end of the session.
TALLY: Counter[str] = Counter()


# --- runs: tests.support.runs (run_inproc, run_cli, finish, Run) --------------------------------


def spawn(aws: AwsWorld, app_id: str, *argv: str, **env: str) -> subprocess.Popen[str]:
    """The console script in a child process; its S3 requests carry ``app/<app_id>``."""
    return aws.spawn(*argv, AWS_SDK_UA_APP_ID=app_id, SHIPPER_RUN_ID=app_id, **env)


# --- S3 faults inside the shipper process ------------------------------------------------------


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def s3_error_response(url: str, status: int, code: str, message: str) -> AWSResponse:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>REL{uuid.uuid4().hex[:12]}</RequestId>"
            "</Error>").encode()
    return AWSResponse(url, status, {"Content-Type": "application/xml",
                                     "Content-Length": str(len(body))}, _RawBody(body))


def key_kind(url_or_path: str) -> str:
    if "/_state/" in url_or_path:
        return "state"
    if "/_leases/" in url_or_path:
        return "lease"
    if "/data/" in url_or_path:
        return "data"
    return "other"


class S3Faults:
    """Fail a fraction of the shipper's PutObject calls (see the module docstring).

    ``modes``: any of "500" (InternalError, nothing written), "refused"
    (EndpointConnectionError, nothing written), "lost" (written, then ConnectionClosedError).
    Decided in ``before-call`` (which may answer instead of S3); a lost answer is raised from
    ``after-call``, once S3 has stored the object."""

    def __init__(self, rate: float, kinds: tuple[str, ...] = ("data", "state", "lease"),
                 modes: tuple[str, ...] = ("500", "refused", "lost"), seed: int = 0) -> None:
        self.rate = rate
        self.kinds = kinds
        self.modes = modes
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: dict[str, int] = {}

    def _draw(self, kind: str) -> str | None:
        if kind not in self.kinds or self.rate <= 0:
            return None
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            mode = self._rng.choice(self.modes)
            self.injected[mode] = self.injected.get(mode, 0) + 1
            return mode

    def register(self, session: Any) -> None:
        session.events.register("before-call.s3.PutObject", self._before_call,
                                unique_id="rel-s3faults-before")
        session.events.register("after-call.s3.PutObject", self._after_call,
                                unique_id="rel-s3faults-after")

    def _before_call(self, params: dict[str, Any], context: dict[str, Any],
                     **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        url = str(params.get("url", ""))
        mode = self._draw(key_kind(url))
        if mode == "500":
            return s3_error(url, 500, "InternalError",
                            "We encountered an internal error. Please try again.")
        if mode == "refused":
            raise EndpointConnectionError(endpoint_url=url)
        if mode == "lost":
            context["rel_lose_answer"] = url
        return None

    @staticmethod
    def _after_call(http_response: Any, context: dict[str, Any] | None = None,
                    **_: Any) -> None:
        url = (context or {}).pop("rel_lose_answer", None)
        if url and http_response is not None and http_response.status_code == 200:
            raise ConnectionClosedError(endpoint_url=url)


def s3_error(url: str, status: int, code: str, message: str
             ) -> tuple[AWSResponse, dict[str, Any]]:
    """What a ``before-call`` handler returns to answer with an S3 error instead of S3."""
    parsed = {"Error": {"Code": code, "Message": message},
              "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}}}
    return s3_error_response(url, status, code, message), parsed


# --- a tap on the local S3 server ---------------------------------------------------------------


_UA_APP = re.compile(r"\bapp/([A-Za-z0-9._-]+)")


@dataclass(frozen=True)
class S3Request:
    method: str
    path: str
    query: str
    kind: str
    app: str | None
    status: int


@dataclass
class KillPoint:
    """Signal the process ``app`` right after its ``nth`` request matching (method, kind) was
    applied by S3, before the answer is sent back."""

    app: str
    proc: subprocess.Popen[str]
    sig: int
    method: str = "PUT"
    kind: str = "data"
    nth: int = 1
    seen: int = 0
    fired: bool = False


class S3Tap:
    def __init__(self, local_s3: LocalS3) -> None:
        self._server = local_s3._server
        self._inner = self._server.app
        self._lock = threading.Lock()
        self.requests: list[S3Request] = []
        self.kills: list[KillPoint] = []
        self._server.app = self

    def close(self) -> None:
        self._server.app = self._inner

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.kills.clear()

    def data_writes(self) -> dict[str, int]:
        """Successful PUTs per data object key: S3's ``ObjectCreated`` events, one per
        write, which log tools following the notifications read (issue 27)."""
        with self._lock:
            return dict(Counter(r.path for r in self.requests
                                if r.method == "PUT" and r.kind == "data" and r.status == 200))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        ua = str(environ.get("HTTP_USER_AGENT", ""))
        match = _UA_APP.search(ua)
        path = str(environ.get("PATH_INFO", ""))
        method = str(environ.get("REQUEST_METHOD", ""))
        pre = S3Request(method, path, str(environ.get("QUERY_STRING", "")), key_kind(path),
                        match.group(1) if match else None, 0)
        status_box: list[int] = []

        def capture(status: str, headers: Any, exc_info: Any = None) -> Any:
            status_box.append(int(status.split()[0]))
            return start_response(status, headers, exc_info) if exc_info else \
                start_response(status, headers)

        result = self._inner(environ, capture)
        req = S3Request(**{**pre.__dict__, "status": status_box[0] if status_box else 0})
        with self._lock:
            self.requests.append(req)
            kills = list(self.kills)
        for kp in kills:
            if kp.fired or req.app != kp.app or req.method != kp.method or \
                    (kp.kind != "any" and req.kind != kp.kind) or req.status >= 300:
                continue
            kp.seen += 1
            if kp.seen == kp.nth:
                kp.fired = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(kp.proc.pid, kp.sig)
                if kp.sig == signal.SIGKILL:
                    _wait_dead(kp.proc.pid)
        return result


def _wait_dead(pid: int, timeout: float = 5.0) -> None:
    """Until the process is a zombie or gone (so it never sees the answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split(")")[-1].split()[0] in ("Z", "X"):
                    return
        except OSError:
            return
        time.sleep(0.002)


# --- reading what the shipper left in S3 -----------------------------------------------------


def list_keys(aws: AwsWorld, prefix: str) -> list[str]:
    client = aws.s3_client()
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=aws.bucket,
                                                                 Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


def read_json_objects(aws: AwsWorld, prefix: str) -> dict[str, dict[str, Any]]:
    client = aws.s3_client()
    out = {}
    for key in list_keys(aws, prefix):
        if key.endswith(".json"):
            body = client.get_object(Bucket=aws.bucket, Key=key)["Body"].read()
            with contextlib.suppress(ValueError):
                out[key] = json.loads(body)
    return out


def states(aws: AwsWorld) -> dict[str, dict[str, Any]]:
    """Instance id -> its state document."""
    return {doc.get("instance", key): doc
            for key, doc in read_json_objects(aws, f"{PREFIX}_state/").items()
            if "name_record" not in doc}


def resource_states(aws: AwsWorld) -> dict[str, dict[str, Any]]:
    """Resource id (DbiResourceId) -> its instance's state document: one per physical
    instance, whatever identifiers it had (issue 24; ``states`` keys by the identifier the
    state was last committed under, which two states share after a switchover or a re-created
    instance until their next runs). States without a resource id (an earlier release's) are
    keyed ``name:<identifier>``."""
    return {str(doc.get("resource_id") or f"name:{doc.get('instance', key)}"): doc
            for key, doc in read_json_objects(aws, f"{PREFIX}_state/").items()
            if "name_record" not in doc}


def wait_leases_expired(aws: AwsWorld) -> float:
    """Sleep until no unreleased lease is still valid; returns the seconds waited."""
    leases = read_json_objects(aws, f"{PREFIX}_leases/").values()
    until = max((float(d.get("expires_at", 0)) for d in leases if not d.get("released")),
                default=0.0)
    wait = max(0.0, until - time.time() + 0.2)
    time.sleep(wait)
    return wait


# --- output checks ------------------------------------------------------------------------------


def one_line_error(run: Run) -> str:
    """The operator-facing error of a failed run: the stderr line, or the single error log
    line. Asserts it is one line and that nothing else was printed as an error."""
    assert_no_traceback(run)
    err_lines = [x for x in run.stderr.splitlines() if x.strip()]
    logged = [str(x.get("message")) for x in run.errors()]
    candidates = err_lines + logged
    assert candidates, f"no error reported:\n{run.describe()}"
    for text in candidates:
        assert "\n" not in text and len(text) < 600, text
    return " | ".join(candidates)


# --- refusing one AWS operation inside the shipper process ------------------------------------


def refuse(service: str, operation: str, status: int, code: str,
           message: str = "refused by the test") -> Callable[[Any], None]:
    """A ``session_hook`` for ``run_inproc``: every ``service``/``operation`` call is answered
    with an AWS error instead of reaching the endpoint (``before-call`` short-circuit)."""

    def answer(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return s3_error(str(params.get("url", "")), status, code, message)

    def hook(session: Any) -> None:
        session.events.register(f"before-call.{service}.{operation}", answer,
                                unique_id=f"rel-refuse-{service}-{operation}")

    return hook


def run_stopped_by_access_denied(aws: AwsWorld, instance: str, name: str = "other/denied.log",
                                 body: bytes = b"a first-round job that fails\n" * 50) -> Run:
    """A run that stops early: a new file ``name`` on ``instance`` (a first-round job) is
    listed but every other call on it is AccessDenied, which stops the run (exit 3). The file
    stays; callers delete it when the next run should not see it."""
    from shipper.simulator.faults import ApiError, RequestInfo

    aws.world.instance(instance).add_file(name, body)

    def deny(info: RequestInfo) -> ApiError | None:
        if info.log_file == name and info.action != "DescribeDBLogFiles":
            return ApiError("AccessDenied", "not authorized", 403)
        return None

    remove = aws.sim.add_hook(deny)
    try:
        stopped = run_inproc(aws, "run")
    finally:
        remove()
    assert stopped.code == 3, stopped.describe()
    return stopped


def run_failing_on(aws: AwsWorld, fails: Callable[[Any], bool]) -> Run:
    """A run in which every RDS call that ``fails(RequestInfo)`` selects answers 500
    InternalFailure, with no retries: the files concerned fail and the run exits 1."""
    from shipper.simulator.faults import ApiError, RequestInfo

    def refuse(info: RequestInfo) -> ApiError | None:
        return ApiError("InternalFailure", "injected", 500) if fails(info) else None

    remove = aws.sim.add_hook(refuse)
    try:
        failed = run_inproc(aws, "run", SHIPPER_MAX_ATTEMPTS="1")
    finally:
        remove()
    assert failed.code == 1, failed.describe()
    return failed
