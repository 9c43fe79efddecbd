"""The S3 layout contract: safe key segments, partitioned keys and ASCII metadata."""

from __future__ import annotations

import hashlib
import re
import time
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipper.layout import (
    DATA_SUFFIX,
    MAX_METADATA_VALUE,
    META_GENERATION,
    META_LOG_FILE,
    META_MARKER,
    META_SHA256,
    DataObjectInfo,
    Scope,
    data_metadata,
    decode_metadata_value,
    metadata_value,
    partition_day,
    safe_segment,
    same_data_object,
)

GEN = "0123456789abcdef0123"
SCOPE = Scope("rds-logs/", "123456789012", "eu-west-1", "db-1")
# 2024-01-02T23:59:59.999Z and the next millisecond.
LAST_MS_OF_JAN_2 = 1704239999999
FIRST_MS_OF_JAN_3 = 1704240000000
SAFE_OUTPUT = re.compile(r"^[A-Za-z0-9._%~-]+$")

HOSTILE = [
    "../etc/passwd", "../../..", "/abs/path", "a/b/../c", "name with spaces", "tab\there",
    "new\nline", "nul\x00byte", "del\x7f", "esc\x1b[31m", "x" * 500, "日本語.log",
    "emoji-\U0001f600", ".", "..", "...", ".hidden", "", "%2E", "%2F", "back\\slash",
    "line\u2028sep", "a=b", "?query#frag", " ", "~", "%00empty",
]


def assert_safe(segment: str) -> None:
    assert "/" not in segment
    assert not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in segment)
    assert segment not in ("", ".", "..")
    assert not segment.startswith(".")
    assert len(segment) <= 120
    assert SAFE_OUTPUT.match(segment), segment


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_safe_segment_neutralises_hostile_names(value: str) -> None:
    assert_safe(safe_segment(value))


def test_safe_segment_gives_distinct_outputs_for_distinct_hostile_names() -> None:
    values = [v for v in HOSTILE if v != "%00empty"]
    outputs = [safe_segment(v) for v in values]
    assert len(set(outputs)) == len(values)


@pytest.mark.parametrize("value", ["db-1", "postgresql.log.2024-01-02-03", "ERROR_1", "a.b-c"])
def test_safe_segment_leaves_ordinary_names_unchanged(value: str) -> None:
    assert safe_segment(value) == value


def test_safe_segment_encodes_dots_so_no_segment_is_dot_or_dotdot() -> None:
    assert safe_segment(".") == "%2E"
    assert safe_segment("..") == "%2E."
    assert safe_segment("../x") == "%2E.%2Fx"


def test_safe_segment_cuts_long_values_with_a_hash() -> None:
    value = "é" * 300
    out = safe_segment(value)
    assert len(out) <= 120
    assert out.endswith("~" + hashlib.sha256(value.encode()).hexdigest()[:16])


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_safe_segment_output_is_always_one_safe_segment(value: str) -> None:
    assert_safe(safe_segment(value))


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=25))
def test_short_safe_segments_decode_back_to_the_input(value: str) -> None:
    """Percent-decoding inverts the encoding of short values, so distinct inputs stay
    distinct."""
    out = safe_segment(value)
    if "~" not in out:  # not cut and hashed
        assert unquote(out, errors="strict") == value


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=120, max_size=300), st.text(min_size=1, max_size=5),
       st.text(min_size=1, max_size=5))
def test_long_values_with_a_common_prefix_stay_distinct(prefix: str, a: str, b: str) -> None:
    if a != b:
        assert safe_segment(prefix + a) != safe_segment(prefix + b)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_distinct_inputs_give_distinct_segments(a: str, b: str) -> None:
    if a != b and "%00empty" not in (a, b) and "\x00empty" not in (a, b):
        assert safe_segment(a) != safe_segment(b)


def test_empty_name_does_not_collide_with_any_other_name() -> None:
    assert safe_segment("") != safe_segment("\x00empty")


def test_safe_segment_accepts_lone_surrogates() -> None:
    assert_safe(safe_segment("bad\udcffname"))


# --- Scope keys -----------------------------------------------------------------------------


def test_state_and_lease_keys_are_partitioned_outside_data() -> None:
    assert SCOPE.state_key() == \
        "rds-logs/_state/account=123456789012/region=eu-west-1/instance=db-1.json"
    assert SCOPE.lease_key() == \
        "rds-logs/_leases/account=123456789012/region=eu-west-1/instance=db-1.json"


