"""S3Store against a local S3 server (moto), plus error translation with stub clients."""

from __future__ import annotations

import gzip
import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from shipper.exceptions import AwsAccessError, DataObjectTakenError, StateConflictError
from shipper.exitcodes import ExitCode
from shipper.layout import DataObjectInfo, Scope, data_metadata, partition_day
from shipper.s3store import S3Store
from tests.support.s3 import quick_retrier

GEN = "0123456789abcdef0123"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


# --- conditional writes ---------------------------------------------------------------------


def test_create_returns_an_etag_and_get_reads_it_back(store: S3Store) -> None:
    etag = store.put_conditional("_state/x.json", b'{"v":1}', None)
    got = store.get("_state/x.json")
    assert got is not None
    assert (got.body, got.etag) == (b'{"v":1}', etag)
    assert store.puts == 1


def test_create_when_the_object_exists_is_a_conflict(store: S3Store) -> None:
    store.put_conditional("k", b"first", None)
    with pytest.raises(StateConflictError):
        store.put_conditional("k", b"second", None)
    got = store.get("k")
    assert got is not None and got.body == b"first"


def test_replace_with_the_current_etag_succeeds(store: S3Store) -> None:
    etag1 = store.put_conditional("k", b"one", None)
    etag2 = store.put_conditional("k", b"two", etag1)
    assert etag2 != etag1
    got = store.get("k")
    assert got is not None and (got.body, got.etag) == (b"two", etag2)


def test_replace_with_a_stale_etag_is_a_conflict_and_changes_nothing(store: S3Store) -> None:
    stale = store.put_conditional("k", b"one", None)
    current = store.put_conditional("k", b"two", stale)
    with pytest.raises(StateConflictError, match="k changed"):
        store.put_conditional("k", b"three", stale)
    got = store.get("k")
    assert got is not None and (got.body, got.etag) == (b"two", current)


def data_object(store: S3Store, body: bytes, sha: str) -> tuple[str, dict[str, str]]:
    scope = Scope("p/", "123456789012", "us-east-1", "db-1")
    key = scope.data_key(GEN, "2026-11-20", 0)
    return key, data_metadata(scope, "error/postgresql.log", GEN, 0, len(body), sha)


def test_a_data_object_is_written_once_and_a_retry_writes_nothing(store: S3Store) -> None:
    """Issue 27: every write of a key is an ObjectCreated event; a retry of a write that
    landed (its answer lost) must not be a second one."""
    key, meta = data_object(store, b"gz", "a" * 64)
    assert store.put_data(key, b"gz", meta)
    first = store.head(key)
    assert not store.put_data(key, b"gz", meta)
    again = store.head(key)
    assert first is not None and again is not None and again.etag == first.etag
    assert store.puts == 1


def test_a_data_key_holding_other_bytes_is_replaced(store: S3Store) -> None:
    """An object a crashed run left under the key and adoption refused (other bytes)."""
    key, meta = data_object(store, b"gz", "a" * 64)
    store.put_data(key, b"old", {**meta, "sha256": "b" * 64})
    assert store.put_data(key, b"gz", meta)
    got = store.get(key)
    assert got is not None and got.body == b"gz" and got.metadata["sha256"] == "a" * 64


def gz_object(data: bytes, start: int = 0) -> tuple[str, bytes, dict[str, str]]:
    scope = Scope("p/", "123456789012", "us-east-1", "db-1")
    return (scope.data_key(GEN, "2026-11-20", start), gzip.compress(data),
            data_metadata(scope, "error/postgresql.log", GEN, start, start + len(data),
                          hashlib.sha256(data).hexdigest()))


@pytest.mark.parametrize("theirs", [b"line 1\n", b"line 1\nline 2\nline 3\n"],
                         ids=["shorter", "longer"])
