"""The retry policy: what is retryable, how attempts are counted, paced and stopped."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from urllib3.exceptions import ProtocolError

from shipper.exceptions import StopRequested
from shipper.ratelimit import RateLimiter
from shipper.retry import (
    Retrier,
    RetryTimings,
    TransientHttpError,
    error_code,
    is_retryable,
    is_throttle,
    stream_backoff_seconds,
)
from shipper.stats import RunStats


def client_error(code: str, status: int = 400, op: str = "DescribeDBLogFiles") -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": f"{code} happened"},
                     "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, op)


class SpyLimiter(RateLimiter):
    def __init__(self, grant: bool = True) -> None:
        super().__init__()
        self.grant = grant
        self.acquired = 0
        self.throttled = 0
        self.succeeded = 0

    def acquire(self, stop: threading.Event | None = None) -> bool:
        self.acquired += 1
        return self.grant

    def on_throttle(self) -> None:
        self.throttled += 1

    def on_success(self) -> None:
        self.succeeded += 1


class Script:
    """A callable that raises the given errors in order, then returns ``result``."""

    def __init__(self, *errors: BaseException, result: str = "ok",
                 on_call: Callable[[int], None] | None = None) -> None:
        self.errors = list(errors)
        self.result = result
        self.calls = 0
        self.on_call = on_call

    def __call__(self) -> str:
        self.calls += 1
        if self.on_call is not None:
            self.on_call(self.calls)
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def retrier(stats: RunStats | None = None, stop: threading.Event | None = None,
            limiter: RateLimiter | None = None, max_attempts: int = 5,
            base_seconds: float = 0.001) -> Retrier:
    return Retrier(stats or RunStats(), stop or threading.Event(), limiter, max_attempts,
                   base_seconds=base_seconds, max_wait_seconds=base_seconds * 4)


# --- classification -------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "status", "retryable", "throttle"), [
    ("Throttling", 400, True, True),
    ("ThrottlingException", 400, True, True),
    ("RequestLimitExceeded", 400, True, True),
    ("TooManyRequestsException", 429, True, True),
    ("SlowDown", 503, True, True),
    ("RequestThrottled", 400, True, True),
    ("InternalFailure", 500, True, False),
    ("InternalError", 500, True, False),
    ("ServiceUnavailable", 503, True, False),
    ("RequestTimeout", 400, True, False),
    ("SomethingNew", 502, True, False),
    ("", 504, True, False),
    ("AccessDenied", 403, False, False),
    ("AccessDeniedException", 400, False, False),
    ("ValidationError", 400, False, False),
    ("DBInstanceNotFound", 404, False, False),
    ("DBLogFileNotFoundFault", 404, False, False),
    ("NoSuchKey", 404, False, False),
    ("PreconditionFailed", 412, False, False),
])
def test_client_error_classification(code: str, status: int, retryable: bool,
                                     throttle: bool) -> None:
    err = client_error(code, status)
    assert is_retryable(err) is retryable
    assert is_throttle(err) is throttle
    assert error_code(err) == code


@pytest.mark.parametrize("err", [
    EndpointConnectionError(endpoint_url="https://rds.eu-west-1.amazonaws.com"),
    ConnectionClosedError(endpoint_url="https://rds.eu-west-1.amazonaws.com"),
    ConnectTimeoutError(endpoint_url="https://rds.eu-west-1.amazonaws.com"),
    ReadTimeoutError(endpoint_url="https://rds.eu-west-1.amazonaws.com"),
    ResponseStreamingError(error="reset"),
    ProtocolError("connection broken"),
    ConnectionResetError(104, "reset by peer"),
    BrokenPipeError(),
    TimeoutError("timed out"),
    TransientHttpError("HTTP 503"),
], ids=lambda e: type(e).__name__)
def test_connection_errors_are_retryable_not_throttles(err: BaseException) -> None:
    assert is_retryable(err)
    assert not is_throttle(err)


def test_throttled_http_error_is_a_throttle() -> None:
    err = TransientHttpError("HTTP 429", throttled=True)
    assert is_retryable(err) and is_throttle(err)


@pytest.mark.parametrize("err", [
    ValueError("x"), KeyError("x"), NoCredentialsError(), StopRequested("stop"),
    RuntimeError("boom"),
], ids=lambda e: type(e).__name__)
def test_other_errors_are_not_retryable(err: BaseException) -> None:
    assert not is_retryable(err)
    assert not is_throttle(err)
    assert error_code(err) == ""


def test_client_error_without_metadata_is_not_retryable() -> None:
    err = ClientError({"Error": {"Code": "Odd"}}, "Op")
    assert not is_retryable(err)


# --- Retrier --------------------------------------------------------------------------------


def test_call_retries_throttling_then_succeeds_and_counts() -> None:
    stats = RunStats()
    fn = Script(client_error("Throttling"), client_error("Throttling"), result="done")
    assert retrier(stats).call(fn) == "done"
    assert fn.calls == 3
    assert (stats.retries, stats.throttles) == (2, 2)


def test_call_counts_transient_errors_as_retries_not_throttles() -> None:
    stats = RunStats()
    fn = Script(client_error("InternalFailure", 500), ConnectionResetError())
    assert retrier(stats).call(fn) == "ok"
    assert (stats.retries, stats.throttles) == (2, 0)


def test_call_gives_up_after_max_attempts_reraising_the_last_error() -> None:
    stats = RunStats()
    errors = [client_error("ServiceUnavailable", 503) for _ in range(10)]
    fn = Script(*errors)
    with pytest.raises(ClientError) as info:
        retrier(stats, max_attempts=3).call(fn)
    assert info.value is errors[2]
    assert fn.calls == 3
    assert stats.retries == 2


def test_non_retryable_error_is_raised_at_once() -> None:
    stats = RunStats()
    denied = client_error("AccessDenied", 403)
    fn = Script(denied)
    with pytest.raises(ClientError) as info:
        retrier(stats).call(fn)
    assert info.value is denied
    assert fn.calls == 1 and stats.retries == 0


def test_max_attempts_of_one_means_no_retry() -> None:
    fn = Script(client_error("Throttling"))
    with pytest.raises(ClientError):
        retrier(max_attempts=1).call(fn)
    assert fn.calls == 1


def test_throttle_cuts_the_limiter_transient_error_does_not_and_success_grows_it() -> None:
    limiter = SpyLimiter()
    fn = Script(client_error("Throttling"), client_error("InternalFailure", 500),
                client_error("SlowDown", 503))
    retrier(limiter=limiter).call(fn)
    assert (limiter.throttled, limiter.succeeded) == (2, 1)


def test_a_throttle_on_the_last_attempt_still_reaches_the_limiter() -> None:
    limiter = SpyLimiter()
    with pytest.raises(ClientError):
        retrier(limiter=limiter, max_attempts=1).call(Script(client_error("Throttling")))
    assert (limiter.throttled, limiter.succeeded) == (1, 0)


def test_each_attempt_takes_a_limiter_token() -> None:
    limiter = SpyLimiter()
    fn = Script(client_error("Throttling"), client_error("Throttling"))
    retrier(limiter=limiter).call(fn)
    assert limiter.acquired == 3


def test_unlimited_call_neither_takes_a_token_nor_teaches_the_limiter() -> None:
    limiter = SpyLimiter()
    fn = Script(client_error("SlowDown", 503))
    retrier(limiter=limiter).call(fn, rate_limited=False)
    assert (limiter.acquired, limiter.throttled, limiter.succeeded) == (0, 0, 0)


def test_limiter_refusal_raises_stop_requested_without_calling() -> None:
    fn = Script()
    with pytest.raises(StopRequested):
        retrier(limiter=SpyLimiter(grant=False)).call(fn)
    assert fn.calls == 0


def test_stop_set_during_backoff_raises_stop_requested() -> None:
    stop = threading.Event()
    fn = Script(*[client_error("Throttling") for _ in range(5)],
                on_call=lambda n: stop.set())
    with pytest.raises(StopRequested):
        retrier(stop=stop).call(fn)
    assert fn.calls == 1


def test_backoff_wakes_up_as_soon_as_stop_is_set() -> None:
    stop = threading.Event()
    fn = Script(*[client_error("Throttling") for _ in range(5)])
    slow = retrier(stop=stop, base_seconds=30.0)  # backoff would sleep for many seconds
    threading.Timer(0.05, stop.set).start()
    started = time.monotonic()
    with pytest.raises(StopRequested):
        slow.call(fn)
    assert time.monotonic() - started < 5.0


def test_success_on_first_try_counts_nothing() -> None:
    stats = RunStats()
    assert retrier(stats).call(lambda: 7) == 7
    assert (stats.retries, stats.throttles) == (0, 0)


def test_retry_timings_are_set_for_retriers_made_afterwards(fast_retries: RetryTimings) -> None:
    stop = threading.Event()
    stats = RunStats()
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 4:
            raise ConnectionError("reset")
        return "ok"

    retrier = Retrier(stats, stop, None, 5)
    waits: list[float] = []
    retrier._sleep = waits.append  # type: ignore[method-assign]
    assert retrier.call(flaky) == "ok"
    assert len(waits) == 3 and all(w <= fast_retries.max_wait_seconds for w in waits)
    assert stream_backoff_seconds(1) == fast_retries.stream_base_seconds * 2


def test_stream_backoff_doubles_up_to_its_cap() -> None:
    waits = [stream_backoff_seconds(n) for n in range(1, 8)]
    assert waits[:3] == [0.5, 1.0, 2.0] and waits[-1] == 8.0
