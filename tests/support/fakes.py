"""In-memory stand-ins for fast unit tests of the core: an S3 store, the RDS log API's paging
and REST stream, and a clock. They follow the documented behaviour the shipper relies on
(conditional writes, ``<hour>:<offset>`` markers, ``AdditionalDataPending``); the simulator
and the local S3 remain the proof over HTTP."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from shipper.exceptions import BinaryLogDataError, DataObjectTakenError, StateConflictError
from shipper.layout import left_by_a_stopped_run, same_data_object, taken_message
from shipper.listing import Listing, LogFile
from shipper.portions import BINARY_TEXT, TRUNCATION_TEXT
from shipper.ports import LogFileSource, ObjectStore
from shipper.rdsapi import Portion
from shipper.s3store import StoredObject


class FakeClock:
    """Seconds since the epoch that move only when told to."""

    def __init__(self, now: float = 1_704_164_400.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MemoryStore:
    """``S3Store``'s interface over a dict: conditional writes by ETag, data objects with
    metadata. ``fail_data_writes``: that many ``put_data`` calls fail; with
    ``store_failed_writes`` the object is stored all the same (an answer lost)."""

    bucket = "memory"

    def __init__(self) -> None:
        self.objects: dict[str, StoredObject] = {}
        self.puts = 0
        self.data_puts: Counter[str] = Counter()  # writes of each data key (S3 events)
        self.fail_data_writes = 0
        self.store_failed_writes = False
        self._etags = 0
        self._lock = threading.Lock()

    def _etag(self) -> str:
        self._etags += 1
        return f'"etag-{self._etags}"'

    def check_bucket(self, prefix: str = "") -> None:
        return None

    def get(self, key: str) -> StoredObject | None:
        with self._lock:
            return self.objects.get(key)

    def head(self, key: str) -> StoredObject | None:
        with self._lock:
            found = self.objects.get(key)
        return None if found is None else StoredObject(b"", found.etag, dict(found.metadata))

    def put_conditional(self, key: str, body: bytes, etag: str | None,
                        content_type: str = "application/json") -> str:
        with self._lock:
            current = self.objects.get(key)
            if (etag is None and current is not None) or \
                    (etag is not None and (current is None or current.etag != etag)):
                raise StateConflictError(f"{key} changed since we read it")
            stored = StoredObject(body, self._etag(), {})
            self.objects[key] = stored
            self.puts += 1
            return stored.etag

    def put(self, key: str, body: bytes, content_type: str = "application/json") -> None:
        with self._lock:
            self.objects[key] = StoredObject(body, self._etag(), {})
            self.puts += 1

    def put_data(self, key: str, body: bytes, metadata: dict[str, str]) -> bool:
        """As ``S3Store.put_data``: a key that holds these bytes already is not written."""
        with self._lock:
            existing = self.objects.get(key)
            if existing is not None and same_data_object(existing.metadata, metadata):
                return False
            if existing is not None and left_by_a_stopped_run(
                    existing.body, existing.metadata, body, metadata):
                raise DataObjectTakenError(taken_message(key))
            failing = self.fail_data_writes > 0
            if failing:
                self.fail_data_writes -= 1
            if not failing or self.store_failed_writes:
                self.objects[key] = StoredObject(body, self._etag(), dict(metadata))
                self.puts += 1
                self.data_puts[key] += 1
        if failing:
            raise ConnectionError("injected: the answer to PutObject was lost")
        return True

    def list_keys(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(k for k in self.objects if k.startswith(prefix))


@dataclass
class ServedFile:
    """One log file as the fake API serves it. ``hour`` is the marker's hour; the quirks
    apply to the page starting at the given offset."""

    content: bytes
    hour: int = 3
    last_written_ms: int = 1_704_164_400_000
    listed_size: int | None = None
    truncate_at: set[int] = field(default_factory=set)
    binary_at: set[int] = field(default_factory=set)  # the old placeholder page
    binary_refused_at: set[int] = field(default_factory=set)  # the real error response
    early_end_at: dict[int, int] = field(default_factory=dict)  # offset -> times
    new_hour_at: dict[int, int] = field(default_factory=dict)  # offset -> the hour served


class FakeRdsApi:
    """``RdsApi``'s log-file calls over in-memory files, paged ``page_bytes`` at a time."""

    def __init__(self, files: dict[str, ServedFile], page_bytes: int = 1000) -> None:
        self.files = files
        self.page_bytes = page_bytes
        self.calls: list[tuple[str, str, str | None]] = []  # (action, name, marker)

    def log_files(self, instance: str) -> list[LogFile]:
        return [LogFile(name, f.listed_size if f.listed_size is not None else len(f.content),
                        f.last_written_ms) for name, f in self.files.items()]

    def log_files_like(self, instance: str, text: str) -> Listing:
        self.calls.append(("DescribeDBLogFiles", text, None))
        return Listing(f for f in self.log_files(instance) if text in f.name)

    def portion(self, instance: str, name: str, marker: str,
                number_of_lines: int | None = None) -> Portion:
        self.calls.append(("DownloadDBLogFilePortion", name, marker))
        served = self.files[name]
        start = 0 if marker == "0" else int(marker.split(":")[1])
        hour = served.new_hour_at.get(start, served.hour)
        if served.early_end_at.get(start, 0) > 0:
            served.early_end_at[start] -= 1
            return Portion("", f"{hour}:{start}", False)
        if start in served.binary_refused_at:
            raise BinaryLogDataError(f"{name}: the portion API refuses binary data")
        if start in served.binary_at:
            return Portion(BINARY_TEXT, f"{hour}:{start + self.page_bytes}", True)
        end = min(len(served.content), start + self.page_bytes)
        text = served.content[start:end].decode("utf-8")
        if start in served.truncate_at:
            text = text[: len(text) // 2] + TRUNCATION_TEXT + "\n"
        return Portion(text, f"{hour}:{end}", end < len(served.content))

    def tail_marker(self, instance: str, name: str) -> str | None:
        self.calls.append(("tail", name, None))
        served = self.files[name]
        return f"{served.hour}:{len(served.content)}"

    def open_complete(self, instance: str, name: str) -> FakeStream:
        self.calls.append(("DownloadCompleteLogFile", name, None))
        return FakeStream(self.files[name].content)


class FakeStream:
    """The REST response: ``stream()`` chunks, ``release_conn()``."""

    def __init__(self, body: bytes, chunk: int = 4096) -> None:
        self._body = body
        self._chunk = chunk
        self.released = False

    def stream(self, amt: int | None = None, decode_content: bool = False) -> Iterator[bytes]:
        size = min(amt or self._chunk, self._chunk)
        for start in range(0, len(self._body), size):
            yield self._body[start:start + size]

    def release_conn(self) -> None:
        self.released = True


def conforms(store: MemoryStore, api: FakeRdsApi) -> tuple[ObjectStore, LogFileSource]:
    """The fakes stand for what the core is typed against: mypy checks this module (it is in
    ``[tool.mypy] files``), so a fake that drifts from ``shipper.ports`` fails ``make test``."""
    return store, api
