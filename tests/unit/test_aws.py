"""shipper.aws: sessions, the operation listeners, and assume-role against moto's STS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipper.aws import add_operation_listener, client, follow_pages, make_session
from shipper.simulator.s3server import LocalS3

ROLE = "arn:aws:iam::210987654321:role/rds-log-reader"


@pytest.fixture
def sts_env(monkeypatch: pytest.MonkeyPatch, local_s3: LocalS3) -> Iterator[str]:
    # moto's server behind the local S3 answers every service, STS included
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", local_s3.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", local_s3.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIABASECREDENTIALS1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "base-secret")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield local_s3.endpoint_url


def test_assumed_session_uses_the_roles_credentials_and_announces_assume_role(
        sts_env: str) -> None:
    seen: list[tuple[str, str]] = []
    remove = add_operation_listener(lambda service, op: seen.append((service, op)))
    try:
        session = make_session("eu-west-1", ROLE, "ext-123")
        creds = session.get_credentials().get_frozen_credentials()
        # moto issues temporary credentials for the role: not the base keys, with a token.
        assert creds.access_key != "AKIABASECREDENTIALS1"
        assert creds.token
        client(session, "s3").list_buckets()
    finally:
        remove()
    assert ("sts", "AssumeRole") in seen
    assert ("s3", "ListBuckets") in seen
    assert session.region_name == "eu-west-1"


def test_plain_session_keeps_base_credentials_and_region(sts_env: str) -> None:
    session = make_session("ap-southeast-2")
    creds = session.get_credentials().get_frozen_credentials()
    assert creds.access_key == "AKIABASECREDENTIALS1"
    assert session.region_name == "ap-southeast-2"


def test_removed_listener_hears_nothing(sts_env: str) -> None:
    seen: list[tuple[str, str]] = []
    remove = add_operation_listener(lambda service, op: seen.append((service, op)))
    remove()
    client(make_session("us-east-1"), "s3").list_buckets()
    assert seen == []


def test_follow_pages_sends_each_token_and_stops_when_there_is_none() -> None:
    answers = {None: {"n": 1, "Marker": "a"}, "a": {"n": 2, "Marker": "b"}, "b": {"n": 3}}
    asked: list[dict[str, object]] = []

    def call(request: dict[str, object]) -> dict[str, object]:
        asked.append(dict(request))
        return answers[request.get("Marker")]  # type: ignore[index]

    got = [a["n"] for a in follow_pages(call, {"MaxRecords": 100}, "Marker",
                                        lambda answer: answer.get("Marker"))]
    assert got == [1, 2, 3]
    assert asked == [{"MaxRecords": 100}, {"MaxRecords": 100, "Marker": "a"},
                     {"MaxRecords": 100, "Marker": "b"}]
