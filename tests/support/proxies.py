"""Loopback forward proxies for the egress tests: HTTP CONNECT or SOCKS5, optional credentials, optional refusal.

Each counts the tunnels it opened and the bytes it carried back to its client, so a test can tell which proxy
the media went through. `deny_status` makes an HTTP proxy answer that status to everything (a blocked proxy);
a raw listener counts connections and never answers (what a manifest's tcp:// URL would reach).
"""

from __future__ import annotations

import base64
import selectors
import socket
import struct
import threading
from typing import Any


class _Loopback:
    def __init__(self) -> None:
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(32)
        self.port = int(self._server.getsockname()[1])
        self.connections = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        client.close()

    def stop(self) -> None:
        self._stopped.set()
        try:
            self._server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._server.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RawListener(_Loopback):
    """Accepts and counts TCP connections; nothing is served."""


class ForwardProxy(_Loopback):
    """An HTTP CONNECT ('http') or SOCKS5 ('socks5') proxy on 127.0.0.1."""

    def __init__(self, kind: str = "http", username: str | None = None, password: str | None = None, deny_status: int | None = None) -> None:
        self.kind = kind
        self.username = username
        self.password = password
        self.deny_status = deny_status
        self.tunnels: list[tuple[str, int]] = []
        self.bytes_to_client = 0
        self.auth_failures = 0
        super().__init__()

    def url(self, with_credentials: bool = True) -> str:
        auth = f"{self.username}:{self.password}@" if with_credentials and self.username is not None else ""
        return f"{self.kind}://{auth}127.0.0.1:{self.port}"

    def _serve(self, client: socket.socket) -> None:
        try:
            client.settimeout(20)
            target = self._socks5(client) if self.kind == "socks5" else self._http(client)
            if target is None:
                return
            upstream = socket.create_connection(target, timeout=20)
            with self._lock:
                self.tunnels.append(target)
            if self.kind == "socks5":
                client.sendall(b"\x05\x00\x00\x01" + bytes(6))
            else:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._pipe(client, upstream)
        except OSError:
            pass
        finally:
            client.close()

    def _http(self, client: socket.socket) -> tuple[str, int] | None:
        head = b""
        while b"\r\n\r\n" not in head:
            data = client.recv(4096)
            if not data:
                return None
            head += data
        lines = head.decode("latin-1").split("\r\n")
        if self.deny_status is not None:
            client.sendall(f"HTTP/1.1 {self.deny_status} Denied\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            return None
        if self.username is not None:
            expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            given = [line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("proxy-authorization:")]
            if given != [expected]:
                with self._lock:
                    self.auth_failures += 1
                client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                return None
        method, target, _ = lines[0].split(" ", 2)
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Only CONNECT\r\nContent-Length: 0\r\n\r\n")
            return None
        host, port = target.rsplit(":", 1)
        return host.strip("[]"), int(port)

    def _socks5(self, client: socket.socket) -> tuple[str, int] | None:
        _, count = _recv(client, 2)
        methods = _recv(client, count)
        if self.username is not None:
            if 2 not in methods:
                client.sendall(b"\x05\xff")
                return None
            client.sendall(b"\x05\x02")
            _recv(client, 1)
            user = _recv(client, _recv(client, 1)[0]).decode()
            password = _recv(client, _recv(client, 1)[0]).decode()
            ok = (user, password) == (self.username, self.password)
            client.sendall(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                with self._lock:
                    self.auth_failures += 1
                return None
        else:
            client.sendall(b"\x05\x00")
        _, command, _, kind = _recv(client, 4)
        if kind == 1:
            host = socket.inet_ntoa(_recv(client, 4))
        elif kind == 3:
            host = _recv(client, _recv(client, 1)[0]).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, _recv(client, 16))
        (port,) = struct.unpack("!H", _recv(client, 2))
        return host, port

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        with selectors.DefaultSelector() as selector, upstream:
            selector.register(client, selectors.EVENT_READ)
            selector.register(upstream, selectors.EVENT_READ)
            while True:
                ready = selector.select(timeout=20)
                if not ready:
                    return
                for key, _ in ready:
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    if key.fileobj is upstream:
                        with self._lock:
                            self.bytes_to_client += len(data)
                        client.sendall(data)
                    else:
                        upstream.sendall(data)


def _recv(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data
