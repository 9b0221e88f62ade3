"""infra.build_lambda without the network: what goes into the Lambda package and what its checks refuse.

(The pip install itself is exercised by `python -m infra.build_lambda --check`, which needs PyPI.)
"""

from __future__ import annotations

import importlib.util
import py_compile
import re
from importlib.metadata import distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from infra.build_lambda import (
    BOTOCORE_SERVICES,
    ROOT,
    BuildError,
    compile_package,
    copy_sources,
    normalize,
    pinned_requirements,
    prune_botocore_data,
    pyc_flags,
    verify,
)


def _fake_package(dest: Path, pins: dict[str, str]) -> None:
    copy_sources(dest)
    compile_package(dest)
    for name, version in pins.items():
        info = dest / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def _elf(machine: int) -> bytes:
    return b"\x7fELF\x02\x01\x01" + b"\x00" * 11 + machine.to_bytes(2, "little") + b"\x00" * 44


def test_lambda_requirements_pin_the_tested_versions_and_leave_out_the_worker() -> None:
    pins = pinned_requirements()
    top = {normalize(m.group(1)): m.group(2) for m in re.finditer(r"^([\w.-]+)==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)}

    for name in ("fastapi", "mangum", "pydantic", "pydantic-settings", "boto3", "botocore"):
        assert pins[name] == top[name], name
    assert not {"yt-dlp", "moto", "uvicorn", "aws-sam-translator", "cfn-lint", "pytest", "httpx"} & set(pins)
    for name, version in pins.items():
        assert distribution(name).version == version, f"{name}: the venv the tests ran in has another version"


def test_lambda_requirements_are_closed_under_dependencies() -> None:
    # Every dependency of a pinned distribution (for Linux, Python 3.11, no extras) is pinned too.
    pins = pinned_requirements()
    environment = {"sys_platform": "linux", "platform_system": "Linux", "python_version": "3.11", "extra": ""}
    unpinned = set()
    for name in pins:
        for line in distribution(name).requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                if normalize(requirement.name) not in pins:
                    unpinned.add(f"{name} -> {requirement.name}")
    assert not unpinned


def test_copy_sources_takes_the_functions_and_shared_only(tmp_path: Path) -> None:
    copy_sources(tmp_path)

    assert (tmp_path / "functions/api/handler.py").is_file() and (tmp_path / "functions/cleanup/handler.py").is_file()
    assert (tmp_path / "functions/__init__.py").is_file() and (tmp_path / "shared/config.py").is_file()
    assert not (tmp_path / "functions/worker").exists() and not (tmp_path / "tests").exists()
    assert (tmp_path / "functions/api/web/index.html").is_file() and (tmp_path / "functions/api/web/app.js").is_file()
    assert not list(tmp_path.rglob("__pycache__")) and not list(tmp_path.rglob("*.pyc"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["functions", "shared"]


def test_verify_accepts_exactly_the_pinned_package(tmp_path: Path) -> None:
    pins = {"fastapi": "1.0", "mangum": "2.0"}
    _fake_package(tmp_path, pins)
    (tmp_path / "native.so").write_bytes(_elf(183))  # aarch64

    verify(tmp_path, pins)


@pytest.mark.parametrize(
    "spoil, problem",
    [
        (lambda d: (d / "yt_dlp").mkdir(), "must not contain yt_dlp"),
        (lambda d: (d / "functions/worker").mkdir(), "must not contain functions/worker"),
        (lambda d: _timestamp_pyc(d / "shared/config.py"), "timestamp-checked shared/__pycache__/config"),
        (lambda d: _timestamp_pyc(d / "functions/api/handler.py"), "handler.*is not an unchecked-hash"),
        (lambda d: (d / "functions/api/handler.py").unlink(), "missing functions/api/handler.py"),
        (lambda d: (d / "functions/api/web/index.html").unlink(), "missing functions/api/web/index.html"),
        (lambda d: (d / "native.so").write_bytes(_elf(62)), "not arm64"),  # x86-64
        (lambda d: _fake_package_extra(d), "unpinned \\['extra-dep'\\]"),
        (lambda d: (d / "botocore/data/ec2").mkdir(parents=True), "unused model ec2"),
        (lambda d: (d / "botocore/data/kms").rmdir(), "no model for kms"),
    ],
)
def test_verify_refuses_a_wrong_package(tmp_path: Path, spoil, problem: str) -> None:
    pins = {"fastapi": "1.0"}
    _fake_package(tmp_path, pins)
    for name in BOTOCORE_SERVICES:
        (tmp_path / "botocore/data" / name).mkdir(parents=True)
    spoil(tmp_path)

    with pytest.raises(BuildError, match=problem):
        verify(tmp_path, pins)


def _timestamp_pyc(source: Path) -> None:
    py_compile.compile(str(source), cfile=importlib.util.cache_from_source(str(source)), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)


def _fake_package_extra(dest: Path) -> None:
    info = dest / "extra_dep-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Name: extra-dep\nVersion: 1.0\n")


def test_prune_keeps_the_models_the_functions_call_and_the_shared_files(tmp_path: Path) -> None:
    data = tmp_path / "botocore" / "data"
    for name in ("dynamodb", "sqs", "s3", "kms", "sts", "ec2", "lambda", "sagemaker"):
        (data / name / "2012-01-01").mkdir(parents=True)
        (data / name / "2012-01-01" / "service-2.json.gz").write_bytes(b"x")
    (data / "endpoints.json").write_text("{}")
    (data / "partitions.json").write_text("{}")

    prune_botocore_data(tmp_path)

    assert sorted(p.name for p in data.iterdir()) == ["dynamodb", "endpoints.json", "kms", "partitions.json", "s3", "sqs", "sts"]
    assert (data / "s3" / "2012-01-01" / "service-2.json.gz").is_file()


def test_the_kept_models_cover_every_client_the_functions_build() -> None:
    from shared.aws import AwsClients

    assert set(AwsClients.SERVICES) <= set(BOTOCORE_SERVICES)


def test_compiled_package_loads_without_its_sources_being_checked(tmp_path: Path) -> None:
    copy_sources(tmp_path)
    compile_package(tmp_path)

    pycs = list(tmp_path.rglob("*.pyc"))
    assert len(pycs) == len(list(tmp_path.rglob("*.py"))) and all(pyc_flags(p) == 1 for p in pycs)
