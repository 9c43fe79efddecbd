"""The gaps a state records: bytes a listing promised that were deleted before they were
shipped (``LostBytes``), families whose files may have come and gone unseen
(``SuspectedBreak``), and entries of a form this version does not write, kept as read
(``OtherGap``). Written by ``shipper.losses``, read back by ``status``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LostBytes:
    """Bytes a listing promised that were deleted before they were shipped."""

    generation: str
    file: str
    bytes: int
    at_ms: int

    @property
    def bytes_lost(self) -> int:
        return self.bytes

    def to_json(self) -> dict[str, Any]:
        return {"generation": self.generation, "file": self.file, "bytes": self.bytes,
                "at_ms": self.at_ms}


@dataclass(frozen=True)
class SuspectedBreak:
    """A family none of whose known files is listed any more while newer ones are: files
    written in between may have been created and deleted unseen (shipper.continuity)."""

    family: str
    after_ms: int  # the newest LastWritten of the generations it broke after
    at_ms: int

    @property
    def bytes_lost(self) -> int:
        return 0  # never seen, so never counted

    def to_json(self) -> dict[str, Any]:
        return {"family": self.family, "kind": "unseen", "after_ms": self.after_ms,
                "at_ms": self.at_ms}


@dataclass(frozen=True)
class OtherGap:
    """A gap entry of a form this version does not write: kept exactly as it was read."""

    raw: dict[str, Any]

    @property
    def bytes_lost(self) -> int:
        return int(self.raw.get("bytes", 0))

    def to_json(self) -> dict[str, Any]:
        return self.raw


Gap = LostBytes | SuspectedBreak | OtherGap
_LOST_FIELDS = {"generation": str, "file": str, "bytes": int, "at_ms": int}
_BREAK_FIELDS = {"family": str, "kind": str, "after_ms": int, "at_ms": int}


def gap_from_json(raw: dict[str, Any]) -> Gap:
    """The typed record for a stored gap entry; ``to_json`` gives back the same entry."""
    if _has_exactly(raw, _LOST_FIELDS):
        return LostBytes(raw["generation"], raw["file"], raw["bytes"], raw["at_ms"])
    if _has_exactly(raw, _BREAK_FIELDS) and raw["kind"] == "unseen":
        return SuspectedBreak(raw["family"], raw["after_ms"], raw["at_ms"])
    return OtherGap(dict(raw))


def _has_exactly(raw: dict[str, Any], fields: dict[str, type]) -> bool:
    return set(raw) == set(fields) and all(
        type(raw[name]) is kind for name, kind in fields.items())  # bool is no int here
