"""What routes depend on, as typed aliases: settings, stores, services and the calling key."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Callable

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from functions.api.links import FileLinks
from functions.api.service import KeyService, TaskService
from functions.api.sharing import SubmissionSharing
from shared.aws import AwsClients
from shared import logs
from shared.config import Settings
from shared.errors import Forbidden, Unauthorized
from shared.secrets import SecretSource
from shared.stores.cookies import CookieStore
from shared.stores.keys import ApiKey, AuthCache, KeyStore
from shared.stores.media import MediaStore
from shared.stores.notify_queue import NotifyQueue
from shared.stores.queue import JobQueue
from shared.stores.rate_limits import RateLimitStore
from shared.stores.results import ResultStore
from shared.stores.tasks import TaskStore
from shared.stores.webhook_secrets import WebhookSecretStore
from shared.stores.usage import UsageStore
from shared.stores.workers import WorkerStore
from shared.urls import Resolver, system_resolver


class Container:
    """Builds clients, stores and services on first use (never at import), once per process."""

    def __init__(self, settings: Settings, clients: AwsClients | None = None, resolver: Resolver = system_resolver) -> None:
        self.settings = settings
        self._clients = clients
        self.resolver = resolver

    @cached_property
    def clients(self) -> AwsClients:
        return self._clients or AwsClients.from_settings(self.settings)

    @cached_property
    def keys(self) -> KeyStore:
        # KMS only serves create/get/get_keys: authenticating a request never builds its client.
        # Authentications are remembered for KEY_CACHE_SECONDS: most requests then make no key lookup at all.
        cache = AuthCache(self.settings.key_cache_seconds)
        return KeyStore(self.clients.dynamodb, self.settings.keys_table, self.clients.lazy("kms"), self.settings.keys_kms_key_id, cache)

    @cached_property
    def cookies(self) -> CookieStore:
        return CookieStore(self.clients.dynamodb, self.settings.cookies_table, self.clients.lazy("kms"), self.settings.keys_kms_key_id)

    @cached_property
    def webhook_secrets(self) -> WebhookSecretStore:
        return WebhookSecretStore(self.clients.dynamodb, self.settings.keys_table, self.clients.lazy("kms"), self.settings.keys_kms_key_id)

    @cached_property
    def workers(self) -> WorkerStore:
        return WorkerStore(self.clients.dynamodb, self.settings.workers_table)

    @cached_property
    def tasks(self) -> TaskStore:
        return TaskStore(self.clients.dynamodb, self.settings.tasks_table)

    @cached_property
    def usage(self) -> UsageStore:
        return UsageStore(self.clients.dynamodb, self.settings.usage_table)

    @cached_property
    def media(self) -> MediaStore:
        return MediaStore(self.clients.s3, self.settings.media_bucket)

    @cached_property
    def links(self) -> FileLinks:
        # Secrets Manager is only reached when the setting is an ARN (in AWS), and then at most every few minutes.
        return FileLinks(SecretSource(self.clients.lazy("secretsmanager")), self.settings.file_link_secret)

    @cached_property
    def task_service(self) -> TaskService:
        return TaskService(
            self.settings,
            self.tasks,
            JobQueue(self.clients.sqs, self.settings.jobs_queue_url),
            RateLimitStore(self.clients.dynamodb, self.settings.rate_limits_table),
            self.resolver,
            webhook_secrets=self.webhook_secrets,
            sharing=self.sharing,
            notify=NotifyQueue(self.clients.sqs, self.settings.notify_queue_url) if self.settings.notify_queue_url else None,
            usage=self.usage,
        )

    @cached_property
    def sharing(self) -> SubmissionSharing | None:
        if self.settings.result_sharing == "off":
            return None
        return SubmissionSharing(self.settings, ResultStore(self.clients.dynamodb, self.settings.results_table), self.tasks, self.media, self.cookies)

    @cached_property
    def key_service(self) -> KeyService:
        return KeyService(self.keys, self.cookies, self.webhook_secrets, self.usage)


def get_container(request: Request) -> Container:
    return request.app.state.container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_settings(container: ContainerDep) -> Settings:
    return container.settings


def get_key_store(container: ContainerDep) -> KeyStore:
    return container.keys


def get_cookie_store(container: ContainerDep) -> CookieStore:
    return container.cookies


def get_worker_store(container: ContainerDep) -> WorkerStore:
    return container.workers


def get_task_store(container: ContainerDep) -> TaskStore:
    return container.tasks


def get_media_store(container: ContainerDep) -> MediaStore:
    return container.media


def get_webhook_secrets(container: ContainerDep) -> WebhookSecretStore:
    return container.webhook_secrets


def get_links(container: ContainerDep) -> FileLinks:
    return container.links


def get_usage_store(container: ContainerDep) -> UsageStore:
    return container.usage


def get_task_service(container: ContainerDep) -> TaskService:
    return container.task_service


def get_key_service(container: ContainerDep) -> KeyService:
    return container.key_service


SettingsDep = Annotated[Settings, Depends(get_settings)]
KeysDep = Annotated[KeyStore, Depends(get_key_store)]
TasksDep = Annotated[TaskStore, Depends(get_task_store)]
CookiesDep = Annotated[CookieStore, Depends(get_cookie_store)]
WorkersDep = Annotated[WorkerStore, Depends(get_worker_store)]
MediaDep = Annotated[MediaStore, Depends(get_media_store)]
LinksDep = Annotated[FileLinks, Depends(get_links)]
WebhookSecretsDep = Annotated[WebhookSecretStore, Depends(get_webhook_secrets)]
TaskServiceDep = Annotated[TaskService, Depends(get_task_service)]
KeyServiceDep = Annotated[KeyService, Depends(get_key_service)]
UsageDep = Annotated[UsageStore, Depends(get_usage_store)]

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Your API key.")

MAX_KEY_LENGTH = 256


def current_key(request: Request, keys: KeysDep, api_key: Annotated[str | None, Security(api_key_header)] = None) -> ApiKey:
    """The calling key's record; 401 when the header is missing or the key unknown."""
    if not api_key:
        raise Unauthorized("No API key provided")
    if len(api_key) > MAX_KEY_LENGTH:
        raise Unauthorized("Invalid API key")
    caller = keys.authenticate(api_key)
    request.state.key_name = caller.name  # for the access line (functions/api/access_log.py)
    logs.bind(key_name=caller.name)  # the key's name, never the key
    return caller


CallerDep = Annotated[ApiKey, Depends(current_key)]


def require(permission: str) -> Callable[[ApiKey], ApiKey]:
    """A dependency that lets through only keys holding `permission` (403 otherwise)."""

    def check(caller: CallerDep) -> ApiKey:
        if not caller.has(permission):
            raise Forbidden("Permission denied")
        return caller

    check.__name__ = f"require_{permission}"
    return check
