"""Fault injection for AWS clients: botocore's event system makes a service fail before the emulator sees the request.

A handler registered first on `before-send.<service>[.<Operation>]` raises what a failing service or network
produces: a modeled error (server error, throttling) or a connection/read timeout or refused connection.
"""

from __future__ import annotations

from typing import Any, Callable

from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from shared.aws import AwsClients

SERVICES = ("dynamodb", "sqs", "s3", "kms")
# What each service answers when it fails on its side, or throttles.
SERVER_ERRORS = {"dynamodb": "InternalServerError", "sqs": "InternalError", "s3": "InternalError", "kms": "KMSInternalException"}
THROTTLING = {"dynamodb": "ProvisionedThroughputExceededException", "sqs": "RequestThrottled", "s3": "SlowDown", "kms": "ThrottlingException"}


def client_error(client: Any, code: str, status: int, operation: str) -> Exception:
    response = {"Error": {"Code": code, "Message": "injected fault"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return client.exceptions.from_code(code)(response, operation)


FAULTS: dict[str, Callable[[str, Any, str], Exception]] = {
    "server-error": lambda service, client, op: client_error(client, SERVER_ERRORS[service], 500, op),
    "throttled": lambda service, client, op: client_error(client, THROTTLING[service], 400 if service != "s3" else 503, op),
    "connect-timeout": lambda service, client, op: ConnectTimeoutError(endpoint_url=client.meta.endpoint_url),
    "read-timeout": lambda service, client, op: ReadTimeoutError(endpoint_url=client.meta.endpoint_url),
    "unreachable": lambda service, client, op: EndpointConnectionError(endpoint_url=client.meta.endpoint_url),
}


class Faults:
    """Makes the container's clients fail, per service and optionally per operation."""

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self._registered: list[tuple[Any, str, str]] = []

    def fail(self, service: str, fault: str, operations: tuple[str, ...] = ()) -> None:
        client = getattr(self.clients, service)
        make = FAULTS[fault]

        def handler(event_name: str, **_: Any) -> None:
            raise make(service, client, event_name.rsplit(".", 1)[-1])

        for event in [f"before-send.{service}.{op}" for op in operations] or [f"before-send.{service}"]:
            unique_id = f"fault-{len(self._registered)}"
            client.meta.events.register_first(event, handler, unique_id=unique_id)
            self._registered.append((client, event, unique_id))

    def heal(self) -> None:
        for client, event, unique_id in self._registered:
            client.meta.events.unregister(event, unique_id=unique_id)
        self._registered.clear()


def single_attempt_clients(settings: Any) -> AwsClients:
    """Clients like the app's, but making one attempt (botocore's max_attempts counts retries) with short timeouts."""
    from shared.aws import make_client

    return AwsClients(**{s: make_client(s, settings, max_attempts=0, connect_timeout=1, read_timeout=2) for s in SERVICES})
