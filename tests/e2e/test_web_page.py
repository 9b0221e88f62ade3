"""The web page at `/`, driven in a real headless Chromium (Playwright, Debian's chromium) against the local stack.

Each test works the page through accessible names only (labels, roles, button and link names), as a person with a
screen reader or a keyboard would; every request the page makes is recorded and must go to the stack's origin
(the one exception: a saved file follows /files' redirect to the storage's presigned link, as in production).
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect, sync_playwright

from shared.config import Settings
from tests.e2e.conftest import ADMIN_KEY, REQUEST_LIMIT, Client
from tests.support.browser import chromium_path, origin
from tests.support.media import probe
from tests.support.stack import LocalStackProcess, request
from tests.support.webhook_receiver import WebhookReceiver

KEY_CACHE_SECONDS = Settings.model_fields["key_cache_seconds"].default  # the test stack keeps the default


pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.browser]

ALL = ["create_key", "delete_key", "get_key", "get_keys", "get_video", "get_audio", "get_live_video", "get_live_audio", "get_info"]
TASK_TIMEOUT_MS = 120_000
# Generous waits, not timings: on a loaded machine (the suite runs beside other stacks) a page load can take 30 s+.
expect.set_options(timeout=30_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    # Not a skip: `make test` installs chromium (Makefile, .ci/run); a missing browser is a broken setup.
    assert path, "chromium is not installed: run `make setup` as root, or `apt-get install chromium`"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True)
        yield browser
        browser.close()


class Session:
    """One browser context on the page, with every request it made."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.requests: list[Any] = []
        self.finished: list[Any] = []
        self.storage_links: set[str] = set()
        page.on("request", lambda r: self.requests.append(r))
        page.on("requestfinished", lambda r: self.finished.append(r))

    def open(self) -> Any:
        self.page.goto(self.base_url + "/")
        expect(self.page.get_by_role("button", name="Use key")).to_be_enabled()
        return self.page

    def enter_key(self, key: str, remember: bool = False) -> None:
        page = self.page
        page.get_by_label("API key").fill(key)
        if remember:
            page.get_by_label("Remember").check()
        page.get_by_role("button", name="Use key").click()
        expect(page.get_by_role("status").filter(has_text="This key may")).to_be_visible()

    def foreign_requests(self) -> list[str]:
        """Requests to another origin, except the storage link a "Save file" link of this origin redirects to."""
        own = origin(self.base_url)
        return [r.url for r in self.requests if origin(r.url) != own and r.url.split("?")[0] not in self.storage_links]

    def save(self, tmp_path: Path) -> Path:
        """Click "Save file" and keep the download; the storage link /files redirects to is noted as allowed."""
        link = self.page.get_by_role("link", name="Save file")
        href = link.get_attribute("href")
        assert href.startswith("/files/"), href
        status, headers, _ = request("GET", self.base_url + href, follow=False)
        assert status == 307, status
        self.storage_links.add(headers["location"].split("?")[0])
        with self.page.expect_download(timeout=60_000) as info:
            link.click()
        download = info.value
        path = tmp_path / download.suggested_filename
        download.save_as(path)
        return path

    def status_poll_gaps(self) -> list[float]:
        """Milliseconds between consecutive /status requests of the same task (browser timestamps)."""
        starts: dict[str, list[float]] = defaultdict(list)
        for r in self.finished:
            match = re.search(r"/status/([A-Za-z0-9]+)$", r.url)
            if match:
                starts[match.group(1)].append(r.timing["startTime"])
        return [b - a for times in starts.values() for a, b in zip(sorted(times), sorted(times)[1:])]


@pytest.fixture
def session(browser: Any, stack: LocalStackProcess) -> Iterator[Session]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(60_000)
    context.set_default_navigation_timeout(TASK_TIMEOUT_MS)
    s = Session(context.new_page(), stack.base_url)
    yield s
    context.close()
    assert not s.foreign_requests(), f"the page called other origins: {s.foreign_requests()}"


