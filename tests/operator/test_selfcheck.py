"""``ida-hub self-check``: a relying service's metadata and entry against the hub's rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from federation.saml.xml import BINDING_HTTP_POST
from hub.cli.findings import Finding
from hub.cli.selfcheck import self_check
from keys.pki import Leaf, Role, Usage, generate, issue_leaf
from tests.operator.conftest import Workspace
from tests.operator.seeded import sha1_certificate, sp_metadata

BROKEN = "https://broken.example.gov.uk/SAML2/metadata"
ARTIFACT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"


def paye(workspace: Workspace) -> dict[str, Any]:
    data = yaml.safe_load(workspace.federation_file.read_text())
    url = data["urls"]["stub_service"]
    return {
        "entity_id": f"{url}/check-your-paye-tax/SAML2/metadata",
        "acs": f"{url}/check-your-paye-tax/SAML2/SSO/Response/POST",
    }


def good_metadata(workspace: Workspace) -> bytes:
    service = paye(workspace)
    return sp_metadata(
        service["entity_id"],
        acs=[(BINDING_HTTP_POST, service["acs"])],
        signing=[workspace.keys / "check-your-paye-tax-signing.crt"],
        encryption=[workspace.keys / "check-your-paye-tax-encryption.crt"],
    )


def test_a_good_service_has_no_findings(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    (workspace.federation_file.parent / "sp.xml").write_bytes(good_metadata(workspace))
    report = self_check(
        keys_dir=workspace.keys, federation_file=workspace.federation_file, metadata=good_metadata(workspace)
    )
    assert report.findings == []
    assert report.entity_id == paye(workspace)["entity_id"]  # found from the metadata's entityID
    assert workspace.cli("self-check", "--metadata", str(workspace.federation_file.parent / "sp.xml")) == 0
    assert "No problems found" in capsys.readouterr().out


def seed_broken_service(workspace: Workspace, tmp_path: Path) -> bytes:
    """A relying service with one mistake of each kind, in its entry and in its metadata."""
    keys, long_ago = workspace.keys, dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    generate(tmp_path / "elsewhere", [Leaf("intruder", Role.RP)])  # another federation's CA
    (keys / "intruder-signing.crt").write_bytes((tmp_path / "elsewhere" / "intruder-signing.crt").read_bytes())
    sha1_certificate(keys, "broken-sha1-signing")
    issue_leaf(keys, "broken-expired-encryption", Role.RP, Usage.ENCRYPTION, days=30, now=long_ago)
    issue_leaf(keys, "broken-msa-weak-signing", Role.RP, Usage.SIGNING, key_size=1024)
    issue_leaf(keys, "broken-msa-soon-encryption", Role.RP, Usage.ENCRYPTION, days=10)
    data = yaml.safe_load(workspace.federation_file.read_text())
    data["departments"].append(
        {
            "id": "broken",
            "name": "Department of Broken Things",
            "matching_services": [
                {
                    "entity_id": "https://broken.example.gov.uk/matching-service",
                    "url": "http://msa.example.gov.uk/matching-service/POST",
                    "signing_certificates": ["broken-msa-weak-signing.crt"],
                    "encryption_certificate": "broken-msa-soon-encryption.crt",
                }
            ],
            "relying_services": [
                {
                    "entity_id": BROKEN,
                    "display_name": "Broken service",
                    "service_url": "https://broken.example.gov.uk/",
                    "assertion_consumer_urls": ["http://broken.example.gov.uk/SAML2/SSO/Response/POST"],
                    "level_of_assurance": "LEVEL_3",
                    "profile": "fancy",
                    "account_creation_attributes": ["firstname", "cycle_3", "shoe_size"],
                    "signing_certificates": ["intruder-signing.crt", "broken-sha1-signing.crt"],
                    "encryption_certificate": "broken-expired-encryption.crt",
                }
            ],
        }
    )
    workspace.federation_file.write_text(yaml.safe_dump(data, sort_keys=False))
    return sp_metadata(
        BROKEN,
        acs=[
            (ARTIFACT, "https://broken.example.gov.uk/artifact"),
            (BINDING_HTTP_POST, "https://broken.example.gov.uk/acs"),
        ],
        signing=[keys / "check-your-paye-tax-signing.crt"],  # a good certificate, but not this service's in the file
        encryption=[],
        authn_requests_signed="false",
        want_assertions_signed=None,
        nameid_format=TRANSIENT,
    )


# (code, a fragment of where it was found): one per seeded mistake.
SEEDED = {
    ("cert-wrong-ca", "signing_certificates.0 (intruder-signing.crt)"),
    ("cert-weak-signature", "signing_certificates.1 (broken-sha1-signing.crt)"),
    ("cert-expired", "encryption_certificate (broken-expired-encryption.crt)"),
    ("cert-weak-key", "matching_service.signing_certificates.0 (broken-msa-weak-signing.crt)"),
    ("cert-expires-soon", "matching_service.encryption_certificate (broken-msa-soon-encryption.crt)"),
    ("acs-not-https", "departments[2].relying_services[0].assertion_consumer_urls.0"),
    ("level-of-assurance", "departments[2].relying_services[0].level_of_assurance"),
    ("profile", "departments[2].relying_services[0].profile"),
    ("account-creation-attribute", "account_creation_attributes.2"),
    ("account-creation-url", "departments[2].relying_services[0].account_creation_attributes"),
    ("account-creation-cycle3", "departments[2].relying_services[0].account_creation_attributes"),
    ("matching-service-url", "matching_service.url"),
    ("authn-requests-not-signed", "sp.xml SPSSODescriptor"),
    ("assertions-signed-not-wanted", "sp.xml SPSSODescriptor"),
    ("no-encryption-certificate", "sp.xml SPSSODescriptor"),
    ("acs-unsupported-binding", "sp.xml AssertionConsumerService 1 (https://broken.example.gov.uk/artifact)"),
    ("acs-not-in-config", "sp.xml AssertionConsumerService (https://broken.example.gov.uk/acs)"),
    ("acs-not-in-metadata", "assertion_consumer_urls (http://broken.example.gov.uk/SAML2/SSO/Response/POST)"),
    ("cert-not-in-config", "sp.xml signing certificate (CN=check-your-paye-tax signing"),
    ("nameid-format", "sp.xml NameIDFormat"),
}


def located(findings: list[Finding], code: str, fragment: str) -> bool:
    return any(finding.code == code and fragment in finding.where for finding in findings)


def test_every_seeded_mistake_is_found_and_named(workspace: Workspace, tmp_path: Path) -> None:
    metadata = seed_broken_service(workspace, tmp_path)
    report = self_check(
        keys_dir=workspace.keys, federation_file=workspace.federation_file, metadata=metadata, metadata_name="sp.xml"
    )
    missing = {(code, where) for code, where in SEEDED if not located(report.findings, code, where)}
    assert not missing, [f"{f.code} @ {f.where}" for f in report.findings]
    # Nothing but the seeded mistakes: each is reported once, under its own code.
    assert sorted(finding.code for finding in report.findings) == sorted(code for code, _ in SEEDED)
    assert all(finding.problem and finding.fix for finding in report.findings)


def test_cli_reports_each_finding_with_what_to_do_and_exits_1(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metadata_file = tmp_path / "sp.xml"
    metadata_file.write_bytes(seed_broken_service(workspace, tmp_path))
    assert workspace.cli("self-check", "--metadata", str(metadata_file), "--entity-id", BROKEN) == 1
    out = capsys.readouterr().out
    assert f"{len(SEEDED)} problems found:" in out
    assert out.count("What to do:") == len(SEEDED)
    assert "[cert-weak-signature]" in out and "signed with SHA-1" in out
    assert "[cert-weak-key]" in out and "1024-bit RSA key" in out


def test_unreadable_metadata_and_unknown_service_are_findings(workspace: Workspace) -> None:
    report = self_check(keys_dir=workspace.keys, federation_file=workspace.federation_file, metadata=b"<not-xml")
    assert [finding.code for finding in report.findings] == ["metadata-unreadable"]
    report = self_check(keys_dir=workspace.keys, federation_file=workspace.federation_file, entity_id="urn:nobody")
    assert [finding.code for finding in report.findings] == ["entity-id-unknown"]


def test_metadata_and_entry_that_disagree_on_certificates_and_entity_id(workspace: Workspace) -> None:
    service = paye(workspace)
    metadata = sp_metadata(
        "https://elsewhere.example.gov.uk/metadata",
        acs=[(BINDING_HTTP_POST, service["acs"])],
        signing=[workspace.keys / "check-your-paye-tax-signing.crt"],
        encryption=[workspace.keys / "hmrc-msa-encryption.crt"],
    )
    report = self_check(
        keys_dir=workspace.keys,
        federation_file=workspace.federation_file,
        metadata=metadata,
        entity_id=service["entity_id"],
    )
    assert sorted(finding.code for finding in report.findings) == ["encryption-cert-mismatch", "entity-id-mismatch"]
