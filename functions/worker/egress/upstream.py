"""The operator's upstream proxies (PROXY_URLS): parsing, the order an attempt tries them in, and opening a tunnel.

A proxy URL carries credentials, so an `UpstreamProxy` prints as `scheme://host:port` only (`label`), and no error
raised here contains the user name or password. The loopback proxy (functions.worker.egress.proxy) checks every
destination with the SSRF guard first and then asks the upstream proxy for a tunnel to the *checked address*, so
the upstream's own DNS can never send a job somewhere the guard did not see.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import struct
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

SCHEMES = ("http", "socks5", "socks5h")
_MAX_HEAD = 16 * 1024


class ProxyConfigError(ValueError):
    """PROXY_URLS holds something that is not an http:// or socks5:// proxy URL (the message shows no credentials)."""


class UpstreamProxyError(OSError):
    """The upstream proxy could not be reached or refused the tunnel (a reason to move on to the next proxy)."""


@dataclass(frozen=True)
class UpstreamProxy:
    """One upstream proxy; its repr shows no credentials."""

    scheme: str
    host: str
    port: int
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """What logs and errors may show: scheme, host and port, never the credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def __repr__(self) -> str:
        return f"UpstreamProxy({self.label!r})"

    __str__ = __repr__

    def open(self, address: str, port: int, timeout: float) -> socket.socket:
        """A connected socket tunnelled through this proxy to address:port (an address the guard checked)."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as err:
            raise UpstreamProxyError(f"upstream proxy {self.label} is unreachable ({type(err).__name__})") from None
        try:
            if self.scheme == "http":
                self._http_connect(sock, address, port)
            else:
                self._socks5_connect(sock, address, port)
        except UpstreamProxyError:
            sock.close()
            raise
        except OSError as err:
            sock.close()
            raise UpstreamProxyError(f"upstream proxy {self.label} failed ({type(err).__name__})") from None
        return sock

    def _http_connect(self, sock: socket.socket, address: str, port: int) -> None:
        target = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        if self.username is not None:
            token = base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode()
            lines.append(f"Proxy-Authorization: Basic {token}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(4096)
            if not data or len(head) > _MAX_HEAD:
                raise UpstreamProxyError(f"upstream proxy {self.label} closed the tunnel request")
            head += data
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[1].startswith("2"):
            status = parts[1] if len(parts) > 1 else "?"
            raise UpstreamProxyError(f"upstream proxy {self.label} refused the tunnel (HTTP {status})")

    def _socks5_connect(self, sock: socket.socket, address: str, port: int) -> None:
        methods = b"\x00\x02" if self.username is not None else b"\x00"
        sock.sendall(b"\x05" + bytes([len(methods)]) + methods)
        reply = _recv_exact(sock, 2)
        if reply[0] != 5 or reply[1] == 0xFF:
            raise UpstreamProxyError(f"upstream proxy {self.label} accepts none of our SOCKS5 methods")
        if reply[1] == 2:
            user = (self.username or "").encode()[:255]
            password = (self.password or "").encode()[:255]
            sock.sendall(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
            if _recv_exact(sock, 2)[1] != 0:
                raise UpstreamProxyError(f"upstream proxy {self.label} refused our SOCKS5 credentials")
        ip = ipaddress.ip_address(address)
        kind, packed = (b"\x01", ip.packed) if ip.version == 4 else (b"\x04", ip.packed)
        sock.sendall(b"\x05\x01\x00" + kind + packed + struct.pack("!H", port))
        head = _recv_exact(sock, 4)
        if head[1] != 0:
            raise UpstreamProxyError(f"upstream proxy {self.label} refused the connection (SOCKS5 reply {head[1]})")
        size = {1: 4, 4: 16}.get(head[3])
        if size is None:
            size = _recv_exact(sock, 1)[0]
        _recv_exact(sock, size + 2)


def parse_proxy_urls(text: str | None) -> list[UpstreamProxy]:
    """PROXY_URLS (comma-separated) as proxies; ProxyConfigError names the position of a bad entry, not its text."""
    proxies: list[UpstreamProxy] = []
    for index, raw in enumerate((text or "").split(","), start=1):
        raw = raw.strip()
        if not raw:
            continue
        try:
            parts = urlsplit(raw)
            port = parts.port
        except ValueError:
            raise ProxyConfigError(f"PROXY_URLS entry {index} is not a valid URL") from None
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES or not parts.hostname:
            raise ProxyConfigError(f"PROXY_URLS entry {index} must be an http:// or socks5:// URL with a host")
        proxies.append(
            UpstreamProxy(
                scheme="socks5" if scheme.startswith("socks5") else "http",
                host=parts.hostname,
                port=port or (1080 if scheme.startswith("socks5") else 8080),
                username=unquote(parts.username) if parts.username is not None else None,
                password=unquote(parts.password) if parts.password is not None else None,
            )
        )
    return proxies


def order_for_attempt(proxies: list[UpstreamProxy], attempt: int) -> list[UpstreamProxy]:
    """The proxies an attempt tries, in order: attempt N starts at the Nth proxy, then each other one once."""
    if not proxies:
        return []
    start = (max(1, attempt) - 1) % len(proxies)
    return proxies[start:] + proxies[:start]


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise UpstreamProxyError("upstream proxy closed the connection")
        data += chunk
    return data
