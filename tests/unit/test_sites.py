"""Real-site knobs, offline: Deno + EJS found by yt-dlp itself, the PO-token plugin, operator options, cookies,
and site errors that name their fix (built through the pinned yt-dlp's own raise helpers and message texts)."""

from __future__ import annotations

import socket
import stat
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from yt_dlp import YoutubeDL
from yt_dlp.extractor.youtube.jsc._builtin.ejs import ScriptSource, ScriptType
from yt_dlp.utils import DownloadError, ExtractorError, UnsupportedError

from functions.worker.download.errors import classify
from functions.worker.download.progress import ProgressReporter
from functions.worker.download.runner import YtdlpLogger, fetch
from functions.worker.download.site_options import POT_PROVIDER_ARGS, deno_path, site_options
from functions.worker.egress.cookies import cookie_reference, operator_cookies, write_jar
from functions.worker.settings import WorkerSettings
from shared import cookies
from shared.secrets import SecretSource
from tests.support.media import make_mp4

COOKIE_NAME, COOKIE_VALUE = "session", "s3cr3t-value"
JAR = f"{cookies.HEADER}\n127.0.0.1\tFALSE\t/\tFALSE\t0\t{COOKIE_NAME}\t{COOKIE_VALUE}\n"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """yt-dlp may look things up; nothing here may leave the machine."""

    def refuse(*_a: object, **_k: object) -> None:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _youtube_ie(settings: WorkerSettings) -> tuple[YoutubeDL, object]:
    ydl = YoutubeDL({"quiet": True, "no_warnings": True, **site_options(settings, deno=deno_path())})
    ie = ydl.get_info_extractor("Youtube")
    ie.initialize()
    return ydl, ie


# ---------------------------------------------------------------- JavaScript runtime, EJS, PO-token plugin


def test_sites_ytdlp_finds_deno_and_the_ejs_scripts(no_network: None) -> None:
    # GIVEN the worker's options  WHEN yt-dlp's YouTube extractor sets up its challenge solvers
    ydl, ie = _youtube_ie(WorkerSettings())
    runtime = ydl._js_runtimes["deno"].info
    # THEN yt-dlp's own detection finds a supported Deno >= 2.3 ...
    assert runtime is not None and runtime.supported and runtime.version_tuple >= (2, 3)
    deno = ie._jsc_director.providers["Deno"]
    assert deno.is_available()
    # ... and the solver scripts from the yt-dlp-ejs package, at the version this yt-dlp accepts
    import yt_dlp_ejs

    for script_type in (ScriptType.CORE, ScriptType.LIB):
        script = deno._get_script(script_type)
        assert script.source is ScriptSource.PYPACKAGE and script.version == yt_dlp_ejs.version


def test_sites_bgutil_plugin_is_loaded_and_pointed_at_the_provider(no_network: None) -> None:
    _, ie = _youtube_ie(WorkerSettings(pot_provider_url="http://127.0.0.1:4416/"))
    providers = {p.PROVIDER_NAME: p for p in ie._pot_director.providers.values()}
    assert "bgutil:http" in providers
    assert providers["bgutil:http"]._base_url == "http://127.0.0.1:4416"


# ---------------------------------------------------------------- operator options