def watch_progress(page: Any, until: Any, timeout: float = TASK_TIMEOUT_MS / 1000) -> list[tuple[str | None, str]]:
    """(aria-valuenow, aria-valuetext) of the progress bar, each change, until `until` is visible."""
    bar = page.get_by_role("progressbar")
    seen: list[tuple[str | None, str]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = until.is_visible()
        value = tuple(bar.evaluate("e => [e.getAttribute('aria-valuenow'), e.getAttribute('aria-valuetext') || '']"))
        if not seen or seen[-1] != value:
            seen.append(value)
        if done:
            return seen
        page.wait_for_timeout(100)
    raise AssertionError(f"not done after {timeout}s; progress seen: {seen}")


def test_web_page_is_served_with_strict_headers_and_the_api_is_unchanged(stack: LocalStackProcess) -> None:
    # GIVEN the running stack WHEN the page and its assets are fetched without a key
    status, headers, body = request("GET", stack.base_url + "/")
    # THEN it is HTML with a CSP that allows only this origin's scripts, and the other security headers
    assert status == 200 and headers["content-type"].startswith("text/html")
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
    html = body.decode()
    assert "<script>" not in html and not re.search(r"\son[a-z]+=", html), "inline scripts or handlers"
    for asset in re.findall(r'(?:src|href)="(/web/[^"]+)"', html):
        a_status, a_headers, _ = request("GET", stack.base_url + asset)
        assert a_status == 200 and a_headers["x-content-type-options"] == "nosniff", asset
    assert request("GET", stack.base_url + "/web/../app.py")[0] == 404
    # AND /docs, /openapi.json and the API answer as before; the page is no part of the API document
    assert request("GET", stack.base_url + "/docs")[0] == 200
    status, _, doc = request("GET", stack.base_url + "/openapi.json")
    assert status == 200 and "/" not in doc["paths"] and "/get_video" in doc["paths"]
    assert request("GET", stack.base_url + "/health")[0] == 200


def test_web_download_a_240p_clip_and_save_it(session: Session, client: Client, media_urls: dict[str, str], tmp_path: Path) -> None:
    # GIVEN a key made through the API, entered in the page
    key = client.new_key(["get_video", "get_audio", "get_info"])
    page = session.open()
    session.enter_key(key)
    # THEN the key is kept for this tab only, and the page says what it may do (and offers no admin)
    assert page.evaluate("() => [sessionStorage.getItem('ytdlp-host.key'), localStorage.getItem('ytdlp-host.key')]") == [key, None]
    expect(page.get_by_role("status").filter(has_text="This key may")).to_contain_text("download video")
    expect(page.get_by_role("heading", name="Keys (admin)")).to_be_hidden()

    # WHEN a local HLS URL's info is fetched
    page.get_by_label("Media URL").fill(media_urls["hls_master"])
    page.get_by_role("button", name="Get info").click()
    # THEN its title, duration and qualities (240p and 360p) are shown
    quality = page.get_by_label("Video quality")
    expect(quality).to_be_visible(timeout=TASK_TIMEOUT_MS)
    expect(page.locator("#media-meta")).to_contain_text("Duration 0:20")
    labels = quality.locator("option").all_inner_texts()
    assert [lab.split(" ")[0] for lab in labels[1:]] == ["240p", "360p"], labels

    # WHEN 240p and a 2-6 s clip are chosen and downloaded
    quality.select_option(label=next(lab for lab in labels if lab.startswith("240p")))
    expect(page.get_by_label("Output format")).to_have_value("mp4")
    page.get_by_label("Start", exact=True).fill("2")
    page.get_by_label("End", exact=True).fill("6")
    page.get_by_role("button", name="Download").click()
    # THEN the progress bar moves: seen at work (waiting, or working without a percent while ffmpeg cuts the
    # clip), then at 100 when done, and a "Save file" link appears
    progress = watch_progress(page, page.get_by_role("link", name="Save file"))
    values = [v for v, _ in progress]
    assert progress[0][1].startswith(("Waiting", "Working")) and progress[0][0] in ("0", None), progress
    assert values[-1] == "100" and progress[-1][1] == "Done", progress
    numbers = [float(v) for v in values if v is not None]
    assert numbers == sorted(numbers), progress

    # WHEN the file is saved through the browser THEN it is a 4 +- 1 s clip at height 240
    saved = session.save(tmp_path)
    info = probe(saved)
    assert info["video"]["height"] == 240 and abs(info["duration"] - 4) <= 1, info
    # AND the history lists both tasks of this browser, the download with its file
    history = page.locator("#history")
    expect(history.get_by_role("listitem")).to_have_count(2)
    expect(history).to_contain_text("Done")
    expect(history.get_by_role("link", name=re.compile(r"^Save video\.mp4"))).to_be_visible()
    # AND /status was polled at most once a second per task
    gaps = session.status_poll_gaps()
    assert gaps and min(gaps) >= 950, gaps

    # AND the page is usable at 375 px and at 1280 px (screenshots for a person to look at)
    for width in (375, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"horizontal scroll at {width} px: {overflow} px"
        page.screenshot(path=str(tmp_path / f"web-{width}px.png"), full_page=True)
    print(f"screenshots: {tmp_path}")


def test_web_key_without_get_video_sees_no_video_download(session: Session, client: Client, media_server: Any) -> None:
    # GIVEN a wrong key THEN the page says so in plain words
    page = session.open()
    page.get_by_label("API key").fill("not-a-real-key-0123456789")
    page.get_by_role("button", name="Use key").click()
    expect(page.get_by_role("alert").filter(has_text="API key is not valid")).to_be_visible()
    expect(page.get_by_label("Media URL")).to_be_hidden()

    # GIVEN a key with get_info and get_audio only, remembered on this device
    key = client.new_key(["get_info", "get_audio"])
    session.enter_key(key, remember=True)
    assert page.evaluate("() => localStorage.getItem('ytdlp-host.key')") == key
    # WHEN a URL that does not exist is looked up THEN the task's failure is told in words, not JSON
    page.get_by_label("Media URL").fill(media_server.url("missing.mp4"))
    page.get_by_role("button", name="Get info").click()
    failure = page.get_by_role("alert").filter(has_text="Could not get info")
    expect(failure).to_be_visible(timeout=TASK_TIMEOUT_MS)
    assert "{" not in failure.inner_text() and "Traceback" not in failure.inner_text()

    # WHEN the page is opened again THEN the remembered key is used at once
    page.reload()
    expect(page.get_by_role("status").filter(has_text="This key may")).to_contain_text("download audio")
    # AND with a real media URL, only audio can be downloaded: no video choice, no video quality
    page.get_by_label("Media URL").fill(media_server.url("video.mp4"))
    page.get_by_role("button", name="Get info").click()
    expect(page.get_by_role("button", name="Download")).to_be_visible(timeout=TASK_TIMEOUT_MS)
    expect(page.get_by_role("radio", name="Video")).to_have_count(0)
    expect(page.get_by_label("Video quality")).to_be_hidden()
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith(("/get_audio", "/get_video"))) as sent:
        page.get_by_role("button", name="Download").click()
    assert sent.value.url.endswith("/get_audio")
    expect(page.get_by_role("link", name="Save file")).to_be_visible(timeout=TASK_TIMEOUT_MS)
    # AND a key without admin permissions sees no key management
    expect(page.get_by_role("button", name="Create key")).to_have_count(0)


def test_web_admin_creates_and_deletes_a_key(session: Session, client: Client) -> None:
    # GIVEN an admin key in the page
    page = session.open()
    session.enter_key(ADMIN_KEY)
    name = f"web-made-{time.monotonic_ns()}"
    # WHEN a key is created with two ticked permissions
    page.get_by_label("Key name").fill(name)
    page.get_by_role("checkbox", name="get_info", exact=True).check()
    page.get_by_role("checkbox", name="get_audio", exact=True).check()
    page.get_by_label("Request limit").fill("3")
    page.get_by_role("button", name="Create key").click()
    # THEN the new key is shown once, with a copy button, and it works with exactly those permissions
    expect(page.get_by_role("button", name="Copy key")).to_be_visible()
    shown = page.locator("#new-key-value").inner_text().strip()
    assert client.call("POST", "/check_permissions", {"permissions": ["get_info", "get_audio"]}, key=shown)[0] == 200
    assert client.call("POST", "/check_permissions", {"permissions": ["get_video"]}, key=shown)[0] == 403
    page.get_by_role("button", name="Copy key").click()
    expect(page.get_by_text("Copied.")).to_be_visible()
    # AND the list shows it without revealing any key
    keys = page.locator("#keys-list")
    expect(keys).to_contain_text(name)
    assert shown not in keys.inner_text() and ADMIN_KEY not in keys.inner_text()
    # AND it has its own request limit, in the list and in its usage
    assert client.call("GET", "/get_keys")[2][name]["request_limit"] == 3
    expect(keys).to_contain_text("own limit: 3 task requests per window")
    # AND another key's usage is shown by name (the admin key's: see the report on /usage/<name> and deletion)
    page.get_by_role("button", name="Usage of key admin", exact=True).click()
    expect(page.get_by_label("Usage of admin", exact=True)).to_contain_text(f"Task requests allowed per window{REQUEST_LIMIT}")

    # WHEN its deletion is cancelled THEN it stays
    page.get_by_role("button", name=f"Delete key {name}").click()
    expect(page.get_by_role("dialog")).to_contain_text(name)
    page.get_by_role("button", name="Cancel").click()
    assert name in client.call("GET", "/get_keys")[2]
    # WHEN it is deleted after confirming THEN it is gone from the list and from the service
    page.get_by_role("button", name=f"Delete key {name}").click()
    page.get_by_role("button", name=f"Yes, delete {name}").click()
    expect(page.get_by_role("status").filter(has_text="is deleted")).to_be_visible()
    deleted_by = time.monotonic()
    expect(keys).not_to_contain_text(name)
    assert name not in client.call("GET", "/get_keys")[2]
    # AND once KEY_CACHE_SECONDS (5 s, README) have passed, no API process takes it. Before that the other process may
    # still answer from its cache, so the answers can alternate 401/200: waiting for the first 401 proves nothing.
    time.sleep(max(0.0, deleted_by + KEY_CACHE_SECONDS + 0.5 - time.monotonic()))
    answers = [client.call("POST", "/check_permissions", {"permissions": ["get_info"]}, key=shown)[0] for _ in range(12)]
    assert answers == [401] * 12


def test_web_is_usable_by_keyboard_alone_with_labels_and_visible_focus(session: Session, client: Client, media_urls: dict[str, str]) -> None:
    key = client.new_key(ALL)
    page = session.open()
    focused = """() => {
        const e = document.activeElement;
        const s = getComputedStyle(e);
        const name = (e.labels && e.labels.length ? e.labels[0].textContent : e.getAttribute("aria-label") || e.textContent || "").trim();
        const again = e.dataset.tabSeen === "1";
        if (e !== document.body) e.dataset.tabSeen = "1";
        return {name, again, outline: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2, tag: e.tagName};
    }"""

    def tab_to(name: str, limit: int = 80) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate(focused)["name"] == name:
                return
        raise AssertionError(f"{name!r} not reachable with Tab")

    # GIVEN only a keyboard WHEN the key is typed and the form submitted with Enter
    tab_to("API key")
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="This key may")).to_be_visible()
    # AND a URL is typed and "Get info" pressed
    tab_to("Media URL")
    page.keyboard.type(media_urls["hls_master"])
    tab_to("Get info")
    page.keyboard.press("Enter")
    expect(page.get_by_label("Video quality")).to_be_visible(timeout=TASK_TIMEOUT_MS)

    # THEN every control is reached by Tab, each with a visible focus ring
    page.evaluate("() => { document.activeElement.blur(); document.querySelectorAll('[data-tab-seen]').forEach(e => delete e.dataset.tabSeen); }")
    seen: dict[str, bool] = {}
    for _ in range(400):
        page.keyboard.press("Tab")
        now = page.evaluate(focused)
        if now["tag"] == "BODY":
            continue
        if now["again"]:
            break  # round the whole page once
        seen[now["name"]] = seen.get(now["name"], True) and now["outline"]
    wanted = ["API key", "Use key", "Media URL", "Get info", "Video quality", "Output format", "Start", "End", "Download",
              "Key name", "Create key", "Refresh keys", "Delete key admin", "Clear this list"]
    missing = [n for n in wanted if n not in seen]
    assert not missing, f"not reachable: {missing}; reached: {list(seen)}"
    assert any(n.startswith("Remember") for n in seen)
    no_ring = [n for n, ring in seen.items() if not ring]
    assert not no_ring, f"no visible focus on {no_ring}"
    # AND every shown input has a label
    unlabelled = page.evaluate("""() => [...document.querySelectorAll("input, select, textarea")]
        .filter(e => e.offsetParent !== null && !(e.labels && e.labels.length) && !e.getAttribute("aria-label"))
        .map(e => e.id || e.name)""")
    assert unlabelled == []


