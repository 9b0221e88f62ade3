"""RESULT_SHARING=key on the whole local stack: a key shares results with itself, never with another key."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.e2e.conftest import ADMIN_KEY, Client
from tests.e2e.test_shared_results import gets, own_clip, post
from tests.support.stack import LocalStackProcess

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def key_mode_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    process = LocalStackProcess(
        env_overrides={
            "ADMIN_API_KEY": ADMIN_KEY,
            "ALLOW_PRIVATE_NETWORKS": "true",
            "RESULT_SHARING": "key",
            "MAX_WORKERS": "2",
            "WORKER_PROCESSES": "1",
            "SCRATCH_DIR": str(tmp_path_factory.mktemp("scratch-key-mode")),
        },
        log_dir=tmp_path_factory.mktemp("stack-key-mode"),
    )
    process.start()
    yield Client(process.base_url, ADMIN_KEY)
    process.stop()


def test_shared_results_key_mode_does_not_share_across_keys(key_mode_client: Client, media_dir, media_server, tmp_path):
    client = key_mode_client
    # GIVEN RESULT_SHARING=key and a clip downloaded by one key
    url, path = own_clip(media_dir, media_server)
    first_key, second_key = client.new_key(), client.new_key()
    client.wait(post(client, "get_video", {"url": url}, first_key)["task_id"], first_key)
    once = gets(media_server, path)
    # WHEN another key asks for it
    other = client.wait(post(client, "get_video", {"url": url}, second_key)["task_id"], second_key)
    # THEN that key downloads it itself
    assert other["cached"] is False and gets(media_server, path) == 2 * once
    assert client.probe_result(other, second_key, tmp_path)["video"]["height"] == 360
    # AND the first key asking again is served from its own result
    again = post(client, "get_video", {"url": url}, first_key)
    assert again["status"] == "completed" and again["cached"] is True
    assert gets(media_server, path) == 2 * once
