"""The RDS log API over real HTTP: the query protocol for boto3, plus the REST download.

Why real HTTP: the shipper must be tested unmodified, through botocore's serializers, parsers,
connection pool and error handling, and through its own SigV4-signed REST call. Pointing
``AWS_ENDPOINT_URL_RDS`` (or ``endpoint_url=``) at ``SimulatorServer.endpoint_url`` is enough.

Query protocol: ``POST /`` with a form body ``Action=...&Version=2014-10-31``; XML answers in the
``http://rds.amazonaws.com/doc/2014-10-31/`` namespace; errors are ``<ErrorResponse>`` documents
that botocore turns into ``ClientError`` with ``Error.Code``. Signatures are not verified.

REST: ``GET /{version}/downloadCompleteLogFile/{instance}/{percent-encoded name}`` needs a
SigV4 ``Authorization`` header for service ``rds`` and ``X-Amz-Date`` (checked for shape only);
it streams the raw stored bytes with ``Content-Length``. A refused version answers 404
``UnknownOperationException``; throttling answers HTTP 429 with code ``Throttling``.

Every request goes through, in order: hooks, the throttle bucket, injected drop/error, the
handler, then latency. ``stats`` counts what happened.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import re
import socket
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NoReturn, cast
from urllib.parse import parse_qs, unquote

from shipper.simulator.faults import (
    BINARY_MESSAGE,
    DROP,
    ApiError,
    Faults,
    Hook,
    HookResult,
    RequestInfo,
    _Drop,
)
from shipper.simulator.portion import (
    BytesSource,
    Page,
    Source,
    format_marker,
    page_from,
    parse_marker,
    tail,
)
from shipper.simulator.world import NoLogFilesError, OpenFile, World

NAMESPACE = "http://rds.amazonaws.com/doc/2014-10-31/"
API_VERSION = "2014-10-31"
REST_ACTION = "DownloadCompleteLogFile"
STREAM_CHUNK = 1024 * 1024

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_REST_PATH = re.compile(r"^/([^/]+)/downloadCompleteLogFile/([^/]+)/(.+)$")
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=[^/,\s]+/\d{8}/[^/,\s]+/rds/aws4_request,\s*"
    r"SignedHeaders=[^,\s]+,\s*Signature=[0-9a-f]{64}$"
)


def xml_escape(text: str) -> str:
    """Escape for XML 1.0 text; characters XML cannot carry become U+FFFD, CR survives."""
    text = _XML_ILLEGAL.sub("\ufffd", text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


def _el(tag: str, value: object) -> str:
    return f"<{tag}>{xml_escape(str(value))}</{tag}>"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _encode_marker(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode("utf-8", "surrogatepass")).decode("ascii")


def _decode_marker(marker: str) -> str:
    try:
        return base64.urlsafe_b64decode(marker.encode("ascii")).decode("utf-8", "surrogatepass")
    except (binascii.Error, UnicodeError, ValueError):
        raise ApiError("InvalidParameterValue", f"Invalid marker: {marker}") from None


def _int_param(params: Mapping[str, str], name: str, low: int | None = None,
               high: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApiError("InvalidParameterValue", f"Invalid value for {name}: {raw}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise ApiError("InvalidParameterValue",
                       f"Invalid value {value} for {name}: must be between {low} and {high}.")
    return value


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise ApiError("MissingParameter",
                       f"The request must contain the parameter {name}")
    return value


# Quirks injected by Faults, counted under these names in ServerStats.
QUIRKS = ("empty_listings", "lagging_sizes", "overlapping_pages", "early_ends", "cut_streams")


class ServerStats:
    """Thread-safe counters. ``requests`` counts by action (the REST download included)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests: Counter[str] = Counter()
            self._errors: Counter[str] = Counter()
            self._counts: Counter[str] = Counter()

    def _add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def _request(self, action: str) -> None:
        with self._lock:
            self._requests[action] += 1

    def _error(self, code: str) -> None:
        with self._lock:
            self._errors[code] += 1

    @property
    def requests(self) -> dict[str, int]:
        with self._lock:
            return dict(self._requests)

    @property
    def errors(self) -> dict[str, int]:
        """Error responses sent, by code (API errors, throttling and injected ones)."""
        with self._lock:
            return dict(self._errors)

    def _get(self, key: str) -> int:
        with self._lock:
            return self._counts[key]

    @property
    def total_requests(self) -> int:
        with self._lock:
            return sum(self._requests.values())

    @property
    def rest_downloads(self) -> int:
        """REST downloads that started sending a body."""
        return self._get("rest_downloads")

    @property
    def bytes_served(self) -> int:
        """Log bytes sent: portion pages (before UTF-8 decoding) plus REST bodies."""
        return self._get("bytes_served")

    @property
    def portion_bytes(self) -> int:
        return self._get("portion_bytes")

    @property
    def rest_bytes(self) -> int:
        return self._get("rest_bytes")

    @property
    def throttled(self) -> int:
        return self._get("throttled")

    @property
    def errors_injected(self) -> int:
        """InternalFailure responses from ``Faults.error_rate`` (not hook overrides)."""
        return self._get("errors_injected")

    @property
    def dropped(self) -> int:
        """Connections closed without an answer, or cut mid-body."""
        return self._get("dropped")

    @property
    def hook_overrides(self) -> int:
        return self._get("hook_overrides")

    @property
    def connections(self) -> int:
        """TCP connections accepted (keep-alive makes this much smaller than requests)."""
        return self._get("connections")

    @property
    def internal_errors(self) -> int:
        """Simulator bugs (unexpected exceptions); tests should expect 0."""
        return self._get("internal_errors")

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self._requests),
                "errors": dict(self._errors),
                **{k: self._counts[k] for k in (
                    "rest_downloads", "bytes_served", "portion_bytes", "rest_bytes",
                    "throttled", "errors_injected", "dropped", "hook_overrides",
                    "connections", "internal_errors", *QUIRKS)},
            }


