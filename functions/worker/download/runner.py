"""One job, inside its own child process: yt-dlp as a library in the job's scratch folder, then the upload.

The child starts from a warm forkserver (see functions.worker.jobs.child), becomes the leader of its own process
group (so the parent can kill it together with its ffmpeg), dies with its parent (PR_SET_PDEATHSIG plus a
watchdog thread), builds its own AWS clients and, unless private networks are allowed, installs the SSRF guard
before yt-dlp makes its first request. It reports one small dict back through a pipe; the parent settles the
task and the message.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import re
import select
import shutil
import signal
import threading
import time
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from typing import Any, Iterator, Mapping

from yt_dlp import YoutubeDL
from yt_dlp.networking import Request
from yt_dlp.utils import DownloadError

from shared import logs
from functions.worker.download.containers import media_duration, to_container
from functions.worker.download.convert import to_gif
from functions.worker.download.errors import DiskBudgetExceeded, PermanentJobError, classify
from functions.worker.egress import ffmpeg_shim
from functions.worker.egress.blocking import looks_blocked
from functions.worker.download.limits import Limits
from functions.worker.egress.guard import AddressGuard
from functions.worker.egress.playlists import RefusedUrl, refuse_unless_http
from functions.worker.egress.upstream import UpstreamProxy, order_for_attempt, parse_proxy_urls
from functions.worker.download.options import JobPlan, build_plan, live_start_index, media_playlist_durations
from functions.worker.jobs.disk import gib, job_budget, used_bytes
from functions.worker.download.site_options import deno_path, site_options
from functions.worker.egress.cookies import cookie_reference, operator_cookies, write_jar
from functions.worker.download.progress import GrowthMeter, ProgressReporter, TransferMeter, download_progress, make_progress
from functions.worker.egress.proxy import GuardedProxy
from functions.worker.settings import WorkerSettings
from functions.worker.jobs.spec import JobSpec
from shared.aws import AWS_ERRORS, AwsClients, make_client
from shared.stores.cookies import CookieStore
from shared.secrets import SecretSource, reference_kind
from shared.urls import is_public_address
from shared.stores.media import MediaStore
from shared.stores.uploads import part_size
from functions.worker.upload.ahead import UploadAhead, kept_name
from functions.worker.playlist import mark_processing, output_names, run_playlist_job, side_outputs
from shared.stores.tasks import TaskStore

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_MAX_PLAYLIST_BYTES = 2 * 1024 * 1024
_BY_DESIGN = "does not support SOCKS proxies"
_SAFE_LANGUAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


def child_main(spec: JobSpec, conn: Any) -> None:
    """Entry point of a job's child process: run the job and send its result to the parent."""
    _become_job_process(conn.fileno())
    _lower_priority(spec.settings.job_nice)
    logs.configure("worker-job")
    result = run_job(spec)
    conn.send(result)  # left open: the watchdog watches this pipe until the process exits


