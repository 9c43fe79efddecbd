"""What this run decided about each known generation, shared by one instance's file jobs.

* taken: a file job works on the generation (no other job may prove or write it); a job that
  fails gives its claims back (``FileShipper._undecided``): it proved nothing, and another
  listed file may still prove the generation by content;
* deferred: its file failed or was left for the next listing (it is not missing);
* found: it was matched to a listed file, so its family is continuous.

A deferral outlives a download that failed; only ``found`` says the generation was seen.
"""

from __future__ import annotations

import threading

from shipper.state import Generation


class Claims:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken: set[str] = set()
        self._deferred: set[str] = set()
        self._found: set[str] = set()

    def take(self, gen: Generation) -> bool:
        """True if this caller now works on ``gen``; False if another job already does."""
        with self._lock:
            if gen.gen_id in self._taken:
                return False
            self._taken.add(gen.gen_id)
            return True

    def release(self, gen: Generation) -> None:
        with self._lock:
            self._taken.discard(gen.gen_id)

    def is_taken(self, gen: Generation) -> bool:
        with self._lock:
            return gen.gen_id in self._taken

    def defer(self, gen: Generation) -> None:
        with self._lock:
            self._deferred.add(gen.gen_id)

    def found(self, gen: Generation) -> None:
        with self._lock:
            self._found.add(gen.gen_id)

    def accounted_for(self, gen: Generation) -> bool:
        """Taken or deferred this run: whatever its file is, it did not vanish unseen."""
        with self._lock:
            return gen.gen_id in self._taken or gen.gen_id in self._deferred

    def found_ids(self) -> set[str]:
        with self._lock:
            return set(self._found)
