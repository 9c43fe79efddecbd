"""The RDS calls: instances, log file listings, portions and the REST complete-file download.

Every call takes a token from the rate limiter of its account and region and goes through the
shared retry policy. The REST endpoint has no SDK method: we sign it with botocore's SigV4
signer against the RDS client's own endpoint, so ``AWS_ENDPOINT_URL_RDS`` and custom endpoints
apply to it too.
"""

from __future__ import annotations

import logging
import re
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError, NoCredentialsError

from shipper.aws import announce_operation, follow_pages
from shipper.cut_listing import complete_cut_listing
from shipper.exceptions import (
    AwsAccessError,
    BinaryLogDataError,
    InstanceGoneError,
    InstanceNotReady,
    LogFileGoneError,
    ShipperError,
)
from shipper.grouped import Grouped
from shipper.listing import Listing, LogFile
from shipper.retry import THROTTLE_CODES, TRANSIENT_CODES, Retrier, TransientHttpError, error_code

INSTANCE_GONE_CODES = frozenset({"DBInstanceNotFound", "DBInstanceNotFoundFault"})
NOT_READY_CODES = frozenset({"DBInstanceNotReady", "InvalidDBInstanceState",
                             "InvalidDBInstanceStateFault"})
FILE_GONE_CODES = frozenset({"DBLogFileNotFoundFault", "DBLogFileNotFound"})
RDS_ACCESS_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                              "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken",
                              "ExpiredTokenException", "UnrecognizedClientException"})
STREAM_CHUNK = 1024 * 1024
# DownloadDBLogFilePortion's refusal of a file with non-text bytes: an error response, not page
# data (boto/boto#2748, aws/aws-cli#2197, aws/aws-cli#2400, boto/botocore#910).
BINARY_CODE = "InvalidParameterValue"
# Oracle ignores MaxRecords and returns up to 1,000 records (RDS User Guide, Oracle log files).
ORACLE_LISTING_LIMIT = 1000
# How often a listing page asked for with a Marker is asked when it comes back empty.
EMPTY_PAGE_ASKS = 3

log = logging.getLogger("shipper")


# Engines DescribeDBInstances lists that the RDS log API does not serve: DocumentDB and
# Neptune share RDS's control plane ("This operation can also return information for Amazon
# Neptune DB instances and Amazon DocumentDB instances"), and "DescribeDBLogFiles doesn't apply
# to RDS Custom" (engines custom-oracle-*, custom-sqlserver-*).
NO_LOG_FILE_ENGINES = frozenset({"docdb", "neptune"})
NO_LOG_FILE_ENGINE_PREFIXES = ("custom-",)


def serves_log_files(engine: str) -> bool:
    """False for engines whose instances have no RDS log files to list or download."""
    name = engine.lower()
    return name not in NO_LOG_FILE_ENGINES and not name.startswith(NO_LOG_FILE_ENGINE_PREFIXES)


@dataclass(frozen=True)
class DbInstance:
    identifier: str
    engine: str
    status: str
    account: str
    region: str
    cluster: str | None
    tags: dict[str, str]
    resource_id: str = ""  # DbiResourceId: immutable, unlike the identifier


@dataclass(frozen=True)
class Portion:
    data: str
    marker: str | None
    pending: bool | None


def rds_access_error(err: ClientError | NoCredentialsError, action: str) -> AwsAccessError:
    if isinstance(err, NoCredentialsError):
        return AwsAccessError("no usable AWS credentials for RDS",
                              "set AWS credentials, a profile, or run with a task role")
    if error_code(err) in ("ExpiredToken", "ExpiredTokenException"):
        return AwsAccessError(f"AWS credentials expired (rds:{action})",
                              "refresh the credentials or the session token")
    return AwsAccessError(
        f"RDS refused rds:{action}: {error_code(err)}",
        f"the task role needs rds:{action}",
    )