def run_job(spec: JobSpec) -> dict[str, Any]:
    """Download, convert and upload one task's output; returns {'status': 'completed', 'file_name'} or a failure."""
    task, settings = spec.task, spec.settings
    task_id = task["task_id"]
    job_dir = Path(spec.job_dir)
    extra = {"task_id": task_id, "task_type": task.get("task_type"), "host": logs.url_host(task.get("url", ""))}
    started = time.monotonic()
    clients = AwsClients(settings, dynamodb=make_client("dynamodb", settings))
    tasks = TaskStore(clients.dynamodb, settings.tasks_table)
    media = MediaStore(make_client("s3", settings, read_timeout=60), settings.media_bucket)
    reporter = ProgressReporter(lambda p: tasks.set_progress(task_id, p), settings.progress_interval)
    # Parts sized for the largest file a job may make (MAX_FILESIZE), so any download fits in 10,000 parts.
    # Not for a playlist's entries: their files are stored under the playlist's id, with other names.
    ahead = None
    if settings.upload_ahead and not task.get("playlist_id"):
        ahead = UploadAhead(media, task_id, part_size(settings.max_filesize), settings.upload_concurrency)
    guard: AddressGuard | None = None
    proxy: GuardedProxy | None = None
    ylog = YtdlpLogger()
    budget = 0
    try:
        shutil.rmtree(job_dir, ignore_errors=True)
        job_dir.mkdir(parents=True)
        budget = job_budget(settings, job_dir)
        # Every connection leaves through the job's loopback proxy, which checks each destination at connect time;
        # with private networks allowed it still runs (upstream proxies, ffmpeg's gateway), checking nothing.
        guard = AddressGuard(is_allowed=_allow_all if settings.allow_private_networks else is_public_address)
        upstreams = _upstream_proxies(settings)
        for endpoint in [*((p.host, p.port) for p in upstreams), *_pot_provider(settings)]:
            guard.allow_endpoint(*endpoint)
        if not settings.allow_private_networks:
            guard.install()
            # ffmpeg skips its proxy for hosts in no_proxy: nothing may bypass the gateway.
            for name in ("no_proxy", "NO_PROXY"):
                os.environ.pop(name, None)
        proxy = GuardedProxy(guard, connect_timeout=settings.socket_timeout, idle_timeout=max(60.0, 3 * settings.socket_timeout)).start()
        log.info("job started", extra=extra)
        # The key's own cookies win over the operator's for the same domain; only this key's jobs see them.
        own = CookieStore(clients.dynamodb, settings.cookies_table, clients.lazy("kms"), settings.keys_kms_key_id).get(task["owner"]) if task.get("owner") else None
        jar = write_jar(job_dir, spec.operator_cookies or operator_cookies(settings.cookies_file, _secret_source(settings)), own)
        site = site_options(settings, deno=deno_path(), cookiefile=jar)
        if task.get("task_type") == "get_playlist":
            return run_playlist_job(task, settings, job_dir, site, ylog, proxy, upstreams, tasks, media, reporter, ConfinedYoutubeDL)
        if task.get("playlist_id"):
            mark_processing(tasks, task)
        if int(task.get("attempts") or 1) > 1:
            _abort_earlier_uploads(media, task_id, extra)
        seen: dict[str, Any] = {}
        path = _fetch_rotating(task, job_dir, settings, reporter, ylog, proxy, upstreams, extra, budget, site, ahead, seen)
        fetched = time.monotonic()
        owner_id, named = output_names(task, path, side_outputs(job_dir, task.get("params") or {}, path))
        size = sum(p.stat().st_size for p, _ in named)
        reporter.report(make_progress("uploading", 0, size))
        meter = TransferMeter(size, reporter.report)
        # The main file may already be up (uploaded ahead, under this task's id and its own name); the rest goes now.
        ahead_done = ahead is not None and ahead.finish(path)
        for file, name in named[1:] if ahead_done else named:
            media.upload(owner_id, file, name, callback=meter, concurrency=settings.upload_concurrency)
        # The time from the download's end to a downloadable file (post-steps included): what uploading ahead cuts.
        ended = ahead.download_ended if ahead is not None else None
        timing = {"after_download": round(time.monotonic() - ended, 3), "post_steps": round(fetched - ended, 3)} if ended is not None else {}
        log.info("job produced its file", extra={
            **extra, "file_name": named[0][1], "files": len(named), "bytes": size, "seconds": round(time.monotonic() - started, 2),
            "uploaded_ahead": ahead_done, **timing,
        })
        # A live stream's recording is never a shared result, whichever endpoint asked for it. The outcome is the same
        # whether the file went up ahead or after: the service counts its bytes, publishes it and queues the webhook.
        return {"status": "completed", "file_name": named[0][1], "files": [name for _, name in named], "live": bool(seen.get("live")), "bytes": size}
    except Exception as err:
        failure = classify(err, guard.refusals if guard else (), ylog.warnings, used=used_bytes(job_dir), budget=budget)
        message = failure.message
        if _lacks_detail(err) and ylog.warnings:
            message = f"{message} ({ylog.warnings[-1]})"
        failures = proxy.upstream_failures() if proxy else []
        if failures and not (guard and guard.refusals):
            message = f"{message} ({failures[-1]})"
        log.info("job failed", extra={**extra, "permanent": failure.permanent, "error": message, "error_type": type(err).__name__})
        return {"status": "failed", "permanent": failure.permanent, "error": message}
    finally:
        if ahead is not None:
            ahead.close()  # aborts a multipart upload that did not complete, whatever stopped the job
        reporter.close()
        if proxy is not None:
            proxy.stop()
        if guard is not None:
            guard.uninstall()
        shutil.rmtree(job_dir, ignore_errors=True)


