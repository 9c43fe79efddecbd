"""The S3 layout: object keys and metadata. Downstream tools and our tests rely on it exactly.

Data objects::

    {prefix}data/account={account}/region={region}/instance={instance}/dt={YYYY-MM-DD}/
        {generation}/{start:015d}.log.gz

``dt`` is the UTC day on which the object's bytes were written: the file's LastWritten when the
range was planned (``partition_day``). A generation written over several days (a SQL Server
``ERROR`` log lives for weeks) has objects in several partitions, all under its generation id;
the state lists them (``Generation.dt_days``) and commits the day before any object lands under
it, so a retry, or the adoption after a crash, rewrites the same key instead of adding a second
copy. State schema 1 put every object of a generation under the day it was first seen; those
objects keep their keys.

Every data object ends just after a line feed (``shipper.lines``), so a line-based reader
(Athena, DuckDB) reads whole lines: the exceptions are a closed file's final bytes and a line
longer than the long-line bound (``shipper.lines.LONG_LINE_FACTOR`` times the object limit).

``instance`` is the DB instance identifier the object was written under, and its
``db-resource-id`` metadata the instance's DbiResourceId: a renamed instance's later objects
land under its new identifier, a blue/green switchover's green under the blue's old one.

State and leases (never under ``data/``, so Athena does not scan them) are keyed by the
DbiResourceId, which no rename changes and no new instance reuses; beside them, one name
record per identifier says which resource id last held it (``NameRecord``)::

    {prefix}_state/account={account}/region={region}/resource={resource id}.json
    {prefix}_leases/account={account}/region={region}/resource={resource id}.json
    {prefix}_state/account={account}/region={region}/instance={identifier}.json

Releases before identity by resource id kept a whole state at the name record's key (and its
lease beside it); the first run of this one adopts it there (``shipper.instance_identity``).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

META_INSTANCE = "db-instance"
# The instance's DbiResourceId: "immutable", unlike the identifier (``db-instance``), which a
# rename or a blue/green switchover gives to another instance.
META_RESOURCE_ID = "db-resource-id"
META_LOG_FILE = "log-file"
META_GENERATION = "generation"
META_START = "start-offset"
META_END = "end-offset"
META_SHA256 = "sha256"
META_REGION = "region"
META_ACCOUNT = "account"
# The DownloadDBLogFilePortion marker at the object's end, when portions fetched it: a run
# that adopts the object after a crash resumes from it as if it had been committed.
META_MARKER = "portion-marker"

DATA_SUFFIX = ".log.gz"

_SAFE_SEGMENT = re.compile(r"[^A-Za-z0-9._-]")
_GENERATION_RE = re.compile(r"^[0-9a-f]{20}$")
_MAX_SEGMENT = 120
_DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# The partition keys of a data object, in key order (the Glue table's projection follows them).
PARTITION_KEYS = ("account", "region", "instance", "dt")


def partition_day(ms: int) -> str:
    """The ``dt`` partition of bytes written at ``ms`` (epoch milliseconds): the UTC day."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def safe_segment(value: str) -> str:
    """Encode any string as one S3 key segment: no '/', no control characters, no '..'.

    Characters outside ``[A-Za-z0-9._-]`` become ``%XX`` of their UTF-8 bytes; a leading dot is
    encoded too, so '.' and '..' can never appear as a segment. Long values are cut and suffixed
    with a hash so that distinct inputs stay distinct.
    """
    encoded = "".join(
        ch if not _SAFE_SEGMENT.match(ch)
        else "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
        for ch in value
    )
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    if not encoded:
        encoded = "%"  # the encoder never emits a lone '%', so this stays distinct
    if len(encoded) > _MAX_SEGMENT:
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        encoded = f"{encoded[: _MAX_SEGMENT - 18]}~{digest}"
    return encoded


MAX_METADATA_VALUE = 1024
MAX_METADATA_MARKER = 128  # with a 1 KiB file name, well within S3's 2 KB of user metadata


def metadata_value(value: str) -> str:
    """S3 user metadata must be ASCII: percent-encode the rest, and the spaces at either end
    (HTTP drops them from header values). S3 allows 2 KB of user metadata per object, so a
    name longer than 1 KiB encoded is cut and suffixed with ``~`` and a hash of the full
    name (the state keeps the full name)."""
    encoded = "".join(
        ch if 0x20 <= ord(ch) < 0x7F and ch != "%" else
        "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
        for ch in value
    )
    stripped = encoded.strip(" ")
    lead = len(encoded) - len(encoded.lstrip(" "))
    trail = len(encoded) - len(encoded.rstrip(" ")) if stripped else 0
    encoded = "%20" * lead + stripped + "%20" * trail
    if len(encoded) > MAX_METADATA_VALUE:
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        cut = encoded[: MAX_METADATA_VALUE - 17]
        cut = cut[: cut.rfind("%")] if "%" in cut[-2:] else cut  # never split a %XX
        encoded = f"{cut}~{digest}"
    return encoded


def metadata_names(value: str, name: str) -> bool:
    """Does the (decoded) ``log-file`` metadata ``value`` stand for the file ``name``? Equal,
    or, for a name too long for S3 metadata, its cut form with the hash of the full name."""
    return value == name or decode_metadata_value(metadata_value(name)) == value


def decode_metadata_value(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value, errors="surrogatepass")


