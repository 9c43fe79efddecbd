"""Listing every log file when DescribeDBLogFiles stops at 1,000 records without a Marker.

RDS for Oracle ignores MaxRecords and returns up to 1,000 records; whether a Marker follows the
1,000th is undocumented, and so is the order of the records (so "the rest" cannot be asked
for by position). The API's own server-side filter ``FilenameContains`` can list the rest: a
query that comes back with fewer than 1,000 records lists every file whose name contains its
text. Starting from single characters, the text of a query that is still cut is extended by
one character on either side: every name that contains the text contains one of those
extensions, or is the text itself (a name that 1,000 other names contain: none in practice).
A text that contains one already listed in full is never asked (its files are all known), which
keeps the number of queries to a few hundred for thousands of trace files.

The queries are bounded (``MAX_QUERIES``): a listing still cut after them is reported as
incomplete, never silently (see ``shipper.rdsapi``).
"""

from __future__ import annotations

import string
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from shipper.listing import LogFile

MAX_QUERIES = 1500
# Characters of RDS log file names; characters seen in the listing are added to them.
NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + "._-/")

# (files whose name contains the text, whether that answer was cut at the record limit)
Query = Callable[[str], "tuple[list[LogFile], bool]"]


@dataclass
class CompletedListing:
    files: dict[str, LogFile]
    complete: bool
    queries: int


def complete_cut_listing(first: Iterable[LogFile], query: Query,
                         max_queries: int | None = None) -> CompletedListing:
    """Every file, from a cut listing ``first`` and ``FilenameContains`` queries (at most
    ``max_queries``, by default ``MAX_QUERIES``)."""
    limit = MAX_QUERIES if max_queries is None else max_queries
    files = {f.name: f for f in first}
    alphabet = sorted(NAME_CHARACTERS | _characters(files))
    listed_in_full: list[str] = []
    still_cut: list[str] = []
    asked = {""}
    todo = deque([""])
    queries = 0
    while todo:
        text = todo.popleft()
        for wider in _extensions(text, alphabet):
            if wider in asked or any(done in wider for done in listed_in_full):
                continue
            if queries >= limit:
                return CompletedListing(files, False, queries)
            asked.add(wider)
            queries += 1
            rows, cut = query(wider)
            files.update((f.name, f) for f in rows)
            if cut:
                todo.append(wider)
                still_cut.append(wider)
            else:
                listed_in_full.append(wider)
        new = _characters(files) - set(alphabet)
        if new:  # a name with a character not asked for yet: extend the cut texts by it too
            alphabet = sorted(set(alphabet) | new)
            todo.extend(still_cut)
    return CompletedListing(files, True, queries)


def _extensions(text: str, alphabet: list[str]) -> list[str]:
    if not text:
        return list(alphabet)
    return [text + c for c in alphabet] + [c + text for c in alphabet]


def _characters(files: dict[str, LogFile]) -> set[str]:
    return {c for name in files for c in name}
