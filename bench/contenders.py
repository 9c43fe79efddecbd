"""The two reference downloaders the shipper is compared with, run as their own processes.

``python -m bench.contenders floor``: the fastest honest downloader we could write. No state,
no leases, no exactly-once bookkeeping: list every instance and its files, then stream every
file whole over the SigV4-signed REST endpoint (one request per file, whatever its size) with
``--workers`` threads, gzip it on the fly (level 6, as the shipper) and put one object per file
into the same S3. It paces itself with a token bucket at the full account budget (12/s, burst
300) and retries ``Throttling`` with jittered exponential backoff, as AWS asks.

``python -m bench.contenders baseline``: the approach of the public samples (the seed script,
fixed so that it actually ships the data): one instance and one file at a time,
``DownloadDBLogFilePortion`` from marker ``"0"`` paging until ``AdditionalDataPending`` is
false, the whole file joined in memory and put to S3 as it came (no compression). It retries
``Throttling`` with jittered exponential backoff.

``python -m bench.contenders neighbour --rate 3``: another tool on the same account, e.g. a
monitoring agent: ``DescribeDBLogFiles`` on the first instance at a steady rate (calls are
scheduled at fixed times, one request each, no retries, so a throttled call is a refused one)
until SIGTERM; it reports how many of its calls were throttled.

All three read the shipper's environment (``AWS_ENDPOINT_URL_RDS``, ``AWS_ENDPOINT_URL_S3``,
``SHIPPER_BUCKET``, credentials, region) and print one JSON line with their counters and
their own VmHWM.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import quote

import boto3
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError

from bench.shipper_run import vm_hwm_kib

T = TypeVar("T")
THROTTLE_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded"})
CHUNK = 1024 * 1024


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: dict[str, int] = {"rds_requests": 0, "throttles": 0, "files": 0,
                                       "bytes": 0, "puts": 0}

    def add(self, **deltas: int) -> None:
        with self._lock:
            for key, delta in deltas.items():
                self.values[key] = self.values.get(key, 0) + delta


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
                self.last = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.rate
            time.sleep(wait)

    def empty(self) -> None:
        with self.lock:
            self.tokens = min(self.tokens, 0.0)


class Throttled(Exception):
    pass


def with_backoff(fn: Callable[[], T], counters: Counters, bucket: TokenBucket | None,
                 attempts: int = 12) -> T:
    """Call ``fn`` (one RDS request per attempt); back off and retry on throttling."""
    for attempt in range(attempts):
        if bucket is not None:
            bucket.take()
        counters.add(rds_requests=1)
        try:
            return fn()
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in THROTTLE_CODES:
                raise
        except Throttled:
            pass
        counters.add(throttles=1)
        if bucket is not None:
            bucket.empty()
        time.sleep(min(4.0, 0.1 * 2 ** attempt) * random.uniform(0.5, 1.0))
    raise RuntimeError("still throttled after retries")


def _clients(workers: int) -> tuple[Any, Any, Any]:
    session = boto3.session.Session()
    config = Config(retries={"total_max_attempts": 1}, max_pool_connections=max(workers, 10))
    rds = session.client("rds", config=config)
    s3 = session.client("s3", config=config)
    return session, rds, s3


def _instances(rds: Any, counters: Counters, bucket: TokenBucket | None) -> Iterator[str]:
    marker: str | None = None
    while True:
        kwargs: dict[str, Any] = {"MaxRecords": 100, **({"Marker": marker} if marker else {})}
        resp = with_backoff(lambda kw=kwargs: rds.describe_db_instances(**kw), counters, bucket)
        for raw in resp.get("DBInstances", []):
            yield str(raw["DBInstanceIdentifier"])
        marker = resp.get("Marker")
        if not marker:
            return


def _files(rds: Any, ident: str, counters: Counters, bucket: TokenBucket | None) -> list[str]:
    names: list[str] = []
    marker: str | None = None
    while True:
        kwargs: dict[str, Any] = {"DBInstanceIdentifier": ident, "MaxRecords": 1000,
                                  **({"Marker": marker} if marker else {})}
        resp = with_backoff(lambda kw=kwargs: rds.describe_db_log_files(**kw), counters, bucket)
        names.extend(str(f["LogFileName"]) for f in resp.get("DescribeDBLogFiles", []))
        marker = resp.get("Marker")
        if not marker:
            return names


# --- floor -----------------------------------------------------------------------------------


def floor(workers: int, rate: float, burst: int, bucket_name: str) -> dict[str, Any]:
    session, rds, s3 = _clients(workers)
    counters = Counters()
    bucket = TokenBucket(rate, burst)
    http = urllib3.PoolManager(maxsize=workers, retries=False,
                               timeout=urllib3.Timeout(connect=10, read=120))
    base = str(rds.meta.endpoint_url).rstrip("/")
    region = rds.meta.region_name
    credentials = session.get_credentials().get_frozen_credentials()

    def open_rest(ident: str, name: str) -> Any:
        url = (f"{base}/v13/downloadCompleteLogFile/{quote(ident, safe='')}/"
               + "/".join(quote(seg, safe="") for seg in name.split("/")))
        request = AWSRequest(method="GET", url=url)
        SigV4Auth(credentials, "rds", region).add_auth(request)
        resp = http.request("GET", url, headers=dict(request.headers.items()),
                            preload_content=False)
        if resp.status == 200:
            return resp
        body = resp.read()
        resp.release_conn()
        if resp.status == 429 or b"Throttling" in body:
            raise Throttled()
        raise RuntimeError(f"REST {resp.status}: {body[:200]!r}")

    def ship(ident: str, name: str) -> None:
        resp = with_backoff(lambda: open_rest(ident, name), counters, bucket)
        gz = zlib.compressobj(6, zlib.DEFLATED, 31)
        parts: list[bytes] = []
        size = 0
        try:
            for chunk in resp.stream(CHUNK, decode_content=False):
                size += len(chunk)
                parts.append(gz.compress(chunk))
        finally:
            resp.release_conn()
        parts.append(gz.flush())
        s3.put_object(Bucket=bucket_name, Key=f"floor/{ident}/{name}.gz", Body=b"".join(parts))
        counters.add(files=1, bytes=size, puts=1)

    def list_instance(ident: str) -> list[tuple[str, str]]:
        return [(ident, name) for name in _files(rds, ident, counters, bucket)]

    with ThreadPoolExecutor(workers) as pool:
        listings = [pool.submit(list_instance, ident)
                    for ident in _instances(rds, counters, bucket)]
        downloads: list[Future[None]] = []
        for listing in listings:
            downloads.extend(pool.submit(ship, ident, name) for ident, name in listing.result())
        for future in downloads:
            future.result()
    return counters.values


# --- baseline ----------------------------------------------------------------------------------


def baseline(bucket_name: str) -> dict[str, Any]:
    _session, rds, s3 = _clients(1)
    counters = Counters()
    for ident in list(_instances(rds, counters, None)):
        for name in _files(rds, ident, counters, None):
            data: list[str] = []
            marker = "0"
            while True:
                kwargs = {"DBInstanceIdentifier": ident, "LogFileName": name, "Marker": marker}
                page = with_backoff(lambda kw=kwargs: rds.download_db_log_file_portion(**kw),
                                    counters, None)
                data.append(page.get("LogFileData") or "")
                marker = page.get("Marker") or marker
                if not page.get("AdditionalDataPending"):
                    break
            body = "".join(data).encode("utf-8")
            s3.put_object(Bucket=bucket_name, Key=f"baseline/{ident}/{name}", Body=body)
            counters.add(files=1, bytes=len(body), puts=1)
    return counters.values


# --- neighbour ---------------------------------------------------------------------------------


def neighbour(rate: float) -> dict[str, Any]:
    """Steady ``rate`` DescribeDBLogFiles calls per second until SIGTERM."""
    _session, rds, _s3 = _clients(1)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ident = next(iter(_instances(rds, Counters(), None)))
    counters = Counters()
    started = time.monotonic()
    calls = 0
    while not stop.is_set():
        counters.add(rds_requests=1)
        try:
            rds.describe_db_log_files(DBInstanceIdentifier=ident, MaxRecords=1000)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in THROTTLE_CODES:
                raise
            counters.add(throttles=1)
        calls += 1
        stop.wait(max(0.0, started + calls / rate - time.monotonic()))
    return counters.values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.contenders")
    parser.add_argument("which", choices=("floor", "baseline", "neighbour"))
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--rate", type=float, default=12.0)
    parser.add_argument("--burst", type=int, default=300)
    args = parser.parse_args(argv)
    bucket_name = os.environ["SHIPPER_BUCKET"]
    started = time.perf_counter()
    if args.which == "floor":
        result = floor(args.workers, args.rate, args.burst, bucket_name)
    elif args.which == "neighbour":
        result = neighbour(args.rate)
    else:
        result = baseline(bucket_name)
    result["seconds"] = round(time.perf_counter() - started, 3)
    result["bench_vmhwm_kib"] = vm_hwm_kib()
    print(json.dumps({"contender": args.which, **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
