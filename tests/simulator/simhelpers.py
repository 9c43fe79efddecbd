"""Helpers shared by the simulator tests: paging a file, signed REST requests."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from shipper.simulator.server import SimulatorServer

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=10,
                  connect_timeout=5)


def read_all(rds: Any, ident: str, name: str, marker: str = "0",
             max_calls: int = 10_000, **extra: Any) -> tuple[bytes, list[dict[str, Any]]]:
    """Page a file from ``marker`` until AdditionalDataPending is false; data as UTF-8."""
    out = bytearray()
    responses = []
    for _ in range(max_calls):
        resp = rds.download_db_log_file_portion(DBInstanceIdentifier=ident, LogFileName=name,
                                                Marker=marker, **extra)
        responses.append(resp)
        out += resp.get("LogFileData", "").encode("utf-8")
        marker = resp["Marker"]
        if not resp.get("AdditionalDataPending"):
            break
    return bytes(out), responses


@dataclass
class RestResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def rest_url(server: SimulatorServer, ident: str, name: str, version: str = "v13",
             safe: str = "") -> str:
    return (f"{server.endpoint_url}/{version}/downloadCompleteLogFile/"
            f"{urllib.parse.quote(ident, safe='')}/{urllib.parse.quote(name, safe=safe)}")


def rest_get(server: SimulatorServer, ident: str, name: str, version: str = "v13", *,
             sign: bool = True, service: str = "rds", safe: str = "",
             headers: dict[str, str] | None = None) -> RestResponse:
    """A SigV4-signed GET of the complete-file endpoint, like the shipper sends it."""
    url = rest_url(server, ident, name, version, safe)
    req = AWSRequest(method="GET", url=url)
    if sign:
        SigV4Auth(Credentials("AKIDEXAMPLE", "secret"), service, "us-east-1").add_auth(req)
    all_headers = {**dict(req.headers), **(headers or {})}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=all_headers),
                                    timeout=30) as resp:
            return RestResponse(resp.status, dict(resp.headers), resp.read())
    except urllib.error.HTTPError as err:
        return RestResponse(err.code, dict(err.headers), err.read())
