"""A loopback HTTP proxy for ffmpeg that only connects where the SSRF guard allows (see functions.worker.egress.guard).

ffmpeg gets `-http_proxy http://127.0.0.1:<port>`: plain-http requests arrive in absolute form
(`GET http://host/path`), https ones as `CONNECT host:443`. Each is resolved and checked by the guard before a
connection is made, to exactly the checked addresses. One request per upstream connection (`Connection: close`),
so a kept-alive client connection can never carry a second request to a host nobody checked.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
from urllib.parse import urlsplit

from functions.worker.egress.guard import AddressGuard, PrivateAddressRefused

log = logging.getLogger(__name__)

_MAX_HEAD = 64 * 1024
_CHUNK = 256 * 1024
_HOP_HEADERS = ("proxy-", "connection:", "keep-alive:")


class GuardedProxy:
    """Threaded forward proxy on 127.0.0.1; lives as long as one job."""

    def __init__(self, guard: AddressGuard, connect_timeout: float = 20.0, idle_timeout: float = 60.0) -> None:
        self._guard = guard
        self._connect_timeout = connect_timeout
        self._idle_timeout = idle_timeout
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("proxy not started")
        return f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def start(self) -> "GuardedProxy":
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind(("127.0.0.1", 0))
        server.listen(32)
        self._server = server
        self._thread = threading.Thread(target=self._serve, name="guarded-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        server, self._server = self._server, None
        if server is not None:
            try:
                server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            server.close()

    def __enter__(self) -> "GuardedProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        server = self._server
        while server is not None and not self._stopped.is_set():
            try:
                client, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), name="guarded-proxy-conn", daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            client.settimeout(self._idle_timeout)
            head, rest = _read_head(client)
            if head is None:
                return
            lines = head.split("\r\n")
            try:
                method, target, version = lines[0].split(" ", 2)
            except ValueError:
                _respond(client, 400, "Bad Request", "malformed request line")
                return
            if method.upper() == "CONNECT":
                host, port = _split_authority(target, 443)
                upstream = self._connect(client, host, port)
                if upstream is None:
                    return
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
            else:
                parts = urlsplit(target)
                if parts.scheme.lower() != "http" or not parts.hostname:
                    self._guard.refuse(f"the download proxy only forwards http:// URLs, not {target[:100]!r}")
                    _respond(client, 403, "Forbidden", "only absolute http:// URLs are forwarded")
                    return
                upstream = self._connect(client, parts.hostname, parts.port or 80)
                if upstream is None:
                    return
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                headers = [h for h in lines[1:] if h and not h.lower().startswith(_HOP_HEADERS)]
                request = "\r\n".join([f"{method} {path} {version}", *headers, "Connection: close", "", ""])
                upstream.sendall(request.encode("latin-1") + rest)
            self._pipe(client, upstream)
        except (OSError, ValueError) as err:
            log.debug("proxy connection ended", extra={"error": str(err)})
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    try:
                        sock.close()
                    except OSError:
                        pass

    def _connect(self, client: socket.socket, host: str, port: int) -> socket.socket | None:
        try:
            infos = self._guard.check(host, port)
        except PrivateAddressRefused as err:
            _respond(client, 403, "Forbidden", str(err))
            return None
        except OSError as err:
            _respond(client, 502, "Bad Gateway", f"could not resolve {host}: {err}")
            return None
        last: OSError | None = None
        for family, type_, proto, _, sockaddr in infos:
            sock = socket.socket(family, type_, proto)
            sock.settimeout(self._connect_timeout)
            try:
                sock.connect(sockaddr)
            except OSError as err:
                sock.close()
                last = err
                continue
            sock.settimeout(self._idle_timeout)
            return sock
        _respond(client, 502, "Bad Gateway", f"could not connect to {host}:{port}: {last}")
        return None

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        """Copy both ways until either side closes or nothing moves for the idle timeout."""
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ)
            selector.register(upstream, selectors.EVENT_READ)
            while not self._stopped.is_set():
                ready = selector.select(timeout=self._idle_timeout)
                if not ready:
                    return
                for key, _ in ready:
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    data = sock.recv(_CHUNK)
                    if not data:
                        return
                    peers[sock].sendall(data)


def _read_head(sock: socket.socket) -> tuple[str | None, bytes]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        if len(buffer) > _MAX_HEAD:
            return None, b""
        data = sock.recv(16 * 1024)
        if not data:
            return None, b""
        buffer += data
    head, rest = buffer.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def _split_authority(authority: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(f"//{authority}")
    if not parts.hostname:
        raise ValueError(f"bad authority {authority!r}")
    return parts.hostname, parts.port or default_port


def _respond(sock: socket.socket, status: int, reason: str, body: str) -> None:
    data = body.encode("utf-8", "replace")
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    try:
        sock.sendall(head.encode("latin-1") + data)
    except OSError:
        pass
