"""The job's egress path: upstream proxy URLs and rotation, gateway URLs and manifest rewriting, the ffmpeg shim,
blocking detection, and the loopback proxy against loopback servers (names resolve through a fake table)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from yt_dlp.networking import Response
from yt_dlp.networking.exceptions import HTTPError
from yt_dlp.utils import DownloadError, ExtractorError

from functions.worker.egress.blocking import looks_blocked
from functions.worker.egress.ffmpeg_shim import rewrite_args
from functions.worker.egress.guard import AddressGuard, PrivateAddressRefused
from functions.worker.egress.playlists import RefusedUrl, gateway_url, origin_of, refuse_unless_http, rewrite_dash, rewrite_hls, sniff
from functions.worker.egress.proxy import GuardedProxy
from functions.worker.egress.upstream import ProxyConfigError, UpstreamProxyError, order_for_attempt, parse_proxy_urls
from tests.support.http_server import MediaServer
from tests.support.media import FFMPEG
from tests.support.proxies import ForwardProxy, RawListener
from tests.support.worker import FakeResolver, loopback_is_public

FOREIGN = ["tcp://127.0.0.1:9/v.mp4", "tls://127.0.0.1:9/", "httpproxy://127.0.0.1:9/seg.ts", "file:/etc/passwd", "udp://127.0.0.1:9", "data:text/plain,x", "crypto+tcp://127.0.0.1:9"]


# --- upstream proxies -------------------------------------------------------------------------------------------


def test_worker_egress_proxy_urls_parse_and_never_show_credentials():
    proxies = parse_proxy_urls(" http://alice:s3cr%40t@proxy-a.test:3128 , socks5://bob:hunter2@10.0.0.5 ,socks5h://proxy-c.test:1081")
    assert [(p.scheme, p.host, p.port) for p in proxies] == [("http", "proxy-a.test", 3128), ("socks5", "10.0.0.5", 1080), ("socks5", "proxy-c.test", 1081)]
    assert proxies[0].password == "s3cr@t" and proxies[1].username == "bob"
    shown = " ".join([repr(proxies), str(proxies[0]), proxies[0].label, f"{proxies[1]}"])
    assert "s3cr" not in shown and "alice" not in shown and "hunter2" not in shown and "bob" not in shown
    assert proxies[0].label == "http://proxy-a.test:3128"


@pytest.mark.parametrize("text", ["ftp://u:topsecret@host:21", "http://u:topsecret@", "socks4://u:topsecret@host:1"])
def test_worker_egress_proxy_urls_refuse_bad_entries_without_echoing_them(text):
    with pytest.raises(ProxyConfigError) as caught:
        parse_proxy_urls(f"http://ok.test:8080,{text}")
    assert "entry 2" in str(caught.value) and "topsecret" not in str(caught.value)


def test_worker_egress_each_attempt_starts_at_the_next_proxy_and_tries_each_once():
    proxies = parse_proxy_urls("http://a.test:1,http://b.test:2,http://c.test:3")
    assert [p.host for p in order_for_attempt(proxies, 1)] == ["a.test", "b.test", "c.test"]
    assert [p.host for p in order_for_attempt(proxies, 2)] == ["b.test", "c.test", "a.test"]
    assert [p.host for p in order_for_attempt(proxies, 4)] == ["a.test", "b.test", "c.test"]
    assert order_for_attempt([], 3) == []


def http_error(status: int) -> HTTPError:
    return HTTPError(Response(fp=None, url="https://site.test/v", headers={}, status=status, reason="Nope"))  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [403, 429])
def test_worker_egress_http_403_and_429_look_like_blocking(status):
    err = DownloadError("ERROR: unable to download", exc_info=(HTTPError, http_error(status), None))
    assert looks_blocked(err)
    assert not looks_blocked(DownloadError("ERROR: unable to download", exc_info=(HTTPError, http_error(404), None)))


def test_worker_egress_bot_check_and_proxy_failures_look_like_blocking():
    assert looks_blocked(ExtractorError("Sign in to confirm you're not a bot. Use --cookies", expected=True))
    assert looks_blocked(DownloadError("ERROR: timed out"), ["upstream proxy http://p.test:1 refused the tunnel (HTTP 403)"])
    assert not looks_blocked(ExtractorError("Video unavailable", expected=True))


# --- gateway URLs and manifests ---------------------------------------------------------------------------------


def test_worker_egress_gateway_url_keeps_path_and_query_and_encodes_the_origin():
    url = gateway_url("https://cdn.example.com/a/b/seg-$Number$.m4s?sig=1&x=2")
    assert url.startswith("http://") and ".egress.invalid/a/b/seg-$Number$.m4s?sig=1&x=2" in url
    host = url.split("/")[2]
    assert origin_of(host) == ("https", "cdn.example.com", 443)
    assert all(len(label) <= 63 for label in host.split("."))
    long_host = "x" * 60 + ".example.com"
    assert origin_of(gateway_url(f"http://{long_host}:8080/").split("/")[2]) == ("http", long_host, 8080)


@pytest.mark.parametrize("url", FOREIGN)
def test_worker_egress_refuses_every_non_http_url(url):
    with pytest.raises(RefusedUrl) as caught:
        gateway_url(url)
    assert "only http(s)" in str(caught.value)


def test_worker_egress_refusal_names_the_host_given_not_an_address():
    with pytest.raises(RefusedUrl) as caught:
        refuse_unless_http("tcp://internal.example:9/v.mp4")
    assert "tcp://internal.example" in str(caught.value)


def test_worker_egress_hls_rewrite_sends_every_uri_through_the_gateway():
    playlist = (
        "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"key.bin\"\n#EXT-X-MAP:URI=\"/init.mp4\"\n"
        "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"https://other.example/audio.m3u8\"\n#EXTINF:2,\nseg0.ts\n#EXTINF:2,\nhttp://cdn.example/seg1.ts\n"
    )
    out = rewrite_hls(playlist, "https://media.example/live/index.m3u8")
    uris = [line for line in out.splitlines() if line and not line.startswith("#")]
    assert uris == [gateway_url("https://media.example/live/seg0.ts"), gateway_url("http://cdn.example/seg1.ts")]
    assert f'URI="{gateway_url("https://media.example/live/key.bin")}"' in out
    assert f'URI="{gateway_url("https://media.example/init.mp4")}"' in out
    assert f'URI="{gateway_url("https://other.example/audio.m3u8")}"' in out


@pytest.mark.parametrize("uri", ["httpproxy://127.0.0.1:9/seg.ts", "tcp://127.0.0.1:9/v.m3u8", "crypto+tcp://127.0.0.1:9/s.ts", "file:/etc/passwd"])
def test_worker_egress_hls_rewrite_refuses_foreign_protocols(uri):
    with pytest.raises(RefusedUrl):
        rewrite_hls(f"#EXTM3U\n#EXTINF:2,\n{uri}\n", "http://media.example/p.m3u8")
    with pytest.raises(RefusedUrl):
        rewrite_hls(f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n{uri}\n", "http://media.example/master.m3u8")


def test_worker_egress_dash_rewrite_handles_base_urls_and_templates():
    mpd = (
        '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011">'
        "<BaseURL>https://cdn.example/v/</BaseURL><Period><AdaptationSet><Representation id=\"1\">"
        '<SegmentTemplate media="chunk-$Number$.m4s" initialization="https://cdn.example/init.mp4"/>'
        "</Representation></AdaptationSet></Period></MPD>"
    )
    out = rewrite_dash(mpd, "https://media.example/m.mpd")
    assert f"<BaseURL>{gateway_url('https://cdn.example/v/')}</BaseURL>" in out
    assert 'media="chunk-$Number$.m4s"' in out  # relative: resolves against the rewritten BaseURL
    assert f'initialization="{gateway_url("https://cdn.example/init.mp4")}"' in out


@pytest.mark.parametrize("base", ["tcp://127.0.0.1:9/v.mp4", "tls://127.0.0.1:9/v.mp4", "httpproxy://127.0.0.1:9/"])
def test_worker_egress_dash_rewrite_refuses_foreign_base_urls(base):
    with pytest.raises(RefusedUrl):
        rewrite_dash(f'<MPD xmlns="urn:mpeg:dash:schema:mpd:2011"><Period><BaseURL>{base}</BaseURL></Period></MPD>', "http://m.example/x.mpd")


def test_worker_egress_sniff_tells_manifests_from_media_and_refuses_ffconcat():
    assert sniff(b"\xef\xbb\xbf#EXTM3U\n") == "hls"
    assert sniff(b'<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011">') == "dash"
    assert sniff(b"ffconcat version 1.0\nfile tcp://127.0.0.1:9/x\n") == "refuse"
    assert sniff(b"\x00\x00\x00\x18ftypmp42") == "media"


# --- the ffmpeg shim --------------------------------------------------------------------------------------------


def test_worker_egress_shim_turns_http_inputs_into_gateway_urls_with_a_narrow_whitelist(tmp_path):
    args = rewrite_args(["-y", "-i", "https://cdn.example/v.mp4", "-c", "copy", "file:out.mp4"], "http://127.0.0.1:5555", tmp_path, 7)
    i = args.index("-i")
    assert args[i + 1] == gateway_url("https://cdn.example/v.mp4")
    assert args[:i] == ["-y", "-http_proxy", "http://127.0.0.1:5555", "-protocol_whitelist", "http,tcp,crypto", "-rw_timeout", "7000000"]


@pytest.mark.parametrize("url", ["tcp://127.0.0.1:9/v.mp4", "httpproxy://127.0.0.1:9/", "tls://127.0.0.1:9/", "udp://127.0.0.1:9", "file:/etc/passwd", "/etc/passwd"])
def test_worker_egress_shim_refuses_inputs_other_than_http_or_the_jobs_files(url, tmp_path):
    with pytest.raises(RefusedUrl):
        rewrite_args(["-i", url, "out.mp4"], "http://127.0.0.1:5555", tmp_path, 7)
    assert rewrite_args(["-i", f"file:{tmp_path}/video.mp4", "out.mp4"], "http://127.0.0.1:5555", tmp_path, 7)[-2] == f"file:{tmp_path}/video.mp4"


# --- the guard's endpoints ----------------------------------------------------------------------------------------


def test_worker_egress_guard_lets_through_exactly_the_configured_endpoints():
    guard = AddressGuard(resolve=FakeResolver({"10.0.0.5": ["10.0.0.5"], "pot.internal": ["10.0.0.6"]}))
    guard.allow_endpoint("127.0.0.1", 4416)
    assert guard.getaddrinfo("127.0.0.1", 4416)[0][4][0] == "127.0.0.1"
    with pytest.raises(PrivateAddressRefused):
        guard.getaddrinfo("10.0.0.5", 4416)  # another host
    with pytest.raises(PrivateAddressRefused) as caught:
        guard.getaddrinfo("pot.internal", 4416)
    assert "pot.internal" in str(caught.value) and "10.0.0.6" not in str(caught.value)


# --- the loopback proxy against loopback servers ----------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MediaServer, RawListener]]:
    root = tmp_path_factory.mktemp("egress-manifests")
    listener = RawListener()
    (root / "proxy-segments.m3u8").write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n" + "".join(f"#EXTINF:2.0,\nhttpproxy://127.0.0.1:{listener.port}/seg{i}.ts\n" for i in range(3)) + "#EXT-X-ENDLIST\n"
    )
    (root / "good.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg0.ts\n#EXT-X-ENDLIST\n")
    (root / "seg0.ts").write_bytes(b"\x47" * 188)
    with MediaServer(root) as server:
        yield server, listener
    listener.stop()


def make_guard() -> AddressGuard:
    return AddressGuard(resolve=FakeResolver({"media.invalid": ["127.0.0.1"], "evil.invalid": ["10.0.0.1"]}), is_allowed=loopback_is_public)


def gateway_get(proxy: GuardedProxy, url: str, headers: str = "") -> bytes:
    target = gateway_url(url)
    host = target.split("/")[2]
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_worker_egress_rewritten_manifest_answers_a_range_request_whole_with_its_own_length(manifests):
    server, _ = manifests
    with GuardedProxy(make_guard(), connect_timeout=5, idle_timeout=5) as proxy:
        answer = gateway_get(proxy, f"http://media.invalid:{server.port}/good.m3u8", "Range: bytes=0-\r\n")
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    assert b"content-range" not in head.lower()
    assert f"Content-Length: {len(body)}".encode() in head
    assert gateway_url(f"http://media.invalid:{server.port}/seg0.ts").encode() in body


def test_worker_egress_gateway_refuses_private_hosts_naming_the_host_only(manifests):
    guard = make_guard()
    with GuardedProxy(guard, connect_timeout=5, idle_timeout=5) as proxy:
        answer = gateway_get(proxy, "http://evil.invalid/v.mp4")
    assert answer.startswith(b"HTTP/1.1 403") and b"evil.invalid" in answer and b"10.0.0.1" not in answer
    assert "10.0.0.1" not in guard.refusals[-1]


def test_worker_egress_ffmpeg_never_reaches_httpproxy_segments_of_a_playlist(manifests, tmp_path):
    server, listener = manifests
    guard = make_guard()
    before = listener.connections
    with GuardedProxy(guard, connect_timeout=5, idle_timeout=5) as proxy:
        args = rewrite_args(["-nostdin", "-y", "-loglevel", "error", "-i", f"http://media.invalid:{server.port}/proxy-segments.m3u8", "-c", "copy", str(tmp_path / "o.ts")], proxy.url, tmp_path, 5)
        run = subprocess.run([FFMPEG, *args], capture_output=True, timeout=60, check=False)
    assert run.returncode != 0
    assert listener.connections == before
    assert any("httpproxy" in r for r in guard.refusals)


@pytest.mark.parametrize("kind", ["http", "socks5"])
def test_worker_egress_proxy_tunnels_through_an_upstream_proxy_with_credentials(manifests, kind):
    server, _ = manifests
    with ForwardProxy(kind, username="alice", password="pa55word") as upstream:
        (chosen,) = parse_proxy_urls(upstream.url())
        with GuardedProxy(make_guard(), connect_timeout=5, idle_timeout=5, upstream=chosen) as proxy:
            answer = gateway_get(proxy, f"http://media.invalid:{server.port}/seg0.ts")
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\x47" * 188)
        assert upstream.tunnels == [("127.0.0.1", server.port)]  # to the checked address, not the name
        assert upstream.auth_failures == 0


def test_worker_egress_upstream_refusal_is_reported_without_credentials(manifests):
    server, _ = manifests
    with ForwardProxy("http", username="alice", password="pa55word", deny_status=403) as upstream:
        (chosen,) = parse_proxy_urls(upstream.url())
        with GuardedProxy(make_guard(), connect_timeout=5, idle_timeout=5, upstream=chosen) as proxy:
            answer = gateway_get(proxy, f"http://media.invalid:{server.port}/seg0.ts")
            failures = proxy.upstream_failures()
        with pytest.raises(UpstreamProxyError) as caught:
            chosen.open("127.0.0.1", server.port, 5)
    assert answer.startswith(b"HTTP/1.1 502")
    assert failures and "HTTP 403" in failures[-1]
    for text in [answer.decode("latin-1"), *failures, str(caught.value)]:
        assert "pa55word" not in text and "alice" not in text


def test_worker_egress_shim_wrapper_runs_ffmpeg(tmp_path: Path):
    from functions.worker.egress.ffmpeg_shim import install

    env: dict[str, str] = dict(os.environ)
    folder = install("http://127.0.0.1:9", tmp_path, 5, environ=env)
    assert subprocess.run([str(folder / "ffmpeg"), "-version"], capture_output=True, timeout=30, env=env).stdout.startswith(b"ffmpeg version")
    assert subprocess.run([str(folder / "ffprobe"), "-version"], capture_output=True, timeout=30, env=env).stdout.startswith(b"ffprobe version")
    refused = subprocess.run([str(folder / "ffmpeg"), "-i", "tcp://127.0.0.1:9/x", "-f", "null", "-"], capture_output=True, timeout=30, env=env)
    assert refused.returncode == 1 and b"refusing tcp" in refused.stderr
    # (in-process jobs of other tests may have left a job environment in this process's: start from none)
    bare = {k: v for k, v in os.environ.items() if not k.startswith("EGRESS_")}
    outside = subprocess.run([str(folder / "ffmpeg"), "-i", "http://127.0.0.1:9/x", "-f", "null", "-"], capture_output=True, timeout=30, env=bare)
    assert outside.returncode == 1 and b"outside a job" in outside.stderr  # no job environment: no input at all


def test_worker_egress_pot_provider_is_reached_directly_even_on_a_private_address(manifests):
    """GIVEN POT_PROVIDER_URL on loopback and an upstream proxy that refuses everything WHEN a request goes to the
    provider through the job's proxy THEN it arrives (the provider is an allowed endpoint, reached directly)."""
    from functions.worker.download.runner import _pot_provider
    from functions.worker.settings import WorkerSettings

    server, _ = manifests
    guard = AddressGuard()  # the real rule: loopback is not public
    for endpoint in _pot_provider(WorkerSettings(pot_provider_url=f"http://127.0.0.1:{server.port}")):
        guard.allow_endpoint(*endpoint)
    with ForwardProxy("http", deny_status=403) as blocked:
        (upstream,) = parse_proxy_urls(blocked.url())
        with GuardedProxy(guard, connect_timeout=5, idle_timeout=5, upstream=upstream) as proxy:
            answer = gateway_get(proxy, f"http://127.0.0.1:{server.port}/seg0.ts")
            with pytest.raises(PrivateAddressRefused):
                proxy.open("127.0.0.1", server.port + 1 if server.port < 65535 else 1)
    assert answer.startswith(b"HTTP/1.1 200")
    assert blocked.connections == 0