def test_data_key_layout() -> None:
    assert SCOPE.data_prefix() == \
        "rds-logs/data/account=123456789012/region=eu-west-1/instance=db-1/"
    assert SCOPE.data_key(GEN, partition_day(LAST_MS_OF_JAN_2), 42) == (
        "rds-logs/data/account=123456789012/region=eu-west-1/instance=db-1/"
        f"dt=2024-01-02/{GEN}/000000000000042{DATA_SUFFIX}"
    )


def test_data_key_with_empty_prefix() -> None:
    scope = Scope("", "1", "eu-west-1", "db")
    assert scope.data_key(GEN, partition_day(0), 0) == \
        f"data/account=1/region=eu-west-1/instance=db/dt=1970-01-01/{GEN}/000000000000000.log.gz"


@pytest.mark.parametrize("instance", ["../../evil", "/root", "..", "a/b", "x" * 300, "ü n"])
def test_hostile_scope_values_stay_inside_their_partition(instance: str) -> None:
    scope = Scope("p/", "../acct", "eu/west", instance)
    for key in (scope.state_key(), scope.lease_key(), scope.data_key(GEN, partition_day(0), 7)):
        parts = key.split("/")
        assert parts[0] == "p"
        assert not {".", ".."} & set(parts)
        assert [p.split("=")[0] for p in parts[2:5]] == ["account", "region", "instance"]
    assert len(scope.data_key(GEN, partition_day(0), 7).split("/")) == 8


def test_data_key_depends_only_on_generation_day_and_start() -> None:
    day = partition_day(LAST_MS_OF_JAN_2)
    assert day == partition_day(LAST_MS_OF_JAN_2 - 23 * 3_600_000) == "2024-01-02"
    assert SCOPE.data_key(GEN, day, 5) != SCOPE.data_key(GEN, day, 6)
    assert SCOPE.data_key(GEN, day, 5) != SCOPE.data_key("f" * 20, day, 5)
    assert SCOPE.data_key(GEN, day, 5) != SCOPE.data_key(GEN, "2024-01-03", 5)


@pytest.mark.parametrize("day", ["2024-1-02", "", "2024-01-02/..", "../x"])
def test_data_key_rejects_malformed_days(day: str) -> None:
    with pytest.raises(ValueError):
        SCOPE.data_key(GEN, day, 0)


def test_dt_partition_is_the_utc_day_whatever_the_local_zone(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14
    time.tzset()
    try:
        assert "/dt=2024-01-02/" in SCOPE.data_key(GEN, partition_day(LAST_MS_OF_JAN_2), 0)
        assert "/dt=2024-01-03/" in SCOPE.data_key(GEN, partition_day(FIRST_MS_OF_JAN_3), 0)
    finally:
        monkeypatch.undo()
        time.tzset()


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**15 - 1), st.integers(0, 10**15 - 1))
def test_data_keys_sort_like_their_start_offsets(a: int, b: int) -> None:
    ka, kb = SCOPE.data_key(GEN, partition_day(0), a), SCOPE.data_key(GEN, partition_day(0), b)
    assert (ka < kb) == (a < b)


@pytest.mark.parametrize("generation", ["", "0123", GEN.upper(), GEN + "0", "../" + GEN[3:],
                                        GEN[:-1] + "g"])
def test_data_key_rejects_malformed_generation_ids(generation: str) -> None:
    with pytest.raises(ValueError, match="generation"):
        SCOPE.data_key(generation, partition_day(0), 0)


# --- metadata -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["error/postgresql.log.2024-01-02-03", "日本語/ログ.log",
                                  "100%.log", "%41", "tab\tnew\nline", "a+b c", "\x00", "",
                                  "lone\udcffsurrogate"], ids=repr)
def test_metadata_value_is_printable_ascii_and_round_trips(name: str) -> None:
    encoded = metadata_value(name)
    assert encoded.isascii() and all(0x20 <= ord(c) < 0x7F for c in encoded)
    assert decode_metadata_value(encoded) == name


