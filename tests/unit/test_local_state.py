"""The local stack's state folder: created, checked, upgraded; the emulated KMS key survives a restart of moto."""

from __future__ import annotations

import stat
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from infra.emulator import KmsKeyVault
from infra.state import FORMAT, StateError, open_state, read_format, upgrade, write_atomic


def test_open_state_creates_an_empty_state_with_its_format(tmp_path):
    root = open_state(tmp_path / "state")
    assert read_format(root) == FORMAT
    assert (root / "dynamodb").is_dir() and (root / "s3").is_dir()
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_open_state_refuses_a_newer_format_and_says_why(tmp_path):
    root = open_state(tmp_path / "state")
    (root / "FORMAT").write_text(f"{FORMAT + 1}\n")
    with pytest.raises(StateError, match="newer release"):
        open_state(root)


@pytest.mark.parametrize("content", ["", "garbage", "1.5"])
def test_open_state_refuses_an_unreadable_format_and_keeps_the_files(tmp_path, content):
    root = open_state(tmp_path / "state")
    (root / "FORMAT").write_text(content)
    with pytest.raises(StateError, match="unreadable"):
        open_state(root)
    assert (root / "dynamodb").is_dir() and (root / "FORMAT").read_text() == content


def test_open_state_refuses_files_without_a_marker_and_upgrade_adopts_a_cut_short_state(tmp_path):
    root = tmp_path / "state"
    (root / "dynamodb").mkdir(parents=True)
    with pytest.raises(StateError, match="infra.state upgrade"):
        open_state(root)
    assert upgrade(root) == FORMAT
    assert open_state(root) == root


def test_upgrade_refuses_a_folder_that_is_not_a_state(tmp_path):
    root = tmp_path / "elsewhere"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    with pytest.raises(StateError, match="does not look like a state"):
        upgrade(root)
    assert not (root / "FORMAT").exists()


def test_write_atomic_replaces_the_file_with_the_given_mode(tmp_path):
    path = tmp_path / "secret.json"
    write_atomic(path, b"one")
    write_atomic(path, b"two")
    assert path.read_bytes() == b"two"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret.json"]


def _deployed_key() -> tuple[object, str]:
    kms = boto3.client("kms", region_name="us-east-1")
    return kms, kms.create_key()["KeyMetadata"]["Arn"]


def test_kms_key_vault_makes_old_ciphertexts_decrypt_after_a_restart(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    vault = KmsKeyVault(tmp_path / "kms-keys.json")
    # GIVEN a key recorded at the first start and a ciphertext made with it
    with mock_aws():
        kms, arn = _deployed_key()
        kept = vault.restore_or_record(arn, arn.split(":")[4], "us-east-1")
        blob = kms.encrypt(KeyId=kept, Plaintext=b"the api key", EncryptionContext={"key_name": "bob"})["CiphertextBlob"]
    assert stat.S_IMODE(vault.path.stat().st_mode) == 0o600
    assert b"the api key" not in vault.path.read_bytes()
    # WHEN moto starts empty, deploys a new key and the vault restores the recorded one
    with mock_aws():
        kms, new_arn = _deployed_key()
        restored = vault.restore_or_record(new_arn, new_arn.split(":")[4], "us-east-1")
        # THEN the old ciphertext decrypts with the restored key
        assert restored == kept != new_arn
        plain = kms.decrypt(CiphertextBlob=blob, KeyId=restored, EncryptionContext={"key_name": "bob"})["Plaintext"]
    assert plain == b"the api key"


def test_kms_key_vault_refuses_a_damaged_record(tmp_path):
    vault = KmsKeyVault(tmp_path / "kms-keys.json")
    vault.path.write_text("{not json")
    with mock_aws():
        _, arn = _deployed_key()
        with pytest.raises(StateError, match="unreadable"):
            vault.restore_or_record(arn, arn.split(":")[4], "us-east-1")