def test_sites_options_carry_extractor_args_pacing_and_pot_provider() -> None:
    settings = WorkerSettings(
        ytdlp_extractor_args="youtube:player_client=default,-tv;skip=dash", ytdlp_sleep_requests=1.5, pot_provider_url="http://127.0.0.1:4416"
    )
    opts = site_options(settings, deno="/opt/deno", cookiefile=Path("/j/cookies.txt"))
    assert opts["js_runtimes"] == {"deno": {"path": "/opt/deno"}}
    assert opts["extractor_args"] == {
        "youtube": {"player_client": ["default", "-tv"], "skip": ["dash"]},
        POT_PROVIDER_ARGS: {"base_url": ["http://127.0.0.1:4416"]},
    }
    assert opts["sleep_interval_requests"] == 1.5 and opts["cookiefile"] == "/j/cookies.txt"
    assert "extractor_args" not in site_options(WorkerSettings(), deno=None)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("ytdlp_extractor_args", "player_client=web", "YTDLP_EXTRACTOR_ARGS"),
        ("ytdlp_extractor_args", "youtube:player_client", "KEY=VALUE"),
        ("ytdlp_sleep_requests", "-1", "greater than or equal"),
        ("ytdlp_sleep_requests", "soon", "number"),
        ("pot_provider_url", "127.0.0.1:4416", "POT_PROVIDER_URL"),
    ],
)
def test_sites_bad_operator_options_are_refused_with_a_reason(field: str, value: str, named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        WorkerSettings(**{field: value})


def test_sites_worker_refuses_to_start_on_a_bad_setting(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from functions.worker import main as worker_main
    from functions.worker.settings import get_worker_settings

    monkeypatch.setenv("YTDLP_EXTRACTOR_ARGS", "nonsense")
    monkeypatch.setattr(worker_main.logs, "configure", lambda *_: None)
    get_worker_settings.cache_clear()
    try:
        with caplog.at_level("ERROR"):
            assert worker_main.main() == 2
    finally:
        get_worker_settings.cache_clear()
    assert any(getattr(r, "setting", "") == "YTDLP_EXTRACTOR_ARGS" for r in caplog.records)


# ---------------------------------------------------------------- cookies


def test_sites_cookies_parse_merge_and_name_no_value() -> None:
    operator = f"{cookies.HEADER}\n.youtube.com\tTRUE\t/\tTRUE\t0\tSID\top\n#HttpOnly_.example.com\tTRUE\t/\tFALSE\t1\ta\tb\n"
    own = ".youtube.com\tTRUE\t/\tTRUE\t0\tSID\tmine\n"
    assert cookies.domains(operator) == ["example.com", "youtube.com"]
    merged = cookies.merge(operator, own)
    assert "\tmine" in merged and "\top" not in merged and "example.com" in merged  # the key's win per domain
    with pytest.raises(cookies.CookiesError) as bad:
        cookies.parse(f"{cookies.HEADER}\n.youtube.com TRUE / TRUE 0 SID {COOKIE_VALUE}\n")
    assert COOKIE_VALUE not in str(bad.value) and "line 2" in str(bad.value)
    with pytest.raises(cookies.CookiesError, match="JSON"):
        cookies.parse('[{"name": "SID"}]')


def test_sites_operator_cookies_become_a_private_jar_in_the_job_folder(tmp_path: Path) -> None:
    source = tmp_path / "operator-cookies.txt"
    source.write_text(JAR)
    assert cookie_reference(SecretStr(str(source))) == f"file:{source}"
    assert cookie_reference(SecretStr("arn:aws:secretsmanager:us-east-1:1:secret:c")).startswith("arn:")
    secret = operator_cookies(SecretStr(str(source)), SecretSource())
    assert COOKIE_VALUE not in repr(secret)
    job = tmp_path / "job"
    job.mkdir()
    jar = write_jar(job, secret)
    assert jar is not None and jar.parent == job and stat.S_IMODE(jar.stat().st_mode) == 0o600
    assert write_jar(job, None) is None


# A loopback site whose media answers 403 unless the request carries the cookie.
class _CookieSite(BaseHTTPRequestHandler):
    media: bytes = b""

    def log_message(self, *_: object) -> None:
        pass

    def do_GET(self) -> None:
        if f"{COOKIE_NAME}={COOKIE_VALUE}" not in (self.headers.get("Cookie") or ""):
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(self.media)))
        self.end_headers()
        self.wfile.write(self.media)


@pytest.fixture(scope="module")
def cookie_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _CookieSite.media = make_mp4(tmp_path_factory.mktemp("cookie-site") / "clip.mp4", seconds=1, height=144).read_bytes()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CookieSite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/clip.mp4"
    server.shutdown()
    server.server_close()


def _download(url: str, job: Path, cookies_setting: str | None) -> Path:
    settings = WorkerSettings(allow_private_networks=True, cookies_file=cookies_setting)
    job.mkdir()
    jar = write_jar(job, operator_cookies(settings.cookies_file, SecretSource()))
    reporter = ProgressReporter(lambda _p: None, 60)
    try:
        task = {"task_id": "t", "task_type": "get_video", "url": url, "params": {"output_format": "mp4"}}
        return fetch(task, job, settings, reporter, YtdlpLogger(), None, site=site_options(settings, deno=deno_path(), cookiefile=jar))
    finally:
        reporter.close()


def test_sites_operator_cookies_let_a_cookie_walled_download_complete(cookie_site: str, tmp_path: Path) -> None:
    # GIVEN a site that answers 403 without its cookie, and the operator's cookies file
    source = tmp_path / "cookies.txt"
    source.write_text(JAR)
    # WHEN a job runs with COOKIES_FILE set  THEN the media arrives
    out = _download(cookie_site, tmp_path / "job", str(source))
    assert out.name == "video.mp4" and out.stat().st_size > 1000


