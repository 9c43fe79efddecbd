"""``shipper.portions``: the marker, the checks every page passes, and paging, against a fake
DownloadDBLogFilePortion that serves in-memory files."""

from __future__ import annotations

import threading

import pytest

from shipper.exceptions import StopRequested
from shipper.listing import LogFile
from shipper.portions import (
    NeedCompleteDownload,
    PagingStart,
    RotatedWhilePaging,
    pages,
    parse_marker,
    portions_suit,
    tail_marker,
)
from shipper.state import Generation
from tests.support.fakes import FakeRdsApi, ServedFile

NAME = "error/postgresql.log.2024-01-02-03"
BODY = b"".join(f"2024-01-02 03:00:{i:02d} UTC LOG: line {i}\n".encode() for i in range(60))


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


def read(api: FakeRdsApi, offset: int = 0, start: PagingStart | None = None,
         stop: threading.Event | None = None, read_ahead: int = 0,
         taken: list[bytes] | None = None) -> list[bytes]:
    file = api.log_files("db-1")[0]
    got = taken if taken is not None else []
    for page in pages(api, "db-1", file, offset, start or PagingStart("0", None),
                      stop or threading.Event(), lambda _: None, read_ahead):
        got.append(page.data)
    return got


def gen_at(offset: int, marker: str | None, marker_name: str | None = NAME) -> Generation:
    return Generation("0123456789abcdef0123", NAME, NAME, 1, offset=offset, marker=marker,
                      marker_name=marker_name, active=True)


def test_pages_return_the_file_exactly_with_each_pages_marker() -> None:
    api = FakeRdsApi({NAME: ServedFile(BODY)}, page_bytes=500)
    file = api.log_files("db-1")[0]
    seen = list(pages(api, "db-1", file, 0, PagingStart("0", None), threading.Event(),
                      lambda _: None, 0))
    assert b"".join(p.data for p in seen) == BODY
    assert [p.marker for p in seen][-1] == f"3:{len(BODY)}"
    assert len(seen) == -(-len(BODY) // 500)


def test_a_truncated_page_is_not_taken_and_asks_for_the_complete_file() -> None:
    api = FakeRdsApi({NAME: ServedFile(BODY, truncate_at={1000})}, page_bytes=500)
    taken: list[bytes] = []
    with pytest.raises(NeedCompleteDownload) as why:
        read(api, taken=taken)
    assert b"".join(taken) == BODY[:1000]  # the pages before it are right and kept
    assert why.value.hour_verified is False


def test_a_binary_placeholder_is_not_taken() -> None:
    api = FakeRdsApi({NAME: ServedFile(BODY, binary_at={0})}, page_bytes=500)
    with pytest.raises(NeedCompleteDownload, match="binary"):
        read(api)


def test_a_changed_marker_hour_is_a_hint_on_the_first_page_and_later() -> None:
    """On a resume's first page another hour proves nothing: content decides (REST), unless
    the listing already proved the generation. Within a session it hints at a rotation while
    paging: the pages taken stay, the rest waits for the next listing."""
    first = FakeRdsApi({NAME: ServedFile(BODY, hour=4, new_hour_at={500: 5})}, page_bytes=500)
    with pytest.raises(NeedCompleteDownload, match="hour") as at_once:
        read(first, 500, PagingStart("4:500", 4))
    assert at_once.value.hour_verified is False
    moved = FakeRdsApi({NAME: ServedFile(BODY, hour=5)}, page_bytes=500)
    assert b"".join(read(moved, 500, PagingStart("4:500", 4, certain=True))) == BODY[500:]
    later = FakeRdsApi({NAME: ServedFile(BODY, hour=4, new_hour_at={1000: 5})}, page_bytes=500)
    taken: list[bytes] = []
    with pytest.raises(RotatedWhilePaging):
        read(later, 500, PagingStart("4:500", 4), taken=taken)
    assert taken == [BODY[500:1000]]


def test_a_binary_data_refusal_leads_to_the_complete_download() -> None:
    api = FakeRdsApi({NAME: ServedFile(BODY, binary_refused_at={0})}, page_bytes=500)
    with pytest.raises(NeedCompleteDownload, match="binary"):
        read(api)


def test_an_early_end_is_asked_again_twice_then_left_to_rest() -> None:
    again = FakeRdsApi({NAME: ServedFile(BODY, early_end_at={500: 2})}, page_bytes=500)
    assert b"".join(read(again)) == BODY
    too_often = FakeRdsApi({NAME: ServedFile(BODY, early_end_at={500: 3})}, page_bytes=500)
    with pytest.raises(NeedCompleteDownload, match="AdditionalDataPending") as why:
        read(too_often, 500, PagingStart("3:500", 3))
    assert why.value.hour_verified is True  # resumed pages kept the stored marker's hour


def test_paging_reads_ahead_of_the_listed_size_only_as_far_as_allowed() -> None:
    served = ServedFile(BODY, listed_size=500)
    api = FakeRdsApi({NAME: served}, page_bytes=500)
    assert b"".join(read(api, read_ahead=0)) == BODY[:500]
    assert b"".join(read(api, read_ahead=10**6)) == BODY


def test_a_stop_ends_paging_before_the_next_call() -> None:
    api = FakeRdsApi({NAME: ServedFile(BODY)}, page_bytes=500)
    stop = threading.Event()
    stop.set()
    with pytest.raises(StopRequested):
        read(api, stop=stop)
    assert api.calls == []


def test_paging_starts_from_the_stored_marker_of_this_name_only() -> None:
    assert PagingStart.of(gen_at(0, None), NAME) == PagingStart("0", None)
    assert PagingStart.of(gen_at(500, "7:500"), NAME) == PagingStart("7:500", 7, 500)
    # a marker before the offset (a held-back line was cut mid-page): read again, skipped
    assert PagingStart.of(gen_at(500, "7:400"), NAME) == PagingStart("7:400", 7, 400)
    for gen in (gen_at(500, None), gen_at(500, "7:600"), gen_at(500, "7:500", "other.log"),
                gen_at(500, "opaque")):
        with pytest.raises(NeedCompleteDownload):
            PagingStart.of(gen, NAME)


@pytest.mark.parametrize(("offset", "size", "active", "name", "limit", "suits"), [
    (0, 900_000, True, NAME, 10**8, True),
    (0, 2_000_000, True, NAME, 10**8, False),  # a new file over one page goes over REST
    (5_000_000, 6_000_000, True, NAME, 10**8, True),  # resumed: what is new counts
    (0, 100, False, NAME, 10**8, False),  # a closed file
    (0, 100, True, NAME + ".gz", 10**8, False),
    (0, 100, True, NAME, 0, False),  # portions switched off
    (100, 300, True, NAME, 150, False),
])
def test_portions_suit_the_growing_files_new_bytes(offset: int, size: int, active: bool,
                                                   name: str, limit: int, suits: bool) -> None:
    assert portions_suit(gen_at(offset, None), LogFile(name, size, 1), active, limit) is suits


def test_a_tail_marker_is_kept_only_if_it_points_at_what_was_shipped() -> None:
    api = FakeRdsApi({NAME: ServedFile(BODY, hour=9)})
    assert tail_marker(api, "db-1", NAME, len(BODY)) == f"9:{len(BODY)}"
    assert tail_marker(api, "db-1", NAME, len(BODY) - 1) is None

    class Broken(FakeRdsApi):
        def tail_marker(self, instance: str, name: str) -> str | None:
            raise ConnectionError("no marker today")

    assert tail_marker(Broken({NAME: ServedFile(BODY)}), "db-1", NAME, len(BODY)) is None
