"""Submission checks that cost time or belong to limits: DNS after the rate limit and bounded, MAX_DURATION."""

from __future__ import annotations

import threading

import pytest

from tests.support.api import fake_resolver
from tests.unit.test_api_tasks import queued


class CountingResolver:
    """The fake resolver, counting lookups; `block` makes every lookup hang until released."""

    def __init__(self, block: bool = False) -> None:
        self.calls: list[str] = []
        self.release = threading.Event()
        self._block = block
        self._inner = fake_resolver()

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if self._block:
            self.release.wait(30)
        return self._inner(host, port)


def test_rate_limit_is_checked_before_the_url_is_resolved(make_api, aws):
    # GIVEN a key that has used its whole window
    resolver = CountingResolver()
    api = make_api(resolver=resolver, request_limit=2)
    key = api.make_key("busy", ["get_info"])
    for n in range(2):
        assert api.client.post("/get_info", json={"url": f"https://m{n}.example.com/"}, headers=api.headers(key)).status_code == 200
    assert len(resolver.calls) == 2
    # WHEN it submits again, with a name that would need a lookup
    r = api.client.post("/get_info", json={"url": "https://slow.example.com/"}, headers=api.headers(key))
    # THEN it is 429 and no lookup was made for it
    assert r.status_code == 429 and "error" in r.json()
    assert resolver.calls == ["m0.example.com", "m1.example.com"]


def test_slow_dns_is_cut_short_and_costs_no_slot(make_api, aws):
    # GIVEN a resolver that never answers in time
    resolver = CountingResolver(block=True)
    api = make_api(resolver=resolver, dns_timeout=0.2, request_limit=1)
    key = api.make_key("slow", ["get_info"])
    try:
        # WHEN a URL is submitted THEN the lookup is given up: a readable 400, nothing queued
        r = api.client.post("/get_info", json={"url": "https://slow.example.com/"}, headers=api.headers(key))
        assert r.status_code == 400 and r.json() == {"error": "Could not resolve host 'slow.example.com'"}
        assert queued(aws) == []
    finally:
        resolver.release.set()
    # AND the refused submission took no rate-limit slot (the limit is 1)
    r = api.client.post("/get_info", json={"url": "https://fast.example.com/"}, headers=api.headers(key))
    assert r.status_code == 200, r.text


def test_a_refused_address_frees_its_rate_limit_slot(make_api, aws):
    api = make_api(resolver=fake_resolver({"inside.example.com": ["10.0.0.1"]}), request_limit=1)
    key = api.make_key("ssrf", ["get_video"])
    assert api.client.post("/get_video", json={"url": "https://inside.example.com/"}, headers=api.headers(key)).status_code == 400
    assert api.client.post("/get_video", json={"url": "https://out.example.com/"}, headers=api.headers(key)).status_code == 200


@pytest.mark.parametrize(
    ("endpoint", "clip", "accepted"),
    [
        ("get_video", {"start_time": 0, "end_time": 3601}, False),
        ("get_audio", {"end_time": "01:00:01"}, False),
        ("get_video", {"start_time": "00:10", "end_time": 3610}, True),
        ("get_audio", {"start_time": 100}, True),  # length unknown until the worker looks
    ],
)
def test_clips_longer_than_max_duration_are_refused_at_submission(make_api, aws, endpoint, clip, accepted):
    api = make_api(max_duration=3600)
    key = api.make_key("long", [endpoint])
    r = api.client.post(f"/{endpoint}", json={"url": "https://m.example.com/x", **clip}, headers=api.headers(key))
    if accepted:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 400 and "at most 3600 s" in r.json()["error"]
        assert queued(aws) == []