@dataclass(frozen=True)
class Scope:
    """Where one DB instance's objects live: ``instance`` is its identifier now,
    ``resource_id`` its DbiResourceId (empty where unknown: then the identifier keys its
    state, as releases before identity by resource id did)."""

    prefix: str
    account: str
    region: str
    instance: str
    resource_id: str = ""

    def _pair(self) -> str:
        return f"account={safe_segment(self.account)}/region={safe_segment(self.region)}/"

    def _partition(self, instance: str | None = None) -> str:
        return f"{self._pair()}instance={safe_segment(instance or self.instance)}"

    def _owner(self) -> str:
        if not self.resource_id:
            return self._partition()
        return f"{self._pair()}resource={safe_segment(self.resource_id)}"

    def state_key(self) -> str:
        return f"{self.prefix}_state/{self._owner()}.json"

    def lease_key(self) -> str:
        return f"{self.prefix}_leases/{self._owner()}.json"

    def name_key(self, instance: str | None = None) -> str:
        """The name record of an identifier (a whole state, in releases before this one)."""
        return f"{self.prefix}_state/{self._partition(instance)}.json"

    def legacy_lease_key(self) -> str:
        return f"{self.prefix}_leases/{self._partition()}.json"

    def data_prefix(self, instance: str | None = None) -> str:
        return f"{self.prefix}data/{self._partition(instance)}/"

    def data_key(self, generation: str, day: str, start: int,
                 instance: str | None = None) -> str:
        """The key of an object of ``generation`` starting at ``start``, in the partition of
        ``day`` under the identifier ``instance`` (default: the identifier now)."""
        if not _GENERATION_RE.match(generation):
            raise ValueError(f"malformed generation id {generation!r}")
        if not _DAY_RE.fullmatch(day):
            raise ValueError(f"malformed partition day {day!r}")
        return f"{self.data_prefix(instance)}dt={day}/{generation}/{start:015d}{DATA_SUFFIX}"


def data_metadata(
    scope: Scope, log_file: str, generation: str, start: int, end: int, sha256_hex: str,
    marker: str | None = None, instance: str | None = None,
) -> dict[str, str]:
    meta = {
        META_INSTANCE: instance or scope.instance,
        META_LOG_FILE: metadata_value(log_file),
        META_GENERATION: generation,
        META_START: str(start),
        META_END: str(end),
        META_SHA256: sha256_hex,
        META_REGION: scope.region,
        META_ACCOUNT: scope.account,
    }
    if scope.resource_id:
        meta[META_RESOURCE_ID] = scope.resource_id
    encoded_marker = metadata_value(marker) if marker else ""
    if encoded_marker and len(encoded_marker) <= MAX_METADATA_MARKER:
        meta[META_MARKER] = encoded_marker  # RDS markers are short ("H:offset"); else left out
    return meta


def same_data_object(existing: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """Whether a data object's metadata says it holds the bytes ``wanted`` describes: the
    same end offset and the same sha256 of the uncompressed bytes (the start is in the key).
    The one test of "this write already landed" (``S3Store.put_data`` and its fake)."""
    return all(existing.get(name) == wanted.get(name) for name in (META_SHA256, META_END))


def reads_back(metadata: Mapping[str, str], start: int, data: bytes) -> bool:
    """Whether a data object starting at ``start`` whose uncompressed bytes are ``data`` is
    what its metadata says: its end offset and, where it has one, its sha256 (adoption after
    a crash and ``left_by_a_stopped_run`` both ask)."""
    return metadata.get(META_END) == str(start + len(data)) and \
        metadata.get(META_SHA256) in (None, hashlib.sha256(data).hexdigest())


def left_by_a_stopped_run(existing_body: bytes, existing: Mapping[str, str],
                          wanted_body: bytes, wanted: Mapping[str, str]) -> bool:
    """A write found its key taken by an object that is not the one it means (another end
    offset or sha256): may it be replaced? Not when it reads back as its metadata says and
    agrees with ours on every byte both hold: then it is a stopped run's object, from the
    same file at the same offset, whose PUT S3 applied after this run looked for it
    (``shipper.adoption``): the run's client died after sending the body. Replacing it would
    be a second ``ObjectCreated`` event for the key, so it is left for the next run to adopt.
    Any other object is replaced: one that does not read back, and one that holds other
    bytes (an object a pass wrote under an identifier that had moved to another instance
    meanwhile, ``Ledger.disown_uncommitted``). Where such an object happens to hold the same
    bytes as ours (an engine's identical startup header), adopting it records exactly those
    bytes, so both readings ship every byte once."""
    try:
        theirs, ours = gzip.decompress(existing_body), gzip.decompress(wanted_body)
    except (OSError, EOFError, zlib.error):
        return False
    start = int(wanted.get(META_START, "0"))
    common = min(len(theirs), len(ours))
    return reads_back(existing, start, theirs) and theirs[:common] == ours[:common]


def taken_message(key: str) -> str:
    return (f"{key} holds an object a stopped run wrote after this run looked for it; "
            "the next run adopts it and ships the rest of the file")


@dataclass(frozen=True)
class DataObjectInfo:
    """A data object's metadata, parsed back (the oracle and `status` use it)."""

    key: str
    instance: str
    log_file: str
    generation: str
    start: int
    end: int
    sha256: str | None
    resource_id: str | None = None  # objects written before it was recorded have none

    @classmethod
    def from_metadata(cls, key: str, metadata: Mapping[str, str]) -> DataObjectInfo:
        return cls(
            key=key,
            instance=metadata[META_INSTANCE],
            log_file=decode_metadata_value(metadata[META_LOG_FILE]),
            generation=metadata[META_GENERATION],
            start=int(metadata[META_START]),
            end=int(metadata[META_END]),
            sha256=metadata.get(META_SHA256),
            resource_id=metadata.get(META_RESOURCE_ID),
        )
