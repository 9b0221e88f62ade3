"""The original's real client library, yt-dlp-host-api, driving the local stack the way its Telegram bots do.

The bots (downvot, yt-gif-bot) call get_video/get_audio/get_info, put `get_file_url()` (host + status["file"]) in a
link button that the end user opens with no key, and read `qualities` as f"{height}p{fps}" and f"{abr}kbps".
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from yt_dlp_host_api import api as original_api
from yt_dlp_host_api.exceptions import APIError

from functions.api.links import sign
from tests.e2e.conftest import Client
from tests.support.media import probe
from tests.support.stack import LocalStackProcess

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def _file_link_secret(stack: LocalStackProcess) -> bytes:
    return (Path(stack.env_overrides["STATE_DIR"]) / "secrets" / "file-link").read_bytes().strip()


def test_bot_hands_the_file_link_to_a_user_without_the_key(stack: LocalStackProcess, client: Client, media_urls, tmp_path):
    # GIVEN a bot's key and the original client library
    bot = original_api(stack.base_url).get_client(client.new_key())
    # WHEN the bot asks for a clip and puts get_file_url() in a button
    result = bot.get_video(url=media_urls["mp4"], start_time=5, end_time=9, force_keyframes=True)
    link = result.get_file_url()
    # THEN the end user's browser (no key, following the redirect to storage) gets the media
    answer = requests.get(link, timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    saved = tmp_path / "clip.mp4"
    saved.write_bytes(answer.content)
    info = probe(saved)
    assert info["video"]["codec_name"] == "h264" and info["audio"] is not None and abs(info["duration"] - 4) < 1
    # AND HEAD, and GET without following redirects, answer 307 to storage
    for method in ("HEAD", "GET"):
        r = requests.request(method, link, allow_redirects=False, timeout=30)
        assert r.status_code == 307 and r.headers["location"].startswith("http"), (method, r.status_code)
    # AND the client's own download (with the key) works too
    assert result.get_file() == answer.content


def test_forged_or_expired_links_are_404(stack: LocalStackProcess, client: Client, media_urls):
    bot = original_api(stack.base_url).get_client(client.new_key())
    result = bot.get_audio(url=media_urls["mp4"], output_format="mp3", start_time=0, end_time=3)
    link = result.get_file_url()
    prefix, token, name = link.rsplit("/", 2)
    task_id = prefix.rsplit("/", 1)[1]
    expiry, signature = token.split(".")
    forged = {
        "flipped": f"{prefix}/{expiry}.{signature[::-1]}/{name}",
        "guessed-secret": f"{prefix}/{sign(b'guess', task_id, name, int(expiry))}/{name}",
        "expired": f"{prefix}/{sign(_file_link_secret(stack), task_id, name, 1_000_000_000)}/{name}",
        "longer-life": f"{prefix}/{int(expiry) + 3600}.{signature}/{name}",
    }
    for case, url in forged.items():
        r = requests.get(url, allow_redirects=False, timeout=30)
        assert r.status_code == 404 and r.json() == {"error": "File not found"}, case
    assert requests.get(link, allow_redirects=False, timeout=30).status_code == 307
    # AND no token reaches the stack's logs
    logs = "".join(p.read_text(errors="replace") for p in stack.log_dir.glob("*.log"))
    assert signature not in logs


def test_bot_reads_qualities_and_info_fields(stack: LocalStackProcess, client: Client, media_urls):
    bot = original_api(stack.base_url).get_client(client.new_key())
    result = bot.get_info(url=media_urls["hls_master"])
    qualities = result.get_json(["qualities"])["qualities"]
    # the way the bots label their buttons
    video = [f"{q['height']}p{q['fps']}" for q in qualities["video"].values()]
    assert video and all(label.split("p")[0].isdigit() and label.split("p")[1].isdigit() for label in video)
    assert [q["height"] for q in qualities["video"].values()] == [240, 360]
    audio = [f"{q['abr']}kbps" for q in qualities["audio"].values()]
    assert all(label[:-4].isdigit() for label in audio)
    for table in qualities.values():
        for entry in table.values():
            assert None not in (entry.get("abr", 0), entry.get("fps", 0), entry.get("height", 0), entry["filesize"]), entry
    # get_json(fields) appends ?title&duration& to the keyless link
    assert set(result.get_json(["title", "duration"])) == {"title", "duration"}
    assert requests.get(result.get_file_url() + "?title", timeout=30).json().keys() == {"title"}


def test_a_client_sending_unknown_fields_is_served(stack: LocalStackProcess, client: Client, media_urls):
    key = client.new_key()
    answer = requests.post(
        f"{stack.base_url}/get_info",
        json={"url": media_urls["mp4"], "field_of_a_newer_server": True, "lang": "en"},
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert answer.status_code == 200 and answer.json()["status"] == ("completed" if answer.json()["cached"] else "waiting")
    with pytest.raises(APIError):  # a wrong type in a known field is still refused
        original_api(stack.base_url).get_client(key).send_task.get_video(url=media_urls["mp4"], start_time="soon")