def test_a_stopped_runs_object_under_the_key_is_not_replaced(store: S3Store,
                                                             theirs: bytes) -> None:
    """Issue 27: its PUT landed after this run's adoption looked (see test_ledger): it
    holds the file's bytes at this offset, fewer or more than ours, and reads back. Left for
    the next run to adopt: replacing it would notify the key twice."""
    key, body, meta = gz_object(theirs)
    assert store.put_data(key, body, meta)
    _, ours, our_meta = gz_object(b"line 1\nline 2\n")
    with pytest.raises(DataObjectTakenError, match="the next run adopts it"):
        store.put_data(key, ours, our_meta)
    got = store.get(key)
    assert got is not None and got.body == body and store.puts == 1


@pytest.mark.parametrize("theirs,metadata", [
    (b"another instance's line\n", {}),  # a disowned pass's object (issue 24)
    (b"line 1\n", {"end-offset": "99"}),  # does not read back
    (b"line 1\n", {"sha256": "c" * 64}),
], ids=["other-bytes", "wrong-end", "wrong-sha256"])
def test_any_other_object_under_the_key_is_replaced(store: S3Store, theirs: bytes,
                                                    metadata: dict[str, str]) -> None:
    key, body, meta = gz_object(theirs)
    store.put_data(key, body, {**meta, **metadata})
    _, ours, our_meta = gz_object(b"line 1\nline 2\n")
    assert store.put_data(key, ours, our_meta)
    got = store.get(key)
    assert got is not None and got.body == ours and store.puts == 2


def test_replace_of_a_deleted_object_is_a_conflict(store: S3Store, s3_client: Any) -> None:
    etag = store.put_conditional("k", b"one", None)
    s3_client.delete_object(Bucket=store.bucket, Key="k")
    with pytest.raises(StateConflictError):
        store.put_conditional("k", b"two", etag)
    assert store.get("k") is None


def test_missing_objects_read_as_none(store: S3Store) -> None:
    assert store.get("nope") is None
    assert store.head("nope") is None


# --- data objects ---------------------------------------------------------------------------


def test_put_data_sets_sse_content_type_and_metadata(store: S3Store, s3_client: Any) -> None:
    scope = Scope("rds-logs/", "123456789012", "eu-west-1", "db-1")
    key = scope.data_key(GEN, partition_day(0), 0)
    meta = data_metadata(scope, "log/ERRÖR.1 x", GEN, 0, 11, "ab" * 32)
    store.put_data(key, b"\x1f\x8bgzipped", meta)
    head = s3_client.head_object(Bucket=store.bucket, Key=key)
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "application/gzip"
    assert head["Metadata"] == meta
    stored = store.head(key)
    assert stored is not None and stored.metadata == meta
    info = DataObjectInfo.from_metadata(key, stored.metadata)
    assert (info.log_file, info.start, info.end) == ("log/ERRÖR.1 x", 0, 11)
    got = store.get(key)
    assert got is not None and got.body == b"\x1f\x8bgzipped"


def test_state_writes_are_encrypted_too(store: S3Store, s3_client: Any) -> None:
    store.put_conditional("_state/s.json", b"{}", None)
    head = s3_client.head_object(Bucket=store.bucket, Key="_state/s.json")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "application/json"


def test_kms_key_selects_sse_kms(s3_client: Any, bucket: str) -> None:
    key_id = KMS_KEY
    kms_store = S3Store(s3_client, bucket, quick_retrier(), key_id)
    kms_store.put_data("d/obj.log.gz", b"x", {"generation": GEN})
    head = s3_client.head_object(Bucket=bucket, Key="d/obj.log.gz")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key_id


def test_list_keys_returns_keys_under_a_prefix(store: S3Store) -> None:
    for name in ("data/a/1", "data/a/2", "data/b/1", "_state/a"):
        store.put_data(name, b"x", {})
    assert sorted(store.list_keys("data/a/")) == ["data/a/1", "data/a/2"]
    assert store.list_keys("nothing/") == []


# --- the bucket check -----------------------------------------------------------------------


def test_check_bucket_passes_for_an_existing_bucket(store: S3Store) -> None:
    store.check_bucket()


