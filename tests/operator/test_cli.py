"""``ida-hub config check``, ``certs expiring``, ``metadata`` and ``keys generate``: output and exit codes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from federation.config import DEFAULT_FEDERATION_FILE
from keys.pki import Role, Usage, is_complete, issue_leaf
from tests.operator.conftest import Workspace


def test_config_check_summarises_a_valid_federation(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    assert workspace.cli("config", "check") == 0
    out = capsys.readouterr().out
    assert f"{workspace.federation_file} is valid" in out
    assert "Identity providers (4):" in out and "Departments (2):" in out and "Relying services (5):" in out
    paye = next(line for line in out.splitlines() if line.startswith("Check your PAYE tax"))
    assert paye.split()[4:8] == ["hmrc", "simple", "Level", "2"]


def test_config_check_lists_the_problems_and_exits_1(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load(workspace.federation_file.read_text())
    data["departments"][0]["relying_services"][0]["level_of_assurance"] = "LEVEL_9"
    data["departments"][0]["relying_services"][1]["profile"] = "fancy"
    workspace.federation_file.write_text(yaml.safe_dump(data))
    assert workspace.cli("config", "check") == 1
    out = capsys.readouterr().out
    assert "has problems; the apps will not start with it:" in out
    problems = [line for line in out.splitlines() if line.startswith("  - ")]
    assert len(problems) == 2
    assert problems[0].startswith("  - departments[0].relying_services[0].level_of_assurance:")
    assert problems[1].startswith("  - departments[0].relying_services[1].profile:")


def test_config_check_names_a_certificate_from_the_wrong_ca(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace.keys / "hub-signing.crt").write_bytes((workspace.keys / "stub-idp-one-signing.crt").read_bytes())
    assert workspace.cli("config", "check") == 1
    assert "hub.signing_certificates[0]: certificate" in capsys.readouterr().out


def test_certs_expiring_flags_soon_and_expired_certificates(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert workspace.cli("certs", "expiring") == 0
    assert "No certificate expires within 30 days." in capsys.readouterr().out
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=100)
    issue_leaf(workspace.keys, "hub-signing-soon", Role.HUB, Usage.SIGNING, days=10)
    issue_leaf(workspace.keys, "idp-old", Role.IDP, Usage.SIGNING, days=30, now=long_ago)
    data = yaml.safe_load(workspace.federation_file.read_text())
    data["hub"]["signing_certificates"] = ["hub-signing-soon.crt"]
    data["identity_providers"][0]["signing_certificates"] = ["idp-old.crt", "stub-idp-one-signing.crt"]
    workspace.federation_file.write_text(yaml.safe_dump(data))
    assert workspace.cli("certs", "expiring", "--days", "30") == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    rows = lines[lines.index(next(line for line in lines if line.startswith("ROLE"))) + 2 :]
    rows = rows[: rows.index("")]
    soon = next(line for line in out.splitlines() if "hub-signing-soon.crt" in line)
    expired = next(line for line in out.splitlines() if "idp-old.crt" in line)
    assert soon.startswith("hub signing") and soon.endswith("EXPIRES WITHIN 30 DAYS") and " 9 " in soon
    assert expired.startswith("idp signing") and "Stub Identity Provider One" in expired and expired.endswith("EXPIRED")
    assert "2 certificates expired, unreadable or expiring within 30 days." in out
    assert len(rows) == 27 and sum(row.endswith(" ok") for row in rows) == 25  # hub-signing.crt left the file
    assert workspace.cli("certs", "expiring", "--days", "5") == 1  # the expired one still counts


def test_metadata_printed_then_verified_and_tampering_found(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "federation-metadata.xml"
    assert workspace.cli("metadata", "print", "--federation", "--valid-days", "3", "--out", str(out_file)) == 0
    assert workspace.cli("metadata", "verify", str(out_file)) == 0
    out = capsys.readouterr().out
    assert f"{out_file}: valid." in out and "5 entities:" in out and "(3.0 days from now)" in out
    out_file.write_bytes(out_file.read_bytes().replace(b"Stub Identity Provider One", b"Stub Identity Provider 0ne"))
    assert workspace.cli("metadata", "verify", str(out_file)) == 1
    assert "NOT VALID: metadata signature" in capsys.readouterr().out


def test_hub_metadata_goes_to_standard_output(workspace: Workspace, capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    assert workspace.cli("metadata", "print", "--hub") == 0
    out = capfdbinary.readouterr().out
    assert out.startswith(b"<?xml") and b"<md:EntityDescriptor" in out and b"IDPSSODescriptor" in out


def test_keys_generate_writes_a_set_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hub.cli import main

    keys = tmp_path / "fresh"
    assert main(["keys", "generate", "--keys-dir", str(keys)]) == 0
    assert is_complete(keys)
    assert main(["keys", "generate", "--keys-dir", str(keys)]) == 0
    assert "Keys already present" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["config", "check", "--federation-file", "/nonexistent/federation.yaml"], "file not found"),
        (["metadata", "verify", "/nonexistent/metadata.xml"], "cannot read /nonexistent/metadata.xml"),
        (["certs", "expiring", "--keys-dir", "/nonexistent"], "CANNOT READ: file not found"),
        (["self-check"], "give --metadata FILE, --entity-id ID, or both"),
    ],
)
def test_installed_command_fails_in_plain_words_without_a_traceback(
    argv: list[str], words: str, keys_dir: Path
) -> None:
    command = Path(sys.executable).parent / "ida-hub"
    # The test PKI, not keys/generated: a fresh clone has no keys there until `make run`.
    env = {**os.environ, "FEDERATION_FILE": str(DEFAULT_FEDERATION_FILE), "KEYS_DIR": str(keys_dir)}
    done = subprocess.run([str(command), *argv], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode in (1, 2)
    assert words in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
