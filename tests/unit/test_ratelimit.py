"""The adaptive token bucket (AIMD) and its per-(account, region) registry, on a fake clock."""

from __future__ import annotations

import threading
import time

import pytest

from shipper.ratelimit import (
    DECREASE,
    DOCUMENTED_BURST,
    DOCUMENTED_RATE,
    INCREASE,
    MIN_RATE,
    PROBE,
    RECOVER,
    RateLimiter,
    RateLimiters,
)


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


def limiter(rate: float | None = None, burst: int | None = None
            ) -> tuple[RateLimiter, FakeClock, FakeStop]:
    clock = FakeClock()
    return RateLimiter(rate, burst, clock=clock), clock, FakeStop(clock)


def spend_burst(bucket: RateLimiter, stop: FakeStop) -> None:
    while not stop.waits:
        bucket.acquire(stop)


def run_at_the_rate(bucket: RateLimiter, clock: FakeClock, stop: FakeStop, seconds: float,
                    throttle_every: int = 0) -> int:
    """Back-to-back calls for ``seconds`` of fake time; each succeeds (or every Nth is
    throttled). Returns the number of calls."""
    end = clock.now + seconds
    calls = 0
    while clock.now < end:
        bucket.acquire(stop)
        calls += 1
        if throttle_every and calls % throttle_every == 0:
            bucket.on_throttle()
        else:
            bucket.on_success()
    return calls


# --- the documented start and the ceilings --------------------------------------------------


def test_starts_with_the_documented_burst_then_the_documented_rate() -> None:
    bucket, clock, stop = limiter()
    assert all(bucket.acquire(stop) for _ in range(DOCUMENTED_BURST))
    assert stop.waits == [] and clock.now == 1000.0
    bucket.acquire(stop)
    assert clock.now - 1000.0 == pytest.approx(1 / DOCUMENTED_RATE)
    assert bucket.rate == DOCUMENTED_RATE


def test_ceilings_cap_the_start_the_burst_and_the_growth() -> None:
    bucket, clock, stop = limiter(rate=5.0, burst=10)
    assert all(bucket.acquire(stop) for _ in range(10))
    assert stop.waits == []
    start = clock.now
    calls = run_at_the_rate(bucket, clock, stop, 60.0)
    assert bucket.rate == 5.0  # a minute of success never grows past the ceiling
    assert calls == pytest.approx(5.0 * (clock.now - start), abs=1.5)


def test_a_burst_ceiling_above_the_documented_burst_is_clipped() -> None:
    bucket, _, stop = limiter(burst=1000)
    spend_burst(bucket, stop)
    assert bucket.granted == DOCUMENTED_BURST + 1


def test_a_rate_ceiling_is_also_the_start_and_comes_back_after_a_cut() -> None:
    bucket, clock, stop = limiter(rate=40.0)  # e.g. a raised quota
    assert bucket.rate == 40.0
    spend_burst(bucket, stop)
    bucket.on_throttle()
    assert bucket.rate == pytest.approx(DECREASE * 40.0)
    recover = (RECOVER - DECREASE) * 40.0 / INCREASE + (1 - RECOVER) * 40.0 / (INCREASE * PROBE)
    run_at_the_rate(bucket, clock, stop, recover + 10.0)
    assert bucket.rate == 40.0


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, None), (None, 0), (1.0, -5)])
def test_invalid_ceilings_are_refused(rate: float | None, burst: int | None) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)


# --- multiplicative decrease --------------------------------------------------------------


def test_a_throttle_cuts_the_rate_multiplicatively_and_spends_the_saved_tokens() -> None:
    bucket, clock, stop = limiter()
    bucket.acquire(stop)
    clock.now += 1.0
    bucket.on_throttle()
    assert bucket.rate == pytest.approx(DECREASE * DOCUMENTED_RATE)
    before = clock.now
    bucket.acquire(stop)  # 299 tokens were saved: all gone, the next one is 1/rate away
    assert clock.now - before == pytest.approx(1 / (DECREASE * DOCUMENTED_RATE))


