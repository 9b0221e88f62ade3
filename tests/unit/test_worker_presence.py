"""Worker heartbeats: the versions a worker runs reach /health; expired records do not count."""

from __future__ import annotations

import time

from functions.worker.presence import Presence, collect_versions
from shared.stores.workers import WorkerStore


def test_worker_presence_collects_the_versions_it_runs() -> None:
    versions = collect_versions()
    assert tuple(int(p) for p in versions["deno"].split(".")[:2]) >= (2, 3)
    assert versions["yt_dlp"] and versions["yt_dlp_ejs"] and versions["pot_plugin"] and versions["ffmpeg"]


def test_health_shows_the_newest_live_workers_versions(api, aws) -> None:  # type: ignore[no-untyped-def]
    # GIVEN two live workers (one newer) and one whose record expired but TTL has not deleted yet
    store = WorkerStore(aws.clients.dynamodb, aws.settings.workers_table)
    now = time.time()
    store.beat("old", {"yt_dlp": "2026.8.19", "deno": "2.9.0"}, running=0, ttl=60, now=now - 10)
    store.beat("new", {"yt_dlp": "2026.10.26", "yt_dlp_ejs": "0.8.0", "deno": "2.9.8", "ffmpeg": "5.1"}, running=2, ttl=60, now=now)
    store.beat("gone", {"yt_dlp": "2025.1.1"}, running=0, ttl=60, now=now - 3600)
    # WHEN anyone asks /health (no key needed)
    body = api.client.get("/health").json()
    # THEN it counts the live ones and shows the newest one's versions
    assert body == {"status": "ok", "workers": 2, "versions": {"yt_dlp": "2026.10.26", "yt_dlp_ejs": "0.8.0", "deno": "2.9.8", "ffmpeg": "5.1"}}


def test_worker_presence_beats_and_leaves_without_failing_the_worker(aws) -> None:  # type: ignore[no-untyped-def]
    store = WorkerStore(aws.clients.dynamodb, aws.settings.workers_table)
    presence = Presence(store, "w-1", {"yt_dlp": "x"}, ttl=60, running=lambda: 3)
    presence.beat()
    assert [(r.worker_id, r.running) for r in store.live()] == [("w-1", 3)]
    presence.leave()
    assert store.live() == []
    broken = Presence(WorkerStore(aws.clients.dynamodb, "no-such-table"), "w-2", {}, ttl=60, running=lambda: 0)
    broken.beat()  # logged, not raised: jobs matter more than /health
    broken.leave()