def test_sites_without_cookies_the_error_names_the_fix(cookie_site: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as raised:
        _download(cookie_site, tmp_path / "job", None)
    failure = classify(raised.value)
    assert failure.permanent
    assert failure.message.startswith("HTTP Error 403") and "configure cookies" in failure.message and "docs/sites.md" in failure.message
    assert "Traceback" not in failure.message


# ---------------------------------------------------------------- errors that name the fix (real yt-dlp texts)


def _raised(call) -> DownloadError:  # type: ignore[no-untyped-def]
    """What YoutubeDL raises when an extractor raises: a DownloadError wrapping the ExtractorError."""
    try:
        call()
    except ExtractorError as err:
        return DownloadError(f"ERROR: {err.msg}", exc_info=sys.exc_info())
    raise AssertionError("nothing raised")


@pytest.fixture(scope="module")
def youtube_ie():  # type: ignore[no-untyped-def]
    ydl = YoutubeDL({"quiet": True, "no_warnings": True})
    return ydl.get_info_extractor("Youtube")


def _youtube_reason(ie, reason: str) -> DownloadError:  # type: ignore[no-untyped-def]
    # How the pinned yt-dlp (youtube/_video.py) turns a sign-in playability reason into its error.
    text = f"{reason.rstrip('.')}. {ie._youtube_login_hint}" if "sign in" in reason.lower() else reason
    return _raised(lambda: ie.raise_no_formats(text, expected=True))


@pytest.mark.parametrize(
    ("reason", "permanent", "fix"),
    [
        ("Sign in to confirm you\u2019re not a bot", True, "configure cookies or a PO-token provider, see docs/sites.md"),
        ("Private video. Sign in if you've been granted access to this video", True, "private"),
        ("Join this channel to get access to members-only content like this video, and other exclusive perks.", True, "members-only"),
        ("Video unavailable. This video has been removed by the uploader", True, "removed or unavailable"),
        ("Sign in to confirm your age. This video may be inappropriate for some users.", True, "age-restricted"),
        ("This content isn't available, try again later.", False, "YTDLP_SLEEP_REQUESTS"),
    ],
)
def test_sites_youtube_refusals_name_their_fix(youtube_ie, reason: str, permanent: bool, fix: str) -> None:  # type: ignore[no-untyped-def]
    failure = classify(_youtube_reason(youtube_ie, reason))
    assert failure.permanent is permanent
    assert fix in failure.message
    assert "--cookies" not in failure.message  # yt-dlp's command-line hints mean nothing to an API user


def test_sites_login_required_geo_and_unsupported_name_their_fix(youtube_ie) -> None:  # type: ignore[no-untyped-def]
    login = classify(_raised(lambda: youtube_ie.raise_login_required(method="cookies")))
    assert login.permanent and "configure cookies" in login.message
    geo = classify(_raised(lambda: youtube_ie.raise_geo_restricted("The uploader has not made this video available in your country", ["DE"])))
    assert geo.permanent and "proxy" in geo.message
    try:
        raise UnsupportedError("https://example.invalid/page")
    except UnsupportedError:
        unsupported = classify(DownloadError("ERROR: Unsupported URL: https://example.invalid/page", exc_info=sys.exc_info()))
    assert unsupported.permanent and "update yt-dlp" in unsupported.message


def test_sites_missing_js_runtime_warning_names_the_fix(no_network: None) -> None:
    # GIVEN yt-dlp without any JS runtime (the real warning it gives then)
    logger = YtdlpLogger()
    ydl = YoutubeDL({"quiet": True, "logger": logger, "js_runtimes": {}})
    ie = ydl.get_info_extractor("Youtube")
    ie.initialize()
    ie._get_requested_clients("https://www.youtube.com/watch?v=aqz-KE-bpKQ", {}, False)
    assert logger.warnings
    # WHEN a job then fails  THEN its error says what to install
    failure = classify(ExtractorError("Requested format is not available", expected=True), warnings=logger.warnings)
    assert "install Deno" in failure.message


# ---------------------------------------------------------------- per-key cookies in a job


@pytest.mark.slow  # deploys the template into the emulator and runs two jobs
def test_sites_only_the_owning_keys_job_uses_its_cookies(cookie_site: str, aws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from functions.worker.download.runner import run_job
    from functions.worker.jobs.spec import JobSpec
    from shared.stores.cookies import CookieStore
    from shared.stores.tasks import TaskStore

    # GIVEN key A's cookies stored (as PUT /cookies does) and a site that answers 403 without them
    settings = WorkerSettings(**{**aws.settings.model_dump(by_alias=True), "allow_private_networks": True})
    CookieStore(aws.clients.dynamodb, settings.cookies_table, aws.clients.kms, settings.keys_kms_key_id).put("owner-a", JAR, ["127.0.0.1"], 1)
    tasks = TaskStore(aws.clients.dynamodb, settings.tasks_table)
    results = {}
    for owner, task_id in (("owner-a", "AAAAAAAAAAAAAAAA"), ("owner-b", "BBBBBBBBBBBBBBBB")):
        task = tasks.create(task_id, owner, "get_video", cookie_site, {"output_format": "mp4"})
        results[owner] = run_job(JobSpec(task=dict(task), settings=settings, job_dir=str(tmp_path / task_id)))
    # THEN A's task completes, B's fails with an error that names the fix, and no jar is left behind
    assert results["owner-a"]["status"] == "completed", results["owner-a"]
    assert results["owner-b"]["status"] == "failed" and "configure cookies" in results["owner-b"]["error"]
    assert not list(tmp_path.glob("*/cookies.txt"))
