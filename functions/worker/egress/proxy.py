"""A job's one way out: a loopback proxy that checks every destination with the SSRF guard at connect time.

It speaks three things on one port of 127.0.0.1, told apart by the first byte a client sends:
* SOCKS5 (yt-dlp gets `proxy: socks5h://127.0.0.1:<port>` for every request handler: urllib, requests, curl_cffi
  and websockets). socks5h: the *proxy* resolves the name, so the guard sees every destination, even those of
  curl_cffi, whose C code would otherwise do its own DNS.
* HTTP CONNECT, for clients that only speak HTTP proxies.
* The ffmpeg gateway: ffmpeg opens only `http://<origin>.egress.invalid/<path>` URLs (functions.worker.egress.
  playlists) through `-http_proxy`; the gateway fetches the real http(s) URL itself, following redirects hop by
  hop, and rewrites HLS/DASH manifests so every segment comes back here. Any other absolute-form request is refused.
Each destination is resolved and checked by the guard, then connected to at exactly the checked address, directly
or through the current upstream proxy (`upstream`, set per attempt; see functions.worker.egress.upstream).
"""

from __future__ import annotations

import http.client
import logging
import selectors
import socket
import ssl
import struct
import threading
from urllib.parse import SplitResult, urljoin, urlsplit

from functions.worker.egress.guard import AddressGuard, PrivateAddressRefused
from functions.worker.egress.playlists import MAX_MANIFEST, RefusedUrl, is_gateway_host, origin_of, refuse_unless_http, rewrite_dash, rewrite_hls, sniff
from functions.worker.egress.upstream import UpstreamProxy, UpstreamProxyError

log = logging.getLogger(__name__)

_MAX_HEAD = 64 * 1024
_CHUNK = 256 * 1024
_SNIFF = 16 * 1024
_MAX_REDIRECTS = 5
_HOP_HEADERS = ("proxy-", "connection:", "keep-alive:", "host:", "accept-encoding:", "te:", "upgrade:", "transfer-encoding:")
_PASSED_BACK = ("content-type", "content-length", "content-range", "accept-ranges", "last-modified", "etag")