class _Dropped(Exception):
    pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    sim: SimulatorServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up is normal (timeouts, dropped faults); anything else is a bug."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        self.sim.last_exception = traceback.format_exc()
        self.sim.stats._add("internal_errors")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AmazonRDS-simulator"
    sys_version = ""
    timeout = 120

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        cast(_HTTPServer, self.server).sim._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            cast(_HTTPServer, self.server).sim._track(self.connection, False)

    def do_POST(self) -> None:
        cast(_HTTPServer, self.server).sim._dispatch(self)

    def do_GET(self) -> None:
        cast(_HTTPServer, self.server).sim._dispatch(self)


class SimulatorServer:
    """Serves ``world`` at ``endpoint_url`` (``http://127.0.0.1:<port>``) in daemon threads."""

    def __init__(self, world: World, faults: Faults | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.world = world
        self.faults = faults if faults is not None else Faults()
        self.stats = ServerStats()
        self._host = host
        self._port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._hooks: list[Hook] = []
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._tail_sessions: set[tuple[str, str]] = set()
        self._connections: set[socket.socket] = set()
        self.last_exception: str | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> SimulatorServer:
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.sim = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="rds-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def endpoint_url(self) -> str:
        host = self._host if self._host not in ("", "0.0.0.0") else "127.0.0.1"  # noqa: S104
        return f"http://{host}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 (and the shipper) at this server."""
        return {"AWS_ENDPOINT_URL_RDS": self.endpoint_url}

    def client(self, **kwargs: Any) -> Any:
        """A boto3 RDS client for this server (dummy credentials, us-east-1 by default)."""
        import boto3

        options: dict[str, Any] = {
            "endpoint_url": self.endpoint_url, "region_name": self.world.region,
            "aws_access_key_id": "testing", "aws_secret_access_key": "testing",
        }
        options.update(kwargs)
        return boto3.client("rds", **options)

    def add_hook(self, hook: Hook) -> Callable[[], None]:
        """Run ``hook(info)`` before each request; returns a function that removes it.

        A hook may mutate the world, and may return (or raise) an ``ApiError`` to answer with
        that error, or return ``DROP`` to close the connection without answering.
        """
        with self._lock:
            self._hooks.append(hook)

        def remove() -> None:
            with self._lock:
                if hook in self._hooks:
                    self._hooks.remove(hook)

        return remove

    def clear_hooks(self) -> None:
        with self._lock:
            self._hooks.clear()

    def _track(self, conn: socket.socket, add: bool) -> None:
        if add:
            self.stats._add("connections")
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # --- request plumbing ----------------------------------------------------------------------

    def _dispatch(self, h: _Handler) -> None:
        try:
            if h.command == "GET" and _REST_PATH.match(h.path.split("?", 1)[0]):
                self._rest(h)
            elif h.command == "POST":
                length = int(h.headers.get("Content-Length") or 0)
                body = h.rfile.read(length) if length else b""
                query = h.path.split("?", 1)[1] if "?" in h.path else ""
                raw = body.decode("utf-8", "replace") + ("&" + query if query else "")
                params = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                self._query(h, params)
            else:
                self._send_error(h, ApiError("UnknownOperationException",
                                             "Unknown operation", 404))
        except _Dropped:
            h.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
        except Exception:
            self.last_exception = traceback.format_exc()
            self.stats._add("internal_errors")
            try:
                self._send_error(h, ApiError("InternalFailure", "simulator bug: see "
                                             "SimulatorServer.last_exception", 500))
            except OSError:
                h.close_connection = True

    def _run_hooks(self, info: RequestInfo) -> HookResult:
        with self._lock:
            hooks = list(self._hooks)
        for hook in hooks:
            try:
                result = hook(info)
            except ApiError as err:
                result = err
            if result is not None:
                self.stats._add("hook_overrides")
                return result
        return None

    def _hooks_gate(self, h: _Handler, info: RequestInfo) -> bool:
        """Run the hooks; True if none of them answered the request."""
        override = self._run_hooks(info)
        if isinstance(override, _Drop):
            self._drop(h)
        if isinstance(override, ApiError):
            self._send_error(h, override)
            return False
        return True

    def _faults_gate(self, h: _Handler, info: RequestInfo, throttle_status: int) -> bool:
        """The throttle bucket and injected faults; True if the request may proceed."""
        faults = self.faults
        if not faults.take_token(self.world.account_id, self.world.region):
            self.stats._add("throttled")
            self._send_error(h, ApiError("Throttling", "Rate exceeded", throttle_status))
            return False
        if faults.applies_to(info.action):
            if faults.chance(faults.drop_rate):
                self._drop(h)
            if faults.chance(faults.error_rate):
                self.stats._add("errors_injected")
                self._send_error(h, ApiError("InternalFailure",
                                             "An internal error has occurred.", 500))
                return False
        return True

    def _drop(self, h: _Handler) -> NoReturn:
        self.stats._add("dropped")
        h.close_connection = True
        try:
            h.wfile.flush()
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _Dropped

    def _send(self, h: _Handler, status: int, body: bytes,
              content_type: str = "text/xml", headers: Mapping[str, str] | None = None,
              request_id: str | None = None) -> None:
        time.sleep(self.faults.latency_seconds(len(body)))
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("x-amzn-RequestId", request_id or str(uuid.uuid4()))
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(body)
        h.wfile.flush()

    def _send_error(self, h: _Handler, err: ApiError) -> None:
        self.stats._error(err.code)
        rid = str(uuid.uuid4())
        kind = "Sender" if err.status < 500 else "Receiver"
        body = (
            f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>{kind}</Type>'
            f"{_el('Code', err.code)}{_el('Message', err.message)}</Error>"
            f"<RequestId>{rid}</RequestId></ErrorResponse>"
        ).encode()
        self._send(h, err.status, body, headers={"x-amzn-ErrorType": err.code},
                   request_id=rid)

    # --- query protocol ------------------------------------------------------------------------

    def _query(self, h: _Handler, params: dict[str, str]) -> None:
        action = params.get("Action", "")
        info = RequestInfo(
            number=next(self._numbers), action=action, params=params,
            instance=params.get("DBInstanceIdentifier"), log_file=params.get("LogFileName"),
            method=h.command, path=h.path,
        )
        self.stats._request(action)
        if not self._hooks_gate(h, info) or not self._faults_gate(h, info, 400):
            return
        handlers: dict[str, Callable[[dict[str, str]], str]] = {
            "DescribeDBInstances": self._describe_instances,
            "DescribeDBLogFiles": self._describe_log_files,
            "DownloadDBLogFilePortion": self._download_portion,
        }
        try:
            handler = handlers.get(action)
            if handler is None:
                raise ApiError("InvalidAction",
                               f"The action {action or '(none)'} is not valid for this endpoint.")
            if params.get("Version", API_VERSION) != API_VERSION:
                raise ApiError("InvalidParameterValue",
                               f"Unsupported API version {params.get('Version')}")
            result = handler(params)
        except ApiError as err:
            self._send_error(h, self._as_real_error(err))
            return
        rid = str(uuid.uuid4())
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<{action}Response xmlns="{NAMESPACE}">'
            f"<{action}Result>{result}</{action}Result>"
            f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>"
            f"</{action}Response>"
        ).encode()
        self._send(h, 200, body, request_id=rid)

    def _as_real_error(self, err: ApiError) -> ApiError:
        """The answer for an engine without RDS log files: ``Faults.no_log_files_error``."""
        if not isinstance(err, NoLogFilesError):
            return err
        code, status = NO_LOG_FILES_ERRORS[self.faults.no_log_files_error]
        return ApiError(code, err.message, status)

    def _describe_instances(self, params: dict[str, str]) -> str:
        max_records = _int_param(params, "MaxRecords", 20, 100) or 100
        wanted = params.get("DBInstanceIdentifier")
        filters = _parse_filters(params)
        rows = self.world.snapshot_instances()
        if wanted:
            rows = [r for r in rows if r["id"] == wanted]
            if not rows:
                raise ApiError("DBInstanceNotFound", f"DBInstance {wanted} not found.", 404)
        for name, values in filters.items():
            key = {"db-instance-id": "id", "db-cluster-id": "cluster", "engine": "engine",
                   "dbi-resource-id": "resource_id"}.get(name)
            if key is None:
                raise ApiError("InvalidParameterValue", f"Unrecognized filter name: {name}")
            rows = [r for r in rows
                    if r[key] in values or (key == "id" and r["arn"] in values)]
        marker = params.get("Marker")
        if marker:
            after = _decode_marker(marker)
            rows = [r for r in rows if r["id"] > after]
        page, more = rows[:max_records], len(rows) > max_records
        parts = ["<DBInstances>"]
        for r in page:
            tags = "".join(f"<Tag>{_el('Key', k)}{_el('Value', v)}</Tag>"
                           for k, v in sorted(r["tags"].items()))
            cluster = _el("DBClusterIdentifier", r["cluster"]) if r["cluster"] else ""
            parts.append(
                f"<DBInstance>{_el('DBInstanceIdentifier', r['id'])}"
                f"{_el('DBInstanceArn', r['arn'])}{_el('DbiResourceId', r['resource_id'])}"
                f"{_el('Engine', r['engine'])}"
                f"{_el('EngineVersion', r['version'])}{_el('DBInstanceStatus', r['status'])}"
                f"{cluster}<TagList>{tags}</TagList>"
                f"{_el('InstanceCreateTime', _iso(r['created_at']))}</DBInstance>"
            )
        parts.append("</DBInstances>")
        if more:
            parts.append(_el("Marker", _encode_marker(page[-1]["id"])))
        return "".join(parts)

    def _describe_log_files(self, params: dict[str, str]) -> str:
        ident = _required(params, "DBInstanceIdentifier")
        if any(k == "Filters" or k.startswith("Filters.") for k in params):
            raise ApiError("InvalidParameterValue",
                           "The parameter Filters is not supported for DescribeDBLogFiles.")
        faults = self.faults
        entries = self.world.list_files(ident, faults.recent_seconds)
        engine = self.world.engine_of(ident)
        if engine is not None and engine.max_records_ignored:
            max_records = faults.oracle_max_records
        else:
            asked = _int_param(params, "MaxRecords", 20, 1000) or 100
            max_records = min(asked, int(faults.log_files_max_records))
        since = _int_param(params, "FileLastWritten")
        min_size = _int_param(params, "FileSize")
        contains = params.get("FilenameContains") or None
        rows = [e for e in entries
                if (since is None or e.last_written_ms >= since)
                and (min_size is None or e.size >= min_size)
                and (contains is None or contains in e.name)]
        marker = params.get("Marker")
        if marker:
            after = _decode_marker(marker)
            rows = [e for e in rows if e.name > after]
        if faults.chance(faults.empty_listing_rate):
            self.stats._add("empty_listings")
            return "<DescribeDBLogFiles></DescribeDBLogFiles>"
        page, more = rows[:max_records], len(rows) > max_records
        if more and engine is not None and engine.max_records_ignored \
                and faults.oracle_listing_marker == "none":
            more = False  # the variant where the listing simply stops at 1,000 records
        parts = ["<DescribeDBLogFiles>"]
        for e in page:
            size = e.size
            if e.recent and size > 0 and faults.chance(faults.size_lag_rate):
                size -= faults.randint(1, min(size, max(faults.size_lag_max_bytes, 1)))
                self.stats._add("lagging_sizes")
            parts.append(
                f"<DescribeDBLogFilesDetails>{_el('LogFileName', e.name)}"
                f"{_el('LastWritten', e.last_written_ms)}{_el('Size', size)}"
                f"</DescribeDBLogFilesDetails>"
            )
        parts.append("</DescribeDBLogFiles>")
        if more:
            parts.append(_el("Marker", _encode_marker(page[-1].name)))
        return "".join(parts)

    def _download_portion(self, params: dict[str, str]) -> str:
        ident = _required(params, "DBInstanceIdentifier")
        name = _required(params, "LogFileName")
        faults = self.faults
        lines = _int_param(params, "NumberOfLines", 1, None)
        raw_marker = params.get("Marker") or None
        marker = parse_marker(raw_marker) if raw_marker is not None else None
        opened = self.world.open_file(ident, name)
        offsets = _Offsets(opened.hidden if faults.filtered_marker_offsets == "raw" else ())
        prefix = self._marker_hour(opened)
        src: Source = opened.view
        if faults.gz_served_decompressed and name.endswith(".gz"):
            unzipped = opened.gunzipped()
            if unzipped is not None:
                src = BytesSource(unzipped)
        budget = max(faults.page_bytes, 64)
        if marker is None:
            page = tail(src, lines or faults.tail_lines, budget)
        else:
            hour, offset = marker[0], offsets.visible(marker[1])
            if hour is not None and hour != opened.hour and faults.marker_hour == "creation" \
                    and not faults.stale_marker_follows_name:
                raise ApiError("InvalidParameterValue",
                               f"Marker {raw_marker} does not belong to the file now named {name}")
            page = page_from(src, offset, lines, budget,
                             truncate_long_lines=faults.truncate_long_lines,
                             stuck_with_lines=faults.stuck_with_number_of_lines)
            if offset > 0 and faults.chance(faults.overlap_rate):
                page = _overlap(src, offset, page, faults)
                self.stats._add("overlapping_pages")
        pending = page.pending and not faults.chance(faults.early_end_rate if page.pending else 0)
        if page.pending and not pending:
            self.stats._add("early_ends")
        key = (ident, name)
        with self._lock:
            omit_pending = key in self._tail_sessions and faults.omit_pending_after_tail
            self._tail_sessions.discard(key)
            if marker is None:
                self._tail_sessions.add(key)
        self.stats._add("portion_bytes", len(page.data))
        self.stats._add("bytes_served", len(page.data))
        if faults.binary_as_error and _is_binary(page.data):
            raise ApiError("InvalidParameterValue", BINARY_MESSAGE, 400)
        text = _page_text(page.data, faults.binary_placeholder)
        parts = []
        if text or not faults.omit_empty_log_file_data:
            parts.append(_el("LogFileData", text))
        parts.append(_el("Marker", format_marker(prefix, offsets.raw(page.end))))
        if not omit_pending:
            parts.append(_el("AdditionalDataPending", "true" if pending else "false"))
        return "".join(parts)

    def _marker_hour(self, opened: OpenFile) -> int:
        """The H of the markers served for this file, as ``Faults.marker_hour`` says."""
        variant = self.faults.marker_hour
        if variant == "last_write_plus_one":
            return (time.gmtime(opened.last_written).tm_hour + 1) % 24
        if variant == "request_hour":
            return time.gmtime(self.world.now).tm_hour
        return opened.hour

    # --- REST ----------------------------------------------------------------------------------

    def _rest(self, h: _Handler) -> None:
        path = h.path.split("?", 1)[0]
        match = _REST_PATH.match(path)
        assert match is not None
        version, ident = unquote(match.group(1)), unquote(match.group(2))
        name = unquote(match.group(3), errors="surrogateescape")
        info = RequestInfo(number=next(self._numbers), action=REST_ACTION, params={},
                           instance=ident, log_file=name, method="GET", path=h.path,
                           rest_version=version)
        self.stats._request(REST_ACTION)
        faults = self.faults
        if not self._hooks_gate(h, info):
            return
        if version not in faults.rest_versions:
            self._send_refusal(h, version)
            return
        auth = h.headers.get("Authorization")
        if not auth:
            self._send_error(h, ApiError("MissingAuthenticationToken",
                                         "Request is missing Authentication Token", 403))
            return
        if not _AUTH_RE.match(auth.strip()) or not h.headers.get("X-Amz-Date"):
            self._send_error(h, ApiError("IncompleteSignature",
                                         "The request signature does not conform to AWS "
                                         "SigV4 for service rds.", 403))
            return
        if not self._faults_gate(h, info, 429):
            return
        try:
            opened = self.world.open_file(ident, name)
        except ApiError as err:
            self._send_error(h, self._as_real_error(err))
            return
        view = opened.view
        size = view.size
        cut = faults.randint(0, size - 1) if size and faults.chance(
            faults.drop_mid_stream_rate) else None
        if cut is not None:
            self.stats._add("cut_streams")
        time.sleep(faults.latency_seconds(0))
        h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(size))
        h.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        h.end_headers()
        self.stats._add("rest_downloads")
        sent = 0
        for piece in view.iter_range(0, size, STREAM_CHUNK):
            time.sleep(faults.latency_seconds(len(piece)) - faults.latency_seconds(0))
            if cut is not None and sent + len(piece) > cut:
                h.wfile.write(piece[: cut - sent])
                self.stats._add("rest_bytes", cut - sent)
                self.stats._add("bytes_served", cut - sent)
                self._drop(h)
            h.wfile.write(piece)
            sent += len(piece)
            self.stats._add("rest_bytes", len(piece))
            self.stats._add("bytes_served", len(piece))
        h.wfile.flush()


    def _send_refusal(self, h: _Handler, version: str) -> None:
        """A path version this server does not serve, answered as ``retired_rest_answer``."""
        variant = self.faults.retired_rest_answer
        if variant == "forbidden-403":
            body = b"<html><body>403 Forbidden</body></html>"
            self.stats._error("403")
            self._send(h, 403, body, content_type="text/html")
            return
        if variant == "bad-request-400":
            self._send_error(h, ApiError("InvalidAction",
                                         f"The path /{version}/ is no longer supported.", 400))
            return
        self._send_error(h, ApiError("UnknownOperationException",
                                     f"No operation at /{version}/downloadCompleteLogFile", 404))