def _fetch_rotating(
    task: Mapping[str, Any], job_dir: Path, settings: WorkerSettings, reporter: ProgressReporter, ylog: "YtdlpLogger",
    proxy: GuardedProxy, upstreams: list[UpstreamProxy], extra: dict[str, Any], budget: int = 0,
    site: Mapping[str, Any] | None = None, ahead: UploadAhead | None = None,
    seen: dict[str, Any] | None = None,
) -> Path:
    """fetch() through the attempt's proxy; a failure that looks like blocking moves on to the next one at once."""
    order: list[UpstreamProxy | None] = list(order_for_attempt(upstreams, int(task.get("attempts") or 1))) or [None]
    for index, upstream in enumerate(order):
        proxy.use(upstream)
        try:
            return fetch(task, job_dir, settings, reporter, ylog, proxy, budget, site, ahead, seen)
        except Exception as err:
            last = index == len(order) - 1
            if upstream is None or last or proxy.refused() or not looks_blocked(err, proxy.upstream_failures()):
                raise
            log.info("blocked through an upstream proxy, trying the next one", extra={**extra, "proxy": upstream.label, "error_type": type(err).__name__})
            if ahead is not None:
                ahead.close()  # what was uploaded ahead is from the blocked attempt
                ahead.declined = "retried through another proxy"
            shutil.rmtree(job_dir, ignore_errors=True)
            job_dir.mkdir(parents=True)
    raise AssertionError("unreachable")


def _abort_earlier_uploads(media: MediaStore, task_id: str, extra: dict[str, Any]) -> None:
    """A killed earlier attempt (timeout, lost worker) may have left a multipart upload: abort it now."""
    try:
        if count := media.abort_unfinished_uploads(task_id):
            log.info("aborted multipart uploads of an earlier attempt", extra={**extra, "uploads": count})
    except AWS_ERRORS as err:  # the lifecycle rule (AbortIncompleteMultipartUpload) is the backstop
        log.warning("could not look for an earlier attempt's uploads", extra={**extra, "error": str(err)})


def _allow_all(_address: str) -> bool:
    return True


def _upstream_proxies(settings: WorkerSettings) -> list[UpstreamProxy]:
    """PROXY_URLS, read through the secrets interface (a Secrets Manager ARN in AWS)."""
    if settings.proxy_urls is None or not settings.proxy_urls.get_secret_value():
        return []
    source = SecretSource(make_client("secretsmanager", settings))
    secret = source.get(settings.proxy_urls)
    return parse_proxy_urls(secret.reveal() if secret else None)


def _pot_provider(settings: WorkerSettings) -> list[tuple[str, int]]:
    """The PO-token provider's host:port: an allowed destination of the guard, even on a private address."""
    if not settings.pot_provider_url:
        return []
    parts = urlsplit(settings.pot_provider_url)
    if not parts.hostname:
        return []
    return [(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))]


