"""Where the file-link secret comes from: generated in Secrets Manager by the template, a 0600 file locally."""

from __future__ import annotations

import stat
from typing import Any

from infra.deploy_local import load_template, translate
from infra.local import ensure_secret_file
from functions.api.links import FileLinks, sign, verify
from shared.secrets import SecretSource


def test_template_generates_the_secret_and_lets_only_the_api_and_the_notifier_read_it() -> None:
    cfn: dict[str, Any] = translate(load_template(), region="us-east-1")
    secret = cfn["Resources"]["FileLinkSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret" and "GenerateSecretString" in secret["Properties"]
    api = cfn["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert api["FILE_LINK_SECRET"] == {"Ref": "FileLinkSecret"}
    readers = []
    for name, res in cfn["Resources"].items():
        for policy in res.get("Properties", {}).get("Policies", []) if res["Type"] == "AWS::IAM::Role" else []:
            for st in policy["PolicyDocument"]["Statement"]:
                st = st["Fn::If"][1] if "Fn::If" in st else st  # a conditional statement: the one it adds
                if "secretsmanager:GetSecretValue" in st["Action"] and st["Resource"] == {"Ref": "FileLinkSecret"}:
                    readers.append(name)
    # The notifier signs the same `file` link /status shows, inside a webhook's data.
    assert readers == ["ApiRole", "NotifyRole"]


def test_local_secret_file_is_made_once_and_private(tmp_path) -> None:
    path = ensure_secret_file(tmp_path / "secrets" / "file-link")
    first = path.read_text()
    assert len(first) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_secret_file(path).read_text() == first  # kept across runs: links stay valid after a restart
    links = FileLinks(SecretSource(), f"file:{path}")  # type: ignore[arg-type]
    link = links.path("AbCdEfGh12345678", "video.mp4", 2_000_000_000)
    token = link.split("/")[3]
    assert links.valid("AbCdEfGh12345678", "video.mp4", token, now=1_900_000_000)
    assert not links.valid("AbCdEfGh12345678", "video.mp4", token, now=2_000_000_000)
    assert first not in link


def test_tokens_bind_task_name_and_expiry() -> None:
    token = sign(b"k", "AbCdEfGh12345678", "video.mp4", 100)
    assert verify(b"k", "AbCdEfGh12345678", "video.mp4", token, now=99)
    assert not verify(b"k", "AbCdEfGh12345679", "video.mp4", token, now=99)
    assert not verify(b"k", "AbCdEfGh12345678", "video.mkv", token, now=99)
    assert not verify(b"k", "AbCdEfGh12345678", "video.mp4", token.replace("100.", "101.", 1), now=99)
    assert not verify(b"other", "AbCdEfGh12345678", "video.mp4", token, now=99)


def test_without_a_secret_the_link_is_the_keyed_path() -> None:
    links = FileLinks(SecretSource(), None)
    assert links.path("AbCdEfGh12345678", "video.mp4", 2_000_000_000) == "/files/AbCdEfGh12345678/video.mp4"
    assert not links.valid("AbCdEfGh12345678", "video.mp4", "1.x")


def test_links_read_the_secret_from_secrets_manager_by_arn(aws) -> None:
    # GIVEN the secret as the template makes it, referenced by ARN as the template sets FILE_LINK_SECRET
    sm = aws.clients.secretsmanager
    arn = sm.create_secret(Name="file-link", SecretString="generated-by-secrets-manager-0123456789")["ARN"]
    links = FileLinks(SecretSource(sm), arn)  # type: ignore[arg-type]
    token = links.path("AbCdEfGh12345678", "video.mp4", 2_000_000_000).split("/")[3]
    assert token == sign(b"generated-by-secrets-manager-0123456789", "AbCdEfGh12345678", "video.mp4", 2_000_000_000)