def test_check_bucket_on_a_missing_bucket_names_it(s3_client: Any) -> None:
    missing = S3Store(s3_client, "no-such-bucket-for-unit-tests", quick_retrier(), None)
    with pytest.raises(AwsAccessError) as info:
        missing.check_bucket()
    assert "no-such-bucket-for-unit-tests" in info.value.one_line()
    assert "does not exist" in info.value.message
    assert info.value.exit_code == ExitCode.AWS_ACCESS


def test_writing_to_a_missing_bucket_is_an_access_error(s3_client: Any) -> None:
    missing = S3Store(s3_client, "no-such-bucket-for-unit-tests", quick_retrier(), None)
    with pytest.raises(AwsAccessError, match="no-such-bucket-for-unit-tests"):
        missing.put_conditional("k", b"x", None)


# --- error translation, with stub clients (no network) --------------------------------------


def client_error(code: str, status: int, op: str) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": code},
                     "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, op)


class StubClient:
    """Raises a fixed error from every call, counting the calls."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def _fail(self, **_: Any) -> Any:
        self.calls += 1
        raise self.error

    head_bucket = get_object = head_object = put_object = list_objects_v2 = _fail


@pytest.mark.parametrize(("code", "status", "words"), [
    ("AccessDenied", 403, "refused"),
    ("403", 403, "refused"),
    ("InvalidAccessKeyId", 403, "refused"),
    ("ExpiredToken", 400, "expired"),
    ("NoSuchBucket", 404, "does not exist"),
    ("PermanentRedirect", 301, "another region"),
])
def test_access_problems_become_aws_access_errors_naming_the_bucket(
    code: str, status: int, words: str
) -> None:
    client = StubClient(client_error(code, status, "PutObject"))
    store = S3Store(client, "team-logs", quick_retrier(), None)
    with pytest.raises(AwsAccessError) as info:
        store.put_data("k", b"x", {})
    assert words in info.value.message
    assert "team-logs" in info.value.message or code == "ExpiredToken"
    assert client.calls == 1  # not retried


def test_missing_credentials_become_an_access_error() -> None:
    store = S3Store(StubClient(NoCredentialsError()), "team-logs", quick_retrier(), None)
    with pytest.raises(AwsAccessError, match="credentials"):
        store.get("k")
    with pytest.raises(AwsAccessError, match="credentials"):
        store.check_bucket()


@pytest.mark.parametrize(("code", "status", "words"), [
    ("403", 403, "refused"),
    ("301", 301, "another region"),
    ("NotFound", 404, "does not exist"),
])
def test_check_bucket_translates_head_bucket_status_codes(code: str, status: int,
                                                          words: str) -> None:
    store = S3Store(StubClient(client_error(code, status, "HeadBucket")), "team-logs",
                    quick_retrier(), None)
    with pytest.raises(AwsAccessError) as info:
        store.check_bucket()
    assert words in info.value.message and "team-logs" in info.value.message


def test_server_errors_are_retried_then_reraised() -> None:
    client = StubClient(client_error("InternalError", 500, "GetObject"))
    store = S3Store(client, "team-logs", quick_retrier(max_attempts=3), None)
    with pytest.raises(ClientError):
        store.get("k")
    assert client.calls == 3


class PagingClient:
    def __init__(self, pages: list[list[str]]) -> None:
        self.pages = pages
        self.requests: list[dict[str, Any]] = []

    def list_objects_v2(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append(kwargs)
        index = int(kwargs.get("ContinuationToken", "0"))
        more = index + 1 < len(self.pages)
        resp: dict[str, Any] = {"Contents": [{"Key": k} for k in self.pages[index]],
                                "IsTruncated": more}
        if more:
            resp["NextContinuationToken"] = str(index + 1)
        return resp


def test_list_keys_follows_continuation_tokens() -> None:
    client = PagingClient([["a/1", "a/2"], ["a/3"], []])
    store = S3Store(client, "team-logs", quick_retrier(), None)
    assert store.list_keys("a/") == ["a/1", "a/2", "a/3"]
    assert [r.get("ContinuationToken") for r in client.requests] == [None, "1", "2"]
    assert all(r["Prefix"] == "a/" and r["Bucket"] == "team-logs" for r in client.requests)
