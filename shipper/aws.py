"""boto3 sessions and clients: retries off (tenacity owns them), assume-role, operation listeners.

Every AWS operation the shipper performs is announced to the listeners as ``(service, operation)``:
botocore calls through its ``before-call`` event, the REST complete-file download by hand. The
infrastructure tests derive the task role's IAM actions from a real run through this hook.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from botocore.config import Config

OperationListener = Callable[[str, str], None]

_listeners: list[OperationListener] = []
_listeners_lock = threading.Lock()

# Our own retry layer (shipper.retry) counts and paces attempts, so botocore must not multiply
# them. Timeouts are short enough to notice a dead endpoint inside one schedule slot.
CLIENT_CONFIG = Config(
    retries={"total_max_attempts": 1, "mode": "standard"},
    connect_timeout=10,
    read_timeout=60,
    max_pool_connections=64,
    user_agent_extra="rds-log-shipper",
)


def add_operation_listener(listener: OperationListener) -> Callable[[], None]:
    """Register ``listener(service, operation)``; returns a function that removes it."""
    with _listeners_lock:
        _listeners.append(listener)

    def remove() -> None:
        with _listeners_lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove


def announce_operation(service: str, operation: str) -> None:
    with _listeners_lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(service, operation)


def _on_before_call(model: Any, **_: Any) -> None:
    announce_operation(model.service_model.endpoint_prefix, model.name)


def make_session(
    region: str,
    role_arn: str | None = None,
    external_id: str | None = None,
    base: boto3.session.Session | None = None,
) -> boto3.session.Session:
    """A session in ``region``; with ``role_arn``, one whose credentials come from AssumeRole
    and refresh themselves before they expire (long runs outlive one hour of credentials)."""
    base = base or boto3.session.Session(region_name=region)
    # The AssumeRole calls behind cross-account credentials go through the base session.
    base.events.register("before-call", _on_before_call, unique_id="rds-log-shipper-ops")
    if role_arn is None:
        session = boto3.session.Session(
            botocore_session=base._session, region_name=region  # share the credential cache
        ) if base.region_name != region else base
    else:
        session = _assumed_session(base, region, role_arn, external_id)
    session.events.register("before-call", _on_before_call, unique_id="rds-log-shipper-ops")
    return session


def _assumed_session(
    base: boto3.session.Session, region: str, role_arn: str, external_id: str | None
) -> boto3.session.Session:
    from botocore.credentials import (
        AssumeRoleCredentialFetcher,
        DeferredRefreshableCredentials,
    )
    from botocore.session import Session as BotocoreSession

    extra: dict[str, Any] = {"RoleSessionName": "rds-log-shipper"}
    if external_id:
        extra["ExternalId"] = external_id
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=base._session.create_client,
        source_credentials=base._session.get_credentials(),
        role_arn=role_arn,
        extra_args=extra,
    )
    botocore_session = BotocoreSession()
    botocore_session._credentials = DeferredRefreshableCredentials(  # type: ignore[attr-defined]
        method="assume-role", refresh_using=fetcher.fetch_credentials
    )
    botocore_session.set_config_variable("region", region)
    return boto3.session.Session(botocore_session=botocore_session, region_name=region)


def client(session: boto3.session.Session, service: str) -> Any:
    return session.client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]


def follow_pages(call: Callable[[dict[str, Any]], Any], request: dict[str, Any], token: str,
                 next_token: Callable[[Any], str | None]) -> Iterator[Any]:
    """Every page of a paginated AWS call: ``call(request)`` for each, with the request's
    ``token`` parameter set from ``next_token(answer)`` until that is empty. Not botocore's
    paginators: they call the client directly, and every page must go through the caller's
    rate limiter and retry policy (``shipper.retry``), as every other request does."""
    request = dict(request)
    while True:
        answer = call(request)
        yield answer
        following = next_token(answer)
        if not following:
            return
        request[token] = following
