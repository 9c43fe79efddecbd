"""One pass: discover instances, ship each under its lease, summarise, pick the exit code."""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
import random
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import FrameType
from typing import Any, TypeVar

import boto3
from botocore.exceptions import ClientError, NoCredentialsError

from shipper import __version__
from shipper.aws import client, make_session
from shipper.config import Settings, s3_region
from shipper.exceptions import AwsAccessError, ShipperError
from shipper.exitcodes import ExitCode
from shipper.grouped import BlockedWorkers
from shipper.instance_job import InstanceJob, Outcome
from shipper.layout import Scope
from shipper.lease import LeaseManager, LeaseRenewer
from shipper.logs import emit_raw
from shipper.metrics import run_metrics
from shipper.ratelimit import RateLimiters
from shipper.rdsapi import (
    RDS_ACCESS_CODES,
    DbInstance,
    RdsApi,
    rds_access_error,
    serves_log_files,
)
from shipper.retention import headroom_seconds
from shipper.retry import RETRYABLE_EXCEPTIONS, Retrier, error_code
from shipper.s3store import S3Store
from shipper.stats import RunStats, RunSummary, Verdict

log = logging.getLogger("shipper")

NO_LOG_STATUSES = frozenset({
    "stopped", "stopping", "starting", "creating", "deleting", "failed",
    "inaccessible-encryption-credentials", "inaccessible-encryption-credentials-recoverable",
    "incompatible-restore", "insufficient-capacity", "restore-error",
})
STOP_GRACE_SECONDS = 18.0
OWN_ACCOUNT = "own"
T = TypeVar("T")


def run_id_for(settings: Settings) -> str:
    """The run's id: ``SHIPPER_RUN_ID`` when set, else a new one (time and randomness)."""
    return settings.run_id or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" \
        + secrets.token_hex(3)


@dataclass
class StopControl:
    """The stop event plus why it was set (signal or max runtime)."""

    event: threading.Event
    reason: str | None = None

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.event.set()


def instance_selected(instance: DbInstance, settings: Settings) -> bool:
    ident = instance.identifier.lower()  # RDS stores identifiers in lower case
    if not any(fnmatch.fnmatchcase(ident, g.lower()) for g in settings.include):
        return False
    if any(fnmatch.fnmatchcase(ident, g.lower()) for g in settings.exclude):
        return False
    if settings.engines and not any(
        fnmatch.fnmatchcase(instance.engine.lower(), e) for e in settings.engines
    ):
        return False
    return all(instance.tags.get(k) == v for k, v in settings.tags)


def rate_account(role_arn: str | None) -> str:
    """The account whose RDS budget calls through ``role_arn`` spend: the account id in the
    role's ARN, or this task's own account (named without a call: no sts:GetCallerIdentity)."""
    if role_arn is None:
        return OWN_ACCOUNT
    parts = role_arn.split(":")
    return parts[4] if len(parts) > 4 and parts[4] else role_arn


def round_robin(iterators: list[Iterator[T]]) -> Iterator[T]:
    """One item from each iterator in turn until all are exhausted."""
    active = list(iterators)
    while active:
        for iterator in list(active):
            try:
                yield next(iterator)
            except StopIteration:
                active.remove(iterator)


def in_run_order(instances: Iterable[T], run_id: str) -> list[T]:
    """The instances in an order of this run's own (seeded by its id). Runs started together
    (TaskCount > 1, a manual run beside the scheduled one) then meet on few instances at a
    time: each lists an instance before it takes its lease (an idle one takes none), so runs
    walking the same order would all list every instance the leader is shipping. An instance
    another run finished after this one started costs only its state read."""
    ordered = list(instances)
    random.Random(run_id).shuffle(ordered)  # noqa: S311 (an order, not a secret)
    return ordered


def file_filter(settings: Settings) -> Callable[[str], bool]:
    def keep(name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, g) for g in settings.file_include) and not any(
            fnmatch.fnmatchcase(name, g) for g in settings.file_exclude
        )

    return keep


