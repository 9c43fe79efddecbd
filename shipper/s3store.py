"""Every S3 call the shipper makes, with its error translation and encryption settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

from shipper.aws import follow_pages
from shipper.exceptions import AwsAccessError, DataObjectTakenError, StateConflictError
from shipper.layout import left_by_a_stopped_run, same_data_object, taken_message
from shipper.retry import Retrier, error_code

ACCESS_CODES = frozenset(
    {"AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
     "ExpiredToken", "ExpiredTokenException", "InvalidToken", "AccountProblem",
     "KMS.AccessDeniedException", "KMS.DisabledException", "KMS.NotFoundException"}
)
PRECONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412"})
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    etag: str
    metadata: dict[str, str]


def access_error(err: ClientError | NoCredentialsError | PartialCredentialsError,
                 what: str, bucket: str) -> AwsAccessError:
    if isinstance(err, (NoCredentialsError, PartialCredentialsError)):
        return AwsAccessError(f"no usable AWS credentials for {what}",
                              "set AWS credentials, a profile, or run with a task role")
    code = error_code(err)
    if code == "NoSuchBucket":
        return AwsAccessError(f"bucket {bucket!r} does not exist",
                              "create it or fix SHIPPER_BUCKET")
    if code in ("PermanentRedirect", "AuthorizationHeaderMalformed",
                "IllegalLocationConstraintException"):
        return AwsAccessError(f"bucket {bucket!r} is in another region ({code})",
                              "use the bucket's region for S3 or set AWS_REGION accordingly")
    if code in ("ExpiredToken", "ExpiredTokenException"):
        return AwsAccessError(f"AWS credentials expired during {what}", "refresh credentials")
    return AwsAccessError(
        f"S3 refused {what} on bucket {bucket!r}: {code or 'error'}",
        "the task role needs s3:GetObject, s3:PutObject and s3:ListBucket on the prefix",
    )


class S3Store:
    def __init__(self, client: Any, bucket: str, retrier: Retrier, kms_key_id: str | None):
        self._client = client
        self.bucket = bucket
        self._retrier = retrier
        self._sse: dict[str, str] = (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
            if kms_key_id else {"ServerSideEncryption": "AES256"}
        )
        self.puts = 0

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return self._retrier.call(lambda: fn(Bucket=self.bucket, **kwargs), rate_limited=False)
        except (NoCredentialsError, PartialCredentialsError) as err:
            raise access_error(err, what, self.bucket) from err
        except ClientError as err:
            code = error_code(err)
            if code in ACCESS_CODES or code in ("NoSuchBucket", "PermanentRedirect",
                                                "AuthorizationHeaderMalformed", "403"):
                raise access_error(err, what, self.bucket) from err
            raise

    def check_bucket(self, prefix: str = "") -> None:
        """Fail fast, before any RDS work, when the bucket is missing or not ours to use. A
        one-key listing of our prefix needs only the s3:ListBucket we hold anyway."""
        try:
            self._retrier.call(lambda: self._client.list_objects_v2(
                Bucket=self.bucket, Prefix=prefix, MaxKeys=1), rate_limited=False)
        except (NoCredentialsError, PartialCredentialsError) as err:
            raise access_error(err, "ListObjectsV2", self.bucket) from err
        except ClientError as err:
            code = error_code(err)
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise AwsAccessError(f"bucket {self.bucket!r} does not exist",
                                     "create it or fix SHIPPER_BUCKET") from err
            if code in ("301", "PermanentRedirect"):
                raise AwsAccessError(f"bucket {self.bucket!r} is in another region",
                                     "set AWS_REGION to the bucket's region") from err
            raise access_error(err, "ListObjectsV2", self.bucket) from err

    def get(self, key: str) -> StoredObject | None:
        try:
            resp = self._call("GetObject", self._client.get_object, Key=key)
        except ClientError as err:
            if error_code(err) in MISSING_CODES:
                return None
            raise
        body = resp["Body"].read()
        return StoredObject(body, resp["ETag"], dict(resp.get("Metadata", {})))

    def head(self, key: str) -> StoredObject | None:
        try:
            resp = self._call("HeadObject", self._client.head_object, Key=key)
        except ClientError as err:
            if error_code(err) in MISSING_CODES:
                return None
            raise
        return StoredObject(b"", resp["ETag"], dict(resp.get("Metadata", {})))

    def put_conditional(self, key: str, body: bytes, etag: str | None,
                        content_type: str = "application/json") -> str:
        """Create (etag None: If-None-Match *) or replace exactly ``etag`` (If-Match)."""
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            resp = self._call("PutObject", self._client.put_object, Key=key, Body=body,
                              ContentType=content_type, **condition, **self._sse)
        except ClientError as err:
            code = error_code(err)
            # If-Match on an object that was deleted meanwhile answers 404: a conflict too.
            if code in PRECONDITION_CODES or (etag and code in MISSING_CODES):
                raise StateConflictError(f"{key} changed since we read it") from err
            raise
        self.puts += 1
        return str(resp["ETag"])

    def put(self, key: str, body: bytes, content_type: str = "application/json") -> None:
        """An unconditional write (the name records: the last writer is right)."""
        self._call("PutObject", self._client.put_object, Key=key, Body=body,
                   ContentType=content_type, **self._sse)
        self.puts += 1

    def put_data(self, key: str, body: bytes, metadata: dict[str, str]) -> bool:
        """Write a data object once (If-None-Match: *). Every write of a key is an
        ``ObjectCreated`` event, and the log tools that follow S3 notifications read each
        event's object again: a retry of a write that landed (its answer lost, a 500 after
        the write) must not write the key twice. When the key exists, its metadata says
        whether it holds these bytes (``META_SHA256`` and ``META_END``): then nothing is
        written (False). A stopped run's object that adoption did not find is not replaced
        either (``DataObjectTakenError``); any other object under the key is
        (``layout.left_by_a_stopped_run`` says which is which)."""
        try:
            self._put_data(key, body, metadata, IfNoneMatch="*")
            return True
        except ClientError as err:
            if error_code(err) not in PRECONDITION_CODES:
                raise
        existing = self.head(key)
        if existing is not None and same_data_object(existing.metadata, metadata):
            return False
        found = self.get(key) if existing is not None else None
        if found is not None and left_by_a_stopped_run(found.body, found.metadata, body,
                                                       metadata):
            raise DataObjectTakenError(taken_message(key))
        self._put_data(key, body, metadata)
        return True

    def _put_data(self, key: str, body: bytes, metadata: dict[str, str],
                  **condition: str) -> None:
        self._call("PutObject", self._client.put_object, Key=key, Body=body,
                   ContentType="application/gzip", Metadata=metadata, **condition,
                   **self._sse)
        self.puts += 1

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for resp in follow_pages(
                lambda request: self._call("ListObjectsV2", self._client.list_objects_v2,
                                           **request),
                {"Prefix": prefix}, "ContinuationToken",
                lambda answer: answer.get("NextContinuationToken")
                if answer.get("IsTruncated") else None):
            keys.extend(obj["Key"] for obj in resp.get("Contents", []))
        return keys


def open_store(settings: Any, retrier: Retrier | None = None) -> S3Store:
    """An S3Store for the operator commands (status, state), with the run's retry policy."""
    import threading

    from shipper.aws import client, make_session
    from shipper.config import s3_region
    from shipper.stats import RunStats

    region = s3_region(settings)
    retrier = retrier or Retrier(RunStats(), threading.Event(), None, settings.max_attempts)
    store = S3Store(client(make_session(region), "s3"), settings.bucket, retrier,
                    settings.kms_key_id)
    store.check_bucket(settings.prefix)
    return store
