"""``ida-hub enrol``, ``suspend``, ``resume`` and ``remove``: the edits they make, and the ones they refuse."""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from federation.config import Federation, load_federation
from keys.pki import load_certificate
from tests.operator.conftest import Workspace

DVLA_MSA = "https://msa.dvla.gov.uk/SAML2/metadata"
VEHICLE_TAX = "https://vehicle-tax.service.gov.uk/saml/metadata"
COMPANY = "https://idp.example.com/SAML2/metadata"
PAYE = "http://127.0.0.1:8520/check-your-paye-tax/SAML2/metadata"
IDP_FOUR = "http://127.0.0.1:8530/SAML2/metadata"
HUB_METADATA = "http://127.0.0.1:8500/SAML2/metadata"

# Each command as an operator would type it.
DEPARTMENT = shlex.split(
    f"enrol department --id dvla --name 'Driver and Vehicle Licensing Agency' --matching-service-entity-id {DVLA_MSA} "
    "--matching-service-url https://msa.dvla.gov.uk/matching/POST"
)
SERVICE = shlex.split(
    f"enrol service --department dvla --entity-id {VEHICLE_TAX} --display-name 'Tax your vehicle' "
    "--service-url https://vehicle-tax.service.gov.uk/ --acs-url https://vehicle-tax.service.gov.uk/acs "
    "--acs-url https://vehicle-tax.service.gov.uk/acs/2 --level LEVEL_1 "
    "--other-ways 'You can tax your vehicle at a Post Office.'"
)
COMPANY_ARGS = shlex.split(
    f"enrol company --entity-id {COMPANY} --display-name 'Example Identity' "
    "--sso-url https://idp.example.com/SAML2/SSO --levels LEVEL_1,LEVEL_2 --evidence photo_id "
    "--description 'Checks your passport.'"
)


def replaced(argv: list[str], option: str, value: str) -> list[str]:
    """The command with one option's value changed."""
    changed = list(argv)
    changed[changed.index(option) + 1] = value
    return changed


def loaded(workspace: Workspace) -> Federation:
    return load_federation(workspace.federation_file, keys_dir=workspace.keys)


def key_files(workspace: Workspace) -> list[str]:
    return sorted(path.name for path in workspace.keys.iterdir())


def removed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line.startswith("- ")]


