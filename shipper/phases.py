"""The three phases of an instance's pass, and how a file's failure is counted.

1. files of certain identity, in parallel, and the content proofs one after another (two of
   them may want the same generation);
2. files grown in place, in parallel (each wants only its own generation);
3. grown files that turned out to be something else, and same-size files, serially.

An error that every other file would hit the same way (``STOPS_THE_PASS``) stops the pass;
any other stays with its file: logged once, counted once.
"""

from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from shipper.exceptions import (
    AwsAccessError,
    DataObjectTakenError,
    DownloadMismatchError,
    InstanceGoneError,
    InstanceMovedError,
    LeaseLostError,
    LogFileGoneError,
    ShipperError,
    StopRequested,
)
from shipper.file_shipper import FileShipper, NeedsProof
from shipper.identity import FileJob, Plan
from shipper.instance_run import InstanceRun
from shipper.stats import RunStats

log = logging.getLogger("shipper")
# Errors that stop the instance's pass: every other file would fail the same way.
STOPS_THE_PASS = (StopRequested, LeaseLostError, AwsAccessError, InstanceGoneError,
                  InstanceMovedError)


@dataclass
class PhaseResult:
    completed: bool = False  # every phase ran to its end
    errors: list[BaseException] = field(default_factory=list)  # what stopped the pass
    files: int = 0
    failures: int = 0


class Phases:
    def __init__(self, shared: InstanceRun, pool: ThreadPoolExecutor, stop: threading.Event,
                 stats: RunStats) -> None:
        self.shared = shared
        self.pool = pool
        self.stop = stop
        self.stats = stats

    def run(self, plan: Plan, opened: list[FileJob]) -> PhaseResult:
        """Ship the plan in its three phases (module docstring)."""
        result = PhaseResult()
        first = [(j, self.pool.submit(FileShipper(self.shared, j).run))
                 for j in [*plan.known, *opened]]
        if plan.proofs:
            first.append((plan.proofs[0], self.pool.submit(self._run_serially, plan.proofs)))
        result.errors = self._collect(first, result)
        if result.errors or self.stop.is_set():
            return result
        unproven: list[FileJob] = []
        second = [(j, self.pool.submit(FileShipper(self.shared, j).run)) for j in plan.grown]
        result.errors = self._collect(second, result, unproven)
        if result.errors or self.stop.is_set():
            return result
        last = [j.unproven() for j in unproven] + plan.same_size
        if last:
            result.errors = self._collect(
                [(last[0], self.pool.submit(self._run_serially, last))], result)
        result.completed = not result.errors and not self.stop.is_set()
        return result

    def _run_serially(self, jobs: list[FileJob]) -> None:
        failures: list[tuple[FileJob, BaseException]] = []
        for job in jobs:
            if self.stop.is_set():
                raise StopRequested("stopping")
            try:
                FileShipper(self.shared, job).run()
            except STOPS_THE_PASS:
                raise
            except Exception as err:
                failures.append((job, err))
        counted = sum(self._report(j, failure) for j, failure in failures)
        if counted:
            raise _AlreadyReported(counted)

    def _collect(self, futures: list[tuple[FileJob, Future[None]]], result: PhaseResult,
                 unproven: list[FileJob] | None = None) -> list[BaseException]:
        errors: list[BaseException] = []
        for job, future in futures:
            try:
                future.result()
                result.files += 1
            except NeedsProof:
                if unproven is not None:
                    unproven.append(job)
            except _AlreadyReported as done:
                result.failures += done.count
            except STOPS_THE_PASS as err:
                errors.append(err)
            except Exception as err:
                if self._report(job, err):
                    result.failures += 1
        return errors

    def _report(self, job: FileJob, err: BaseException) -> bool:
        """Log one file's failure; True when it counts as a failure of the run."""
        extra = {"instance": self.shared.ledger.scope.instance, "file": job.name}
        if isinstance(err, LogFileGoneError):
            log.info("log file vanished before it was read (retention or rotation)", extra=extra)
            return False
        if isinstance(err, (DownloadMismatchError, DataObjectTakenError)):
            # The run ends unclean (the ledger marks the generation unsure), so the next
            # run adopts what is there and ships the rest.
            log.warning(err.one_line(), extra={**extra, "error": type(err).__name__})
            return False
        self.stats.add(failures=1)
        if isinstance(err, ShipperError):
            log.error(err.one_line(), extra={**extra, "error": type(err).__name__})
        else:
            log.error(f"failed to ship: {type(err).__name__}: {safe_error_text(err)}",
                      extra={**extra, "error": type(err).__name__})
        return True


class _AlreadyReported(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(f"{count} files failed")
        self.count = count


def safe_error_text(err: BaseException) -> str:
    """Exception text without anything that could carry log content or signed URLs."""
    text = str(err).split("\n", 1)[0]
    text = re.sub(r"X-Amz-[A-Za-z-]+=[^&\s]+", "X-Amz-...", text)
    return text[:300]
