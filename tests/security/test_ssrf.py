"""SSRF at submission: tricky URL forms are judged by the host a downloader would connect to, with a fake resolver.

Nothing here resolves a name or opens a connection: `emulated_resolver` answers from a table, after doing what
`socket.getaddrinfo` does to a host locally (IDNA-encode it, read numeric IPv4 forms like inet_aton, ignore a
trailing dot). The worker's connect-time guard (redirects, DNS rebinding) is tested with the worker.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from shared.errors import BadRequest
from shared.urls import check_url
from tests.support.state import queue_depth, scan_all

PUBLIC = "93.184.215.14"
NAMES = {
    "evil.example.com": [PUBLIC],
    "media.example.com": [PUBLIC],
    "localhost": ["127.0.0.1", "::1"],
    "internal.example.com": ["10.0.3.4"],
    "rebind.example.com": [PUBLIC, "127.0.0.1"],
    "metadata.google.internal": ["169.254.169.254"],
    "ecs-metadata.example.com": ["169.254.170.2"],
    "v6-metadata.example.com": ["fd00:ec2::254"],
    "xn--bcher-kva.example": [PUBLIC],  # bücher.example
}


class EmulatedResolver:
    """getaddrinfo's local steps, then a table; records the names it was asked about."""

    def __init__(self, names: dict[str, list[str]] | None = None) -> None:
        self.names = names or NAMES
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if ":" in host:  # an IPv6 literal (with or without a zone id)
            return [host]
        name = host.encode("idna").decode("ascii").lower()  # what socket.getaddrinfo does with a unicode host
        for candidate in (name, name.rstrip(".")):
            try:
                return [socket.inet_ntoa(socket.inet_aton(candidate))]  # 2130706433, 0177.0.0.1, 0x7f.1, 127.1 ...
            except OSError:
                pass
        if name.rstrip(".") in self.names:
            return self.names[name.rstrip(".")]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


REFUSED = {
    # userinfo and fragments: the real host is what counts
    "userinfo-public-name-private-host": "http://evil.example.com@127.0.0.1/",
    "userinfo-with-port-like": "http://evil.example.com:80@127.0.0.1/",
    "semicolon-userinfo": "http://evil.example.com;@127.0.0.1/",
    "double-at": "http://a@evil.example.com@127.0.0.1/",
    "credentials": "http://user:pass@localhost:8080/",
    # backslashes: other parsers end the host there
    "backslash-before-at": "http://127.0.0.1\\@evil.example.com/",
    "backslash-after-host": "http://evil.example.com\\@127.0.0.1/",
    "backslashes-only": "http:\\\\127.0.0.1\\x",
    "backslash-scheme-relative": "http:\\\\evil.example.com",
    # numeric IPv4 forms that inet_aton (and so getaddrinfo) reads as loopback or 0.0.0.0
    "decimal": "http://2130706433/",
    "octal": "http://0177.0.0.1/",
    "octal-whole": "http://017700000001/",
    "hex": "http://0x7f000001/",
    "hex-dotted": "http://0x7f.0.0.1/",
    "short-form": "http://127.1/",
    "zero": "http://0/",
    "unspecified": "http://0.0.0.0:5000/",
    "trailing-dot-ip": "http://127.0.0.1./",
    "trailing-dot-name": "http://localhost./",
    "trailing-dots-name": "http://localhost../",
    "percent-encoded-host": "http://%31%32%37.0.0.1/",
    "percent-encoded-dot": "http://127%2e0.0.1/",
    # IPv6 literals, zone ids, embedded IPv4
    "v6-loopback": "http://[::1]/",
    "v6-loopback-zone": "http://[::1%25eth0]/",
    "v6-link-local-zone": "http://[fe80::1%25eth0]:8080/",
    "v6-unspecified": "http://[::]/",
    "v4-mapped": "http://[::ffff:127.0.0.1]/",
    "v4-mapped-hex": "http://[::ffff:7f00:1]/",
    "v4-mapped-metadata": "http://[::ffff:a9fe:a9fe]/",
    "nat64-loopback": "http://[64:ff9b::7f00:1]/",
    "6to4-private": "http://[2002:0a00:0001::]/",
    "unique-local": "http://[fd00::1]/",
    "v6-imds": "http://[fd00:ec2::254]/",
    "ipv4-in-brackets": "http://[127.0.0.1]/",
    # IDNA: what getaddrinfo looks up is the encoded name
    "idna-circled-localhost": "http://\u24db\u24de\u24d2\u24d0\u24db\u24d7\u24de\u24e2\u24e3/",
    "idna-fullwidth-ip": "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",
    "idna-fullwidth-dots": "http://127\u30020\u30020\u30021/",
    "idna-invalid-label": "http://" + "a" * 64 + ".example.com/",
    # scheme case and other schemes
    "upper-scheme": "HTTP://127.0.0.1/",
    "mixed-scheme": "HtTpS://localhost/",
    "upper-host": "http://LOCALHOST/",
    "file": "file:///etc/passwd",
    "upper-file": "FILE:///etc/passwd",
    "ftp": "ftp://evil.example.com/",
    "gopher": "gopher://127.0.0.1:6379/_INFO",
    "data": "data:text/plain,hello",
    "javascript": "javascript:alert(1)",
    "no-scheme": "//evil.example.com/",
    "scheme-only": "http:",
    "no-host": "http:///x",
    # metadata services and private names
    "imds": "http://169.254.169.254/latest/meta-data/",
    "ecs-task-metadata": "http://169.254.170.2/v2/metadata",
    "ecs-metadata-by-name": "http://ecs-metadata.example.com/",
    "gcp-metadata-name": "http://metadata.google.internal/computeMetadata/v1/",
    "v6-metadata-by-name": "http://v6-metadata.example.com/",
    "cgnat": "http://100.100.100.200/",
    "private-name": "http://internal.example.com/",
    "one-private-answer": "http://rebind.example.com/",
    "unresolvable": "http://nowhere.example.com/",
    # malformed
    "bad-port": "http://127.0.0.1:80:80/",
    "port-out-of-range": "http://evil.example.com:99999/",
    "tab-in-host": "http://evil.example.com\t@127.0.0.1/",
    "newline": "http://evil.example.com\n.127.0.0.1/",
    "space-in-userinfo": "http://127.0.0.1 @evil.example.com/",
    "nfkc-slash": "http://evil.example.com\uff0f@127.0.0.1/",
}

