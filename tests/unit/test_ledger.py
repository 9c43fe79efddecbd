"""``parse_marker`` (the portion marker cross-check) and ``adopt_object`` (crash recovery)."""

from __future__ import annotations

import hashlib

import pytest

from shipper.layout import Scope, data_metadata
from shipper.ledger import adopt_object
from shipper.portions import parse_marker
from shipper.state import Generation, RangeCheck


@pytest.mark.parametrize(("marker", "expected"), [
    ("17:13387550", (17, 13387550)),
    ("0:0", (0, 0)),
    ("23:0", (23, 0)),
    ("5:1099511627776", (5, 1099511627776)),
])
def test_well_formed_markers_parse(marker: str, expected: tuple[int, int]) -> None:
    assert parse_marker(marker) == expected


@pytest.mark.parametrize("marker", [
    None, "", "0", "17", ":5", "5:", "a:b", "1:2:3", "-1:5", "1:-5", " 1:2", "1 :2", "1:2 ",
    "1.5:2", "0x1:2",
])
def test_other_markers_are_not_parsed(marker: str | None) -> None:
    assert parse_marker(marker) is None


# --- adopting an object a crashed run wrote after its last commit -------------------------------

HEADER = b"/rdsdbbin/oscar/bin/mysqld, Version: 8.0.39 (Source). started with:\n" \
    b"Tcp port: 3306  Unix socket: /tmp/mysql.sock\nTime                 Id Command    Argument\n"
SCOPE = Scope("rds-logs/", "123456789012", "eu-west-1", "db-1")


def _gen(name: str = "general/mysql-general.log") -> Generation:
    return Generation("0123456789abcdef0123", name, name, 1_000, active=True)


def _meta(name: str, start: int, data: bytes, marker: str | None) -> dict[str, str]:
    return data_metadata(SCOPE, name, "0123456789abcdef0123", start, start + len(data),
                         hashlib.sha256(data).hexdigest(), marker)


def test_an_adopted_header_is_header_only_and_resumable_by_its_marker() -> None:
    gen = _gen()
    adopt_object(gen, HEADER, _meta(gen.name, 0, HEADER, f"0:{len(HEADER)}"))
    assert (gen.offset, gen.header_only) == (len(HEADER), True)
    assert (gen.marker, gen.marker_name) == (f"0:{len(HEADER)}", gen.name)
    assert gen.checks[0] == RangeCheck(0, len(HEADER), hashlib.sha256(HEADER).hexdigest())


def test_an_adopted_object_past_the_header_is_not_header_only() -> None:
    gen = _gen()
    adopt_object(gen, HEADER, _meta(gen.name, 0, HEADER, None))
    query = b"2024-01-02T00:07:00.000000Z 12 Query SELECT 1\n"
    adopt_object(gen, query, _meta(gen.name, len(HEADER), query, None))
    assert (gen.offset, gen.header_only) == (len(HEADER) + len(query), False)
    assert (gen.marker, gen.marker_name) == (None, None)  # REST objects carry no marker
    assert gen.checks[-1] == RangeCheck(len(HEADER), gen.offset,
                                        hashlib.sha256(query).hexdigest())


def test_a_log_line_is_not_a_header() -> None:
    gen = _gen()
    line = b"2024-01-02T00:07:00.000000Z 12 Query SELECT 1\n"
    adopt_object(gen, line, _meta(gen.name, 0, line, "0:47"))
    assert gen.header_only is False


def test_an_adopted_marker_names_the_file_it_was_read_under() -> None:
    """A crashed run may have followed a rename its state never recorded: the marker belongs
    to the new name. A name cut to fit S3 metadata stands for the generation's own name."""
    renamed = _gen()
    adopt_object(renamed, HEADER, _meta("general/mysql-general.log.0", 0, HEADER, "0:10"))
    assert renamed.marker_name == "general/mysql-general.log.0"
    long_name = "general/" + "x" * 3000
    cut = _gen(long_name)
    adopt_object(cut, HEADER, _meta(long_name, 0, HEADER, "0:10"))
    assert cut.marker_name == long_name
