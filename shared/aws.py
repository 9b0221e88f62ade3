"""The one place boto3 clients are built: region, retries and timeouts; the endpoint comes from AWS_ENDPOINT_URL."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import botocore.session
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


_build_lock = threading.Lock()
_loader: Any = None


def _session() -> boto3.session.Session:
    """A new session sharing one data loader per process.

    Loading service models and endpoint rules is most of what building a client costs; the shared loader caches
    them, so only the first client of each service pays it. Sessions stay fresh, so handlers that botocore gets
    later (an emulator in tests) still apply.
    """
    global _loader
    core = botocore.session.get_session()
    if _loader is None:
        _loader = core.get_component("data_loader")
    else:
        core.register_component("data_loader", _loader)
    return boto3.session.Session(botocore_session=core)


def endpoint_url(service: str, settings: Settings) -> str | None:
    """The service's own endpoint (AWS_ENDPOINT_URL_<SERVICE>) when set, else AWS_ENDPOINT_URL, else AWS's."""
    specific = getattr(settings, f"aws_endpoint_url_{service}", None)
    return specific or settings.aws_endpoint_url or None


def make_client(service: str, settings: Settings, **config: Any) -> Any:
    """A boto3 client for `service` in the configured region (and emulator endpoint, when one is set)."""
    with _build_lock:  # building clients is not thread-safe; using them is
        return _session().client(
            service,
            region_name=settings.aws_region,
            endpoint_url=endpoint_url(service, settings),
            config=client_config(**config),
        )


class AwsClients:
    """The clients a process uses, each built on first use (a health check never pays for S3 or KMS), then kept.

    Ready-made clients can be passed by name (tests, fault injection); the others are built from `settings`.
    """

    SERVICES = ("dynamodb", "sqs", "s3", "kms", "secretsmanager")

    def __init__(self, settings: Settings | None = None, *, sqs_read_timeout: float = 10, timeouts: dict[str, float] | None = None, **clients: Any) -> None:
        unknown = set(clients) - set(self.SERVICES)
        if unknown:
            raise TypeError(f"unknown AWS clients: {sorted(unknown)}")
        self._settings = settings
        self._clients = dict(clients)
        self._config: dict[str, dict[str, Any]] = {"sqs": {"read_timeout": sqs_read_timeout}, "s3": {"read_timeout": 60}}
        if timeouts:  # one set of timeouts for every service (e.g. the worker's heartbeat clients)
            self._config = {service: dict(timeouts) for service in self.SERVICES}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, sqs_read_timeout: float = 10, timeouts: dict[str, float] | None = None) -> "AwsClients":
        return cls(settings, sqs_read_timeout=sqs_read_timeout, timeouts=timeouts)

    def get(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                if self._settings is None:
                    raise LookupError(f"no {service} client was given and no settings to build one")
                self._clients[service] = make_client(service, self._settings, **self._config.get(service, {}))
            return self._clients[service]

    @property
    def dynamodb(self) -> Any:
        return self.get("dynamodb")

    @property
    def sqs(self) -> Any:
        return self.get("sqs")

    @property
    def s3(self) -> Any:
        return self.get("s3")

    @property
    def kms(self) -> Any:
        return self.get("kms")

    @property
    def secretsmanager(self) -> Any:
        return self.get("secretsmanager")

    def lazy(self, service: str) -> "LazyClient":
        """A stand-in for `service`'s client that builds it on the first call made through it."""
        return LazyClient(self, service)


class LazyClient:
    """Forwards every attribute to the real client, built on first use (e.g. KMS, which only key reveals need)."""

    def __init__(self, clients: AwsClients, service: str) -> None:
        self._clients = clients
        self._service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(self._clients.get(self._service), name)


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
