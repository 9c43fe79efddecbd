"""What goes wrong, and how often: throttling, injected failures, the API's quirks, hooks.

Why: the shipper's correctness depends on surviving the real API's misbehaviour, and a test
must be able to turn each misbehaviour on alone, reproducibly. ``Faults`` holds every knob in
one mutable object (tests flip knobs while a run is in progress); probabilistic ones draw from
one seeded RNG. Inherent quirks of the real API are on by default; random ones default to 0.

The throttle keeps one token bucket per account and region, as RDS does (burst 300, then 12
requests/s: RDS User Guide, API throttling quotas), shared by every request to every server that
shares this ``Faults``. It runs on real time, not the simulated clock, because it paces real
HTTP clients.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

BINARY_MESSAGE = "This file contains binary data and should be downloaded instead of viewed."
TRUNCATED_MESSAGE = b"[Your log message was truncated]\n"


class ApiError(Exception):
    """An API error response: ``code`` becomes ``Error.Code`` in botocore's ``ClientError``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


HookError = ApiError


class _Drop:
    """Sentinel a hook returns to close the connection without answering."""

    def __repr__(self) -> str:
        return "DROP"


DROP = _Drop()


@dataclass(frozen=True)
class RequestInfo:
    """What a hook sees about a request before it is handled.

    ``action`` is the query-API action name, or ``"DownloadCompleteLogFile"`` for the REST
    endpoint. ``number`` counts requests to this server from 1.
    """

    number: int
    action: str
    params: Mapping[str, str]
    instance: str | None
    log_file: str | None
    method: str
    path: str
    rest_version: str | None = None


HookResult = ApiError | _Drop | None
Hook = Callable[[RequestInfo], HookResult]


