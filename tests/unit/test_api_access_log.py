"""The API's access lines: JSON-ready fields with task id and key name, the route template and never the raw path."""

from __future__ import annotations

import json
import logging

from shared.logs import JsonFormatter
from tests.unit.test_api_files import finished_task


def access_lines(caplog) -> list[dict]:
    formatter = JsonFormatter("api")
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "functions.api.access"]


def test_access_lines_name_the_task_and_key_but_not_the_token(api, aws, caplog):
    key = api.make_key("bot-7", ["get_video"])
    task_id = finished_task(api, aws, key, "get_video", "video.mp4", b"data")
    caplog.clear()
    caplog.set_level(logging.INFO, logger="functions.api.access")
    link = api.client.get(f"/status/{task_id}", headers=api.headers(key)).json()["file"]
    api.client.get(link, follow_redirects=False)
    api.client.get(link.replace("video.mp4", "x.mp4"), follow_redirects=False)
    api.client.post("/get_video", json={"url": "https://m.example.com/y"}, headers=api.headers(key))
    api.client.get("/no/such/secret-path-token")
    lines = access_lines(caplog)
    assert [(l["method"], l["route"], l["status"]) for l in lines] == [
        ("GET", "/status/{task_id}", 200),
        ("GET", "/files/{task_id}/{token}/{name}", 307),
        ("GET", "/files/{task_id}/{token}/{name}", 404),
        ("POST", "/get_video", 200),
        ("GET", "unmatched", 404),
    ]
    assert lines[0]["task_id"] == task_id and lines[0]["key_name"] == "bot-7"
    assert lines[1]["task_id"] == task_id and "key_name" not in lines[1]
    assert len(lines[3]["task_id"]) == 16 and lines[3]["key_name"] == "bot-7"
    text = json.dumps(lines)
    assert link.split("/")[3] not in text and "secret-path-token" not in text and key not in text
