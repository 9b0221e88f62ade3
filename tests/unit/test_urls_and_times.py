"""URL safety (with a fake resolver: nothing leaves the process) and the time formats the API accepts."""

from __future__ import annotations

import pytest

from shared.errors import BadRequest
from shared.timecodes import parse_seconds
from shared.urls import check_url, is_public_address


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.251", "255.255.255.255", "240.0.0.1", "192.0.2.1", "::1", "::", "fe80::1", "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1", "2002:a00:1::1", "not-an-ip"],
)
def test_non_global_addresses_are_not_public(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.215.14"])
def test_global_addresses_are_public(address):
    assert is_public_address(address)


def test_check_url_resolves_every_address_and_refuses_any_private_one():
    answers = {"mixed.example.com": ["93.184.215.14", "127.0.0.1"], "ok.example.com": ["93.184.215.14"], "decimal.example.com": ["2130706433"]}
    resolver = lambda host, port: answers[host]  # noqa: E731
    check_url("https://ok.example.com/watch?v=1", allow_private=False, resolver=resolver)
    for url in ("https://mixed.example.com/", "http://decimal.example.com/"):
        with pytest.raises(BadRequest):
            check_url(url, allow_private=False, resolver=resolver)


@pytest.mark.parametrize("url", ["ftp://x.example.com/", "file:///etc/passwd", "gopher://x", "javascript:alert(1)", "http://", "http:///path", "http://exa mple.com/", "http://x.example.com:99999/", "//x.example.com/"])
def test_check_url_refuses_non_http_and_malformed(url):
    with pytest.raises(BadRequest):
        check_url(url, allow_private=True, resolver=lambda h, p: ["93.184.215.14"])


def test_unresolvable_host_is_refused_without_private_networks():
    def fail(host, port):
        raise OSError("no such host")

    with pytest.raises(BadRequest, match="resolve"):
        check_url("https://nowhere.invalid/", allow_private=False, resolver=fail)
    check_url("https://nowhere.invalid/", allow_private=True, resolver=fail)  # not looked up at all


@pytest.mark.parametrize(("value", "seconds"), [(0, 0), (30, 30), (12.5, 12.5), ("45", 45), ("01:30", 90), ("1:02:03", 3723), ("00:00:10.5", 10.5), (None, None), ("", None)])
def test_parse_seconds_accepts_numbers_and_clock_forms(value, seconds):
    assert parse_seconds(value, "t") == seconds


@pytest.mark.parametrize("value", ["abc", -1, float("nan"), float("inf"), True, "1:2:3:4", "00:75", "1:60:00", 10**12, [1], {"a": 1}])
def test_parse_seconds_refuses_the_rest(value):
    with pytest.raises(ValueError):
        parse_seconds(value, "t")
