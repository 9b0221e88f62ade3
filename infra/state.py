"""The local stack's persistent state under STATE_DIR: its layout, its format version and its upgrades.

    STATE_DIR/FORMAT          the layout version (a number), written last when a state is created
    STATE_DIR/dynamodb/       dynalite's LevelDB (keys, tasks, rate limits), written through on every request
    STATE_DIR/s3/             s3rver's files (the media bucket)
    STATE_DIR/kms-keys.json   the emulated KMS key material (mode 0600), so stored keys still decrypt

`python -m infra.state check|upgrade [STATE_DIR]`. A state that cannot be read stops the start with a StateError
that says what to do; it is never discarded silently.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

FORMAT = 1
DEFAULT_STATE_DIR = Path(__file__).resolve().parent.parent / ".local" / "state"


class StateError(RuntimeError):
    """The state under STATE_DIR cannot be used as it is; the message says why and what to run."""


def state_dir(environ: dict[str, str] | None = None) -> Path:
    """STATE_DIR, or .local/state in the project."""
    value = (environ if environ is not None else os.environ).get("STATE_DIR", "")
    return Path(value).expanduser().resolve() if value else DEFAULT_STATE_DIR


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` so a crash leaves either the old file or the new one: temporary file, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_format(root: Path) -> int | None:
    """The state's format version; None for an empty (or absent) folder. StateError when it cannot be read."""
    marker = root / "FORMAT"
    if not root.exists() or not any(root.iterdir()):
        return None
    if not marker.exists():
        raise StateError(
            f"{root} holds files but no FORMAT marker: it was not written by this stack, or its creation was cut short. "
            f"Move it away to start from empty, or run `python -m infra.state upgrade {root}` if it is a state of this stack."
        )
    try:
        return int(marker.read_text(encoding="utf-8").strip())
    except (OSError, ValueError) as err:
        raise StateError(f"{marker} is unreadable ({err}); restore STATE_DIR from a backup or move it away to start from empty") from err


def open_state(root: Path) -> Path:
    """Check (or create) the state folder at start; StateError when this release cannot use it."""
    version = read_format(root)
    if version is None:
        for sub in ("dynamodb", "s3"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        write_atomic(root / "FORMAT", f"{FORMAT}\n".encode(), mode=0o644)
    elif version > FORMAT:
        raise StateError(f"{root} was written by a newer release (format {version}; this one reads {FORMAT}): run that release, or restore a backup")
    elif version < FORMAT:
        raise StateError(f"{root} has format {version}; run `python -m infra.state upgrade {root}` (back it up first)")
    return root


# Each step takes a state of format N to N + 1. Format 1 is the first on disk: the releases before it kept no state.
UPGRADES: dict[int, Any] = {}


def upgrade(root: Path) -> int:
    """Bring the state to FORMAT, step by step; returns the format it is now in."""
    marker = root / "FORMAT"
    if root.exists() and any(root.iterdir()) and not marker.exists():
        # A folder with the format-1 layout but no marker (its first start was cut short): adopt it.
        if (root / "dynamodb").is_dir():
            write_atomic(marker, b"1\n", mode=0o644)
        else:
            raise StateError(f"{root} does not look like a state of this stack (no dynamodb/ folder); nothing upgraded")
    version = read_format(root)
    if version is None:
        return FORMAT
    if version > FORMAT:
        raise StateError(f"{root} has format {version}, newer than this release's {FORMAT}")
    while version < FORMAT:
        UPGRADES[version](root)
        version += 1
        write_atomic(marker, f"{version}\n".encode(), mode=0o644)
    return version


def load_json(path: Path) -> Any:
    """A JSON file of the state; StateError (never an empty default) when it is present but unreadable."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError) as err:
        raise StateError(f"{path} is unreadable ({err.__class__.__name__}); restore STATE_DIR from a backup") from err


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.state", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("check", "upgrade"))
    parser.add_argument("state_dir", nargs="?", type=Path, default=None)
    args = parser.parse_args(argv)
    root = args.state_dir.resolve() if args.state_dir else state_dir()
    try:
        if args.command == "upgrade":
            print(f"{root}: format {upgrade(root)}")
        else:
            version = read_format(root)
            print(f"{root}: {'empty' if version is None else f'format {version}'} (this release reads {FORMAT})")
    except StateError as err:
        print(f"state error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
