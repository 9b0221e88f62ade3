"""Secrets by reference: a value, a file or a Secrets Manager ARN; never printable."""

from __future__ import annotations

import logging
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from shared.errors import Unavailable
from shared.secrets import Secret, SecretSource, reference_kind


def test_secret_hides_its_value_in_repr_str_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("hunter2-very-secret")
    logging.getLogger("t").warning("loaded %s %r", secret, secret, extra={"s": secret})

    assert "hunter2" not in repr(secret) + str(secret) + f"{secret}" + caplog.text
    assert secret.reveal() == "hunter2-very-secret"


def test_reference_kinds() -> None:
    assert reference_kind("arn:aws:secretsmanager:us-east-1:123456789012:secret:proxies-AbCdEf") == "arn"
    assert reference_kind("file:/var/lib/x") == "file"
    assert reference_kind("http://user:pass@proxy.example.com:8080") == "value"


def test_file_secret_is_read_stripped_and_cached_until_ttl(tmp_path: Path) -> None:
    clock = [0.0]
    path = tmp_path / "s"
    path.write_text("first\n")
    source = SecretSource(ttl=10, clock=lambda: clock[0])

    assert source.get(f"file:{path}").reveal() == "first"
    path.write_text("second\n")
    assert source.get(f"file:{path}").reveal() == "first"  # cached
    clock[0] = 11
    assert source.get(f"file:{path}").reveal() == "second"


def test_missing_file_or_empty_reference_is_none(tmp_path: Path) -> None:
    source = SecretSource()
    assert source.get(None) is None and source.get("") is None
    assert source.get(f"file:{tmp_path / 'absent'}") is None


def test_secrets_manager_arn_is_read(fake_aws_credentials: None) -> None:
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        arn = sm.create_secret(Name="proxies", SecretString="http://a.example.com:1")["ARN"]
        assert SecretSource(sm).get(arn).reveal() == "http://a.example.com:1"


def test_secrets_manager_failure_is_unavailable_without_the_reference_value(fake_aws_credentials: None) -> None:
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        with pytest.raises(Unavailable):
            SecretSource(sm).get("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf")
