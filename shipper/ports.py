"""What the core needs of S3 and of the RDS log-file API, as Protocols.

The core (ledger, adoption, leases, identity records, file jobs) is typed against these, not
against ``S3Store`` and ``RdsApi``: the real classes and the in-memory fakes the unit tests
use (``tests/support/fakes.py``) both implement them, and mypy checks both.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from shipper.listing import Listing
from shipper.rdsapi import Portion
from shipper.s3store import StoredObject


class ObjectStore(Protocol):
    """The bucket: states, leases, name records and data objects (``shipper.s3store``)."""

    def get(self, key: str) -> StoredObject | None: ...

    def head(self, key: str) -> StoredObject | None: ...

    def put_conditional(self, key: str, body: bytes, etag: str | None,
                        content_type: str = "application/json") -> str: ...

    def put(self, key: str, body: bytes, content_type: str = "application/json") -> None: ...

    def put_data(self, key: str, body: bytes, metadata: dict[str, str]) -> bool: ...

    def list_keys(self, prefix: str) -> list[str]: ...


class LogStream(Protocol):
    """An open DownloadCompleteLogFile response."""

    def stream(self, amt: int | None = None,
               decode_content: bool = False) -> Iterator[bytes]: ...

    def release_conn(self) -> None: ...


class LogFileSource(Protocol):
    """The calls a file job makes (``shipper.rdsapi``): a family's listing for the name
    check, portions, a tail marker, the REST download."""

    def log_files_like(self, instance: str, text: str) -> Listing: ...

    def portion(self, instance: str, name: str, marker: str,
                number_of_lines: int | None = None) -> Portion: ...

    def tail_marker(self, instance: str, name: str) -> str | None: ...

    def open_complete(self, instance: str, name: str) -> LogStream: ...
