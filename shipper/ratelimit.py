"""One token bucket per process for every RDS call: the account-wide limit is shared."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Blocking token bucket: ``rate`` tokens per second, at most ``burst`` saved up."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()
        self.waited_seconds = 0.0

    def _refill(self, now: float) -> None:
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Take one token, sleeping as needed. Returns False if ``stop`` was set while waiting."""
        while True:
            with self._lock:
                now = self._clock()
                self._refill(now)
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return True
                wait = (1.0 - self._tokens) / self._rate
                self.waited_seconds += wait
            if stop is not None:
                if stop.wait(wait):
                    return False
            else:
                time.sleep(wait)

    def drain(self) -> None:
        """Spend every saved token: after a Throttling answer the account is out of budget."""
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self._tokens, 0.0)
