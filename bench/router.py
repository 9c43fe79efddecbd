"""One RDS endpoint in front of several simulated (account, region) pairs.

AWS serves each region at its own endpoint and tells accounts apart by their credentials; the
shipper, pointed at one ``AWS_ENDPOINT_URL_RDS``, sends every region and account there. This
front routes each request the way AWS would see it: the region from the SigV4 credential scope
of its ``Authorization`` header, the account from its access key (the keys of roles assumed
through moto's STS, which LocalS3 serves in this process, resolve to the role's account). Every
pair is a ``SimulatorServer`` of its own world; they share one ``Faults``, whose throttle keeps
one bucket per account and region. Bodies stream through unchanged.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from shipper.simulator.server import SimulatorServer

_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([a-z0-9-]+)/rds/aws4_request")
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer",
                        "upgrade", "proxy-authorization", "proxy-authenticate"})
CHUNK = 256 * 1024


def moto_account_of(access_key: str) -> str:
    """The account moto attributes an access key to (an assumed role's key: the role's)."""
    from moto.iam.models import get_account_id_from

    return str(get_account_id_from(access_key))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    router: PairRouter


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        cast(_Server, self.server).router.forward(self)

    def do_POST(self) -> None:
        cast(_Server, self.server).router.forward(self)


class PairRouter:
    """Routes to ``servers[(account, region)]``; ``account_of`` maps an access key."""

    def __init__(self, servers: dict[tuple[str, str], SimulatorServer],
                 account_of: Callable[[str], str] = moto_account_of) -> None:
        self.servers = servers
        self.account_of = account_of
        self.unrouted = 0
        self._httpd: _Server | None = None
        self._keys: dict[str, str] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> PairRouter:
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.router = self
        self._httpd = httpd
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         name="pair-router", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def endpoint_url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def _account(self, access_key: str) -> str:
        with self._lock:
            account = self._keys.get(access_key)
        if account is None:
            account = self.account_of(access_key)
            with self._lock:
                self._keys[access_key] = account
        return account

    def _target(self, h: BaseHTTPRequestHandler) -> SimulatorServer | None:
        match = _SCOPE.search(h.headers.get("Authorization", ""))
        if match is None:
            return None
        return self.servers.get((self._account(match.group(1)), match.group(2)))

    def forward(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        target = self._target(h)
        if target is None:
            with self._lock:
                self.unrouted += 1
            h.send_error(403, "no simulated account and region for these credentials")
            return
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP}
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=120)
        try:
            conn.request(h.command, h.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            h.send_response(resp.status, resp.reason)
            for key, value in resp.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    h.send_header(key, value)
            h.end_headers()
            while chunk := resp.read(CHUNK):
                h.wfile.write(chunk)
        except (OSError, http.client.HTTPException):
            h.close_connection = True  # the simulator dropped it (an injected fault): so do we
        finally:
            with contextlib.suppress(OSError):
                conn.close()
