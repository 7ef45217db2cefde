"""``ida-hub keys rotate``: each stage's edit of the federation file, and the edits it refuses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from federation.config import Federation, FederationConfigError, load_federation
from federation.saml.xml import now
from keys.pki import load_certificate
from tests.operator.conftest import Workspace

TODAY = f"{now():%Y-%m-%d}"


def hub_list(workspace: Workspace) -> list[str]:
    return list(yaml.safe_load(workspace.federation_file.read_text())["hub"]["signing_certificates"])


def test_three_stages_reorder_then_shorten_the_hub_list(workspace: Workspace) -> None:
    new = f"hub-signing-{TODAY}.crt"
    assert workspace.cli("keys", "rotate", "hub-signing", "add") == 0
    assert hub_list(workspace) == ["hub-signing.crt", new]
    assert (workspace.keys / new).is_file() and (workspace.keys / new).with_suffix(".key").stat().st_mode & 0o077 == 0
    issuer = load_certificate(workspace.keys / "hub-signing.crt").issuer
    assert load_certificate(workspace.keys / new).issuer == issuer  # the same CA

    assert workspace.cli("keys", "rotate", "hub-signing", "promote") == 0
    assert hub_list(workspace) == [new, "hub-signing.crt"]

    assert workspace.cli("keys", "rotate", "hub-signing", "retire") == 0
    assert hub_list(workspace) == [new]
    load_federation(workspace.federation_file, keys_dir=workspace.keys)


def test_edit_keeps_comments_anchors_and_every_other_line(workspace: Workspace) -> None:
    before = workspace.federation_file.read_text()
    assert workspace.cli("keys", "rotate", "check-your-paye-tax-signing", "add") == 0
    after = workspace.federation_file.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    # Each service signs with its own key: one line changes, and only that service accepts the new key.
    assert changed == [
        (
            "        signing_certificates: [check-your-paye-tax-signing.crt]",
            f"        signing_certificates: [check-your-paye-tax-signing.crt, check-your-paye-tax-signing-{TODAY}.crt]",
        )
    ]
    assert "# Departments:" in after and after.startswith("# The federation:")
    federation = load_federation(workspace.federation_file, keys_dir=workspace.keys)
    keys = {rp.display_name: len(rp.signing_certificates) for rp in federation.file.relying_services}
    assert keys.pop("Check your PAYE tax") == 2 and set(keys.values()) == {1}


def test_stages_out_of_order_are_refused_with_the_next_step(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert workspace.cli("keys", "rotate", "hub-signing", "promote") == 2
    assert "the next step is `ida-hub keys rotate hub-signing add`" in capsys.readouterr().err
    assert workspace.cli("keys", "rotate", "hub-signing", "add") == 0
    capsys.readouterr()
    assert workspace.cli("keys", "rotate", "hub-signing", "retire") == 2
    assert "`ida-hub keys rotate hub-signing promote`" in capsys.readouterr().err
    assert workspace.cli("keys", "rotate", "hub-signing", "add") == 2  # a second add on top of the first
    assert len(hub_list(workspace)) == 2


def test_status_and_dry_run_write_nothing(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    before = workspace.federation_file.read_bytes()
    assert workspace.cli("keys", "rotate", "hub-signing", "add", "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"+  signing_certificates: [hub-signing.crt, hub-signing-{TODAY}.crt]" in out
    assert "Dry run: nothing written." in out
    assert workspace.federation_file.read_bytes() == before
    assert not (workspace.keys / f"hub-signing-{TODAY}.crt").exists()
    assert workspace.cli("keys", "rotate", "hub-signing", "status") == 0
    assert "only hub-signing.crt is listed" in capsys.readouterr().out


def test_an_edit_that_would_not_load_leaves_the_file_and_keys_as_they_were(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    before = workspace.federation_file.read_bytes()
    # The IDP CA's key issues the new hub certificate: the edited file fails the chain check and is not used.
    wrong_ca_key = workspace.keys / "idp-ca.key"
    assert workspace.cli("keys", "rotate", "hub-signing", "add", "--ca-key", str(wrong_ca_key)) == 2
    assert "is not the key of hub-ca.crt" in capsys.readouterr().err
    (workspace.keys / "hub-ca.key").write_bytes(wrong_ca_key.read_bytes())
    (workspace.keys / "hub-ca.crt").write_bytes((workspace.keys / "idp-ca.crt").read_bytes())
    (workspace.keys / "hub-signing.crt").write_bytes((workspace.keys / "stub-idp-one-signing.crt").read_bytes())
    # Now the file is broken before the rollover starts: nothing is attempted.
    assert workspace.cli("keys", "rotate", "hub-signing", "add") == 2
    assert "must be valid before a rollover" in capsys.readouterr().err
    assert workspace.federation_file.read_bytes() == before
    assert not list(workspace.keys.glob(f"hub-signing-{TODAY}.*"))
    assert not list(workspace.federation_file.parent.glob(".federation.yaml.*"))


def test_failed_validation_after_the_edit_removes_the_new_key(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = workspace.federation_file.read_bytes()
    calls: list[Path] = []

    def load_once_then_fail(path: Path, *, keys_dir: Path) -> Federation:
        calls.append(path)
        if len(calls) == 2:  # the check of the edited file, before it replaces the old one
            raise FederationConfigError(f"{path}: hub.signing_certificates[1]: not issued by the hub CA")
        return load_federation(path, keys_dir=keys_dir)

    monkeypatch.setattr("hub.cli.rollover.load_federation", load_once_then_fail)
    monkeypatch.setattr("hub.cli.file_edits.load_federation", load_once_then_fail)
    assert workspace.cli("keys", "rotate", "hub-signing", "add") == 2
    assert "left as it was" in capsys.readouterr().err
    assert workspace.federation_file.read_bytes() == before
    assert not list(workspace.keys.glob(f"hub-signing-{TODAY}.*"))
    assert not list(workspace.federation_file.parent.glob(".federation.yaml.*"))


def test_single_certificate_fields_are_not_rolled_over(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert workspace.cli("keys", "rotate", "hub-encryption", "add") == 2
    err = capsys.readouterr().err
    assert "hub.encryption_certificate, which holds one certificate" in err and "Traceback" not in err
    assert workspace.cli("keys", "rotate", "nobody-signing", "add") == 2
    assert re.search(r"no signing_certificates list .* names nobody-signing", capsys.readouterr().err)
