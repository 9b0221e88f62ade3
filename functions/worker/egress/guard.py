"""SSRF guard for a job's process: no connection to a non-public address, whatever URL, redirect or DNS answer.

What it covers (unless ALLOW_PRIVATE_NETWORKS):
* Every connection the job process opens by name or address goes through `socket.getaddrinfo`, which the guard
  replaces in the job's child process. Every address a lookup returns is checked with
  `shared.urls.is_public_address`; one non-public address refuses the host. The caller then connects to exactly
  the addresses that were checked, so a DNS answer that changes between check and use (rebinding) gains nothing.
* yt-dlp's request handlers (urllib, requests, curl_cffi, websockets) all get `proxy=socks5h://127.0.0.1:<port>`,
  the job's loopback proxy (functions.worker.egress.proxy): the proxy resolves each name through this guard, so
  even curl_cffi, which would do its own DNS in C, reaches only checked addresses. Redirects are new requests.
* ffmpeg, a separate process, opens only the proxy's plain-http gateway URLs (functions.worker.egress.ffmpeg_shim,
  `-protocol_whitelist http,tcp,crypto`); the gateway fetches through this guard and rewrites manifests.
* Exactly the operator's endpoints (`allow_endpoint`: upstream proxies, the PO-token provider, the loopback proxy
  itself) pass even on private addresses; nothing else that is not public.
* AWS calls of the job process (botocore: S3 upload, DynamoDB progress, credential refresh from the ECS task
  metadata endpoint 169.254.170.2) are exempt: the guard recognises them by a botocore frame on the calling
  stack, something no URL can arrange. yt-dlp never calls botocore.
* A refusal names the host that was asked for, never the address it resolved to (no map of the network).

What it does not cover:
* Subprocesses other than ffmpeg that do their own networking (none are run).
* Anything a public address does on its own (a public host that relays to private ones is out of reach), and what
  an upstream proxy does with the (checked) address it is asked to tunnel to.
"""

from __future__ import annotations

import socket
import sys
import threading
from typing import Any, Callable, Sequence

from shared.urls import is_public_address

AddrInfo = tuple[Any, Any, Any, str, tuple[Any, ...]]
Resolve = Callable[..., Sequence[AddrInfo]]

_TRUSTED_MODULE_PREFIXES = ("botocore.",)
_SYSTEM_GETADDRINFO = socket.getaddrinfo
_MAX_REFUSALS = 20


class PrivateAddressRefused(OSError):
    """A connection to a non-public address was refused (private networks are not allowed)."""


class AddressGuard:
    """Checks every resolved address; `install()` puts it in place of socket.getaddrinfo for the process."""

    def __init__(self, resolve: Resolve | None = None, is_allowed: Callable[[str], bool] = is_public_address) -> None:
        self._resolve = resolve or socket.getaddrinfo
        self._is_allowed = is_allowed
        self._endpoints: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._refusals: list[str] = []
        self._original: Resolve | None = None

    @property
    def refusals(self) -> list[str]:
        """Messages of the refusals so far (most recent last)."""
        with self._lock:
            return list(self._refusals)

    def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[AddrInfo]:
        """socket.getaddrinfo, minus any answer that holds a non-public address."""
        name = host.decode("idna", "replace") if isinstance(host, bytes) else str(host)
        if self.is_endpoint(name, port):
            # The operator's own endpoint (or the job's loopback proxy): the system resolver, unchecked.
            return list(_SYSTEM_GETADDRINFO(host, port, *args, **kwargs))
        infos = list(self._resolve(host, port, *args, **kwargs))
        if _called_by_aws_sdk():
            return infos
        for info in infos:
            address = str(info[4][0])
            if not self._is_allowed(address):
                # Name the host the user gave, never the address it resolved to (that would map the network).
                message = f"URL host '{name}' resolves to a non-public address; private networks are not allowed"
                self._refuse(message)
                raise PrivateAddressRefused(message)
        return infos

    def allow_endpoint(self, host: str, port: int) -> None:
        """Let exactly host:port through even when private (the operator's proxies, the PO-token provider, our loopback proxy)."""
        with self._lock:
            self._endpoints.add((host.lower().strip("[]"), int(port)))

    def is_endpoint(self, name: str, port: Any) -> bool:
        """Whether host:port is one of the endpoints let through by `allow_endpoint`."""
        try:
            key = (name.lower().strip("[]"), int(port))
        except (TypeError, ValueError):
            return False
        with self._lock:
            return key in self._endpoints

    def check(self, host: str, port: int) -> list[AddrInfo]:
        """The TCP addresses of host:port, all allowed; PrivateAddressRefused otherwise (used by the proxy)."""
        return self.getaddrinfo(host, port, 0, socket.SOCK_STREAM)

    def refuse(self, message: str) -> None:
        """Record a refusal decided elsewhere (e.g. the proxy refusing a scheme)."""
        self._refuse(message)

    def install(self) -> "AddressGuard":
        """Replace socket.getaddrinfo in this process (the job's child only)."""
        if self._original is None:
            self._original = socket.getaddrinfo
            socket.getaddrinfo = self.getaddrinfo  # type: ignore[assignment]
        return self

    def uninstall(self) -> None:
        if self._original is not None:
            socket.getaddrinfo = self._original  # type: ignore[assignment]
            self._original = None

    def __enter__(self) -> "AddressGuard":
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    def _refuse(self, message: str) -> None:
        with self._lock:
            self._refusals.append(message)
            del self._refusals[:-_MAX_REFUSALS]


def _called_by_aws_sdk() -> bool:
    """True when the lookup comes from botocore (our own AWS calls), which no downloaded URL can cause."""
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith(_TRUSTED_MODULE_PREFIXES):
            return True
        frame = frame.f_back
    return False