NO_LOG_FILES_ERRORS: dict[str, tuple[str, int]] = {
    "invalid-parameter-combination": ("InvalidParameterCombination", 400),
    "invalid-parameter-value": ("InvalidParameterValue", 400),
    "db-instance-not-found": ("DBInstanceNotFound", 404),
}


class _Offsets:
    """Maps served (visible) offsets to the offsets a marker carries. With no hidden bytes
    they are the same; with ``filtered_marker_offsets="raw"`` a marker counts the filtered-out
    bytes too, as the listed Size does."""

    def __init__(self, hidden: tuple[tuple[int, int], ...]) -> None:
        self._hidden = hidden

    def raw(self, visible: int) -> int:
        return visible + sum(n for at, n in self._hidden if at <= visible)

    def visible(self, raw: int) -> int:
        skipped = 0
        for at, n in self._hidden:
            start = at + skipped  # where this hidden run starts, in raw offsets
            if raw < start:
                break
            if raw < start + n:
                return at  # inside filtered-out bytes: resume at the next visible byte
            skipped += n
        return raw - skipped


def _parse_filters(params: Mapping[str, str]) -> dict[str, set[str]]:
    names: dict[str, str] = {}
    values: dict[str, set[str]] = {}
    for key, value in params.items():
        m = re.match(r"^Filters\.Filter\.(\d+)\.(Name|Values\.Value\.\d+)$", key)
        if not m:
            continue
        if m.group(2) == "Name":
            names[m.group(1)] = value
        else:
            values.setdefault(m.group(1), set()).add(value)
    return {names[i]: values.get(i, set()) for i in names}


def _overlap(src: Source, offset: int, page: Page, faults: Faults) -> Page:
    """Quirk 5: start the data up to ``overlap_max_bytes`` before the marker."""
    back = faults.randint(1, max(1, min(offset, faults.overlap_max_bytes)))
    start = offset - back
    before = src.read(start, offset)
    skip = 0
    while skip < len(before) - 1 and 0x80 <= before[skip] < 0xC0:
        skip += 1
    return Page(before[skip:] + page.data, page.end, page.pending)


def _is_binary(data: bytes) -> bool:
    """Bytes the portion API refuses to serve as text (not UTF-8, or not XML characters)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return _XML_ILLEGAL.search(text) is not None


def _page_text(data: bytes, placeholder: bool) -> str:
    """Quirk 6: bytes that are not UTF-8 text XML can carry come back as the placeholder."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return BINARY_MESSAGE if placeholder else data.decode("utf-8", "replace")
    if _XML_ILLEGAL.search(text):
        return BINARY_MESSAGE if placeholder else text
    return text


__all__ = ["DROP", "ServerStats", "SimulatorServer", "xml_escape"]