class GuardedProxy:
    """Threaded SOCKS5 / HTTP proxy and ffmpeg gateway on 127.0.0.1; lives as long as one job."""

    def __init__(self, guard: AddressGuard, connect_timeout: float = 20.0, idle_timeout: float = 60.0, upstream: UpstreamProxy | None = None) -> None:
        self._guard = guard
        self._connect_timeout = connect_timeout
        self._idle_timeout = idle_timeout
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self.upstream = upstream
        self._upstream_failures: list[str] = []
        self._ssl = ssl.create_default_context()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("proxy not started")
        return int(self._server.getsockname()[1])

    @property
    def url(self) -> str:
        """For ffmpeg's -http_proxy (the gateway)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def socks_url(self) -> str:
        """For yt-dlp's `proxy` option."""
        return f"socks5h://127.0.0.1:{self.port}"

    def upstream_failures(self) -> list[str]:
        """Why the upstream proxy failed so far (messages without credentials); cleared by `use()`."""
        with self._lock:
            return list(self._upstream_failures)

    def refused(self) -> bool:
        """Whether the guard refused anything in this job (then no other proxy would help)."""
        return bool(self._guard.refusals)

    def use(self, upstream: UpstreamProxy | None) -> None:
        """Send what follows through `upstream` (None: directly)."""
        with self._lock:
            self.upstream = upstream
            self._upstream_failures.clear()

    def start(self) -> "GuardedProxy":
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        self._server = server
        self._guard.allow_endpoint("127.0.0.1", self.port)
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

    def open(self, host: str, port: int) -> socket.socket:
        """A socket to host:port, checked by the guard, through the upstream proxy if one is set."""
        infos = self._guard.check(host, port)
        # The operator's own endpoints (the PO-token provider, maybe a sidecar) are reached directly.
        upstream = None if self._guard.is_endpoint(host, port) else self.upstream
        last: OSError | None = None
        for family, type_, proto, _, sockaddr in infos:
            try:
                if upstream is not None:
                    sock = upstream.open(str(sockaddr[0]), port, self._connect_timeout)
                else:
                    sock = socket.socket(family, type_, proto)
                    sock.settimeout(self._connect_timeout)
                    try:
                        sock.connect(sockaddr)
                    except OSError:
                        sock.close()
                        raise
            except UpstreamProxyError as err:
                with self._lock:
                    self._upstream_failures.append(str(err))
                raise
            except OSError as err:
                last = err
                continue
            sock.settimeout(self._idle_timeout)
            return sock
        raise OSError(f"could not connect to {host}:{port} ({type(last).__name__ if last else 'no address'})")

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
            first = client.recv(1, socket.MSG_PEEK)
            if not first:
                return
            if first == b"\x05":
                upstream = self._socks5(client)
                if upstream is not None:
                    self._pipe(client, upstream)
                return
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
                upstream = self._connect_for(client, host, port)
                if upstream is None:
                    return
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                self._pipe(client, upstream)
                return
            parts = urlsplit(target)
            if parts.scheme.lower() != "http" or not parts.hostname or not is_gateway_host(parts.hostname):
                self._guard.refuse("refusing a download request that did not come through the egress gateway")
                _respond(client, 403, "Forbidden", "only egress gateway URLs are served")
                return
            self._gateway(client, method.upper(), parts, lines[1:])
        except (OSError, ValueError) as err:
            log.debug("proxy connection ended", extra={"error": type(err).__name__})
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    try:
                        sock.close()
                    except OSError:
                        pass

    def _connect_for(self, client: socket.socket, host: str, port: int) -> socket.socket | None:
        try:
            return self.open(host, port)
        except PrivateAddressRefused as err:
            _respond(client, 403, "Forbidden", str(err))
        except UpstreamProxyError as err:
            _respond(client, 502, "Bad Gateway", str(err))
        except OSError:
            _respond(client, 502, "Bad Gateway", f"could not connect to {host}:{port}")
        return None

    def _socks5(self, client: socket.socket) -> socket.socket | None:
        """SOCKS5, no authentication (loopback only), CONNECT only; the name is resolved here, by the guard."""
        head = _recv_exact(client, 2)
        _recv_exact(client, head[1])
        client.sendall(b"\x05\x00")
        version, command, _, kind = _recv_exact(client, 4)
        if kind == 1:
            host = socket.inet_ntop(socket.AF_INET, _recv_exact(client, 4))
        elif kind == 4:
            host = socket.inet_ntop(socket.AF_INET6, _recv_exact(client, 16))
        elif kind == 3:
            host = _recv_exact(client, _recv_exact(client, 1)[0]).decode("idna")
        else:
            client.sendall(b"\x05\x08\x00\x01" + bytes(6))
            return None
        (port,) = struct.unpack("!H", _recv_exact(client, 2))
        if version != 5 or command != 1:
            client.sendall(b"\x05\x07\x00\x01" + bytes(6))
            return None
        try:
            upstream = self.open(host, port)
        except PrivateAddressRefused:
            client.sendall(b"\x05\x02\x00\x01" + bytes(6))  # not allowed by ruleset
            return None
        except OSError:
            client.sendall(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
            return None
        client.sendall(b"\x05\x00\x00\x01" + bytes(6))
        return upstream

    def _gateway(self, client: socket.socket, method: str, parts: SplitResult, header_lines: list[str]) -> None:
        """Fetch the real URL behind a gateway URL and pass it to ffmpeg, manifests rewritten."""
        response: http.client.HTTPResponse | None = None
        try:
            scheme, host, port = origin_of(parts.hostname or "")
            default = 443 if scheme == "https" else 80
            authority = host if port == default else f"{host}:{port}"
            url = f"{scheme}://{authority}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
            headers = [h for h in header_lines if h and not h.lower().startswith(_HOP_HEADERS)]
            response, url = self._fetch(method, url, headers)
            head = response.read(_SNIFF) if method != "HEAD" else b""
            kind = sniff(head) if response.status in (200, 206) else "media"
            if kind != "media" and response.status == 206:
                response.close()
                response, url = self._fetch(method, url, [h for h in headers if not h.lower().startswith("range:")])
                head = response.read(_SNIFF)
            if kind == "refuse":
                raise RefusedUrl("refusing a playlist type that can name other protocols (only HLS and DASH are read)")
            if kind in ("hls", "dash"):
                data = head + response.read(MAX_MANIFEST - len(head) + 1)
                if len(data) > MAX_MANIFEST:
                    raise RefusedUrl("refusing a manifest larger than 8 MiB")
                text = data.decode("utf-8", "replace")
                body = (rewrite_hls(text, url) if kind == "hls" else rewrite_dash(text, url)).encode("utf-8")
                ctype = "application/vnd.apple.mpegurl" if kind == "hls" else "application/dash+xml"
                # A rewritten manifest is a new document: whole, with its own length, whatever Range asked for.
                client.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
                return
            passed = [f"{name}: {value}" for name, value in response.getheaders() if name.lower() in _PASSED_BACK]
            if response.chunked:
                passed = [h for h in passed if not h.lower().startswith("content-length")]
            status = f"HTTP/1.1 {response.status} {response.reason or 'OK'}"
            client.sendall(("\r\n".join([status, *passed, "Connection: close", "", ""])).encode("latin-1") + head)
            while not self._stopped.is_set():
                data = response.read(_CHUNK) if method != "HEAD" else b""
                if not data:
                    break
                client.sendall(data)
        except RefusedUrl as err:
            self._guard.refuse(str(err))
            _respond(client, 403, "Forbidden", str(err))
        except PrivateAddressRefused as err:
            _respond(client, 403, "Forbidden", str(err))
        except UpstreamProxyError as err:
            _respond(client, 502, "Bad Gateway", str(err))
        except (OSError, http.client.HTTPException) as err:
            _respond(client, 502, "Bad Gateway", f"upstream failed ({type(err).__name__})")
        finally:
            if response is not None:
                response.close()

    def _fetch(self, method: str, url: str, headers: list[str]) -> tuple[http.client.HTTPResponse, str]:
        """One request, redirects followed here (each hop checked anew); returns the response and the final URL."""
        for _ in range(_MAX_REDIRECTS + 1):
            parts = urlsplit(refuse_unless_http(url))
            scheme = parts.scheme.lower()
            port = parts.port or (443 if scheme == "https" else 80)
            host = parts.hostname or ""
            sock = self.open(host, port)
            if scheme == "https":
                sock = self._ssl.wrap_socket(sock, server_hostname=host)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            authority = parts.netloc.rsplit("@", 1)[-1]
            request = "\r\n".join([f"{method} {path} HTTP/1.1", f"Host: {authority}", *headers, "Accept-Encoding: identity", "Connection: close", "", ""])
            sock.sendall(request.encode("latin-1"))
            response = http.client.HTTPResponse(sock, method=method)
            sock.close()  # the response keeps its own reference (makefile) and closes it with itself
            response.begin()
            location = response.getheader("Location")
            if response.status in (301, 302, 303, 307, 308) and location:
                response.close()
                url = urljoin(url, location)
                if response.status == 303:
                    method = "GET"
                continue
            return response, url
        raise RefusedUrl("refusing a URL that redirects more than 5 times")

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


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


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