@dataclass
class Faults:
    """Every behaviour knob of the simulated API. Mutable at run time; thread-safe draws.

    Quirk switches (numbers follow the failure modes in rds-log-api.md):

    1. ``truncate_long_lines`` (default on): a line longer than ``page_bytes`` is cut,
       followed by ``[Your log message was truncated]\\n``, and the marker skips the rest of it.
       Off: the line is served in page-sized pieces, nothing is lost.
    2. ``stuck_with_number_of_lines`` (on): with ``NumberOfLines`` and a marker at such a line,
       the truncated line comes back and the marker does not move.
    3. ``early_end_rate`` (0): ``AdditionalDataPending=false`` although data remains.
    4. ``omit_pending_after_tail`` (on): after a call without ``Marker`` on a file, the next
       response for that file omits ``AdditionalDataPending``.
    5. ``overlap_rate`` (0): data starts up to ``overlap_max_bytes`` before the marker.
    6. ``binary_placeholder`` (on; only with ``binary_as_error`` off): a page that is not
       valid UTF-8 (or holds characters XML cannot carry) is replaced by ``BINARY_MESSAGE``;
       marker and pending flag are as if the page had been served. Off: bytes are decoded
       with U+FFFD replacement.
    8. ``stale_marker_follows_name`` (on): a marker whose hour does not match the generation
       now under the name is applied to that generation. Off: ``InvalidParameterValue``.
    10. ``gz_served_decompressed`` (on): ``.gz`` files are paged in decompressed offsets.

    ``binary_as_error`` (on): a page with bytes XML cannot carry is answered with HTTP 400
    ``InvalidParameterValue`` and ``BINARY_MESSAGE``, as real RDS does; off: the placeholder
    page of quirk 6 (a guess no public source shows).

    Ambiguities (no public source settles them; each variant is a switch, see ``AMBIGUITIES``
    and ``draw_variants``): ``marker_hour``, ``filtered_marker_offsets``,
    ``oracle_listing_marker``, ``no_log_files_error``, ``retired_rest_answer``,
    ``log_files_max_records``.

    Listing quirks: ``empty_listing_rate`` (a DescribeDBLogFiles page comes back empty, no
    marker) and ``size_lag_rate`` (a recently written file's listed Size is up to
    ``size_lag_max_bytes`` short).
    """

    seed: int = 0
    # throttling (None: off)
    throttle_burst: int | None = None
    throttle_rate: float = 12.0
    # injected failures
    error_rate: float = 0.0
    drop_rate: float = 0.0
    drop_mid_stream_rate: float = 0.0
    fault_actions: frozenset[str] | None = None
    latency_ms: float = 0.0
    latency_ms_per_mb: float = 0.0
    # API shape
    page_bytes: int = 1_048_576
    tail_lines: int = 10_000
    oracle_max_records: int = 1000
    rest_versions: frozenset[str] = frozenset({"v13", "v19"})
    omit_empty_log_file_data: bool = True
    # quirks
    truncate_long_lines: bool = True
    stuck_with_number_of_lines: bool = True
    early_end_rate: float = 0.0
    omit_pending_after_tail: bool = True
    overlap_rate: float = 0.0
    overlap_max_bytes: int = 4096
    binary_placeholder: bool = True
    stale_marker_follows_name: bool = True
    gz_served_decompressed: bool = True
    empty_listing_rate: float = 0.0
    size_lag_rate: float = 0.0
    size_lag_max_bytes: int = 65536
    recent_seconds: float = 300.0
    # the real binary-data refusal (quirk 6 as an error response)
    binary_as_error: bool = True
    # ambiguities: one switch per variant (see AMBIGUITIES)
    marker_hour: str = "creation"
    filtered_marker_offsets: str = "visible"
    oracle_listing_marker: str = "marker"
    no_log_files_error: str = "invalid-parameter-combination"
    retired_rest_answer: str = "unknown-operation-404"
    log_files_max_records: str = "1000"
    # the throttle's time source (tests may substitute a fake clock)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)
    _buckets: dict[tuple[str, str], tuple[float, float]] = field(
        init=False, repr=False, compare=False, default_factory=dict)  # (tokens, at) per pair
    _bucket_key: tuple[int | None, float] = field(init=False, repr=False, compare=False,
                                                  default=(None, 0.0))

    def __post_init__(self) -> None:
        for name, ambiguity in AMBIGUITIES.items():
            ambiguity.check(getattr(self, name))
        self._rng = random.Random(self.seed)  # noqa: S311 - reproducible faults
        self._lock = threading.Lock()
        self.reset_throttle()

    @classmethod
    def realistic(cls, seed: int = 0) -> Faults:
        """The real account limits and the latency the benchmarks assume."""
        return cls(seed=seed, throttle_burst=300, throttle_rate=12.0, latency_ms=20.0,
                   latency_ms_per_mb=10.0)

    @classmethod
    def drawn(cls, seed: int, **overrides: object) -> Faults:
        """Faults whose ambiguity switches are drawn from ``seed`` (``overrides`` win)."""
        return cls(seed=seed, **{**draw_variants(seed), **overrides})  # type: ignore[arg-type]

    def variants(self) -> dict[str, str]:
        """The variant in force for every ambiguity (for failure messages and reports)."""
        return {name: str(getattr(self, name)) for name in AMBIGUITIES}

    # --- draws -------------------------------------------------------------------------------

    def chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def randint(self, low: int, high: int) -> int:
        with self._lock:
            return self._rng.randint(low, high)

    def applies_to(self, action: str) -> bool:
        return self.fault_actions is None or action in self.fault_actions

    # --- throttle ----------------------------------------------------------------------------

    def set_throttle(self, burst: int | None, rate: float = 12.0) -> None:
        """Turn the bucket on (full) with ``burst``/``rate``, or off with ``burst=None``."""
        with self._lock:
            self.throttle_burst = burst
            self.throttle_rate = rate
        self.reset_throttle()

    def reset_throttle(self) -> None:
        """Every (account, region) bucket full again."""
        with self._lock:
            self._buckets.clear()
            self._bucket_key = (self.throttle_burst, self.throttle_rate)

    def take_token(self, account: str = "", region: str = "") -> bool:
        """Spend one token of the (account, region) bucket; False means throttled."""
        with self._lock:
            burst = self.throttle_burst
            if burst is None:
                return True
            now = self.clock()
            if self._bucket_key != (burst, self.throttle_rate):
                self._buckets.clear()
                self._bucket_key = (burst, self.throttle_rate)
            tokens, at = self._buckets.get((account, region), (float(burst), now))
            tokens = min(float(burst), tokens + (now - at) * self.throttle_rate)
            granted = tokens >= 1.0
            self._buckets[(account, region)] = (tokens - 1.0 if granted else tokens, now)
            return granted

    def latency_seconds(self, nbytes: int) -> float:
        return (self.latency_ms + self.latency_ms_per_mb * nbytes / 1_048_576) / 1000.0


