"""The one place boto3 clients are built: region, retries and timeouts; the endpoint comes from AWS_ENDPOINT_URL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.config import Settings


def client_config(connect_timeout: float = 3, read_timeout: float = 10, max_attempts: int = 3) -> Config:
    """Client settings shared by every AWS client: short timeouts, standard retry mode."""
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "max_attempts": max_attempts},
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        max_pool_connections=32,
    )


def make_client(service: str, settings: Settings, **config: Any) -> Any:
    """A boto3 client for `service` in the configured region (and emulator endpoint, when one is set)."""
    session = boto3.session.Session()
    return session.client(
        service,
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url or None,
        config=client_config(**config),
    )


@dataclass(frozen=True)
class AwsClients:
    """The clients a process uses; built once and passed to the stores."""

    dynamodb: Any
    sqs: Any
    s3: Any
    kms: Any

    @classmethod
    def from_settings(cls, settings: Settings, *, sqs_read_timeout: float = 10) -> "AwsClients":
        return cls(
            dynamodb=make_client("dynamodb", settings),
            sqs=make_client("sqs", settings, read_timeout=sqs_read_timeout),
            s3=make_client("s3", settings, read_timeout=60),
            kms=make_client("kms", settings),
        )


# What a failing AWS dependency raises: service errors, timeouts, connection failures.
AWS_ERRORS: tuple[type[BaseException], ...] = (BotoCoreError, ClientError)


def error_code(err: BaseException) -> str:
    """The AWS error code of a ClientError ('' for anything else)."""
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def is_condition_failure(err: BaseException) -> bool:
    """True when a DynamoDB write failed its condition (not a service fault)."""
    return error_code(err) in ("ConditionalCheckFailedException",)


def cancellation_reasons(err: BaseException) -> list[str]:
    """The per-item codes of a cancelled DynamoDB transaction."""
    response = getattr(err, "response", None) or {}
    return [str(r.get("Code", "None")) for r in response.get("CancellationReasons", [])]