@pytest.mark.slow
def test_web_records_a_live_stream_for_the_chosen_duration(session: Session, client: Client, live_stream: Any, tmp_path: Path) -> None:
    # GIVEN a key that may record, and a live stream's info in the page
    key = client.new_key(["get_live_video", "get_live_audio", "get_info"])
    page = session.open()
    session.enter_key(key)
    page.get_by_label("Media URL").fill(live_stream.url)
    page.get_by_role("button", name="Get info").click()
    record = page.get_by_role("button", name="Record")
    expect(record).to_be_visible(timeout=TASK_TIMEOUT_MS)
    expect(page.locator("#media-meta")).to_contain_text("Live now")
    expect(page.get_by_role("button", name="Download")).to_be_hidden()
    # WHEN 6 s are recorded
    page.get_by_label("Duration (seconds)").fill("6")
    record.click()
    # THEN the bar shows the recording at work, then done; and the file is about 6 s long
    progress = watch_progress(page, page.get_by_role("link", name="Save file"))
    assert progress[-1] == ("100", "Done") and any(text.startswith("Working") for _, text in progress), progress
    info = probe(session.save(tmp_path))
    assert info["video"] is not None and abs(info["duration"] - 6) < 2, info


def test_web_offers_newer_api_features_only_when_the_api_document_has_them(session: Session, client: Client, media_urls: dict[str, str]) -> None:
    # GIVEN this API's own document, as the page reads it: webhooks, shared results and usage, no playlist endpoint
    status, _, doc = request("GET", session.base_url + "/openapi.json")
    assert status == 200
    perms = doc["components"]["schemas"]["PermissionsRequest"]["properties"]["permissions"]["items"]["enum"]
    wanted = ["get_video", "get_info"] + (["get_playlist"] if "get_playlist" in perms else [])
    page = session.open()
    session.enter_key(client.new_key(wanted))
    page.get_by_label("Media URL").fill(media_urls["hls_master"])
    page.get_by_role("button", name="Get info").click()
    expect(page.get_by_role("button", name="Download", exact=True)).to_be_visible(timeout=TASK_TIMEOUT_MS)
    # THEN the webhook and shared-result fields are offered (sharing on, as the API's default), and usage is shown
    expect(page.get_by_label("Webhook URL")).to_be_visible()
    expect(page.get_by_label("Use a shared result")).to_be_checked()
    expect(page.get_by_role("heading", name="Usage and webhooks")).to_be_visible()

    # GIVEN a deployment whose document also has an unknown field and a playlist endpoint (as newer versions add
    # them: the document is extended in the browser, the requests still go to this stack)
    doc["components"]["schemas"]["VideoRequest"]["properties"]["subtitle_langs"] = {
        "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}], "title": "Subtitle languages", "description": "Subtitles to embed.",
    }
    doc["paths"]["/get_playlist"] = {"post": doc["paths"]["/get_video"]["post"]}
    doc["paths"]["/usage"] = {"get": {"responses": {}}}
    page.route(session.base_url + "/openapi.json", lambda route: route.fulfill(json=doc))
    page.route(session.base_url + "/usage", lambda route: route.fulfill(json={"tasks_in_window": 2, "request_limit": 8}))
    page.reload()
    expect(page.get_by_role("status").filter(has_text="This key may")).to_be_visible()
    # THEN usage of an unknown shape is still shown in words, and the new field is offered for the media
    expect(page.locator("#usage-list")).to_contain_text("request limit")
    page.get_by_label("Media URL").fill(media_urls["hls_master"])
    page.get_by_role("button", name="Get info").click()
    expect(page.get_by_label("Subtitle languages")).to_be_visible(timeout=TASK_TIMEOUT_MS)
    # (the playlist choice is for playlists: this media is a single video, as its info says)
    expect(page.get_by_role("button", name="Download the whole playlist")).to_be_hidden()
    # AND values typed there are sent with the download, typed (a list; cache false once unticked)
    page.get_by_label("Subtitle languages").fill("en, de")
    page.get_by_label("Use a shared result").uncheck()
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/get_video")) as sent:
        page.get_by_role("button", name="Download", exact=True).click()
    assert sent.value.post_data_json["subtitle_langs"] == ["en", "de"] and sent.value.post_data_json["cache"] is False
    expect(page.get_by_role("link", name="Save file")).to_be_visible(timeout=TASK_TIMEOUT_MS)
    # AND a key that cannot look media up first is offered the playlist download straight away
    page.get_by_role("button", name="Forget key").click()
    session.enter_key(client.new_key([p for p in wanted if p != "get_info"]))
    expect(page.get_by_role("button", name="Download the whole playlist")).to_be_visible()
    expect(page.get_by_role("button", name="Get info")).to_be_hidden()