def _account_from_arn(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else "unknown"


@dataclass(frozen=True)
class _Pages:
    """What following a listing's Markers gave. ``cut``: a page of ``ORACLE_LISTING_LIMIT``
    records or more ended without a Marker (RDS for Oracle may stop there). ``ended_empty``:
    a page asked for with a Marker came back empty, with no Marker, every time it was asked.
    That is how a listing ends after a full page that carried a Marker, and also what a
    listing that is empty for a moment (FIDELITY.md row 13) looks like in the middle of its
    pages; the two cannot be told apart, and the second, believed, leaves out every file
    after the page (found by the property suite at 10x: a family seen only by its running
    log was reported as broken). So the listing is not taken as complete."""

    files: list[LogFile]
    cut: bool
    ended_empty: bool = False

    @property
    def may_have_more(self) -> bool:
        return self.cut or self.ended_empty

    def as_query_answer(self) -> tuple[list[LogFile], bool]:
        """For ``complete_cut_listing``: the files, and whether the query may have more."""
        return self.files, self.may_have_more


class RdsApi:
    def __init__(self, client: Any, region: str, retrier: Retrier,
                 path_versions: tuple[str, ...], stats_add: Any) -> None:
        self._client = client
        self.region = region
        self._retrier = retrier
        self._versions = list(path_versions)
        self._stats_add = stats_add
        self._http = urllib3.PoolManager(
            num_pools=4, maxsize=64, retries=False,
            timeout=urllib3.Timeout(connect=10.0, read=120.0),
        )
        self._reads: Counter[str] = Counter()
        self._reads_lock = threading.Lock()
        # Identity confirmations that wait together share their requests (shipper.grouped).
        self._identities: Grouped[str, str, dict[str, str | None]] = Grouped(
            lambda _region, identifiers: self._resource_ids(identifiers))
        self._instance_pages = 0  # DescribeDBInstances pages the last walk took

    def reads_of(self, instance: str) -> int:
        """How many requests for ``instance``'s log files (listings, portions, REST
        downloads) have come back, answered or refused, since this object was made: what a
        commit may hold was learnt from them (``InstanceJob._confirm_identity``)."""
        with self._reads_lock:
            return self._reads[instance]

    def _came_back(self, instance: str | None) -> None:
        if instance is not None:
            with self._reads_lock:
                self._reads[instance] += 1

    def _call(self, action: str, fn: Any, **kwargs: Any) -> Any:
        self._stats_add(rds_requests=1)
        try:
            return self._retrier.call(lambda: fn(**kwargs))
        except NoCredentialsError as err:
            raise rds_access_error(err, action) from err
        except ClientError as err:
            code = error_code(err)
            if code in RDS_ACCESS_CODES:
                raise rds_access_error(err, action) from err
            if code in INSTANCE_GONE_CODES:
                raise InstanceGoneError(f"instance {kwargs.get('DBInstanceIdentifier')} is gone")\
                    from err
            if code in NOT_READY_CODES:
                raise InstanceNotReady(f"instance not ready ({code})") from err
            if code in FILE_GONE_CODES:
                raise LogFileGoneError("log file is gone") from err
            if code == BINARY_CODE and "binary data" in _error_message(err):
                raise BinaryLogDataError(
                    f"{kwargs.get('LogFileName')}: the portion API refuses binary data",
                    "the complete file is downloaded over REST instead") from err
            raise
        finally:
            if action != "DescribeDBInstances":
                self._came_back(kwargs.get("DBInstanceIdentifier"))

    # --- discovery -------------------------------------------------------------------------

    def instances(self) -> Iterator[DbInstance]:
        for pages, resp in enumerate(follow_pages(
                lambda request: self._call("DescribeDBInstances",
                                           self._client.describe_db_instances, **request),
                {"MaxRecords": 100}, "Marker", lambda answer: answer.get("Marker")), 1):
            self._instance_pages = max(self._instance_pages, pages)
            for raw in resp.get("DBInstances", []):
                yield DbInstance(
                    identifier=raw["DBInstanceIdentifier"],
                    engine=str(raw.get("Engine", "")),
                    status=str(raw.get("DBInstanceStatus", "")),
                    account=_account_from_arn(str(raw.get("DBInstanceArn", ""))),
                    region=self.region,
                    cluster=raw.get("DBClusterIdentifier"),
                    tags={t["Key"]: t.get("Value", "") for t in raw.get("TagList", [])},
                    resource_id=str(raw.get("DbiResourceId") or ""),
                )

    def resource_id_after(self, identifier: str) -> str | None:
        """The DbiResourceId the identifier names, asked after this call began (None: no
        instance has it): the identity confirmation before a commit
        (``InstanceJob._confirm_identity``). Confirmations that wait together share their
        requests (``shipper.grouped``)."""
        return self._identities.after_now(self.region, identifier).get(identifier)

    def _resource_ids(self, identifiers: list[str]) -> dict[str, str | None]:
        """What each identifier names now. Where they are as many as the region's instance
        pages, walking the pages answers for all of them at once (one request per 100
        instances); otherwise each is asked by name. An identifier the walk did not find is
        asked by name too: a walk can miss an instance created or deleted while it pages."""
        wanted = sorted(set(identifiers))
        found: dict[str, str | None] = {}
        if len(wanted) > 1 and len(wanted) >= self._instance_pages > 0:
            walked = {i.identifier: i.resource_id for i in self.instances()}
            found = {name: walked[name] for name in wanted if name in walked}
        for name in wanted:
            if name not in found:
                found[name] = self.resource_id_of(name)
        return found

    def resource_id_of(self, identifier: str) -> str | None:
        """The DbiResourceId the identifier names now; None when no instance has it. One
        DescribeDBInstances (``shipper.instance_identity``: before each commit of an
        instance with work)."""
        try:
            resp = self._call("DescribeDBInstances", self._client.describe_db_instances,
                              DBInstanceIdentifier=identifier)
        except InstanceGoneError:
            return None
        found = resp.get("DBInstances", [])
        return str(found[0].get("DbiResourceId") or "") if found else None

    # --- listing ---------------------------------------------------------------------------

    def log_files(self, instance: str) -> Listing:
        """Every log file of ``instance``. A listing that stops at a full 1,000-record page
        without a Marker (RDS for Oracle may) is completed with FilenameContains queries
        (``shipper.cut_listing``); one still incomplete after them, or one that ended on an
        empty page (``_Pages.ended_empty``), is logged, counted in the summary's
        ``incomplete_listings`` and marked so no file is concluded gone by it."""
        pages = self._list(instance, None)
        if pages.ended_empty:
            return self._incomplete(instance, pages.files, "ended on a page that came back "
                                    "empty every time it was asked")
        if not pages.cut:
            return Listing(pages.files)
        done = complete_cut_listing(
            pages.files, lambda text: self._list(instance, text).as_query_answer())
        if done.complete:
            log.info("log file listing stopped at 1,000 records without a Marker; listed the "
                     "rest by file name filters", extra={"instance": instance,
                                                         "records": len(done.files),
                                                         "queries": done.queries})
            return Listing(done.files.values())
        return self._incomplete(instance, list(done.files.values()), "stopped at 1,000 records "
                                "without a Marker and could not be completed",
                                queries=done.queries)

    def _incomplete(self, instance: str, files: list[LogFile], why: str,
                    **extra: Any) -> Listing:
        """A listing that may leave files out: counted, said once, and marked so that no
        file is concluded gone by it."""
        self._stats_add(incomplete_listings=1)
        log.warning(f"log file listing {why}: files beyond it, if any, are not shipped this "
                    "run and no file is concluded gone",
                    extra={"instance": instance, "records": len(files), **extra})
        return Listing(files, complete=False)

    def _list(self, instance: str, contains: str | None) -> _Pages:
        """The files (whose name contains ``contains``), following Markers."""
        files: dict[str, LogFile] = {}
        request: dict[str, Any] = {"DBInstanceIdentifier": instance, "MaxRecords": 1000}
        if contains is not None:
            request["FilenameContains"] = contains
        page: list[Any] = []
        for number, (resp, page) in enumerate(follow_pages(
                self._page, request, "Marker", lambda answer: answer[0].get("Marker"))):
            if number and not page and not resp.get("Marker"):  # asked with a Marker
                return _Pages(list(files.values()), cut=False, ended_empty=True)
            for raw in page:
                name = raw.get("LogFileName")
                if isinstance(name, str):
                    files[name] = LogFile(name, int(raw.get("Size", 0)),
                                          int(raw.get("LastWritten", 0)))
        return _Pages(list(files.values()), cut=len(page) >= ORACLE_LISTING_LIMIT)

    def _page(self, kwargs: dict[str, Any]) -> tuple[Any, list[Any]]:
        """One DescribeDBLogFiles page; a page asked for with a Marker that comes back empty
        is asked again (``_Pages.ended_empty``)."""
        for _ in range(EMPTY_PAGE_ASKS if kwargs.get("Marker") else 1):
            resp = self._call("DescribeDBLogFiles", self._client.describe_db_log_files, **kwargs)
            page = resp.get("DescribeDBLogFiles", [])
            if page or resp.get("Marker"):
                break
        return resp, page

    def log_files_like(self, instance: str, text: str) -> Listing:
        """The listed files whose names contain ``text``: a filtered DescribeDBLogFiles,
        every page of it. A name check concludes "handed on" from a name missing here, so a
        first page alone would lose files: the API reference gives no default page size, and
        MySQL's slow and general families alone hold 25 names, which sort ``….log.5`` to
        ``….log.9`` last (issue 28: a page of 20 left those five deferred day after day).
        Incomplete (a cut page, or one that ended on an empty page) means a missing name
        proves nothing."""
        pages = self._list(instance, text)
        return Listing(pages.files, complete=not pages.may_have_more)

    # --- portions --------------------------------------------------------------------------

    def portion(self, instance: str, name: str, marker: str,
                number_of_lines: int | None = None) -> Portion:
        kwargs: dict[str, Any] = {"DBInstanceIdentifier": instance, "LogFileName": name,
                                  "Marker": marker}
        if number_of_lines is not None:
            kwargs["NumberOfLines"] = number_of_lines
        self._stats_add(portion_calls=1)
        resp = self._call("DownloadDBLogFilePortion",
                          self._client.download_db_log_file_portion, **kwargs)
        pending = resp.get("AdditionalDataPending")
        return Portion(str(resp.get("LogFileData") or ""), resp.get("Marker"),
                       None if pending is None else bool(pending))

    def tail_marker(self, instance: str, name: str) -> str | None:
        """A marker for the current end of the file: the last line, no Marker."""
        self._stats_add(portion_calls=1)
        resp = self._call("DownloadDBLogFilePortion", self._client.download_db_log_file_portion,
                          DBInstanceIdentifier=instance, LogFileName=name, NumberOfLines=1)
        marker = resp.get("Marker")
        return str(marker) if marker else None

    # --- REST complete-file download -------------------------------------------------------

    def _url(self, version: str, instance: str, name: str) -> str:
        base = str(self._client.meta.endpoint_url).rstrip("/")
        # Percent-encode everything but unreserved characters and '/', then the dots of any
        # '.' or '..' segment, so no client or proxy can normalise a hostile name away.
        segments = [quote(seg, safe="") for seg in name.split("/")]
        segments = [s.replace(".", "%2E") if set(s) <= {"."} else s for s in segments]
        return (f"{base}/{version}/downloadCompleteLogFile/{quote(instance, safe='')}/"
                + "/".join(segments))

    def _signed_headers(self, url: str) -> dict[str, str]:
        credentials = self._client._request_signer._credentials
        if credentials is None:
            raise AwsAccessError("no usable AWS credentials for RDS",
                                 "set AWS credentials, a profile, or run with a task role")
        request = AWSRequest(method="GET", url=url)
        SigV4Auth(credentials.get_frozen_credentials(), "rds", self.region).add_auth(request)
        return {k: str(v) for k, v in request.headers.items()}

    def open_complete(self, instance: str, name: str) -> urllib3.BaseHTTPResponse:
        """Open the REST stream (retrying throttles and 5xx); the caller reads and closes it.

        Each path version is tried in order. An answer that is neither data nor a known error
        (an unknown code, a 403 without one, an HTML page: what a retired version may say)
        moves on to the next version; the first version that serves data is kept first for
        the rest of the run. Only when every version refused does the download fail."""
        self._stats_add(rds_requests=1, complete_downloads=1)

        def attempt() -> urllib3.BaseHTTPResponse:
            refusals: list[str] = []
            for version in list(self._versions):
                url = self._url(version, instance, name)
                announce_operation("rds", "DownloadCompleteDBLogFile")
                resp = self._http.request("GET", url, headers=self._signed_headers(url),
                                          preload_content=False, redirect=False)
                if resp.status == 200:
                    self._prefer(version)
                    return resp
                body = resp.read(64 * 1024)
                resp.release_conn()
                _raise_known_rest_error(resp.status, _error_code_from_body(body), instance)
                refusals.append(f"{version}: HTTP {resp.status} "
                                f"{_error_code_from_body(body) or '(no error code)'}")
            raise ShipperError(
                f"every REST path version was refused ({'; '.join(refusals)})",
                "set SHIPPER_COMPLETE_FILE_VERSIONS to a version RDS serves",
            )

        try:
            return self._retrier.call(attempt)
        finally:
            self._came_back(instance)

    def _prefer(self, version: str) -> None:
        if self._versions and self._versions[0] != version and version in self._versions:
            self._versions.remove(version)
            self._versions.insert(0, version)


def _raise_known_rest_error(status: int, code: str | None, instance: str) -> None:
    """Raise for the REST answers whose meaning is known; return for any other refusal."""
    label = code or str(status)
    if status == 429 or code in THROTTLE_CODES:
        raise TransientHttpError(f"throttled ({label})", throttled=True)
    if status >= 500 or code in TRANSIENT_CODES:
        raise TransientHttpError(f"HTTP {status} ({label})")
    if code in INSTANCE_GONE_CODES:
        raise InstanceGoneError(f"instance {instance} is gone")
    if code in FILE_GONE_CODES:
        raise LogFileGoneError("log file is gone")
    if code in NOT_READY_CODES:
        raise InstanceNotReady(f"instance not ready ({code})")
    if code in RDS_ACCESS_CODES:
        raise AwsAccessError(
            f"RDS refused rds:DownloadCompleteDBLogFile: {code}",
            "the task role needs rds:DownloadCompleteDBLogFile",
        )


def _error_message(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Message", ""))


_CODE_RE = re.compile(rb"<Code>([^<]{1,100})</Code>")


def _error_code_from_body(body: bytes) -> str | None:
    match = _CODE_RE.search(body)
    if match:
        return match.group(1).decode("utf-8", "replace")
    try:
        root = ET.fromstring(body)  # noqa: S314 - tiny body from our configured endpoint
    except ET.ParseError:
        return None
    code = root.find(".//Code")
    return code.text if code is not None else None
