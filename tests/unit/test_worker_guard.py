"""The job process's SSRF guard, with a fake resolver: nothing here ever connects beyond 127.0.0.1.

Names resolve through a table; "media.invalid" maps to 127.0.0.1, which these tests declare public (the only
address a test may really connect to), while every private answer is refused before any connection is tried.
"""

from __future__ import annotations

import os
import socket
from unittest import mock
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
from yt_dlp.utils import DownloadError

from functions.worker.download.errors import classify
from functions.worker.egress.guard import AddressGuard, PrivateAddressRefused
from functions.worker.download.options import build_plan
from functions.worker.egress.ffmpeg_shim import install, rewrite_args
from functions.worker.egress.proxy import GuardedProxy
from functions.worker.download.runner import ConfinedYoutubeDL, YtdlpLogger
from tests.support.http_server import MediaServer
from tests.support.media import FFMPEG, make_mp4, probe
from tests.support.worker import FakeResolver, loopback_is_public

PRIVATE = {"evil.invalid": ["10.0.0.1"], "meta.test": ["169.254.169.254"], "loop6.test": ["::1"], "mixed.test": ["93.184.215.14", "192.168.1.7"], "cgnat.test": ["100.64.0.9"]}


@pytest.fixture
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaServer]:
    root = tmp_path_factory.mktemp("guard-media")
    make_mp4(root / "clip.mp4", seconds=4, height=144, keyint=25)
    with MediaServer(root) as server:
        yield server


def make_guard(**extra: Any) -> tuple[AddressGuard, FakeResolver]:
    resolver = FakeResolver({"media.invalid": ["127.0.0.1"], **PRIVATE, **extra})
    return AddressGuard(resolve=resolver, is_allowed=loopback_is_public), resolver


@pytest.mark.parametrize("host", sorted(PRIVATE))
def test_worker_guard_refuses_names_resolving_to_private_addresses(host):
    guard, _ = make_guard()
    with pytest.raises(PrivateAddressRefused, match="non-public address"):
        guard.getaddrinfo(host, 80, 0, socket.SOCK_STREAM)
    assert host in guard.refusals[-1]
    assert not any(address in guard.refusals[-1] for address in PRIVATE[host])  # no internal address leaks


@pytest.mark.parametrize("literal", ["10.1.2.3", "169.254.170.2", "127.0.0.2", "::ffff:10.0.0.1", "fd00::1"])
def test_worker_guard_refuses_private_literals(literal):
    guard = AddressGuard(resolve=FakeResolver({literal: [literal]}))
    with pytest.raises(PrivateAddressRefused):
        guard.getaddrinfo(literal, 443)


def test_worker_guard_returns_public_answers_unchanged():
    guard = AddressGuard(resolve=FakeResolver({"public.test": ["93.184.215.14", "2606:4700:4700::1111"]}))
    infos = guard.getaddrinfo("public.test", 443, 0, socket.SOCK_STREAM)
    assert [info[4][0] for info in infos] == ["93.184.215.14", "2606:4700:4700::1111"]
    assert guard.refusals == []


def test_worker_guard_checks_every_lookup_so_changing_dns_cannot_slip_through():
    guard, resolver = make_guard(**{"rebind.test": [["127.0.0.1"], ["10.0.0.1"]]})
    assert guard.getaddrinfo("rebind.test", 80)[0][4][0] == "127.0.0.1"
    with pytest.raises(PrivateAddressRefused):
        guard.getaddrinfo("rebind.test", 80)
    assert resolver.lookups == ["rebind.test", "rebind.test"]


def test_worker_guard_lets_the_aws_sdk_reach_its_endpoints():
    # The ECS credentials endpoint is link-local: botocore must reach it, yt-dlp must not.
    guard = AddressGuard(resolve=FakeResolver({"169.254.170.2": ["169.254.170.2"]}))
    namespace: dict[str, Any] = {"__name__": "botocore.httpsession", "guard": guard}
    exec("def lookup():\n    return guard.getaddrinfo('169.254.170.2', 80)\n", namespace)
    assert namespace["lookup"]()[0][4][0] == "169.254.170.2"
    with pytest.raises(PrivateAddressRefused):
        guard.getaddrinfo("169.254.170.2", 80)


def test_worker_guard_install_replaces_socket_getaddrinfo_and_uninstall_restores_it():
    original = socket.getaddrinfo
    guard, _ = make_guard()
    with guard:
        assert socket.getaddrinfo == guard.getaddrinfo
        with pytest.raises(PrivateAddressRefused):
            socket.create_connection(("evil.invalid", 80), timeout=1)
    assert socket.getaddrinfo is original