def fetch(
    task: Mapping[str, Any],
    job_dir: Path,
    settings: WorkerSettings,
    reporter: ProgressReporter,
    ylog: "YtdlpLogger",
    proxy: GuardedProxy | None,
    budget: int = 0,
    site: Mapping[str, Any] | None = None,
    ahead: UploadAhead | None = None,
    seen: dict[str, Any] | None = None,
) -> Path:
    """Run yt-dlp (and the GIF step) for the task; returns the output file, named `<stem>.<ext>`, in job_dir.

    `site`: the operator's options for every job (JS runtime, cookies, extractor args; see download.site_options).
    `seen`: filled with what the extraction learnt that the caller needs (`live`: the media was a live stream).
    """
    url = task["url"]
    egress: dict[str, Any] = {}
    if proxy is not None:
        shim = ffmpeg_shim.install(proxy.url, job_dir, settings.socket_timeout)
        egress = {"proxy": proxy.socks_url, "ffmpeg_location": str(shim)}
    limits = {"max_filesize": settings.max_filesize, "max_duration": settings.max_duration}
    common = {"socket_timeout": settings.socket_timeout, "fragment_concurrency": settings.fragment_concurrency, "sponsorblock_api": settings.sponsorblock_api, **egress, **limits}
    plan = build_plan(task, job_dir, **common)
    # Sections (clips, live recordings) go through ffmpeg, which reports nothing until it is done: measure instead.
    meter = None
    if "download_ranges" in plan.ydl_opts:
        meter = GrowthMeter(job_dir, reporter.report, settings.progress_interval, plan.live.duration if plan.live else None)
    hooks = _Hooks(reporter, meter, plan.limits, job_dir=job_dir, budget=budget, ahead=ahead)
    if ahead is not None:
        ahead.expect(kept_name(plan))

    def ydl_for(p: JobPlan) -> ConfinedYoutubeDL:
        opts = {**(site or {}), **p.ydl_opts, "logger": ylog, "progress_hooks": [hooks.on_download], "postprocessor_hooks": [hooks.on_postprocess]}
        return ConfinedYoutubeDL(opts, root=job_dir)

    if plan.info_only:
        with ydl_for(plan) as ydl:
            info = ydl.sanitize_info(ydl.extract_info(url, download=False))
        path = job_dir / "info.json"
        path.write_text(json.dumps(info, ensure_ascii=False, default=str), encoding="utf-8")
        return path

    if plan.live is not None:
        with ydl_for(plan) as ydl:
            info = ydl.extract_info(url, download=False)
            if not (info.get("is_live") or info.get("live_status") == "is_live"):
                status = info.get("live_status") or "not_live"
                raise PermanentJobError(f"The URL is not a live stream right now (live_status: {status})")
            index = _live_start_index(ydl, info, plan.live.start)
        # Same options plus where ffmpeg starts in the playlist; reuse the extracted info (no second extraction).
        plan = build_plan(task, job_dir, live_start_index=index, **common)
        with ydl_for(plan) as ydl, hooks.metering():
            info = ydl.process_ie_result(info, download=True)
    else:
        with ydl_for(plan) as ydl, hooks.metering():
            info = ydl.extract_info(url, download=True)
    if seen is not None:
        seen["live"] = plan.live is not None or bool(info.get("is_live")) or info.get("live_status") == "is_live"

    path = _output_path(hooks.final_path, info, job_dir, plan.stem)
    if plan.gif is not None:
        reporter.report(make_progress("processing", None, None))
        gif = job_dir / "video.gif"
        to_gif(path, gif, plan.gif)
        if path != gif:
            path.unlink(missing_ok=True)
        path = gif
    elif plan.container is not None:
        reporter.report(make_progress("processing", None, None))
        path = to_container(path, plan.container, max_filesize=settings.max_filesize, keep=plan.keep_streams)
    if plan.limits is not None:
        plan.limits.check_output(path, None if plan.limits.live or plan.info_only else media_duration(path))
    return _deterministic_name(path, plan.stem)


class ConfinedYoutubeDL(YoutubeDL):
    """YoutubeDL that refuses any output path outside the job's folder."""

    def __init__(self, params: dict[str, Any], root: Path) -> None:
        self._root = root.resolve()
        super().__init__(params)

    def prepare_filename(self, info_dict: Any, dir_type: str = "", *, outtmpl: Any = None, warn: bool = False) -> str:
        name = super().prepare_filename(info_dict, dir_type, outtmpl=outtmpl, warn=warn)
        if name and name != "-" and not Path(name).resolve().is_relative_to(self._root):
            raise PermanentJobError("Refusing to write outside the job's folder")
        return name

    def process_subtitles(self, video_id: Any, normal_subtitles: Any, automatic_captions: Any) -> Any:
        """Only languages whose code is a plain name: the code becomes part of the subtitle file's name."""
        chosen = super().process_subtitles(video_id, normal_subtitles, automatic_captions)
        return {lang: sub for lang, sub in (chosen or {}).items() if _SAFE_LANGUAGE.match(str(lang))} or None

    def dl(self, name: str, info: dict[str, Any], subtitle: bool = False, test: bool = False) -> Any:
        """Refuse any non-http(s) URL in the formats and fragments before a downloader (ffmpeg) sees it."""
        try:
            for url in _media_urls(info):
                refuse_unless_http(url)
        except RefusedUrl as err:
            raise PermanentJobError(str(err)) from None
        return super().dl(name, info, subtitle=subtitle, test=test)