def certificate_request(directory: Path, name: str, key_size: int = 2048) -> tuple[Path, rsa.RSAPrivateKey]:
    """A team's request, made as a team would: its private key never leaves this function's caller."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    path = directory / f"{name}.csr"
    path.write_bytes(request.public_bytes(serialization.Encoding.PEM))
    return path, key


def public_numbers(certificate: Path) -> object:
    public_key = load_certificate(certificate).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    return public_key.public_numbers()


def test_enrolling_a_department_a_service_and_a_company_keeps_every_line_and_loads(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    before = workspace.federation_file.read_text()
    assert workspace.cli(*DEPARTMENT) == 0
    assert workspace.cli(*SERVICE) == 0
    assert workspace.cli(*COMPANY_ARGS) == 0
    after = workspace.federation_file.read_text()
    assert removed_lines(before, after) == []  # only additions: every comment and entry kept, in order
    # The new company goes after the last one, not between a comment and the section it introduces.
    assert "    evidence_required: [photo_id]\n\n# Departments:" in after

    federation = loaded(workspace)
    department = federation.file.department("dvla")
    assert department is not None and department.matching_services[0].entity_id == DVLA_MSA
    service = federation.relying_service(VEHICLE_TAX)
    assert service is not None and service.department == "dvla" and service.matching_service.entity_id == DVLA_MSA
    assert service.signing_certificates == ["tax-your-vehicle-signing.crt"]
    assert service.encryption_certificate == "tax-your-vehicle-encryption.crt"
    assert len(service.assertion_consumer_urls) == 2
    company = federation.identity_provider(COMPANY)
    assert company is not None and company.signing_certificates == ["example-identity-signing.crt"]
    issuer = load_certificate(workspace.keys / "idp-ca.crt").subject
    assert load_certificate(workspace.keys / "example-identity-signing.crt").issuer == issuer
    for name in ("dvla-msa-signing", "dvla-msa-encryption", "tax-your-vehicle-signing", "example-identity-signing"):
        assert (workspace.keys / f"{name}.key").stat().st_mode & 0o077 == 0

    out = capsys.readouterr().out
    company_report = out[out.index("Enrolled the certified company") :]
    assert COMPANY in company_report and str(workspace.keys / "example-identity-signing.crt") in company_report
    assert str(workspace.keys / "example-identity-signing.key") in company_report
    assert "hub metadata" in company_report and HUB_METADATA in company_report
    assert "Warning: the private keys above belong to the company" in company_report
    assert "Next: the company sets its identity provider up" in company_report
    service_report = out[out.index("Enrolled the relying service") : out.index("Enrolled the certified company")]
    assert f"ida-hub self-check --metadata <its metadata file> --entity-id {VEHICLE_TAX}" in service_report
    assert "take the change up within about a second; no restart" in service_report


def test_the_welsh_words_of_a_department_a_service_and_a_company_go_in_the_file(workspace: Workspace) -> None:
    assert workspace.cli(*DEPARTMENT, "--welsh-name", "Asiantaeth Trwyddedu Gyrwyr a Cherbydau") == 0
    welsh_service = ["--welsh-display-name", "Trethu eich cerbyd", "--welsh-other-ways", "Gallwch drethu eich cerbyd."]
    assert workspace.cli(*SERVICE, *welsh_service) == 0
    assert workspace.cli(*COMPANY_ARGS, "--welsh-description", "Mae’n gwirio eich pasbort.") == 0
    text = workspace.federation_file.read_text()
    assert "welsh: {display_name: Trethu eich cerbyd, other_ways: Gallwch drethu eich cerbyd.}" in text

    federation = loaded(workspace)
    department = federation.file.department("dvla")
    assert department is not None and department.name_in("cy") == "Asiantaeth Trwyddedu Gyrwyr a Cherbydau"
    service = federation.relying_service(VEHICLE_TAX)
    assert service is not None and service.in_language("cy").display_name == "Trethu eich cerbyd"
    assert service.in_language("cy").other_ways == "Gallwch drethu eich cerbyd."
    assert service.in_language("en").display_name == "Tax your vehicle"
    company = federation.identity_provider(COMPANY)
    assert company is not None and company.in_language("cy").description == "Mae’n gwirio eich pasbort."
    assert company.in_language("cy").display_name == "Example Identity"  # no Welsh name given: its own


def test_one_key_makes_one_certificate_that_signs_and_decrypts(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert workspace.cli(*DEPARTMENT) == 0
    assert workspace.cli(*replaced(SERVICE, "--other-ways", "No"), "--one-key") == 0
    service = loaded(workspace).relying_service(VEHICLE_TAX)
    assert service is not None
    assert service.other_ways == "No"  # quoted, or the apps' YAML 1.1 reader would take it for false
    assert service.signing_certificates == ["tax-your-vehicle-signing.crt"]
    assert service.encryption_certificate == "tax-your-vehicle-signing.crt"
    assert not (workspace.keys / "tax-your-vehicle-encryption.crt").exists()
    usage = load_certificate(workspace.keys / "tax-your-vehicle-signing.crt").extensions.get_extension_for_class(
        x509.KeyUsage
    )
    assert usage.value.digital_signature and usage.value.key_encipherment and not usage.value.key_cert_sign
    assert "signing and encryption certificate" in capsys.readouterr().out


def test_certificates_signed_from_requests_keep_the_private_keys_with_the_team(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signing, signing_key = certificate_request(tmp_path, "team-signing")
    encryption, encryption_key = certificate_request(tmp_path, "team-encryption")
    one, one_key = certificate_request(tmp_path, "company")
    assert workspace.cli(*DEPARTMENT, "--csr-signing", str(signing), "--csr-encryption", str(encryption)) == 0
    assert workspace.cli(*COMPANY_ARGS, "--csr", str(one)) == 0

    loaded(workspace)
    assert public_numbers(workspace.keys / "dvla-msa-signing.crt") == signing_key.public_key().public_numbers()
    assert public_numbers(workspace.keys / "dvla-msa-encryption.crt") == encryption_key.public_key().public_numbers()
    assert public_numbers(workspace.keys / "example-identity-signing.crt") == one_key.public_key().public_numbers()
    assert (
        not any(workspace.keys.glob("dvla-msa-*.key"))
        and not (workspace.keys / "example-identity-signing.key").exists()
    )
    out = capsys.readouterr().out
    assert "kept by the company: the certificate was signed from its request" in out
    assert "Warning: the private keys" not in out


def test_one_request_gives_a_service_one_certificate_for_both_uses(workspace: Workspace, tmp_path: Path) -> None:
    request, key = certificate_request(tmp_path, "python3-saml")
    assert workspace.cli(*DEPARTMENT, "--one-key") == 0
    assert workspace.cli(*SERVICE, "--csr", str(request)) == 0
    service = loaded(workspace).relying_service(VEHICLE_TAX)
    assert service is not None and service.encryption_certificate == service.signing_certificates[0]
    assert public_numbers(workspace.keys / service.encryption_certificate) == key.public_key().public_numbers()


HMRC_SERVICE = replaced(SERVICE, "--department", "hmrc")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (replaced(DEPARTMENT, "--id", "hmrc"), "a department with id 'hmrc' is already in"),
        (replaced(DEPARTMENT, "--matching-service-entity-id", PAYE), f"{PAYE} is already in"),
        (replaced(COMPANY_ARGS, "--entity-id", IDP_FOUR), f"{IDP_FOUR} is already in"),
        (replaced(SERVICE, "--department", "dvsa"), "there is no department 'dvsa' (there are hmrc, dwp); enrol it"),
        ([*HMRC_SERVICE, "--matching-service", DVLA_MSA], f"{DVLA_MSA} is not a matching service of department hmrc"),
        (replaced(HMRC_SERVICE, "--entity-id", "https://x/ y"), "--entity-id: must be 1 to 1024 characters"),
        (replaced(COMPANY_ARGS, "--sso-url", "ftp://idp"), "--sso-url: must be an http:// or https:// URL"),
        ([*HMRC_SERVICE, "--csr-signing", "a.csr"], "--csr-signing and --csr-encryption go together"),
        ([*DEPARTMENT, "--days", "0"], "--days must be between 1 and 3650"),
    ],
)
def test_duplicates_unknown_departments_and_bad_values_are_refused_leaving_everything_as_it_was(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    before, keys = workspace.federation_file.read_bytes(), key_files(workspace)
    assert workspace.cli(*argv) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
    assert workspace.federation_file.read_bytes() == before and key_files(workspace) == keys


def _tampered(tmp_path: Path, keys: Path) -> Path:
    path, _ = certificate_request(tmp_path, "tampered")
    request = x509.load_pem_x509_csr(path.read_bytes())
    der = request.public_bytes(serialization.Encoding.DER).replace(b"tampered", b"tampereD")
    path.write_bytes(x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM))
    return path


def _weak(tmp_path: Path, keys: Path) -> Path:
    return certificate_request(tmp_path, "weak", key_size=1024)[0]


def _private_key(tmp_path: Path, keys: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "team.key"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def _certificate(tmp_path: Path, keys: Path) -> Path:
    return keys / "hub-signing.crt"


def _missing(tmp_path: Path, keys: Path) -> Path:
    return tmp_path / "missing.csr"


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_tampered, "the request's signature does not verify"),
        (_weak, "the key in the request is 1024 bits; it must be at least 2048"),
        (_private_key, "this is a private key, not a certificate signing request"),
        (_certificate, "this is a certificate, not a certificate signing request"),
        (_missing, "file not found"),
    ],
)
def test_a_bad_certificate_request_is_refused_in_plain_words(
    workspace: Workspace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[Path, Path], Path],
    says: str,
) -> None:
    request = make(tmp_path, workspace.keys)
    before, keys = workspace.federation_file.read_bytes(), key_files(workspace)
    assert workspace.cli(*COMPANY_ARGS, "--csr", str(request)) == 2
    err = capsys.readouterr().err
    assert f"ida-hub: cannot use the certificate signing request {request}: {says}" in err
    assert err.count("\n") == 1
    assert workspace.federation_file.read_bytes() == before and key_files(workspace) == keys


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (replaced(SERVICE, "--level", "LEVEL_3"), "argument --level: invalid choice: 'LEVEL_3'"),
        (["enrol", "company", "--entity-id", COMPANY], "the following arguments are required: --display-name"),
        (replaced(COMPANY_ARGS, "--levels", "LEVEL_1,LEVEL_9"), "argument --levels: 'LEVEL_9' is not one of"),
    ],
)
def test_a_command_line_it_cannot_use_exits_2_with_one_line(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        workspace.cli(*argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and err.startswith("ida-hub enrol ")


def test_an_edit_the_apps_would_refuse_is_never_written_and_its_keys_are_deleted(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert workspace.cli(*DEPARTMENT) == 0  # no --account-creation-url: its matching service creates no accounts
    before, keys = workspace.federation_file.read_bytes(), key_files(workspace)
    assert workspace.cli(*SERVICE, "--account-creation-attributes", "firstname,surname") == 2
    err = capsys.readouterr().err
    assert f"{workspace.federation_file} left as it was: the edited file would not load" in err
    assert "account_creation_attributes needs matching_service.account_creation_url" in err
    assert "the certificates and keys it had issued were deleted" in err
    assert workspace.federation_file.read_bytes() == before and key_files(workspace) == keys
    assert not list(workspace.federation_file.parent.glob(".federation.yaml.*"))


def test_dry_run_shows_the_edit_and_writes_nothing(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    before, keys = workspace.federation_file.read_bytes(), key_files(workspace)
    assert workspace.cli(*COMPANY_ARGS, "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"+  - entity_id: {COMPANY}" in out
    assert "Dry run: nothing written; it would issue example-identity-signing.crt." in out
    assert workspace.federation_file.read_bytes() == before and key_files(workspace) == keys


def test_suspend_then_resume_gives_back_the_same_file(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    original = workspace.federation_file.read_bytes()
    assert workspace.cli("suspend", "service", PAYE) == 0
    assert workspace.cli("suspend", "company", IDP_FOUR) == 0
    federation = loaded(workspace)
    service, company = federation.relying_service(PAYE), federation.identity_provider(IDP_FOUR)
    assert service is not None and service.suspended and company is not None and company.suspended
    assert sum(rp.suspended for rp in federation.file.relying_services) == 1
    assert (
        "        display_name: Check your PAYE tax\n        suspended: true\n" in workspace.federation_file.read_text()
    )
    out = capsys.readouterr().out
    assert f"Undo it with `ida-hub resume service {PAYE}`." in out

    assert workspace.cli("suspend", "service", PAYE) == 0  # again: nothing to do
    assert "is already suspended" in capsys.readouterr().out
    assert workspace.cli("resume", "service", PAYE) == 0
    assert workspace.cli("resume", "company", IDP_FOUR) == 0
    assert workspace.federation_file.read_bytes() == original


def test_remove_deletes_entries_but_never_the_last_company_or_a_department_with_services(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    before = workspace.federation_file.read_text()
    assert workspace.cli("remove", "department", "dwp") == 2
    assert "department dwp still has services; remove them first" in capsys.readouterr().err
    for service in ("view-your-state-pension", "apply-for-carers-allowance"):
        assert workspace.cli("remove", "service", f"${{stub_service}}/{service}/SAML2/metadata") == 0
    assert workspace.cli("remove", "department", "dwp") == 0
    federation = loaded(workspace)
    assert federation.file.department("dwp") is None and len(federation.file.relying_services) == 3

    companies = [idp.entity_id for idp in federation.file.identity_providers]
    for entity_id in companies[1:]:
        assert workspace.cli("remove", "company", entity_id) == 0
    capsys.readouterr()
    assert workspace.cli("remove", "company", companies[0]) == 2
    assert "is the only company, and the federation file needs at least one" in capsys.readouterr().err
    assert workspace.cli("remove", "company", PAYE) == 2
    assert "it is a service's entity ID" in capsys.readouterr().err
    after = workspace.federation_file.read_text()
    assert "# Departments:" in after and after.startswith("# The federation:")
    assert not [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line.startswith("+ ")]
    loaded(workspace)