def test_worker_guard_stops_ytdlp_following_a_redirect_to_a_private_host(media, tmp_path):
    media.add_redirect("/go", "http://evil.invalid/clip.mp4")
    guard, resolver = make_guard()
    task = {"task_id": "abcdefghijklmnop", "task_type": "get_video", "url": f"http://media.invalid:{media.port}/go", "params": {}}
    opts = {**build_plan(task, tmp_path).ydl_opts, "logger": YtdlpLogger()}
    with guard, pytest.raises(DownloadError) as caught:
        with ConfinedYoutubeDL(opts, root=tmp_path) as ydl:
            ydl.extract_info(task["url"], download=True)
    failure = classify(caught.value, guard.refusals)
    assert failure.permanent
    assert "evil.invalid" in failure.message and "private networks are not allowed" in failure.message
    assert "10.0.0.1" not in failure.message  # the host the user's redirect gave, never the address it resolved to
    assert "evil.invalid" in resolver.lookups
    assert [r.path for r in media.requests] == ["/go"]  # the redirect target was never contacted


def test_worker_guard_downloads_from_allowed_hosts_through_ytdlp(media, tmp_path):
    guard, _ = make_guard()
    task = {"task_id": "abcdefghijklmnop", "task_type": "get_video", "url": f"http://media.invalid:{media.port}/clip.mp4", "params": {}}
    opts = {**build_plan(task, tmp_path).ydl_opts, "logger": YtdlpLogger()}
    with guard, ConfinedYoutubeDL(opts, root=tmp_path) as ydl:
        ydl.extract_info(task["url"], download=True)
    assert probe(tmp_path / "video.mp4")["video"]["height"] == 144


def run_ffmpeg_via(proxy: GuardedProxy, url: str, out: Path) -> subprocess.CompletedProcess[bytes]:
    """ffmpeg as the job runs it: the shim's arguments (a gateway URL, -http_proxy, the narrow whitelist)."""
    args = rewrite_args(["-nostdin", "-y", "-loglevel", "error", "-i", url, "-t", "1", "-c", "copy", str(out)], proxy.url, out.parent, 10)
    return subprocess.run([FFMPEG, *args], capture_output=True, timeout=30, check=False)


def test_worker_guard_gateway_lets_ffmpeg_fetch_allowed_hosts_only(media, tmp_path):
    guard, _ = make_guard()
    with GuardedProxy(guard, connect_timeout=5, idle_timeout=10) as proxy:
        # ffmpeg cannot resolve media.invalid itself: success proves the request went through the guarded gateway.
        ok = run_ffmpeg_via(proxy, f"http://media.invalid:{media.port}/clip.mp4", tmp_path / "ok.mp4")
        assert ok.returncode == 0, ok.stderr
        refused = run_ffmpeg_via(proxy, f"http://evil.invalid:{media.port}/clip.mp4", tmp_path / "no.mp4")
    assert refused.returncode != 0
    assert b"403" in refused.stderr
    assert "evil.invalid" in guard.refusals[-1]
    assert probe(tmp_path / "ok.mp4")["duration"] > 0.5


def test_worker_guard_proxy_refuses_absolute_requests_that_skip_the_gateway(media):
    guard, _ = make_guard()
    with GuardedProxy(guard, connect_timeout=5, idle_timeout=5) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            sock.sendall(f"GET http://media.invalid:{media.port}/clip.mp4 HTTP/1.1\r\nHost: media.invalid\r\n\r\n".encode())
            answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 403")
    assert media.requests == []


def test_worker_guard_proxy_refuses_private_connect_tunnels(tmp_path):
    guard, _ = make_guard()
    with GuardedProxy(guard, connect_timeout=5, idle_timeout=5) as proxy:
        port = int(proxy.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"CONNECT meta.test:443 HTTP/1.1\r\nHost: meta.test:443\r\n\r\n")
            answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 403")
    # The refusal names the host that was asked for, never the address it resolved to.
    assert "meta.test" in guard.refusals[-1] and "169.254" not in guard.refusals[-1]
    assert "169.254" not in answer.decode()


def test_worker_guard_clip_through_ytdlp_uses_the_proxy_for_ffmpeg(media, tmp_path):
    """A clip makes yt-dlp hand the URL to ffmpeg: it must still go through the guard."""
    guard, _ = make_guard()
    task = {"task_id": "abcdefghijklmnop", "task_type": "get_video", "url": f"http://media.invalid:{media.port}/clip.mp4", "params": {"start_time": 1, "end_time": 3}}
    with guard, GuardedProxy(guard, connect_timeout=5, idle_timeout=10) as proxy, mock.patch.dict(os.environ):
        shim = install(proxy.url, tmp_path, 10)
        opts = {**build_plan(task, tmp_path, proxy=proxy.socks_url, ffmpeg_location=str(shim)).ydl_opts, "logger": YtdlpLogger()}
        with ConfinedYoutubeDL(opts, root=tmp_path) as ydl:
            ydl.extract_info(task["url"], download=True)
    assert 1.5 <= probe(tmp_path / "video.mp4")["duration"] <= 2.6
