"""What yt-dlp runs as `ffmpeg` in a job: the real ffmpeg, with every network input turned into a gateway URL.

yt-dlp is given the folder `bin/` next to this module (`install()`), whose `ffmpeg` wrapper runs this module and
whose `ffprobe` runs the real one; the job's gateway and folder come through the job process's environment. Each `-i` argument is handled here before ffmpeg starts:
* http(s) URLs become `http://<origin>.egress.invalid/...` gateway URLs, with `-http_proxy` pointing at the job's
  loopback proxy, `-protocol_whitelist http,tcp,crypto` and a read/write timeout: ffmpeg can reach nothing but
  the gateway, which checks and rewrites whatever it fetches (functions.worker.egress.playlists);
* `file:` paths and plain paths must lie in the job's folder (the postprocessors' inputs);
* anything else (tcp://, tls://, httpproxy://, udp://, ...) is refused: ffmpeg does not run.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import MutableMapping

from functions.worker.egress.playlists import RefusedUrl, gateway_url

PROTOCOLS = "http,tcp,crypto"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_ENV_GATEWAY, _ENV_FFMPEG, _ENV_ROOT, _ENV_TIMEOUT = "EGRESS_GATEWAY", "EGRESS_FFMPEG", "EGRESS_JOB_DIR", "EGRESS_RW_TIMEOUT"


BIN = Path(__file__).resolve().parent / "bin"


def install(gateway: str, job_dir: Path, rw_timeout: float, environ: MutableMapping[str, str] = os.environ) -> Path:
    """Point the wrappers in BIN at this job (through the job process's environment); returns BIN for yt-dlp.

    The folder is the same for every job, so yt-dlp's ffmpeg version probe, cached per path, is made once in the
    forkserver and costs a job nothing.
    """
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if not ffmpeg or not ffprobe:
        raise FileNotFoundError("ffmpeg and ffprobe must be installed")
    environ.update({
        _ENV_GATEWAY: gateway, _ENV_FFMPEG: ffmpeg, "EGRESS_FFPROBE": ffprobe, "EGRESS_PYTHON": sys.executable,
        _ENV_ROOT: str(job_dir.resolve()), _ENV_TIMEOUT: str(rw_timeout),
    })
    return BIN


def rewrite_args(args: list[str], gateway: str, job_dir: Path, rw_timeout: float) -> list[str]:
    """ffmpeg's arguments with each input made safe; RefusedUrl for an input ffmpeg must not open."""
    out: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "-i" and index + 1 < len(args):
            out += _input(args[index + 1], gateway, job_dir, rw_timeout)
            index += 2
            continue
        out.append(arg)
        index += 1
    return out


def _input(value: str, gateway: str, job_dir: Path, rw_timeout: float) -> list[str]:
    match = _SCHEME.match(value)
    scheme = match.group(1).lower() if match else ""
    if scheme in ("http", "https"):
        timeout = str(max(1, int(rw_timeout * 1_000_000)))
        return ["-http_proxy", gateway, "-protocol_whitelist", PROTOCOLS, "-rw_timeout", timeout, "-i", gateway_url(value)]
    if scheme in ("file", ""):
        path = Path(value[5:] if scheme else value)
        if value != "-" and not (job_dir / path).resolve().is_relative_to(job_dir):
            raise RefusedUrl("refusing a local file outside the job's folder as ffmpeg input")
        return ["-protocol_whitelist", "file,pipe", "-i", value]
    raise RefusedUrl(f"refusing {scheme}: URLs as ffmpeg input: only http(s) URLs are downloaded")


def main(argv: list[str]) -> int:
    ffmpeg = os.environ.get(_ENV_FFMPEG) or shutil.which("ffmpeg") or "ffmpeg"
    try:
        if _ENV_GATEWAY in os.environ:
            args = rewrite_args(argv, os.environ[_ENV_GATEWAY], Path(os.environ[_ENV_ROOT]), float(os.environ[_ENV_TIMEOUT]))
        elif "-i" in argv:
            raise RefusedUrl("refusing to run ffmpeg on an input outside a job")
        else:
            args = list(argv)  # `ffmpeg -version` and the like (the version probe)
    except RefusedUrl as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    # yt-dlp hands its own proxy (the SOCKS5 one, which ffmpeg cannot use) in the environment: only the gateway.
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        os.environ.pop(name, None)
    if _ENV_GATEWAY in os.environ:
        os.environ["http_proxy"] = os.environ[_ENV_GATEWAY]
    os.execv(ffmpeg, [ffmpeg, *args])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