def _media_urls(info: Mapping[str, Any]) -> Iterator[str]:
    """Every URL a downloader would open for this (possibly merged) format: media, manifest, fragments."""
    for fmt in [info, *(info.get("requested_formats") or [])]:
        for key in ("url", "manifest_url", "fragment_base_url"):
            if fmt.get(key):
                yield str(fmt[key])
        base = fmt.get("fragment_base_url") or fmt.get("url") or ""
        for fragment in fmt.get("fragments") or []:
            if fragment.get("url"):
                yield str(fragment["url"])
            elif fragment.get("path"):
                yield urljoin(str(base), str(fragment["path"]))


class YtdlpLogger:
    """yt-dlp's logger: keeps the last warnings for messages, forwards everything at debug level."""

    def __init__(self) -> None:
        self.warnings: deque[str] = deque(maxlen=10)

    def debug(self, msg: str) -> None:
        log.debug(msg)

    def info(self, msg: str) -> None:
        log.debug(msg)

    def warning(self, msg: str) -> None:
        if _BY_DESIGN in msg:
            return  # ffmpeg never sees the SOCKS proxy: the ffmpeg shim points it at the job's gateway instead
        self.warnings.append(_one_line(msg))
        log.debug("yt-dlp warning", extra={"detail": _one_line(msg)})

    def error(self, msg: str) -> None:
        log.debug("yt-dlp error", extra={"detail": _one_line(msg)})


class _Hooks:
    """Progress from yt-dlp's hooks, and the final file from the last postprocessor (metube's way)."""

    def __init__(
        self, reporter: ProgressReporter, meter: GrowthMeter | None = None, limits: Limits | None = None, job_dir: Path | None = None, budget: int = 0,
        ahead: UploadAhead | None = None,
    ) -> None:
        self._reporter = reporter
        self._ahead = ahead
        self._meter = meter
        self._limits = limits
        self._job_dir = job_dir
        self._budget = budget
        self._checked = 0.0
        self._downloaded = False
        self.final_path: str | None = None

    @contextmanager
    def metering(self) -> Iterator[None]:
        """The growth meter (if any) runs while the download does."""
        if self._meter is None:
            yield
            return
        self._meter.start()
        try:
            yield
        finally:
            self._meter.stop()

    def on_download(self, hook: dict[str, Any]) -> None:
        self.check_disk()
        if self._limits is not None:
            self._limits.check_progress(hook.get("downloaded_bytes"))  # raising here stops yt-dlp's download
        if hook.get("status") == "finished":
            self._downloaded = True
        if self._ahead is not None:
            self._ahead.on_download(hook)
        progress = download_progress(hook)
        if progress is not None:
            self._reporter.report(progress)

    def check_disk(self) -> None:
        """Stop the download (yt-dlp lets a hook's exception through) once the job outgrows its disk share."""
        if not self._budget or self._job_dir is None or time.monotonic() - self._checked < 1.0:
            return
        self._checked = time.monotonic()
        if used_bytes(self._job_dir) > self._budget:
            raise DiskBudgetExceeded(f"Out of disk space: the job needs more than its {gib(self._budget)} of scratch disk")

    def on_postprocess(self, hook: dict[str, Any]) -> None:
        # Postprocessors that run before the download (e.g. on the extracted info) are not the processing stage.
        if hook.get("status") == "started" and self._downloaded:
            if self._meter is not None:
                self._meter.stop()
            self._reporter.report(make_progress("processing", None, None))
        elif hook.get("status") == "finished":
            path = (hook.get("info_dict") or {}).get("filepath")
            if path:
                self.final_path = path


def _live_start_index(ydl: YoutubeDL, info: Mapping[str, Any], start: float) -> int | None:
    """Where ffmpeg should begin in the live HLS playlist for `start` seconds back (None: not HLS)."""
    fmt = (info.get("requested_formats") or [info])[0]
    if not str(fmt.get("protocol") or "").startswith("m3u8") or not fmt.get("url"):
        return None
    with ydl.urlopen(Request(fmt["url"], headers=fmt.get("http_headers") or {})) as response:
        text = response.read(_MAX_PLAYLIST_BYTES).decode("utf-8", "replace")
    return live_start_index(media_playlist_durations(text), start)