def test_metadata_value_keeps_plain_ascii_readable() -> None:
    assert metadata_value("error/postgresql.log.2024-01-02-03") == \
        "error/postgresql.log.2024-01-02-03"
    assert metadata_value("100%") == "100%25"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_metadata_value_round_trips_any_text(name: str) -> None:
    from shipper.layout import MAX_METADATA_VALUE, metadata_names

    encoded = metadata_value(name)
    assert all(0x20 <= ord(c) < 0x7F for c in encoded)
    assert len(encoded) <= MAX_METADATA_VALUE and encoded.strip(" ") == encoded
    if decode_metadata_value(encoded) != name:  # only names too long for S3 metadata are cut
        assert len(metadata_value(name[: len(name) // 2])) > MAX_METADATA_VALUE // 4
    assert metadata_names(decode_metadata_value(encoded), name)


def test_data_metadata_values_are_ascii_and_describe_the_object() -> None:
    meta = data_metadata(SCOPE, "log/ERRÖR.1", GEN, 10, 25, "ab" * 32)
    assert all(v.isascii() for v in meta.values())
    assert all(k == k.lower() for k in meta)  # S3 returns user metadata keys lower-cased
    assert meta == {
        "db-instance": "db-1", "log-file": "log/ERR%C3%96R.1", "generation": GEN,
        "start-offset": "10", "end-offset": "25", "sha256": "ab" * 32, "region": "eu-west-1",
        "account": "123456789012",
    }


def test_data_metadata_carries_the_portion_marker_at_the_objects_end() -> None:
    meta = data_metadata(SCOPE, "f", GEN, 0, 187, "ab" * 32, "0:187")
    assert meta[META_MARKER] == "0:187"
    assert META_MARKER not in data_metadata(SCOPE, "f", GEN, 0, 187, "ab" * 32)
    odd = data_metadata(SCOPE, "f", GEN, 0, 1, "ab" * 32, "h\u00e9:1")
    assert decode_metadata_value(odd[META_MARKER]) == "h\u00e9:1"


def test_a_marker_too_long_for_s3_metadata_is_left_out() -> None:
    """S3 allows 2 KB of user metadata; the file name may take 1 KiB of it. A marker that
    does not fit is dropped (a run adopting the object then proves it by content)."""
    meta = data_metadata(SCOPE, "x" * 5000, GEN, 0, 1, "ab" * 32, "9" * 129)
    assert META_MARKER not in meta
    assert sum(len(k) + len(v) for k, v in meta.items()) <= 2048
    assert len(meta[META_LOG_FILE]) == MAX_METADATA_VALUE
    meta = data_metadata(SCOPE, "x" * 5000, GEN, 0, 1, "ab" * 32, "9" * 128)
    assert sum(len(k) + len(v) for k, v in meta.items()) <= 2048


def test_data_object_info_parses_metadata_back() -> None:
    meta = data_metadata(SCOPE, "slowquery/mysql-slowquery.log.7 ü", GEN, 100, 4196, "cd" * 32)
    info = DataObjectInfo.from_metadata("k", meta)
    assert info == DataObjectInfo(key="k", instance="db-1",
                                  log_file="slowquery/mysql-slowquery.log.7 ü",
                                  generation=GEN, start=100, end=4196, sha256="cd" * 32)


def test_data_object_info_without_sha256() -> None:
    meta = data_metadata(SCOPE, "f", GEN, 0, 1, "ef" * 32)
    del meta[META_SHA256]
    assert DataObjectInfo.from_metadata("k", meta).sha256 is None


def test_data_object_info_requires_the_core_fields() -> None:
    meta = data_metadata(SCOPE, "f", GEN, 0, 1, "ef" * 32)
    for required in (META_GENERATION, META_LOG_FILE):
        partial = {k: v for k, v in meta.items() if k != required}
        with pytest.raises(KeyError):
            DataObjectInfo.from_metadata("k", partial)


def test_long_names_fit_the_s3_metadata_limit_and_still_identify_the_file() -> None:
    from shipper.layout import MAX_METADATA_VALUE, metadata_names

    name = "error/" + "日志" * 160 + ".log"
    value = metadata_value(name)
    assert len(value) <= MAX_METADATA_VALUE and value.isascii()
    decoded = decode_metadata_value(value)
    assert decoded != name and metadata_names(decoded, name)
    assert not metadata_names(decoded, name + "x")
    assert metadata_names("error/short.log", "error/short.log")


def test_edge_spaces_survive_http_header_trimming() -> None:
    value = metadata_value("  a b ")
    assert value == "%20%20a b%20" and value.strip() == value
    assert decode_metadata_value(value) == "  a b "


def test_a_data_object_is_the_same_write_only_with_the_same_end_and_digest() -> None:
    wanted = data_metadata(SCOPE, "error/postgresql.log", GEN, 0, 10, "ab" * 32)
    assert same_data_object(dict(wanted, **{"db-instance": "renamed"}), wanted)
    assert not same_data_object(dict(wanted, **{"end-offset": "11"}), wanted)
    assert not same_data_object(dict(wanted, **{META_SHA256: "cd" * 32}), wanted)
    assert not same_data_object({}, wanted)
