"""Domain errors: stores raise these instead of botocore errors; the API maps each to one status code."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base class: an error with a message safe to show a client."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ServiceError):
    status_code = 400


class Unauthorized(ServiceError):
    status_code = 401


class Forbidden(ServiceError):
    status_code = 403


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class TooLarge(ServiceError):
    status_code = 413


class RateLimited(ServiceError):
    status_code = 429

    def __init__(self, message: str, retry_after: int, quota: Any = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.quota = quota  # the key's standing (shared.stores.rate_limits.Quota), for the RateLimit headers


class Unavailable(ServiceError):
    """A backing service (DynamoDB, SQS, S3, KMS) failed or timed out."""

    status_code = 503
