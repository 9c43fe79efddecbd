"""``python -m bench.profiled_run [shipper args]``: the real shipper, timed per operation.

A diagnostic, not a contender: it wraps (in this process only, nothing on disk changes) the
methods through which the shipper talks to RDS and S3, compresses, commits and takes leases,
and prints one JSON line ``{"bench_profile": {operation: [calls, thread_seconds]}}`` before
exiting. Thread-seconds are summed over worker threads, and outer operations include inner
ones (a file's stream includes its data PUTs), so they explain where threads wait, not the
wall time itself. A method that no longer exists (the package changed) stops the run with an
error naming it, so the profile never silently times calls a run no longer makes.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_seconds: dict[str, float] = defaultdict(float)
_calls: dict[str, int] = defaultdict(int)


def _record(label: str, seconds: float) -> None:
    with _lock:
        _seconds[label] += seconds
        _calls[label] += 1


def _wrap(owner: Any, name: str, label: str | Callable[..., str]) -> None:
    original = getattr(owner, name, None)
    if original is None or not callable(original):
        raise AttributeError(f"bench.profiled_run: {owner.__name__}.{name} no longer exists; "
                             "update install() to what a run calls now")

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _record(label(*args, **kwargs) if callable(label) else label,
                    time.perf_counter() - started)

    setattr(owner, name, timed)


def install() -> None:
    from shipper import (
        complete_file,
        file_shipper,
        instance_job,
        lease,
        ledger,
        ratelimit,
        rdsapi,
        s3store,
        transfer,
    )

    _wrap(rdsapi.RdsApi, "_call", lambda _self, action, *a, **k: f"RDS {action}")
    _wrap(rdsapi.RdsApi, "open_complete", "RDS REST open (until headers)")
    _wrap(ratelimit.RateLimiter, "acquire", "rate limiter wait")
    _wrap(s3store.S3Store, "put_data", "S3 PUT data object")
    _wrap(s3store.S3Store, "put_conditional", "S3 PUT conditional (state, lease)")
    _wrap(s3store.S3Store, "get", "S3 GET (state; lease when its take is contested)")
    _wrap(s3store.S3Store, "head", "S3 HEAD")
    _wrap(transfer.ObjectBuilder, "feed", "gzip + hash (ObjectBuilder.feed)")
    _wrap(transfer.ObjectBuilder, "seal", "gzip flush (ObjectBuilder.seal)")
    _wrap(lease.LeaseManager, "take_closed", "lease take on the closed ETag (PUT)")
    _wrap(lease.LeaseManager, "acquire_for_run", "lease acquire, contested (GET + PUT)")
    _wrap(lease.LeaseManager, "release", "lease release (PUT; only after a failed final commit)")
    _wrap(ledger.Ledger, "commit", "state commit (PUT)")
    _wrap(instance_job, "load_state", "state load (GET)")
    _wrap(instance_job.InstanceJob, "_list", "listing (DescribeDBLogFiles)")
    _wrap(instance_job.InstanceJob, "run", "instance job, total")
    _wrap(file_shipper.FileShipper, "run", "file job, total")
    _wrap(complete_file.CompleteFile, "_stream_and_ship", "file: REST stream + gzip + PUT")
    _wrap(file_shipper.FileShipper, "_page", "file: portion paging + gzip + PUT")
    _wrap(rdsapi.RdsApi, "tail_marker", "file: tail marker after REST")


def main() -> int:
    install()
    from bench.shipper_run import vm_hwm_kib
    from shipper.cli import main as shipper_main

    code = shipper_main(sys.argv[1:])
    sys.stdout.flush()
    with _lock:
        profile = {k: [_calls[k], round(v, 4)] for k, v in _seconds.items()}
    print(json.dumps({"bench_profile": profile, "bench_vmhwm_kib": vm_hwm_kib()}), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
