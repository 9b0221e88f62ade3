"""`python -m infra.build_lambda [--check]`: the Lambda package that template.yaml's `CodeUri: build/lambda/` points at.

build/lambda/ holds the API, cleanup and notify functions (functions/api, functions/cleanup, functions/notify), shared/, and the runtime
dependencies of infra/lambda-requirements.txt installed for the Lambda runtime (python3.11, arm64) by pip's
cross-platform wheel selection. No tests, no worker, no yt-dlp or ffmpeg; everything byte-compiled for a read-only
folder (see compile_package). `sam deploy` zips this
folder as it is and uploads it (this replaces `sam build`, see infra/deploy.sh).

The build ends by checking the result (entry points present and compiled, nothing forbidden, exactly the pinned
distributions, arm64 binaries) and printing its unzipped and zipped size. `--check` also builds the same package for this
machine's platform in a temporary folder and imports both handlers from it with nothing else on the path, then
sends the API handler an HTTP API event: a missing module or a broken import fails the build here, not in AWS.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from py_compile import PycInvalidationMode
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "build" / "lambda"
REQUIREMENTS = ROOT / "infra" / "lambda-requirements.txt"

# What the package holds of this repository (paths relative to ROOT).
SOURCES = ("functions/__init__.py", "functions/api", "functions/cleanup", "functions/notify", "shared")
# Wheels for the Lambda runtime of template.yaml (Runtime python3.11, Architectures arm64), whatever the build host.
LAMBDA_PLATFORM = (
    "--platform", "manylinux2014_aarch64",
    "--implementation", "cp",
    "--python-version", "3.11",
    "--only-binary=:all:",
)  # fmt: skip
# Entry points named by template.yaml's Handler properties.
HANDLERS = ("functions/api/handler.py", "functions/cleanup/handler.py", "functions/notify/handler.py")
# Must never be in the package: the worker and what only it, the local stack or the tests need.
FORBIDDEN = ("functions/worker", "tests", "infra", "yt_dlp", "moto", "uvicorn", "samtranslator", "cfnlint", "pytest")
# botocore ships the models of 400+ services; the functions call these (and credential providers may call sts/sso).
# Keeping only them makes the package smaller and the first client faster: botocore lists its data folders
# the first time it builds a client, a cold-start cost that grows with every service it carries.
BOTOCORE_SERVICES = ("dynamodb", "sqs", "s3", "kms", "secretsmanager", "sts", "sso", "sso-oidc")
# Lambda's limit for a function's unzipped code (layers included); zipped, sam deploy uploads through S3.
UNZIPPED_LIMIT = 250 * 1024 * 1024
_ELF_MACHINE_AARCH64 = 183

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


class BuildError(Exception):
    """The package is not what the template needs."""


def normalize(name: str) -> str:
    """A distribution name in its PEP 503 form."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_requirements(path: Path = REQUIREMENTS) -> dict[str, str]:
    """name → version of every `name==version` line; anything else that is not a comment is refused."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = _PIN.match(line)
        if not match:
            raise BuildError(f"{path.name}: not an exact pin: {line!r}")
        pins[normalize(match.group(1))] = match.group(2)
    return pins


def copy_sources(dest: Path) -> None:
    """The functions' code into `dest`, without caches."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
    for relative in SOURCES:
        source, target = ROOT / relative, dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            shutil.copy2(source, target)


def install_dependencies(dest: Path, platform: Sequence[str] = LAMBDA_PLATFORM, requirements: Path = REQUIREMENTS) -> None:
    """pip install the pinned dependencies into `dest`, with wheels for `platform` (() = this machine)."""
    command = [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check",
        "--no-compile",  # compiled below, all at once, in a form Lambda can use
        *platform,
        "--target", str(dest),
        "-r", str(requirements),
    ]  # fmt: skip
    subprocess.run(command, check=True, cwd=ROOT)
    # Console scripts with this machine's interpreter in their shebang: of no use in a Lambda function.
    shutil.rmtree(dest / "bin", ignore_errors=True)
    prune_botocore_data(dest)


def prune_botocore_data(dest: Path, keep: Sequence[str] = BOTOCORE_SERVICES) -> None:
    """Remove the models of the services the functions never call (the shared files at the top stay)."""
    data = dest / "botocore" / "data"
    for entry in data.iterdir() if data.is_dir() else ():
        if entry.is_dir() and entry.name not in keep:
            shutil.rmtree(entry)