class Runner:
    def __init__(self, settings: Settings, base_session: boto3.session.Session | None = None,
                 install_signals: bool = True, stdout: Any = None) -> None:
        self.settings = settings
        self.run_id = run_id_for(settings)
        self.stats = RunStats()
        self.stop = StopControl(threading.Event())
        # RDS throttles per account and region: one adaptive limiter for each, shared by every
        # thread working there. S3 calls are not paced (``self.retrier`` has no limiter).
        self.limiters = RateLimiters(settings.rate, settings.burst)
        self.retrier = Retrier(self.stats, self.stop.event, None, settings.max_attempts)
        self.base_session = base_session
        self.install_signals = install_signals
        self.stdout = stdout
        self.started = time.monotonic()
        self.started_at = time.time()
        self.engines: dict[str, str] = {}  # instance state key -> engine, for headroom
        self.identifiers: dict[str, str] = {}  # instance state key -> its identifier

    # --- signals and deadlines ----------------------------------------------------------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stop.reason is None:
            log.warning("stop requested; committing what is durable", extra={"signal": name})
        self.stop.request(name)
        threading.Thread(target=self._hard_deadline, daemon=True).start()

    def _hard_deadline(self) -> None:
        """Data objects are durable before state, so even a forced exit loses nothing: the next
        holder adopts objects written after our last commit."""
        time.sleep(STOP_GRACE_SECONDS)
        log.error("clean stop took too long; exiting now (next run adopts durable objects)")
        sys.stdout.flush()
        os._exit(ExitCode.TERMINATED if self.stop.reason == "SIGTERM" else ExitCode.INTERRUPTED)

    def _install(self) -> list[tuple[int, Any]]:
        if not self.install_signals or threading.current_thread() is not threading.main_thread():
            return []
        previous: list[tuple[int, Any]] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous.append((sig, signal.signal(sig, self._on_signal)))
        return previous

    def _deadline_timer(self) -> threading.Timer | None:
        if not self.settings.max_runtime:
            return None

        def expire() -> None:
            log.warning("max runtime reached; stopping cleanly",
                        extra={"max_runtime": self.settings.max_runtime})
            self.stop.request("max-runtime")

        timer = threading.Timer(self.settings.max_runtime, expire)
        timer.daemon = True
        timer.start()
        return timer

    # --- the pass -----------------------------------------------------------------------

    def run(self) -> int:
        previous = self._install()
        timer = self._deadline_timer()
        try:
            code, outcomes = self._run()
        except ShipperError as err:
            log.error(err.one_line(), extra={"error": type(err).__name__})
            code, outcomes = err.exit_code, []
        except Exception as err:  # a bug: one line, the traceback only at debug level
            log.error(f"unexpected error: {type(err).__name__}: {str(err)[:300]} (please report "
                      "this with SHIPPER_LOG_LEVEL=debug output)",
                      extra={"error": type(err).__name__},
                      exc_info=log.isEnabledFor(logging.DEBUG))
            self.stats.add(failures=1)
            code, outcomes = ExitCode.PARTIAL_FAILURE, []
        finally:
            if timer:
                timer.cancel()
            for sig, handler in previous:
                signal.signal(sig, handler)
        self._summarise(code, outcomes)
        return int(code)

    def _session(self, region: str, role_arn: str | None) -> boto3.session.Session:
        return make_session(region, role_arn, self.settings.external_id, self.base_session)

    def _run(self) -> tuple[ExitCode, list[Outcome]]:
        s = self.settings
        log.info("run started", extra={"version": __version__, "regions": ",".join(s.regions),
                                       "bucket": s.bucket, "prefix": s.prefix})
        s3_session = self._session(s3_region(self.settings), None)
        store = S3Store(client(s3_session, "s3"), s.bucket, self.retrier, s.kms_key_id)
        try:
            store.check_bucket(s.prefix)
        except RETRYABLE_EXCEPTIONS as err:
            raise AwsAccessError(f"S3 endpoint unreachable: {type(err).__name__}",
                                 "check network access to S3 or AWS_ENDPOINT_URL_S3") from err
        leases = LeaseManager(store, self.run_id, s.lease_seconds)
        renewer = LeaseRenewer(leases, self.stop.event)
        renewer.start()
        outcomes: list[Outcome] = []
        try:
            with contextlib.ExitStack() as pools:
                futures: list[Future[Outcome]] = []
                for insts, job in self._jobs(store, leases, pools):
                    if self.stop.event.is_set():
                        break
                    futures.append(insts.submit(job.run))
                for future in futures:
                    outcomes.append(future.result())
                    self._progress(len(outcomes), len(futures))
        finally:
            renewer.close()
        return self._exit_code(outcomes), outcomes

    def _jobs(self, store: S3Store, leases: LeaseManager, pools: contextlib.ExitStack
              ) -> Iterator[tuple[ThreadPoolExecutor, InstanceJob]]:
        """Instances of every (account, region) in turn, each pair with worker pools of its
        own: a worker waiting for one pair's RDS budget never holds back another pair's
        requests, so every pair's budget is spent at once (issue 25)."""
        s = self.settings
        yield from round_robin([self._pair_jobs(role_arn, region, store, leases, pools)
                                for role_arn in (s.role_arns or (None,)) for region in s.regions])

    def _pair_jobs(self, role_arn: str | None, region: str, store: S3Store,
                   leases: LeaseManager, pools: contextlib.ExitStack
                   ) -> Iterator[tuple[ThreadPoolExecutor, InstanceJob]]:
        s = self.settings
        name = f"{region}-{rate_account(role_arn)[-4:]}"
        files = pools.enter_context(ThreadPoolExecutor(s.concurrency,
                                                       thread_name_prefix=f"file-{name}"))
        insts = pools.enter_context(ThreadPoolExecutor(s.concurrency,
                                                       thread_name_prefix=f"instance-{name}"))
        # the file pool's workers waiting to share a family listing (shipper.grouped)
        blocked = BlockedWorkers(s.concurrency)
        session = self._session(region, role_arn)
        paced = Retrier(self.stats, self.stop.event,
                        self.limiters.get(rate_account(role_arn), region), s.max_attempts)
        api = RdsApi(client(session, "rds"), region, paced, s.complete_file_versions,
                     self.stats.add)
        for instance in in_run_order(self._discover(api, role_arn), self.run_id):
            scope = Scope(s.prefix, instance.account, region, instance.identifier,
                          instance.resource_id)
            self.stats.add(instances=1)
            self.engines[scope.state_key()] = instance.engine
            self.identifiers[scope.state_key()] = instance.identifier
            yield insts, InstanceJob(scope, api, store, leases, s, self.stats, self.run_id,
                                     self.stop.event, files, file_filter(s), self.started_at,
                                     blocked)

    def _discover(self, api: RdsApi, role_arn: str | None) -> Iterator[DbInstance]:
        try:
            for instance in api.instances():
                if not instance_selected(instance, self.settings):
                    continue
                if not serves_log_files(instance.engine):
                    self.stats.add(instances_skipped=1)
                    log.info("engine has no RDS log files; skipping", extra={
                        "instance": instance.identifier, "engine": instance.engine})
                    continue
                if instance.status.lower() in NO_LOG_STATUSES:
                    self.stats.add(instances_skipped=1)
                    log.info("instance serves no logs in its current status; skipping",
                             extra={"instance": instance.identifier, "status": instance.status})
                    continue
                yield instance
        except NoCredentialsError as err:
            raise rds_access_error(err, "DescribeDBInstances") from err
        except ClientError as err:
            if error_code(err) in RDS_ACCESS_CODES:
                raise rds_access_error(err, "DescribeDBInstances") from err
            raise ShipperError(
                f"DescribeDBInstances failed in {api.region}: {error_code(err) or 'error'}",
                "check the region and the RDS service health",
            ) from err
        except RETRYABLE_EXCEPTIONS as err:
            raise AwsAccessError(
                f"RDS endpoint in {api.region} unreachable: {type(err).__name__}",
                "check network access, the region name, or AWS_ENDPOINT_URL_RDS",
            ) from err

    def _exit_code(self, outcomes: list[Outcome]) -> ExitCode:
        fatal = next((o.fatal for o in outcomes if o.fatal), None)
        if fatal is not None:
            log.error(fatal.one_line(), extra={"error": type(fatal).__name__})
            return ExitCode.AWS_ACCESS
        if self.stop.reason == "SIGTERM":
            return ExitCode.TERMINATED
        if self.stop.reason == "SIGINT":
            return ExitCode.INTERRUPTED
        corrupt = [o for o in outcomes if o.corrupt]
        for o in corrupt:
            assert o.corrupt is not None
            log.error(f"state of {o.instance} is unusable: {o.corrupt.one_line()}",
                      extra={"instance": o.instance})
        if corrupt:
            return ExitCode.STATE_CORRUPT
        if any(o.failures for o in outcomes) or self.stats.failures:
            return ExitCode.PARTIAL_FAILURE
        if self.stop.reason == "max-runtime":
            return ExitCode.MAX_RUNTIME
        return ExitCode.OK

    def _progress(self, done: int, total: int) -> None:
        if self.stdout is not None and getattr(self.stdout, "isatty", lambda: False)():
            shipped = self.stats.bytes_shipped / (1024 * 1024)
            self.stdout.write(f"\r  {done}/{total} instances, {shipped:.1f} MiB shipped ")
            self.stdout.flush()
            if done == total:
                self.stdout.write("\n")

    def _rate_reports(self) -> list[dict[str, Any]]:
        """One line per (account, region): the rate its controller settled at."""
        reports = [r.as_dict() for r in self.limiters.reports()]
        for report in reports:
            log.info("rate settled", extra={"rate_limit": report})
        return reports

    def _summarise(self, code: int, outcomes: list[Outcome]) -> None:
        summary: RunSummary = {
            **self.stats.counts(), **self._verdict(code, outcomes),
            "run_id": self.run_id, "exit_code": int(code),
            "seconds": round(time.monotonic() - self.started, 3),
            "instances_leased_elsewhere": sum(1 for o in outcomes
                                              if o.skipped_reason == "leased by another run"),
            "rate_wait_seconds": round(self.limiters.waited_seconds, 3),
            "rate_limits": self._rate_reports(),
        }
        log.info("run finished", extra={"summary": summary})
        if self.settings.emf:
            emit_raw(run_metrics(self.settings.metrics_namespace, summary), self.stdout)
        self.summary = summary

    def _verdict(self, code: int, outcomes: list[Outcome]) -> Verdict:
        """What the alarms read. Every non-zero exit but the runtime budget is a failed run
        and counts at least one failure. A lag nobody measured is left out (None), so that
        the lag alarm's missing-data rule fires instead of a reassuring 0."""
        failed = code not in (ExitCode.OK, ExitCode.MAX_RUNTIME)
        failures = int(self.stats.failures) + sum(1 for o in outcomes if o.fatal or o.corrupt)
        lags = self.stats.lags()
        headroom = {key: headroom_seconds(self.engines.get(key, ""), lag)
                    for key, lag in lags.items()}
        oldest = min(headroom, key=headroom.__getitem__, default=None)
        return {
            "run_failed": int(failed),
            "failures": max(failures, 1) if failed else failures,
            "max_lag_seconds": (None if failed and not lags
                                else round(float(self.stats.max_lag_seconds), 1)),
            "retention_headroom_seconds": round(headroom[oldest], 1) if oldest else None,
            "headroom_instance": self.identifiers.get(oldest, oldest) if oldest else None,
        }
