"""Unknown body fields are ignored, as the original ignores them; known fields are still validated."""

from __future__ import annotations

import logging

import pytest

from tests.unit.test_api_tasks import queued


@pytest.mark.parametrize(
    ("endpoint", "extra"),
    [
        ("get_video", {"output_fromat": "mkv"}),
        ("get_video", {"duration": 5, "new_option_of_a_later_server": {"a": [1]}}),
        ("get_audio", {"__proto__": {"admin": True}}),
        ("get_info", {"owner": "someone-else", "task_id": "AAAAAAAAAAAAAAAA", "status": "completed"}),
        ("get_live_audio", {"file": "/etc/passwd", "duration": 5}),
    ],
)
def test_unknown_fields_are_ignored_and_logged_at_debug(api, aws, caplog, endpoint, extra):
    # GIVEN a client written for another version of the server, sending fields this one does not know
    key = api.make_key("client", [endpoint])
    caplog.set_level(logging.DEBUG, logger="functions.api.schemas")
    body = {"url": "https://m.example.com/x", **extra}
    # WHEN it submits THEN the task is accepted as if they were not there
    r = api.client.post(f"/{endpoint}", json=body, headers=api.headers(key))
    assert r.status_code == 200, r.text
    task_id = r.json()["task_id"]
    assert queued(aws) == [task_id]
    status = api.client.get(f"/status/{task_id}", headers=api.headers(key)).json()
    assert status["status"] == "waiting" and "file" not in status
    known = {"duration"} if endpoint.startswith("get_live") else set()
    for name in set(extra) - known:
        assert status.get(name) != extra[name], name
    # AND each unknown field is named once in a debug line
    logged = sorted(r.field for r in caplog.records if r.getMessage() == "unknown field ignored")
    assert logged == sorted(set(extra) - known)


def test_unknown_fields_cannot_choose_a_key(api):
    chosen = "chosen-by-the-caller-0123456789abcdef"
    r = api.client.post("/create_key", json={"name": "x", "permissions": ["get_info"], "key": chosen}, headers=api.headers())
    assert r.status_code == 201 and r.json()["key"] != chosen


@pytest.mark.parametrize(
    "bad",
    [{"start_time": "abc"}, {"output_format": "exe"}, {"force_keyframes": "maybe"}, {"video_format": 5}, {"end_time": [1]}],
)
def test_wrong_types_in_known_fields_still_fail_beside_unknown_ones(api, aws, bad):
    key = api.make_key("client", ["get_video"])
    r = api.client.post("/get_video", json={"url": "https://m.example.com/x", "unknown": 1, **bad}, headers=api.headers(key))
    assert r.status_code == 400 and set(r.json()) == {"error"}
    assert queued(aws) == []
