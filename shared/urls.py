"""URL checks: only http(s), and only hosts whose every address is globally routable (unless private networks are allowed)."""

from __future__ import annotations

import ipaddress
import socket
import threading
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from typing import Callable, Iterable
from urllib.parse import urlsplit

from shared.errors import BadRequest

MAX_URL_LENGTH = 2048

# (host, port) -> addresses; tests pass a fake so no lookup leaves the machine.
Resolver = Callable[[str, int], Iterable[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _lookup_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:  # built on first use, never at import
            _pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dns")
        return _pool


def bounded(resolver: Resolver, timeout: float) -> Resolver:
    """`resolver` with a time limit: a lookup still running after `timeout` seconds fails like an unknown name.

    getaddrinfo cannot be cancelled, so the lookup finishes in a pool thread; the request no longer waits for it.
    """

    def resolve(host: str, port: int) -> list[str]:
        future = _lookup_pool().submit(lambda: list(resolver(host, port)))
        try:
            return future.result(timeout=timeout)
        except FutureTimeout as err:
            raise OSError(f"resolving took longer than {timeout:g} s") from err

    return resolve


def is_public_address(address: str) -> bool:
    """True only for globally routable unicast addresses (not loopback, private, link-local, multicast, reserved...)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        # Addresses that embed an IPv4 address are judged by the embedded one.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return is_public_address(str(embedded))
        if ip in _NAT64:
            return is_public_address(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local or ip.is_private or ip.is_unspecified)


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def split_host(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; BadRequest for anything else."""
    if not isinstance(url, str) or not url.strip():
        raise BadRequest("URL is required")
    if len(url) > MAX_URL_LENGTH:
        raise BadRequest(f"URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise BadRequest("URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise BadRequest("URL is not valid") from err
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BadRequest("Only http and https URLs are allowed")
    # Parsers disagree on these, so the host checked here need not be the host the downloader connects to:
    # urllib3 and browsers end the authority at a backslash (http://127.0.0.1\@evil.example.com is 127.0.0.1 to
    # them, evil.example.com to urlsplit), and some decode percent-escapes in a host name.
    if "\\" in parts.netloc:
        raise BadRequest("URL is not valid: backslash in the host part")
    host = parts.hostname
    if not host:
        raise BadRequest("URL has no host")
    if "%" in host and ":" not in host:  # an IPv6 literal's zone id is the one place a host holds '%'
        raise BadRequest("URL is not valid: percent-encoded host")
    return scheme, host, port or (443 if scheme == "https" else 80)


def check_url(url: str, allow_private: bool, resolver: Resolver = system_resolver) -> None:
    """Refuse (BadRequest) a URL that is not http(s) or whose host resolves to a non-global address."""
    _, host, port = split_host(url)
    if allow_private:
        return
    check_host(host, port, resolver)


def check_host(host: str, port: int, resolver: Resolver = system_resolver) -> list[str]:
    """The host's addresses, all of them public; BadRequest otherwise (or when it does not resolve)."""
    try:
        addresses = list(resolver(host, port))
    except (OSError, UnicodeError) as err:
        raise BadRequest(f"Could not resolve host '{host}'") from err
    if not addresses:
        raise BadRequest(f"Could not resolve host '{host}'")
    for address in addresses:
        if not is_public_address(address):
            # The address stays out of the message: echoing it would let callers map names inside the network.
            raise BadRequest(f"URL host '{host}' resolves to a non-public address; private networks are not allowed")
    return addresses
