"""``parse_marker``: the portion marker cross-check."""

from __future__ import annotations

import pytest

from shipper.instance_job import parse_marker


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
