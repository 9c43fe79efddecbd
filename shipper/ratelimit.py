"""Client-side pacing of RDS calls: one adaptive token bucket per (account, region).

RDS throttles per account and region (burst 300, then 12 requests/s, shared by every tool and
the console), and a fixed client rate is a guess: it wastes the burst on a quiet account and
still takes its share when another tool is busy. So the rate is a control loop in the spirit
of TCP congestion control (AIMD) and botocore's ``adaptive`` retry mode:

* start from the documented budget: the full burst saved up, 12/s after it;
* every ``Throttling`` cuts the rate multiplicatively (``DECREASE``), empties the saved tokens
  and shrinks the burst to one second's worth: the account's own bucket is empty, so nothing
  saved on this side is real any more. Throttles answered to requests sent before the last cut
  belong to the same congestion event and do not cut again (TCP's once per window);
* every second in which calls succeed adds ``INCREASE`` requests/s (additive increase), but
  only up to twice the rate actually used lately (as botocore does): a rate nobody uses proves
  nothing and would come back as a burst;
* above ``RECOVER`` of the rate the last cut was made at, the growth slows to ``PROBE`` of
  ``INCREASE``: the rate quickly regains what the cut took beyond the congestion, then probes
  slowly where it was throttled (TCP's slow-start threshold; CUBIC's plateau). The account's
  bucket refills meanwhile, and it empties rarely: each time it does, whoever calls next is
  refused, and another tool on the account (the console, a script) does not back off. Probing
  at the full increase emptied it every few seconds under a steady neighbour;
* ``SHIPPER_RATE`` / ``SHIPPER_BURST`` are hard ceilings when set, and the rate starts there
  (a user who sets them states the budget they have: a raised quota, or a share of it).

One ``RateLimiter`` is shared by every thread working in one (account, region), through
``RateLimiters``; each reports the rate it settled at (time-weighted mean since its first
throttle) for the run summary.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

# RDS User Guide, "API throttling quotas": per account and region.
DOCUMENTED_BURST = 300
DOCUMENTED_RATE = 12.0
DECREASE = 0.7  # the rate keeps this fraction of itself on a throttle (botocore: 0.7)
INCREASE = 0.25  # requests/s added per second of successful calls
RECOVER = 0.9  # of the rate at the last cut: up to here the rate grows at INCREASE
PROBE = 0.1  # of INCREASE: the growth above RECOVER x the rate at the last cut
MIN_RATE = 0.25  # requests/s: never stall completely, retries back off on top of this
MEASURE_SECONDS = 2.0  # window of the "rate actually used" that caps the growth
MAX_GROWTH_STEP = 1.0  # seconds of growth one success may credit (no jump after a pause)

Clock = Callable[[], float]


@dataclass(frozen=True)
class RateReport:
    """What one controller did in this run (the summary's ``rate_limits`` entries)."""

    account: str
    region: str
    rate: float  # requests/s at the end of the run
    settled_rate: float  # time-weighted mean since the first throttle (``rate`` if none)
    min_rate: float
    granted: int
    throttles: int
    cuts: int
    waited_seconds: float

    def as_dict(self) -> dict[str, str | float | int]:
        return {"account": self.account, "region": self.region,
                "rate": round(self.rate, 2), "settled_rate": round(self.settled_rate, 2),
                "min_rate": round(self.min_rate, 2), "granted": self.granted,
                "throttles": self.throttles, "cuts": self.cuts,
                "waited_seconds": round(self.waited_seconds, 3)}


class RateLimiter:
    """Blocking adaptive token bucket (AIMD), thread-safe. See the module docstring."""

    def __init__(self, max_rate: float | None = None, max_burst: int | None = None,
                 clock: Clock = time.monotonic) -> None:
        if (max_rate is not None and not max_rate > 0) or (max_burst is not None
                                                           and max_burst < 1):
            raise ValueError("rate ceiling must be positive and burst ceiling at least 1")
        self._max_rate = math.inf if max_rate is None else float(max_rate)
        self._max_burst = float(DOCUMENTED_BURST if max_burst is None
                                else min(max_burst, DOCUMENTED_BURST))
        # A ceiling states the budget its user has (a raised quota, or a share): start there.
        self._rate = DOCUMENTED_RATE if max_rate is None else float(max_rate)
        self._capacity = self._max_burst
        self._tokens = self._capacity
        self._clock = clock
        now = clock()
        self._last_refill = now
        self._last_growth = now
        self._last_cut = -math.inf
        self._cut_from = math.inf  # the rate the last cut was made at
        self._granted_at: deque[float] = deque()
        self._sent = threading.local()
        self._lock = threading.Lock()
        self._throttled_since: float | None = None
        self._rate_seconds = 0.0  # integral of the rate since the first throttle
        self._last_event = now
        self.min_rate = self._rate
        self.granted = 0
        self.throttles = 0
        self.cuts = 0
        self.waited_seconds = 0.0

    @property
    def rate(self) -> float:
        with self._lock:
            return self._rate

    # --- the bucket ---------------------------------------------------------------------

    def _refill(self, now: float) -> None:
        self._tokens = min(self._capacity, self._tokens + (now - self._last_refill) * self._rate)
        self._last_refill = now

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Take one token, sleeping as needed. Returns False if ``stop`` was set while waiting."""
        while True:
            with self._lock:
                now = self._clock()
                self._refill(now)
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    self._granted_at.append(now)
                    self.granted += 1
                    self._sent.at = now
                    return True
                wait = (1.0 - self._tokens) / self._rate
                self.waited_seconds += wait
            if stop is not None:
                if stop.wait(wait):
                    return False
            else:
                time.sleep(wait)

    # --- the control loop ---------------------------------------------------------------

    def _used_rate(self, now: float) -> float:
        """Requests granted per second over the last ``MEASURE_SECONDS``."""
        while self._granted_at and self._granted_at[0] <= now - MEASURE_SECONDS:
            self._granted_at.popleft()
        return len(self._granted_at) / MEASURE_SECONDS

    def _set_rate(self, now: float, rate: float) -> None:
        self._refill(now)  # tokens earned so far were earned at the old rate
        if self._throttled_since is not None:
            self._rate_seconds += self._rate * (now - self._last_event)
        self._last_event = now
        self._rate = rate
        self.min_rate = min(self.min_rate, rate)
        if self._throttled_since is not None:
            self._capacity = min(self._max_burst, max(1.0, rate))
            self._tokens = min(self._tokens, self._capacity)

    def on_success(self) -> None:
        """A call paced by this limiter succeeded: grow the rate additively."""
        with self._lock:
            now = self._clock()
            step = min(now - self._last_growth, MAX_GROWTH_STEP)
            self._last_growth = now
            ceiling = min(self._max_rate, max(self._rate, 2.0 * self._used_rate(now)))
            increase = INCREASE if self._rate < RECOVER * self._cut_from else INCREASE * PROBE
            self._set_rate(now, min(ceiling, self._rate + increase * max(step, 0.0)))

    def on_throttle(self) -> None:
        """A call paced by this limiter was throttled: cut the rate, spend the saved tokens."""
        with self._lock:
            now = self._clock()
            self.throttles += 1
            sent_at = getattr(self._sent, "at", now)
            self._last_growth = now
            if self._throttled_since is None:
                self._throttled_since = now
                self._last_event = now
            elif sent_at <= self._last_cut:
                return  # sent before the last cut: the same congestion event
            self.cuts += 1
            self._last_cut = now
            self._cut_from = self._rate
            self._set_rate(now, max(MIN_RATE, DECREASE * self._rate))
            self._tokens = min(self._tokens, 0.0)

    def report(self, account: str, region: str) -> RateReport:
        with self._lock:
            span = self._last_event - (self._throttled_since or self._last_event)
            settled = self._rate_seconds / span if span > 0 else self._rate
            return RateReport(account, region, self._rate, settled, self.min_rate,
                              self.granted, self.throttles, self.cuts, self.waited_seconds)


class RateLimiters:
    """One ``RateLimiter`` per (account, region), created on first use, shared by threads."""

    def __init__(self, max_rate: float | None = None, max_burst: int | None = None,
                 clock: Clock = time.monotonic) -> None:
        self._max_rate = max_rate
        self._max_burst = max_burst
        self._clock = clock
        self._limiters: dict[tuple[str, str], RateLimiter] = {}
        self._lock = threading.Lock()

    def get(self, account: str, region: str) -> RateLimiter:
        with self._lock:
            limiter = self._limiters.get((account, region))
            if limiter is None:
                limiter = RateLimiter(self._max_rate, self._max_burst, self._clock)
                self._limiters[(account, region)] = limiter
            return limiter

    def reports(self) -> list[RateReport]:
        with self._lock:
            items = sorted(self._limiters.items())
        return [limiter.report(account, region) for (account, region), limiter in items]

    @property
    def waited_seconds(self) -> float:
        with self._lock:
            return sum(limiter.waited_seconds for limiter in self._limiters.values())
