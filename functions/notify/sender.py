"""One webhook POST, to an address checked at connect time.

The host is resolved here, every address checked with the same guard as media URLs (shared.urls.check_host), and
the connection made to a checked address: a name that resolved to a public address at submission and to a private
one now (DNS rebinding) is refused before any connection. Redirects are not followed (http.client never does):
a 3xx is the receiver's answer, a failure. Each socket step (connect, TLS, send, each read) has its own timeout.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import Callable
from urllib.parse import urlsplit

from shared.errors import BadRequest
from shared.urls import Resolver, check_host, split_host, system_resolver

MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "ytdlp-host-webhooks/1"


class DeliveryError(Exception):
    """No HTTP answer: refused by the guard, unreachable, timed out, or not HTTP."""


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to one already-checked address (the Host header keeps the URL's name)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to one already-checked address; the certificate is checked against the URL's name."""

    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


class Sender:
    """POSTs a body to a webhook URL; returns the answer's status code."""

    def __init__(self, allow_private: bool, timeout: float = 15.0, resolver: Resolver = system_resolver, tls: Callable[[], ssl.SSLContext] = ssl.create_default_context) -> None:
        self._allow_private = allow_private
        self._timeout = timeout
        self._resolver = resolver
        self._tls = tls

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to: every one checked unless private networks are allowed."""
        if not self._allow_private:
            return check_host(host, port, self._resolver)
        try:
            found = list(dict.fromkeys(self._resolver(host, port)))
        except (OSError, UnicodeError) as err:
            raise BadRequest(f"Could not resolve host '{host}'") from err
        if not found:
            raise BadRequest(f"Could not resolve host '{host}'")
        return found

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """The receiver's status code; DeliveryError when there is none."""
        try:
            scheme, host, port = split_host(url)
            addresses = self.addresses(host, port)
        except BadRequest as err:
            raise DeliveryError(err.message) from None
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")  # the fragment is the client's own
        # The first checked address only: trying another after a timeout could deliver the same attempt twice.
        conn = (
            _PinnedHTTPSConnection(host, port, addresses[0], self._timeout, self._tls())
            if scheme == "https"
            else _PinnedHTTPConnection(host, port, addresses[0], self._timeout)
        )
        try:
            conn.request("POST", path, body=body, headers={**headers, "Content-Type": "application/json", "User-Agent": USER_AGENT})
            response = conn.getresponse()
            response.read(MAX_RESPONSE_BYTES)  # the answer's body means nothing; read a little so the server is not cut off
            return response.status
        except (OSError, http.client.HTTPException) as err:
            raise DeliveryError(f"no answer from '{host}': {type(err).__name__}") from None
        finally:
            conn.close()