def build(dest: Path = BUILD_DIR, platform: Sequence[str] = LAMBDA_PLATFORM) -> Path:
    """A fresh package in `dest` (its previous content is removed)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    copy_sources(dest)
    install_dependencies(dest, platform)
    compile_package(dest)
    return dest


def compile_package(dest: Path) -> None:
    """Byte-compile everything as unchecked-hash .pyc files.

    Lambda's code folder is read-only, so without them every cold start compiles every module it imports. The
    usual timestamp-checked .pyc would be trusted or not depending on how the zip kept file times; unchecked-hash
    ones are used as they are (the package is immutable once deployed). Same Python (3.11) as the runtime.
    """
    if not compileall.compile_dir(str(dest), quiet=2, invalidation_mode=PycInvalidationMode.UNCHECKED_HASH, workers=0):
        raise BuildError("byte-compiling the package failed")


def pyc_flags(path: Path) -> int:
    """The PEP 552 flags of a .pyc: 1 = hash-based, not checked against its source."""
    with open(path, "rb") as f:
        return int.from_bytes(f.read(8)[4:8], "little")


def installed_distributions(dest: Path) -> dict[str, str]:
    """name → version of the distributions pip installed into `dest`."""
    found: dict[str, str] = {}
    for metadata in dest.glob("*.dist-info/METADATA"):
        fields = dict(
            line.split(": ", 1) for line in metadata.read_text(encoding="utf-8").splitlines() if ": " in line
        )
        found[normalize(fields["Name"])] = fields["Version"]
    return found


def elf_machine(path: Path) -> int | None:
    """The ELF e_machine of a shared object (None when the file is not ELF)."""
    with open(path, "rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


def verify(dest: Path, pins: dict[str, str] | None = None, arm64: bool = True) -> None:
    """Raise BuildError unless `dest` is a package template.yaml can run."""
    problems: list[str] = []
    problems += [f"missing {h}" for h in HANDLERS if not (dest / h).is_file()]
    problems += [f"must not contain {name}" for name in FORBIDDEN if (dest / name).exists()]
    tag = sys.implementation.cache_tag
    for source in (dest / h for h in HANDLERS):
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        if source.is_file() and (not pyc.is_file() or pyc_flags(pyc) != 1):
            problems.append(f"{pyc.relative_to(dest)} is not an unchecked-hash .pyc")
    problems += [f"timestamp-checked {p.relative_to(dest)}" for p in dest.rglob("*.pyc") if pyc_flags(p) != 1]
    data = dest / "botocore" / "data"
    if data.is_dir():
        services = {p.name for p in data.iterdir() if p.is_dir()}
        problems += [f"botocore has no model for {name}" for name in BOTOCORE_SERVICES if name not in services]
        problems += [f"botocore carries the unused model {name}" for name in sorted(services - set(BOTOCORE_SERVICES))]

    pins = pinned_requirements() if pins is None else pins
    installed = installed_distributions(dest)
    if installed != pins:
        unpinned = sorted(set(installed) - set(pins))
        missing = sorted(set(pins) - set(installed))
        differ = sorted(n for n in set(pins) & set(installed) if pins[n] != installed[n])
        problems.append(f"distributions differ from {REQUIREMENTS.name}: unpinned {unpinned}, missing {missing}, other version {differ}")

    if arm64:
        wrong = [str(p.relative_to(dest)) for p in dest.rglob("*.so") if elf_machine(p) not in (None, _ELF_MACHINE_AARCH64)]
        if wrong:
            problems.append(f"not arm64 (aarch64) binaries: {wrong}")

    unzipped, _ = sizes(dest, zipped=False)
    if unzipped > UNZIPPED_LIMIT:
        problems.append(f"{unzipped / 2**20:.1f} MiB unzipped is over Lambda's 250 MiB limit")
    if problems:
        raise BuildError("; ".join(problems))


def sizes(dest: Path, zipped: bool = True) -> tuple[int, int]:
    """(bytes of every file, bytes of the deflated zip that sam deploy would upload; 0 if not asked)."""
    files = sorted(p for p in dest.rglob("*") if p.is_file())
    unzipped = sum(p.stat().st_size for p in files)
    if not zipped:
        return unzipped, 0
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "lambda.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in files:
                zf.write(p, p.relative_to(dest).as_posix())
        return unzipped, archive.stat().st_size


_SMOKE_TEST = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import functions.api.handler as api
import functions.cleanup.handler as cleanup
import functions.notify.handler as notify
event = json.loads(sys.argv[2])
response = api.lambda_handler(event, None)
assert response["statusCode"] == 200, response
assert json.loads(response["body"])["info"]["title"], response["body"][:200]
assert callable(cleanup.lambda_handler) and callable(notify.lambda_handler)
outside = sorted({m.__file__ for m in list(sys.modules.values())
                  if getattr(m, "__file__", None) and "site-packages" in m.__file__})
assert not outside, outside
assert not any(m.split(".")[0] in ("yt_dlp", "uvicorn", "moto") for m in sys.modules)
print("ok")
"""


def smoke_test() -> None:
    """Build the same package for this machine and call both handlers' modules from it, with nothing else on the path."""
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/openapi.json",
        "rawQueryString": "",
        "headers": {"host": "api.example.com"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "http": {"method": "GET", "path": "/openapi.json", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "check"},
            "requestId": "id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
        "isBase64Encoded": False,
    }
    with tempfile.TemporaryDirectory() as tmp:
        host_build = build(Path(tmp) / "lambda", platform=("--only-binary=:all:",))
        verify(host_build, arm64=False)
        # -I: no PYTHONPATH, no user site; -S: no site-packages. Only the stdlib and the package are importable.
        env = {"PATH": os.environ.get("PATH", ""), "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
        result = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _SMOKE_TEST, str(host_build), json.dumps(event)],
            capture_output=True, text=True, env=env, cwd=tmp, timeout=120,
        )  # fmt: skip
        if result.returncode != 0 or result.stdout.strip() != "ok":
            raise BuildError(f"the package does not run on its own:\n{result.stdout}{result.stderr}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.build_lambda", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="also import and call the handlers from a host build")
    parser.add_argument("--dest", type=Path, default=BUILD_DIR, help=f"output folder (default: {BUILD_DIR.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    try:
        dest = build(args.dest)
        verify(dest)
        if args.check:
            smoke_test()
            print("check: both handlers import and the API answers from the package alone")
    except (BuildError, subprocess.CalledProcessError) as err:
        print(f"build_lambda: {err}", file=sys.stderr)
        return 1
    unzipped, zipped = sizes(dest)
    shown = dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest
    print(f"Lambda package {shown}/: {unzipped / 2**20:.1f} MiB unzipped, {zipped / 2**20:.1f} MiB zipped (limit 250 MiB unzipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
