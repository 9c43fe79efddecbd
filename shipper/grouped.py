"""Requests that answer for everyone who asked before they were sent (issue 25).

Two questions the shipper asks RDS are answered for a caller by any request sent after the
caller began to ask: a name check's family listing (``shipper.family_listings``) and an
identity confirmation (``RdsApi.resource_id_after``). Both prove something about everything
read before the request was sent, so a request asked for one caller proves it for every
caller that was already waiting. ``Grouped`` serves them in groups, the way a database
commits transactions in groups: per key one request is in flight at a time; a caller that
arrives meanwhile waits, and the next request serves every caller that arrived before it was
sent (each caller's ``item`` goes with it). A caller is never served by a request sent before
it arrived: that is the one rule correctness rests on, and ``ticket`` order enforces it.

When to send is a matter of cost only: at once when nothing is in flight, unless callers
that are expected (``expect``) have not arrived yet; then for at most ``gather_seconds``, and
not at all once every worker of the pool waits (``BlockedWorkers``): the callers expected
are then queued behind the waiting ones.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from shipper.exceptions import StopRequested

K = TypeVar("K", bound=Hashable)
I = TypeVar("I")  # noqa: E741 (the item a caller brings)
V = TypeVar("V")

STOP_POLL_SECONDS = 0.25


class BlockedWorkers:
    """How many of a pool's workers wait in a ``Grouped`` (of any key, any instance). When
    all of them do, the callers they expect are queued behind them and cannot arrive:
    waiting on would only idle the pool, so they send at once."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._blocked = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self._blocked += 1

    def leave(self) -> None:
        with self._lock:
            self._blocked -= 1

    def all_blocked(self) -> bool:
        with self._lock:
            return self._blocked >= self._capacity


class Grouped(Generic[K, I, V]):
    """``fetch(key, items)`` sends the request for the callers with ``items`` and returns
    one answer for all of them."""

    def __init__(self, fetch: Callable[[K, list[I]], V], stop: threading.Event | None = None,
                 gather_seconds: float = 0.0, workers: BlockedWorkers | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._workers = workers or BlockedWorkers(1 << 30)
        self._stop = stop or threading.Event()
        self._gather = gather_seconds
        self._clock = clock
        self._cond = threading.Condition()
        self._tickets = itertools.count(1)
        self._expected: Counter[K] = Counter()  # callers to come, who said so
        self._waiting: dict[K, dict[int, I]] = {}  # callers waiting, by ticket
        self._sending: set[K] = set()  # keys with a request in flight
        # each key's newest request: the ticket drawn when it was sent, and its answer
        self._latest: dict[K, tuple[int, V | BaseException]] = {}
        self.sent = 0  # requests sent (the tests count them)

    def expect(self, key: K) -> None:
        """A caller will ask for ``key`` soon; ``done`` when it did, or won't."""
        with self._cond:
            self._expected[key] += 1

    def done(self, key: K) -> None:
        with self._cond:
            self._expected[key] -= 1
            self._cond.notify_all()

    def after_now(self, key: K, item: I) -> V:
        """The answer of a request for ``key`` sent after this call began."""
        with self._cond:
            ticket = next(self._tickets)
            deadline = self._clock() + self._gather
            waiting = self._waiting.setdefault(key, {})
            waiting[ticket] = item
            self._workers.enter()
            try:
                answer = self._wait_or_send(key, ticket, deadline)
                if answer is None:  # this caller sends, for everyone waiting now
                    items = list(waiting.values())
                    sent = next(self._tickets)
                    self._sending.add(key)
                    self.sent += 1
            finally:
                waiting.pop(ticket, None)
                self._workers.leave()
        if answer is None:
            answer = self._send(key, items, sent)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def _wait_or_send(self, key: K, ticket: int, deadline: float
                      ) -> V | BaseException | None:
        """Under the lock: an answer sent after ``ticket``, or None when this caller is to
        send the request."""
        while True:
            latest = self._latest.get(key)
            if latest is not None and latest[0] > ticket:
                return latest[1]
            if self._stop.is_set():
                raise StopRequested("stopping")
            left = deadline - self._clock()
            if key not in self._sending and (
                    len(self._waiting[key]) >= self._expected[key] or left <= 0
                    or self._workers.all_blocked()):
                return None
            # woken by every answer and every ``done``; a stop is seen within the poll
            self._cond.wait(timeout=min(max(left, 0.01), STOP_POLL_SECONDS))

    def _send(self, key: K, items: list[I], sent: int) -> V | BaseException:
        answer: V | BaseException
        try:
            answer = self._fetch(key, items)
        except BaseException as err:  # every caller it serves fails the same way
            answer = err
        with self._cond:
            self._latest[key] = (sent, answer)
            self._sending.discard(key)
            self._cond.notify_all()
        return answer