def test_after_a_throttle_the_burst_is_one_second_of_the_rate() -> None:
    bucket, clock, stop = limiter()
    bucket.acquire(stop)
    clock.now += 1.0
    bucket.on_throttle()
    clock.now += 3600.0  # a long pause refills one second's worth only
    start = clock.now
    taken = 0
    while clock.now == start:
        bucket.acquire(stop)
        taken += 1
    assert taken - 1 == int(DECREASE * DOCUMENTED_RATE)


def test_throttles_of_requests_sent_before_the_cut_do_not_cut_again() -> None:
    bucket, clock, stop = limiter()
    bucket.acquire(stop)
    clock.now += 0.1
    bucket.on_throttle()
    bucket.on_throttle()  # the same request's thread, nothing sent since the cut
    assert bucket.rate == pytest.approx(DECREASE * DOCUMENTED_RATE)
    assert (bucket.throttles, bucket.cuts) == (2, 1)
    bucket.acquire(stop)  # sent after the cut: a new congestion event
    clock.now += 0.1
    bucket.on_throttle()
    assert bucket.cuts == 2
    assert bucket.rate == pytest.approx(DECREASE * DECREASE * DOCUMENTED_RATE)


def test_repeated_throttles_never_go_below_the_minimum_rate() -> None:
    bucket, clock, stop = limiter()
    for _ in range(40):
        bucket.acquire(stop)
        clock.now += 0.01
        bucket.on_throttle()
    assert bucket.rate == MIN_RATE
    assert bucket.min_rate == MIN_RATE


# --- additive increase ----------------------------------------------------------------------


def test_success_at_the_rate_grows_it_by_the_increase_per_second() -> None:
    bucket, clock, stop = limiter()
    bucket.acquire(stop)
    clock.now += 0.5
    bucket.on_throttle()
    cut = bucket.rate
    run_at_the_rate(bucket, clock, stop, 8.0)  # 8.4/s + 8 x 0.25: below 0.9 x 12/s
    assert bucket.rate == pytest.approx(cut + INCREASE * 8.0, abs=INCREASE)


def test_near_the_rate_of_the_last_cut_the_growth_slows_to_a_probe() -> None:
    """Regained up to RECOVER of the rate that was throttled, the rate probes on at PROBE of
    the increase: the account's bucket, emptied by the last probe, refills first."""
    bucket, clock, stop = limiter()
    bucket.acquire(stop)
    clock.now += 0.5
    bucket.on_throttle()
    fast = (RECOVER - DECREASE) * DOCUMENTED_RATE / INCREASE
    run_at_the_rate(bucket, clock, stop, fast + 0.5)
    regained = bucket.rate
    assert regained == pytest.approx(RECOVER * DOCUMENTED_RATE, abs=2 * INCREASE)
    run_at_the_rate(bucket, clock, stop, 20.0)
    assert bucket.rate - regained == pytest.approx(INCREASE * PROBE * 20.0, abs=INCREASE)
    bucket.acquire(stop)
    clock.now += 0.1
    bucket.on_throttle()  # the next cut is made from the probed rate
    probed = bucket.rate / DECREASE
    run_at_the_rate(bucket, clock, stop, 4.0)
    assert bucket.rate == pytest.approx(DECREASE * probed + INCREASE * 4.0, abs=INCREASE)


def test_no_growth_while_less_than_half_of_the_rate_is_used() -> None:
    bucket, clock, stop = limiter()
    for _ in range(30):  # one call every 5 s for 150 s at an allowed 12/s
        bucket.acquire(stop)
        bucket.on_success()
        clock.now += 5.0
    assert bucket.rate == DOCUMENTED_RATE


def test_a_pause_between_successes_credits_at_most_one_second_of_growth() -> None:
    bucket, clock, stop = limiter()
    spend_burst(bucket, stop)  # 301 calls in the last 2 s: growth is not capped by use
    clock.now += 1.5
    bucket.on_success()  # the first success, 1.58 s after the start
    assert bucket.rate - DOCUMENTED_RATE == pytest.approx(INCREASE * 1.0)