def _output_path(hooked: str | None, info: Mapping[str, Any] | None, job_dir: Path, stem: str) -> Path:
    """The file yt-dlp produced: from the postprocessor hook, else the info dict, else the folder."""
    candidates: list[str] = [hooked] if hooked else []
    for entry in [info or {}, *((info or {}).get("entries") or [])]:
        if isinstance(entry, Mapping):
            candidates += [d.get("filepath") for d in entry.get("requested_downloads") or [] if d.get("filepath")]
    for candidate in candidates:
        path = Path(candidate)
        if path.is_file() and path.resolve().is_relative_to(job_dir.resolve()):
            return path
    found = sorted(p for p in job_dir.glob(f"{stem}.*") if p.is_file() and not p.name.endswith((".part", ".ytdl", ".temp")))
    if len(found) == 1:
        return found[0]
    raise PermanentJobError("The download produced no file")


def _deterministic_name(path: Path, stem: str) -> Path:
    """`<stem>.<ext>`, so a re-run overwrites its output instead of adding a second one."""
    ext = "".join(c for c in path.suffix.lower().lstrip(".") if c.isalnum())[:8] or "bin"
    target = path.with_name(f"{stem}.{ext}")
    if target != path:
        path.replace(target)
    return target


def _secret_source(settings: WorkerSettings) -> SecretSource:
    """Reads the operator's cookies; a Secrets Manager client only when they live there."""
    ref = cookie_reference(settings.cookies_file)
    client = make_client("secretsmanager", settings) if ref and reference_kind(ref) == "arn" else None
    return SecretSource(client)


def _lacks_detail(err: BaseException) -> bool:
    """A bare DownloadError ('ffmpeg exited with code 1') says little; the last warning may say more."""
    return isinstance(err, DownloadError) and not (err.exc_info and err.exc_info[1])


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:500]


def _lower_priority(increment: int) -> None:
    """Run this job (and the ffmpeg it starts, which inherits it) below the worker, the API and the emulator."""
    if increment > 0:
        try:
            niceness = os.nice(increment)
        except OSError as err:  # e.g. a container without the permission: the job still runs
            log.warning("could not lower the job's CPU priority: %s", err)
            return
        # The job leads its own session (setsid), and Linux's autogroup scheduling gives every session an equal
        # share of the CPU whatever its processes' nice: 8 jobs would get 8 shares to the API's one. The
        # session's own nice is what ranks it (sched(7), /proc/<pid>/autogroup); absent without autogroups.
        try:
            with open("/proc/self/autogroup", "w") as group:
                group.write(str(niceness))
        except OSError:
            pass


def _become_job_process(result_fd: int) -> None:
    """Own process group (killed as a whole) and die with the worker, even a SIGKILLed one.

    The parent of a forkserver child is the forkserver, which exits when the worker is gone -- but only once
    no process holds the "alive" pipe that Python's forkserver hands every child; so the child drops its copy
    first. Then PR_SET_PDEATHSIG delivers SIGTERM when the forkserver exits. Independently, a watchdog thread
    waits for the worker's end of the result pipe to close (poll reports POLLERR on a pipe without readers).
    """
    os.setsid()
    parent = os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _kill_own_group)
    _drop_forkserver_alive_fd()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the watchdog below still works
        pass
    if os.getppid() != parent:
        _kill_own_group()
    threading.Thread(target=_watch_worker, args=(result_fd,), name="worker-watchdog", daemon=True).start()


def _drop_forkserver_alive_fd() -> None:
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(fd, int):
        try:
            os.close(fd)
        except OSError:
            pass
        server._forkserver_alive_fd = None  # type: ignore[union-attr]


def _watch_worker(result_fd: int) -> None:
    """Block until nobody can read the result pipe any more (the worker died), then kill this job."""
    poller = select.poll()
    poller.register(result_fd, 0)  # no events asked: only POLLERR/POLLHUP (no reader left) wake us
    while True:
        events = poller.poll()
        if any(flags & (select.POLLERR | select.POLLHUP) for _, flags in events):
            _kill_own_group()
        if any(flags & select.POLLNVAL for _, flags in events):
            return  # the pipe was closed here: nothing left to watch


def _kill_own_group(*_: object) -> None:
    """Kill this process and everything it started (ffmpeg); SIGKILL, since the parent is gone."""
    os.killpg(0, signal.SIGKILL)
