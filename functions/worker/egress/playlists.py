"""Gateway URLs for ffmpeg and the rewriting of the HLS/DASH manifests it reads.

ffmpeg only ever opens plain-http URLs of the loopback gateway, `http://<origin>.egress.invalid/<path>`, where
`<origin>` encodes the real `scheme://host:port` (base32, in DNS-sized labels). The gateway (the loopback proxy)
fetches the real URL itself, through the SSRF guard and the upstream proxy, and rewrites every manifest it passes
on so each variant, segment, key, map and BaseURL points back at the gateway. A URL with any scheme other than
http(s) (`tcp://`, `tls://`, `httpproxy://`, `file:`, ...) refuses the whole manifest, so no protocol trick in a
manifest reaches ffmpeg, let alone a socket.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import urljoin, urlsplit

GATEWAY_SUFFIX = ".egress.invalid"
_LABEL = 60
_URI_ATTR = re.compile(r'URI="([^"]*)"')
_DASH_BASEURL = re.compile(r"(<(?:\w+:)?BaseURL\b[^>]*>)(.*?)(</(?:\w+:)?BaseURL>)", re.S)
_DASH_ATTR = re.compile(r'\b(media|initialization|sourceURL|href)\s*=\s*"([^"]*)"')
# Protocols ffmpeg knows besides http(s); none may be named anywhere in a manifest ffmpeg gets.
_FOREIGN_PROTOCOL = re.compile(
    r"(?i)(?<![\w.+-])(tcp|tls|udp|crypto|httpproxy|https?proxy|file|unix|pipe|fd|data|subfile|concat|concatf|cache|"
    r"async|ftp|sftp|gopher|gophers|rtmp\w*|rtsp|rtp|srtp|srt|sctp|rist|zmq|ipfs|ipns|prompeg|mmsh|mmst|icecast|"
    r"bluray|android_content)(?:[:+])"
)
MAX_MANIFEST = 8 * 1024 * 1024


class RefusedUrl(ValueError):
    """A URL that ffmpeg must not open (the message names the scheme and the host the manifest gave)."""


def refuse_unless_http(url: str) -> str:
    """`url` itself when it is an absolute http(s) URL with a host; RefusedUrl otherwise."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        raise RefusedUrl("refusing a malformed URL in the media's formats or manifest") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        shown = f"{scheme}://{host}" if host else (f"{scheme}:" if scheme else "a relative URL")
        raise RefusedUrl(f"refusing {shown} in the media's formats or manifest: only http(s) URLs are downloaded")
    return url.strip()


def gateway_url(url: str) -> str:
    """The gateway URL ffmpeg opens instead of the http(s) `url` (RefusedUrl for any other scheme)."""
    parts = urlsplit(refuse_unless_http(url))
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    host = parts.hostname or ""
    origin = f"{scheme}://{host}:{port}".encode()
    code = base64.b32encode(origin).decode().rstrip("=").lower()
    labels = ".".join(code[i : i + _LABEL] for i in range(0, len(code), _LABEL))
    path = parts.path or "/"
    return f"http://{labels}{GATEWAY_SUFFIX}{path}" + (f"?{parts.query}" if parts.query else "")


def is_gateway_host(host: str) -> bool:
    return host.lower().endswith(GATEWAY_SUFFIX)


def origin_of(host: str) -> tuple[str, str, int]:
    """(scheme, host, port) that a gateway host name encodes; RefusedUrl when it encodes nothing valid."""
    code = host.lower()[: -len(GATEWAY_SUFFIX)].replace(".", "").upper()
    try:
        origin = base64.b32decode(code + "=" * (-len(code) % 8)).decode()
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.port is None:
            raise ValueError
        return parts.scheme, parts.hostname, parts.port
    except (ValueError, UnicodeDecodeError):
        raise RefusedUrl("refusing a malformed gateway address") from None


def sniff(head: bytes) -> str:
    """'hls', 'dash', 'refuse' (an ffconcat list) or 'media', by the first bytes, as ffmpeg's probes would see them."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"#EXTM3U"):
        return "hls"
    lowered = text[:64 * 1024].lower()
    if lowered.startswith(b"ffconcat"):
        return "refuse"
    if text.startswith(b"<") and b"<mpd" in lowered:
        return "dash"
    if text.startswith(b"<") and _FOREIGN_PROTOCOL.search(text[:64 * 1024].decode("latin-1")):
        return "refuse"
    return "media"


def rewrite_hls(text: str, base: str) -> str:
    """An HLS playlist whose every URI (variants, segments, keys, maps, renditions) goes through the gateway."""
    out: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            line = _URI_ATTR.sub(lambda m: f'URI="{gateway_url(urljoin(base, m.group(1)))}"', line)
        elif stripped:
            line = gateway_url(urljoin(base, stripped))
        out.append(line)
    result = "\n".join(out) + "\n"
    _refuse_foreign(result)
    return result


def rewrite_dash(text: str, base: str) -> str:
    """A DASH MPD whose absolute BaseURLs and segment URLs go through the gateway (relative ones resolve there)."""

    def absolute(value: str) -> str:
        value = value.strip()
        if value.startswith("//"):
            value = f"{urlsplit(base).scheme}:{value}"
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", value):
            return gateway_url(value)
        return value  # relative: resolves against the (gateway) URL of the manifest or a rewritten BaseURL

    result = _DASH_BASEURL.sub(lambda m: m.group(1) + absolute(m.group(2)) + m.group(3), text)
    result = _DASH_ATTR.sub(lambda m: f'{m.group(1)}="{absolute(m.group(2))}"', result)
    _refuse_foreign(result)
    return result


def _refuse_foreign(text: str) -> None:
    match = _FOREIGN_PROTOCOL.search(text)
    if match:
        raise RefusedUrl(f"refusing a manifest that names the {match.group(1).lower()} protocol: only http(s) URLs are downloaded")
