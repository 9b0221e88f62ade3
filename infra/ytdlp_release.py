"""YTDLP_VERSION: run another yt-dlp release than the pinned one, without a code change.

`YTDLP_VERSION` is a release (`2026.8.19`), `latest` (the newest on PyPI) or `nightly` (yt-dlp's nightlies are
PyPI pre-releases). Locally (`make run`) that release and the yt-dlp-ejs it asks for are installed into
`.local/yt-dlp/<version>` and put first on the workers' PYTHONPATH; in AWS, `make deploy` passes it to the image
build (functions/worker/Dockerfile, build argument YTDLP_VERSION). Empty, or the pinned version: nothing changes.

    python -m infra.ytdlp_release 2026.8.19     # installs it and prints the folder
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASES_DIR = ROOT / ".local" / "yt-dlp"
_VERSION = re.compile(r"^\d{4}\.\d{1,2}\.\d{1,2}(?:\.\d+)?(?:\.dev\d+)?$")
_EJS_REQUIREMENT = re.compile(r"^yt-dlp-ejs\s*==\s*([\w.]+)", re.I)


class ReleaseError(ValueError):
    """YTDLP_VERSION names nothing installable."""


def check(version: str) -> str:
    """The normalised YTDLP_VERSION ('' for the pinned release); ReleaseError for anything else."""
    value = (version or "").strip().lower()
    if value in ("", "pinned", pinned_version()):
        return ""
    if value in ("latest", "nightly") or _VERSION.match(value):
        return value
    raise ReleaseError(f"YTDLP_VERSION must be a yt-dlp release such as 2026.8.19, 'latest' or 'nightly', not {version!r}")


def pinned_version() -> str:
    """The yt-dlp version requirements.txt pins (what the venv and the default image run)."""
    text = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    match = re.search(r"^yt-dlp(?:\[[\w,]+\])?==(\S+)", text, re.M)
    return match.group(1) if match else ""


def pip_args(version: str, target: Path) -> list[str]:
    """The pip command that installs `version` of yt-dlp (no dependencies: the venv has them) into `target`."""
    spec = "yt-dlp" if version in ("latest", "nightly") else f"yt-dlp=={version}"
    args = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--upgrade", "--target", str(target), spec]
    if version == "nightly":
        args.insert(-1, "--pre")
    return args


def ejs_requirement(target: Path) -> str | None:
    """The yt-dlp-ejs version the release installed in `target` asks for (its `default` extra)."""
    for dist in metadata.distributions(path=[str(target)]):
        if (dist.metadata["Name"] or "").lower() != "yt-dlp":
            continue
        for requirement in dist.requires or []:
            match = _EJS_REQUIREMENT.match(requirement)
            if match:
                return match.group(1)
    return None


def install(version: str, releases: Path = RELEASES_DIR) -> Path | None:
    """Install YTDLP_VERSION (and its yt-dlp-ejs) into its own folder; None when the pinned release is wanted."""
    wanted = check(version)
    if not wanted:
        return None
    target = releases / wanted
    target.mkdir(parents=True, exist_ok=True)
    _pip(pip_args(wanted, target))
    ejs = ejs_requirement(target)
    if ejs:
        _pip([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--upgrade", "--target", str(target), f"yt-dlp-ejs=={ejs}"])
    return target


def _pip(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " ".join(done.stderr.split()[-40:])
        raise ReleaseError(f"pip could not install that yt-dlp release: {tail}")


def main(argv: list[str]) -> int:
    try:
        target = install(argv[0] if argv else "")
    except ReleaseError as err:
        print(err, file=sys.stderr)
        return 2
    print(target or f"pinned yt-dlp {pinned_version()} (nothing installed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