def test_web_webhook_secret_shared_result_and_usage(session: Session, client: Client, media_urls: dict[str, str]) -> None:
    # GIVEN a key in the page and a loopback webhook receiver
    with WebhookReceiver() as receiver:
        key = client.new_key(["get_video", "get_info"])
        page = session.open()
        session.enter_key(key)
        # WHEN the webhook secret is shown THEN it is this key's secret, with a copy button
        page.get_by_role("button", name="Show webhook secret").click()
        expect(page.get_by_role("button", name="Copy webhook secret")).to_be_visible()
        secret = page.locator("#webhook-secret").inner_text().strip()
        assert secret.startswith("whsec_") and client.call("GET", "/webhook_secret", key=key)[2]["secret"] == secret
        # WHEN a video is downloaded with a webhook URL
        page.get_by_label("Media URL").fill(media_urls["mp4"])
        page.get_by_role("button", name="Get info").click()
        page.get_by_label("Webhook URL").fill(receiver.plan("/page", 200))
        page.get_by_role("button", name="Download", exact=True).click()
        expect(page.get_by_role("link", name="Save file")).to_be_visible(timeout=TASK_TIMEOUT_MS)
        # THEN the receiver gets a task.completed signed with the shown secret
        (delivery,) = receiver.wait_for("/page")
        assert delivery.verify(secret)["type"] == "task.completed"
        # AND the key's remaining requests are shown from the RateLimit headers (get_info and get_video counted)
        expect(page.locator("#limit-status")).to_contain_text(f"of {REQUEST_LIMIT} task requests left")
    # WHEN the same video is downloaded again THEN it is done from a shared result, said in words
    page.get_by_label("Webhook URL").fill("")
    page.get_by_role("button", name="Download", exact=True).click()
    expect(page.locator("#task-detail")).to_contain_text("served from a shared result", timeout=TASK_TIMEOUT_MS)
    expect(page.locator("#history")).to_contain_text("from a shared result")
    # AND the usage panel says in words what the key did
    page.get_by_role("button", name="Refresh usage").click()
    usage = page.locator("#usage-list")
    expect(usage).to_contain_text("Completed from shared results")
    expect(usage).to_contain_text(f"Task requests allowed per window{REQUEST_LIMIT}")
    # WHEN the secret is rotated after confirming THEN the new one is shown and is the key's secret now
    page.get_by_role("button", name="Rotate webhook secret").click()
    page.get_by_role("button", name="Yes, rotate the secret").click()
    expect(page.locator("#webhook-secret-note")).to_contain_text("New webhook secret")
    rotated = page.locator("#webhook-secret").inner_text().strip()
    assert rotated != secret and client.call("GET", "/webhook_secret", key=key)[2]["secret"] == rotated