def test_aimd_converges_to_a_sawtooth_and_reports_its_mean() -> None:
    """Every 40th call throttled: the rate oscillates below the start and the settled rate
    is the time-weighted mean of the sawtooth, between its low and its high."""
    bucket, clock, stop = limiter()
    spend_burst(bucket, stop)
    run_at_the_rate(bucket, clock, stop, 300.0, throttle_every=40)
    report = bucket.report("111122223333", "eu-west-1")
    assert report.cuts > 5
    assert report.min_rate < report.settled_rate < DOCUMENTED_RATE
    assert report.granted == bucket.granted and report.throttles == bucket.throttles
    assert report.as_dict()["region"] == "eu-west-1"


def test_without_throttles_the_settled_rate_is_the_current_rate() -> None:
    bucket, clock, stop = limiter(rate=6.0)
    run_at_the_rate(bucket, clock, stop, 10.0)
    report = bucket.report("own", "us-east-1")
    assert report.settled_rate == report.rate == 6.0
    assert report.throttles == report.cuts == 0


# --- blocking and stopping ------------------------------------------------------------------


def test_acquire_returns_false_when_stop_is_set_while_waiting() -> None:
    bucket = RateLimiter(max_rate=0.1, max_burst=1)  # the next token is 10 s away
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


def test_acquire_without_stop_sleeps_for_the_token() -> None:
    bucket = RateLimiter(max_rate=50.0, max_burst=1)
    bucket.acquire()
    started = time.monotonic()
    assert bucket.acquire() is True
    assert time.monotonic() - started >= 0.015


def test_waited_seconds_add_up_the_pacing() -> None:
    bucket, _, stop = limiter(rate=4.0, burst=1)
    for _ in range(9):
        bucket.acquire(stop)
    assert bucket.waited_seconds == pytest.approx(8 * 0.25)


# --- one controller per (account, region), shared by threads --------------------------------


def test_one_limiter_per_account_and_region() -> None:
    limiters = RateLimiters()
    a = limiters.get("111122223333", "eu-west-1")
    assert limiters.get("111122223333", "eu-west-1") is a
    others = {id(limiters.get("111122223333", "us-east-1")),
              id(limiters.get("444455556666", "eu-west-1"))}
    assert id(a) not in others and len(others) == 2


def test_a_throttle_in_one_pair_leaves_the_others_alone() -> None:
    clock = FakeClock()
    limiters = RateLimiters(clock=clock)
    hit, calm = limiters.get("1", "eu-west-1"), limiters.get("1", "us-east-1")
    hit.acquire()
    calm.acquire()
    clock.now += 0.1
    hit.on_throttle()
    assert hit.rate == pytest.approx(DECREASE * DOCUMENTED_RATE)
    assert calm.rate == DOCUMENTED_RATE
    assert [r.region for r in limiters.reports()] == ["eu-west-1", "us-east-1"]


def test_registry_ceilings_apply_to_every_pair() -> None:
    limiters = RateLimiters(max_rate=3.0, max_burst=2)
    for pair in (("1", "a-b-1"), ("2", "a-b-1")):
        assert limiters.get(*pair).rate == 3.0


def test_threads_share_one_bucket_and_one_count() -> None:
    bucket, clock, _ = limiter()
    results: list[bool] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            ok = bucket.acquire()
            bucket.on_success()
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=take) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert results == [True] * 300  # exactly the burst, no waiting (the clock never moved)
    assert bucket.granted == 300 and clock.now == 1000.0
    stop = threading.Event()
    stop.set()
    assert bucket.acquire(stop) is False  # and not one token more


def test_concurrent_throttles_of_one_event_cut_once() -> None:
    bucket, clock, _ = limiter()
    barrier = threading.Barrier(8)
    sent = threading.Barrier(9)

    def request() -> None:
        bucket.acquire()
        sent.wait(timeout=5)
        barrier.wait(timeout=5)
        bucket.on_throttle()

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    sent.wait(timeout=5)
    clock.now += 0.2  # every request was sent before any answer arrived
    for thread in threads:
        thread.join(timeout=5)
    assert (bucket.throttles, bucket.cuts) == (8, 1)
    assert bucket.rate == pytest.approx(DECREASE * DOCUMENTED_RATE)
    assert bucket.waited_seconds == 0.0