@dataclass(frozen=True)
class Ambiguity:
    """A behaviour public sources leave open: every variant is a value of one ``Faults`` field.

    The first variant is the default. A shipper rule that holds under only some variants is a
    bug, so tests parametrize over ``variants`` or draw one with ``draw_variants``.
    """

    name: str
    variants: tuple[str, ...]
    question: str

    @property
    def default(self) -> str:
        return self.variants[0]

    def check(self, value: object) -> None:
        if value not in self.variants:
            raise ValueError(f"Faults.{self.name}={value!r}; use one of {list(self.variants)}")


AMBIGUITIES: dict[str, Ambiguity] = {a.name: a for a in (
    Ambiguity("marker_hour", ("creation", "last_write_plus_one", "request_hour"),
              "what the H of a portion marker 'H:offset' is: the hour the generation was created "
              "(no public sample fits), the hour of its last write plus one (fits "
              "ozbillwang/tf_module_postgres_logs2cloudwatch, honeycombio/rdslogs#25, "
              "aws/aws-sdk-cpp#1427), or the hour of the request (might fit aws/aws-cli#2008)"),
    Ambiguity("filtered_marker_offsets", ("visible", "raw"),
              "in a filtered MySQL error log, whether marker offsets count the bytes a download "
              "returns or the stored bytes the listed Size counts"),
    Ambiguity("oracle_listing_marker", ("marker", "none"),
              "whether a Marker follows Oracle's 1,000th DescribeDBLogFiles record (the User "
              "Guide says only 'ignores MaxRecords and returns up to 1,000 records')"),
    Ambiguity("no_log_files_error", ("invalid-parameter-combination", "invalid-parameter-value",
                                     "db-instance-not-found"),
              "the error DescribeDBLogFiles gives for DocumentDB, Neptune and RDS Custom "
              "instances (the API reference says only that it does not apply to them)"),
    Ambiguity("log_files_max_records", ("1000", "100", "20"),
              "the most records one DescribeDBLogFiles page holds: MaxRecords as asked, up to "
              "1,000 (100 when absent), as honeycombio/rdslogs#8 saw; at most 100, the range "
              "DescribeDBInstances documents (20-100); or 20, its documented minimum. The API "
              "reference gives DescribeDBLogFiles no default and no range, only the Marker"),
    Ambiguity("retired_rest_answer", ("unknown-operation-404", "forbidden-403",
                                      "bad-request-400"),
              "what a retired REST path version (/v13/ after 2027-03-01) answers"),
)}

def draw_variants(seed: int) -> dict[str, str]:
    """One variant per ambiguity, drawn reproducibly from ``seed`` (for ``Faults(**...)``)."""
    rng = random.Random(f"variants:{seed}")  # noqa: S311 - reproducible test schedules
    return {name: rng.choice(a.variants) for name, a in sorted(AMBIGUITIES.items())}


def variant_params() -> list[tuple[str, str]]:
    """Every (ambiguity, variant) pair, for ``pytest.mark.parametrize``."""
    return [(name, v) for name, a in sorted(AMBIGUITIES.items()) for v in a.variants]
