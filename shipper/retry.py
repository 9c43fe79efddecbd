"""Retries with tenacity: jittered exponential backoff, bounded attempts, an explicit list of
what is worth retrying. Every paced attempt reports back to its rate limiter (success or
``Throttling``), so all workers of one account and region slow down and speed up together instead
of each one learning the limit on its own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)
from urllib3.exceptions import NewConnectionError, ProtocolError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from shipper.exceptions import StopRequested
from shipper.ratelimit import RateLimiter
from shipper.stats import RunStats

T = TypeVar("T")

THROTTLE_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
     "SlowDown", "RequestThrottled", "RequestThrottledException"}
)
TRANSIENT_CODES = frozenset(
    {"InternalFailure", "InternalError", "ServiceUnavailable", "RequestTimeout",
     "RequestTimeoutException", "PriorRequestNotComplete", "IDPCommunicationError"}
)


class TransientHttpError(Exception):
    """A raw HTTP call (the REST download) failed in a way worth retrying."""

    def __init__(self, message: str, throttled: bool = False) -> None:
        super().__init__(message)
        self.throttled = throttled


RETRYABLE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    EndpointConnectionError,
    ConnectionClosedError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ResponseStreamingError,
    ProtocolError,
    Urllib3TimeoutError,
    NewConnectionError,
    ConnectionError,
    TimeoutError,
    TransientHttpError,
)


@dataclass(frozen=True)
class RetryTimings:
    """How long retries wait: jittered exponential backoff for API calls (``Retrier``), plain
    exponential for reopening a broken REST stream (``stream_backoff_seconds``)."""

    base_seconds: float = 0.25
    max_wait_seconds: float = 10.0
    stream_base_seconds: float = 0.25
    stream_max_wait_seconds: float = 8.0


DEFAULT_TIMINGS = RetryTimings()
_timings = DEFAULT_TIMINGS


def set_timings(timings: RetryTimings) -> RetryTimings:
    """Use ``timings`` for retries set up from now on (tests make them fast); returns the
    previous ones."""
    global _timings
    previous, _timings = _timings, timings
    return previous


def timings() -> RetryTimings:
    return _timings


def stream_backoff_seconds(attempt: int) -> float:
    """The wait before reopening a broken stream for the ``attempt``-th time."""
    t = _timings
    return float(min(t.stream_max_wait_seconds, t.stream_base_seconds * 2.0 ** attempt))


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_throttle(exc: BaseException) -> bool:
    if isinstance(exc, TransientHttpError):
        return exc.throttled
    return error_code(exc) in THROTTLE_CODES


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, RETRYABLE_EXCEPTIONS):
        return True
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        code = error_code(exc)
        return code in THROTTLE_CODES or code in TRANSIENT_CODES or status >= 500
    return False


class Retrier:
    """Runs calls with the shared policy; counts retries and throttles into the run stats."""

    def __init__(
        self,
        stats: RunStats,
        stop: threading.Event,
        limiter: RateLimiter | None = None,
        max_attempts: int = 8,
        base_seconds: float | None = None,
        max_wait_seconds: float | None = None,
    ) -> None:
        self._stats = stats
        self._stop = stop
        self._limiter = limiter
        self._max_attempts = max_attempts
        t = _timings
        self._wait = wait_random_exponential(
            multiplier=t.base_seconds if base_seconds is None else base_seconds,
            max=t.max_wait_seconds if max_wait_seconds is None else max_wait_seconds)

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise StopRequested("stop requested while backing off")

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self._stats.add(retries=1)
        if exc is not None and is_throttle(exc):
            self._stats.add(throttles=1)

    def call(self, fn: Callable[[], T], rate_limited: bool = True) -> T:
        """Call ``fn`` (taking a rate-limiter token per attempt when ``rate_limited``)."""

        def attempt() -> T:
            limiter = self._limiter if rate_limited else None
            if limiter is None:
                return fn()
            if not limiter.acquire(self._stop):
                raise StopRequested("stop requested while waiting for the rate limiter")
            try:
                result = fn()
            except Exception as exc:
                if is_throttle(exc):
                    limiter.on_throttle()
                raise
            limiter.on_success()
            return result

        retrying = Retrying(
            retry=retry_if_exception(is_retryable),
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        return retrying(attempt)
