"""The process-wide token bucket, driven by a fake clock."""

from __future__ import annotations

import threading
import time

import pytest

from shipper.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeStop(threading.Event):
    """A stop event whose ``wait`` advances the fake clock instead of sleeping."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None and timeout > 0
        self.waits.append(timeout)
        # At least a nanosecond: a float rounding remainder must still move the clock.
        self.clock.now += max(timeout, 1e-9)
        return self.is_set()


def limiter(rate: float, burst: int) -> tuple[RateLimiter, FakeClock, FakeStop]:
    clock = FakeClock()
    return RateLimiter(rate, burst, clock=clock), clock, FakeStop(clock)


def test_burst_is_available_immediately() -> None:
    bucket, clock, stop = limiter(rate=2.0, burst=5)
    assert all(bucket.acquire(stop) for _ in range(5))
    assert stop.waits == [] and clock.now == 1000.0
    assert bucket.waited_seconds == 0.0


def test_after_the_burst_each_token_takes_one_over_rate_seconds() -> None:
    bucket, clock, stop = limiter(rate=4.0, burst=3)
    for _ in range(3):
        bucket.acquire(stop)
    start = clock.now
    bucket.acquire(stop)
    assert clock.now - start == pytest.approx(0.25)
    for _ in range(8):
        bucket.acquire(stop)
    assert clock.now - start == pytest.approx(9 * 0.25)
    assert bucket.waited_seconds == pytest.approx(9 * 0.25)


def test_sustained_rate_over_simulated_time() -> None:
    bucket, clock, stop = limiter(rate=12.0, burst=10)
    end = clock.now + 10.0
    taken = 0
    while True:
        bucket.acquire(stop)
        if clock.now > end + 1e-9:
            break
        taken += 1
    assert taken == 10 + 12 * 10


def test_idle_time_refills_up_to_the_burst_only() -> None:
    bucket, clock, stop = limiter(rate=10.0, burst=4)
    for _ in range(4):
        bucket.acquire(stop)
    clock.now += 3600
    for _ in range(4):
        bucket.acquire(stop)
    assert stop.waits == []
    bucket.acquire(stop)
    assert sum(stop.waits) == pytest.approx(0.1)


def test_partial_refill_is_credited() -> None:
    bucket, clock, stop = limiter(rate=10.0, burst=1)
    bucket.acquire(stop)
    clock.now += 0.06
    bucket.acquire(stop)
    assert sum(stop.waits) == pytest.approx(0.04)


def test_drain_spends_every_saved_token() -> None:
    bucket, _, stop = limiter(rate=5.0, burst=50)
    bucket.acquire(stop)
    bucket.drain()
    bucket.acquire(stop)
    assert sum(stop.waits) == pytest.approx(0.2)


def test_drain_leaves_no_debt_beyond_zero() -> None:
    bucket, _, stop = limiter(rate=5.0, burst=1)
    bucket.drain()
    bucket.drain()
    bucket.acquire(stop)
    assert sum(stop.waits) == pytest.approx(0.2)


def test_acquire_returns_false_when_stop_is_set_while_waiting() -> None:
    bucket = RateLimiter(rate=0.1, burst=1)  # the next token is 10 s away
    assert bucket.acquire()
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    started = time.monotonic()
    assert bucket.acquire(stop) is False
    assert time.monotonic() - started < 5.0


def test_acquire_with_a_set_stop_but_a_token_available_returns_true() -> None:
    bucket, _, stop = limiter(rate=1.0, burst=2)
    stop.set()
    assert bucket.acquire(stop) is True


def test_acquire_with_a_set_stop_and_no_token_returns_false() -> None:
    bucket, _, stop = limiter(rate=1.0, burst=1)
    bucket.acquire(stop)
    stop.set()
    assert bucket.acquire(stop) is False


def test_acquire_without_stop_sleeps_for_the_token() -> None:
    bucket = RateLimiter(rate=50.0, burst=1)
    bucket.acquire()
    started = time.monotonic()
    assert bucket.acquire() is True
    assert time.monotonic() - started >= 0.015


def test_threads_share_one_bucket() -> None:
    bucket, clock, _ = limiter(rate=1.0, burst=20)
    results: list[bool] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(5):
            ok = bucket.acquire()
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert results == [True] * 20
    assert clock.now == 1000.0


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_invalid_rate_or_burst_is_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)