# Tricky but safe: the host a downloader connects to is public, so these are accepted, and that host is the one resolved.
ALLOWED = {
    "userinfo-private-name-public-host": ("http://127.0.0.1@evil.example.com/", "evil.example.com"),
    "fragment-with-at": ("http://evil.example.com#@127.0.0.1", "evil.example.com"),
    "query-with-at": ("http://evil.example.com/?@127.0.0.1", "evil.example.com"),
    "path-with-ip": ("http://evil.example.com/127.0.0.1/", "evil.example.com"),
    "upper-scheme-public": ("HTTPS://EVIL.EXAMPLE.COM/x", "evil.example.com"),
    "trailing-dot-public": ("https://evil.example.com./x", "evil.example.com."),
    "idna-public": ("https://b\u00fccher.example/", "b\u00fccher.example"),
    "punycode-public": ("https://xn--bcher-kva.example/", "xn--bcher-kva.example"),
    "public-v6": ("http://[2606:2800:220:1:248:1893:25c8:1946]/", "2606:2800:220:1:248:1893:25c8:1946"),
    "explicit-port": ("http://evil.example.com:8080/", "evil.example.com"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_ssrf_tricky_url_is_refused(case):
    url = REFUSED[case]
    with pytest.raises(BadRequest) as refused:
        check_url(url, allow_private=False, resolver=EmulatedResolver())
    # The message never tells which internal address a name has (only what the caller wrote).
    for address in {a for addresses in NAMES.values() for a in addresses} - {PUBLIC}:
        assert address in url or address not in refused.value.message, refused.value.message


@pytest.mark.parametrize("case", list(ALLOWED))
def test_ssrf_tricky_but_public_url_is_accepted_and_its_real_host_resolved(case):
    url, host = ALLOWED[case]
    resolver = EmulatedResolver()
    check_url(url, allow_private=False, resolver=resolver)
    assert resolver.asked == [host]


def test_ssrf_refusal_does_not_reveal_the_resolved_address():
    with pytest.raises(BadRequest) as refused:
        check_url("http://internal.example.com/", allow_private=False, resolver=EmulatedResolver())
    assert "10.0.3.4" not in refused.value.message and "internal.example.com" in refused.value.message


def test_ssrf_parser_differentials_are_refused_even_when_private_networks_are_allowed():
    # The local stack allows private networks; a URL whose host depends on the parser is still malformed.
    for url in ("http://127.0.0.1\\@evil.example.com/", "http://%31%32%37.0.0.1/", "http:\\\\127.0.0.1\\"):
        with pytest.raises(BadRequest):
            check_url(url, allow_private=True, resolver=EmulatedResolver())


def test_ssrf_submissions_are_refused_before_anything_is_stored(make_api, aws):
    # GIVEN the API with the emulated resolver and a key allowed to submit every task type
    api = make_api(resolver=EmulatedResolver())
    key = api.make_key("ssrf", ["get_video", "get_audio", "get_live_video", "get_live_audio", "get_info"])
    depth = queue_depth(aws)
    bodies: dict[str, dict[str, Any]] = {"get_live_video": {"duration": 5}, "get_live_audio": {"duration": 5}}
    urls = [REFUSED[c] for c in ("backslash-before-at", "decimal", "hex-dotted", "v4-mapped", "idna-circled-localhost", "imds", "ecs-task-metadata", "upper-scheme", "one-private-answer")]
    # WHEN each is submitted to each task type THEN 400, and no task, rate-limit slot or job exists
    for endpoint in ("get_video", "get_audio", "get_live_video", "get_live_audio", "get_info"):
        for url in urls:
            r = api.client.post(f"/{endpoint}", json={"url": url, **bodies.get(endpoint, {})}, headers=api.headers(key))
            assert r.status_code == 400 and set(r.json()) == {"error"}, (endpoint, url, r.text)
    assert scan_all(aws, aws.settings.tasks_table) == []
    assert scan_all(aws, aws.settings.rate_limits_table) == []
    assert queue_depth(aws) == depth
    # AND a public URL in a tricky form is accepted (the check is not refusing everything)
    r = api.client.post("/get_info", json={"url": ALLOWED["userinfo-private-name-public-host"][0]}, headers=api.headers(key))
    assert r.status_code == 200
