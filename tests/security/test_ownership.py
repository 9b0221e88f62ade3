"""Ownership: a task is visible only to the key that created it; its id is unguessable; its links die with it."""

from __future__ import annotations

import collections
import string
import time
import urllib.parse

import pytest

from shared import models
from shared.models import TASK_ID_PATTERN, media_key, new_task_id
from tests.support.api import Api

URL = "https://media.example.com/watch?v=1"


def completed(api: Api, aws, key: str, task_type: str = "get_video", file_name: str = "video.mp4", payload: bytes = b"data") -> str:
    task_id = api.client.post(f"/{task_type}", json={"url": URL}, headers=api.headers(key)).json()["task_id"]
    aws.clients.s3.put_object(Bucket=aws.settings.media_bucket, Key=media_key(task_id, file_name), Body=payload)
    assert api.container.tasks.complete(task_id, file_name, ttl_seconds=600)
    return task_id


def set_expiry(aws, task_id: str, expires_at: float) -> None:
    aws.clients.dynamodb.update_item(
        TableName=aws.settings.tasks_table,
        Key={"task_id": {"S": task_id}},
        UpdateExpression="SET expires_at = :t",
        ExpressionAttributeValues={":t": {"N": str(int(expires_at))}},
    )


def test_ownership_other_keys_see_nothing_of_a_task(api, aws):
    # GIVEN a completed video task and a completed info task of one key
    owner = api.make_key("owner", ["get_video", "get_info"])
    video = completed(api, aws, owner)
    info = completed(api, aws, owner, "get_info", "info.json", b'{"title": "t"}')
    # WHEN any other key asks, even one holding every permission, or one made later under the owner's name
    same_perms = api.make_key("twin", ["get_video", "get_info"])
    assert api.client.delete("/delete_key/owner", headers=api.headers()).status_code == 200
    renamed = api.make_key("owner", ["get_video", "get_info"])
    missing = api.client.get("/status/AAAAAAAAAAAAAAAA", headers=api.headers(same_perms))
    for key in (same_perms, api.admin_key, renamed):
        for path in (f"/status/{video}", f"/status/{info}", f"/files/{video}/video.mp4", f"/files/{info}/info.json", f"/files/{info}/info.json?qualities"):
            r = api.client.get(path, headers=api.headers(key), follow_redirects=False)
            # THEN 404, told apart from a task that does not exist by nothing
            assert r.status_code == 404 and r.json() == missing.json(), (path, r.text)
            assert "location" not in r.headers


def test_ownership_status_shows_no_internal_fields(api, aws):
    owner = api.make_key("owner", ["get_video"])
    task_id = completed(api, aws, owner)
    view = api.client.get(f"/status/{task_id}", headers=api.headers(owner)).json()
    allowed = {"status", "task_type", "url", "file", "error", "completed_time", "progress", "attempts", "cached",
               "video_format", "audio_format", "output_format", "start_time", "end_time", "force_keyframes"}
    assert set(view) <= allowed
    assert not {"owner", "lease_owner", "lease_until", "gc", "expires_at", "task_id"} & set(view)


def test_ownership_task_ids_are_unguessable():
    # 10,000 ids: all 16 characters from [A-Za-z0-9], all different, the whole alphabet used about evenly
    ids = [new_task_id() for _ in range(10_000)]
    assert all(TASK_ID_PATTERN.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    counts = collections.Counter("".join(ids))
    alphabet = string.ascii_letters + string.digits
    assert set(counts) == set(alphabet)
    expected = 16 * len(ids) / len(alphabet)  # about 2,580 per character
    assert all(0.85 * expected < counts[c] < 1.15 * expected for c in alphabet), counts.most_common(3)


def test_ownership_task_ids_come_from_the_os_csprng(monkeypatch):
    # Every character is drawn with secrets (the OS's CSPRNG), never the seedable `random` module.
    draws = []
    real_choice = models.secrets.choice
    monkeypatch.setattr(models.secrets, "choice", lambda seq: draws.append(seq) or real_choice(seq))
    import random

    monkeypatch.setattr(random, "choice", lambda seq: pytest.fail("random.choice used for a task id"))
    monkeypatch.setattr(random, "choices", lambda *a, **k: pytest.fail("random.choices used for a task id"))
    new_task_id()
    assert len(draws) == 16 and set(draws[0]) == set(string.ascii_letters + string.digits)


@pytest.mark.parametrize("remaining", [600, 90, 5])
def test_ownership_links_expire_no_later_than_the_task(api, aws, remaining):
    owner = api.make_key("owner", ["get_video"])
    task_id = completed(api, aws, owner)
    set_expiry(aws, task_id, time.time() + remaining)
    r = api.client.get(f"/files/{task_id}/video.mp4", headers=api.headers(owner), follow_redirects=False)
    assert r.status_code == 307
    link = urllib.parse.urlsplit(r.headers["location"])
    query = urllib.parse.parse_qs(link.query)
    # The link is signed, for the task's own object only, and lives at most as long as the task.
    assert link.path.endswith(f"/{aws.settings.media_bucket}/tasks/{task_id}/video.mp4")
    assert query["X-Amz-Signature"] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert 1 <= int(query["X-Amz-Expires"][0]) <= remaining


def test_ownership_links_are_capped_at_a_week_and_refused_once_the_task_expires(api, aws):
    owner = api.make_key("owner", ["get_video"])
    task_id = completed(api, aws, owner)
    set_expiry(aws, task_id, time.time() + 30 * 24 * 3600)
    r = api.client.get(f"/files/{task_id}/video.mp4", headers=api.headers(owner), follow_redirects=False)
    assert int(urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["location"]).query)["X-Amz-Expires"][0]) == 7 * 24 * 3600
    for past in (time.time(), time.time() - 1, time.time() - 3600):
        set_expiry(aws, task_id, past)
        r = api.client.get(f"/files/{task_id}/video.mp4", headers=api.headers(owner), follow_redirects=False)
        assert r.status_code == 404 and "location" not in r.headers
        assert api.client.get(f"/status/{task_id}", headers=api.headers(owner)).status_code == 404
