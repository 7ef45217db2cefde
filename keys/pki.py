"""The federation's PKI: a root CA, one intermediate CA per role, and leaf key pairs for every entity; and the
hub's data keys, which seal the personal data a journey holds at rest (``federation.sealing``).

GOV.UK Verify kept one intermediate per role (hub, identity providers, relying parties, metadata) so that a
certificate issued for one role could never be accepted in another. We do the same, and check every
certificate we are given against its role's chain and its validity dates before an app starts.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

KEY_SIZE = 2048
ROOT_NAME = "root-ca"
# The hub's data keys: ``<keys dir>/data-keys/<key ID>.key``, each 32 random bytes in base64. The key that
# seals is the one whose ID the file ``data-keys/active`` names, or else the newest (IDs are the UTC time of
# making, so the newest sorts last); every key there opens.
DATA_KEYS_DIR = "data-keys"
ACTIVE_DATA_KEY_FILE = "active"
DATA_KEY_BYTES = 32
DATA_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


class Role(StrEnum):
    """A role in the federation; each has its own intermediate CA."""

    HUB = "hub"
    IDP = "idp"
    RP = "rp"  # relying services and their matching services
    METADATA = "metadata"


class Usage(StrEnum):
    SIGNING = "signing"
    ENCRYPTION = "encryption"
    # One key pair named as both an entity's signing and its encryption certificate: python3-saml signs and
    # decrypts with one key, and check_chain accepts any in-date leaf of the role's CA for either.
    SIGNING_AND_ENCRYPTION = "signing-and-encryption"


@dataclass(frozen=True)
class Leaf:
    """One entity's key pairs: ``<name>-signing`` and ``<name>-encryption`` under the role's CA."""

    name: str
    role: Role
    usages: tuple[Usage, ...] = (Usage.SIGNING, Usage.ENCRYPTION)


DEFAULT_LEAVES: tuple[Leaf, ...] = (
    Leaf("hub", Role.HUB),
    Leaf("stub-idp-one", Role.IDP),
    Leaf("stub-idp-two", Role.IDP),
    Leaf("stub-idp-three", Role.IDP),
    # A certified company on another SAML stack (pysaml2): stub_idp_pysaml2.
    Leaf("stub-idp-pysaml2", Role.IDP),
    # Each department's matching service, and each relying service, with keys of its own (federation.yaml).
    Leaf("hmrc-msa", Role.RP),
    Leaf("dwp-msa", Role.RP),
    Leaf("check-your-paye-tax", Role.RP),
    Leaf("claim-a-tax-refund", Role.RP),
    Leaf("register-for-self-assessment", Role.RP),
    Leaf("view-your-state-pension", Role.RP),
    Leaf("apply-for-carers-allowance", Role.RP),
    Leaf("metadata", Role.METADATA, (Usage.SIGNING,)),
)


class CertificateError(Exception):
    """A certificate that must not be trusted: wrong chain, expired, not yet valid or unreadable."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class DataKeyError(Exception):
    """A data key file that cannot be used: missing, unreadable, or not a 256-bit key."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def ca_file(role: Role | str) -> str:
    return f"{role}-ca.crt"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "GB"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ida-hub test federation"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _new_key(key_size: int = KEY_SIZE) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def _issue(
    *,
    subject: str,
    key: rsa.RSAPrivateKey | rsa.RSAPublicKey,
    issuer_cert: x509.Certificate | None,
    issuer_key: rsa.RSAPrivateKey,
    days: int,
    ca: bool,
    usage: Usage | None = None,
    now: dt.datetime | None = None,
) -> x509.Certificate:
    start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=5)
    public_key = key if isinstance(key, rsa.RSAPublicKey) else key.public_key()  # a public key: a team's request
    issuer_name = issuer_cert.subject if issuer_cert is not None else _name(subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if ca:
        key_usage = {"key_cert_sign": True, "crl_sign": True, "digital_signature": False, "key_encipherment": False}
    elif usage is Usage.ENCRYPTION:
        key_usage = {"key_cert_sign": False, "crl_sign": False, "digital_signature": False, "key_encipherment": True}
    elif usage is Usage.SIGNING_AND_ENCRYPTION:
        key_usage = {"key_cert_sign": False, "crl_sign": False, "digital_signature": True, "key_encipherment": True}
    else:
        key_usage = {"key_cert_sign": False, "crl_sign": False, "digital_signature": True, "key_encipherment": False}
    builder = builder.add_extension(
        x509.KeyUsage(
            content_commitment=False,
            data_encipherment=False,
            key_agreement=False,
            encipher_only=False,
            decipher_only=False,
            **key_usage,
        ),
        critical=True,
    )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(directory: Path, stem: str, key: rsa.RSAPrivateKey, cert: x509.Certificate) -> None:
    key_path = directory / f"{stem}.key"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    (directory / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def generate(
    directory: Path,
    leaves: Iterable[Leaf] = DEFAULT_LEAVES,
    *,
    leaf_days: int = 365,
    now: dt.datetime | None = None,
) -> list[Path]:
    """Write a whole federation PKI into ``directory`` and return the certificate paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    root_key = _new_key()
    root = _issue(subject="ida-hub root CA", key=root_key, issuer_cert=None, issuer_key=root_key, days=3650, ca=True)
    _write(directory, ROOT_NAME, root_key, root)
    written = [directory / f"{ROOT_NAME}.crt"]
    cas: dict[Role, tuple[x509.Certificate, rsa.RSAPrivateKey]] = {}
    for role in Role:
        ca_key = _new_key()
        ca_cert = _issue(
            subject=f"ida-hub {role} CA", key=ca_key, issuer_cert=root, issuer_key=root_key, days=1825, ca=True
        )
        _write(directory, f"{role}-ca", ca_key, ca_cert)
        cas[role] = (ca_cert, ca_key)
        written.append(directory / ca_file(role))
    for leaf in leaves:
        ca_cert, ca_key = cas[leaf.role]
        for usage in leaf.usages:
            key = _new_key()
            cert = _issue(
                subject=f"{leaf.name} {usage}",
                key=key,
                issuer_cert=ca_cert,
                issuer_key=ca_key,
                days=leaf_days,
                ca=False,
                usage=usage,
                now=now,
            )
            _write(directory, f"{leaf.name}-{usage}", key, cert)
            written.append(directory / f"{leaf.name}-{usage}.crt")
    if not has_data_key(directory):
        new_data_key(directory)
    return written


def new_data_key(directory: Path, now: dt.datetime | None = None) -> str:
    """Write a new random 256-bit data key into ``directory/data-keys`` (mode 0600) and return its ID.

    It seals from the next start of the hub, unless ``data-keys/active`` names another. An existing file is never
    overwritten: a key may still be needed to open what it sealed.
    """
    folder = directory / DATA_KEYS_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_id = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M%S")
    path = folder / f"{key_id}.key"
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise DataKeyError(path, "already exists; not overwriting it") from exc
    with os.fdopen(handle, "w", encoding="ascii") as file:
        file.write(base64.b64encode(secrets.token_bytes(DATA_KEY_BYTES)).decode("ascii") + "\n")
    return key_id


def has_data_key(directory: Path) -> bool:
    return any((directory / DATA_KEYS_DIR).glob("*.key"))


def read_data_keys(directory: Path) -> tuple[dict[str, bytes], str]:
    """Every data key in ``directory/data-keys`` by ID, and the ID of the one that seals.

    Raises DataKeyError naming the file when there is none, when one is not a 256-bit key in base64, or when
    ``data-keys/active`` names a key that is not there.
    """
    folder = directory / DATA_KEYS_DIR
    keys: dict[str, bytes] = {}
    for path in sorted(folder.glob("*.key")):
        if not DATA_KEY_ID.fullmatch(path.stem):
            raise DataKeyError(path, "a data key's name must be its ID: letters, digits, - and _, at most 32")
        try:
            key = base64.b64decode(path.read_text(encoding="ascii").strip(), validate=True)
        except (OSError, UnicodeDecodeError, binascii.Error) as exc:
            raise DataKeyError(path, "not readable as a key in base64") from exc
        if len(key) != DATA_KEY_BYTES:
            raise DataKeyError(path, f"a data key must be {DATA_KEY_BYTES} bytes, not {len(key)}")
        keys[path.stem] = key
    if not keys:
        raise DataKeyError(folder, "no data key (python -m keys writes one)")
    active_file = folder / ACTIVE_DATA_KEY_FILE
    active = active_file.read_text(encoding="ascii").strip() if active_file.exists() else max(keys)
    if active not in keys:
        raise DataKeyError(active_file, f"names data key {active!r}, which is not in {folder}")
    return keys, active


def load_private_key(path: Path) -> rsa.RSAPrivateKey:
    """An unencrypted PEM RSA private key, as ``generate`` writes them."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise CertificateError(path, "private key file not found") from exc
    except (ValueError, TypeError) as exc:
        raise CertificateError(path, "not an unencrypted PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateError(path, "not an RSA private key")
    return key


def issue_leaf(
    directory: Path,
    stem: str,
    role: Role,
    usage: Usage,
    *,
    ca_directory: Path | None = None,
    ca_key: Path | None = None,
    days: int = 365,
    now: dt.datetime | None = None,
    key_size: int = KEY_SIZE,
) -> Path:
    """Issue one new key pair from ``role``'s existing CA and write ``<stem>.key`` and ``<stem>.crt``.

    Key rollover needs a second certificate from the same CA while the first is still in use, so this
    never overwrites: an existing ``<stem>.crt`` or ``<stem>.key`` is an error. The CA certificate is read from
    ``ca_directory`` (default ``directory``) and its key from ``ca_key`` (default beside the CA certificate),
    since operators may keep CA keys offline. ``key_size`` below 2048 exists only so that tests can seed a
    weak certificate for the self-check to find.
    """
    ca_cert, ca_private = _role_ca(ca_directory or directory, role, ca_key)
    _refuse_existing(directory, stem)
    key = _new_key(key_size)
    cert = _issue(
        subject=Path(stem).name,
        key=key,
        issuer_cert=ca_cert,
        issuer_key=ca_private,
        days=days,
        ca=False,
        usage=usage,
        now=now,
    )
    (directory / stem).parent.mkdir(parents=True, exist_ok=True)
    _write(directory, stem, key, cert)
    return directory / f"{stem}.crt"


def _role_ca(ca_directory: Path, role: Role, ca_key: Path | None) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    ca_path = ca_directory / ca_file(role)
    ca_cert = load_certificate(ca_path)
    ca_private = load_private_key(ca_key or ca_path.with_suffix(".key"))
    if ca_private.public_key().public_numbers() != _rsa_public_numbers(ca_cert, ca_path):
        raise CertificateError(ca_key or ca_path.with_suffix(".key"), f"is not the key of {ca_path.name}")
    return ca_cert, ca_private


def _refuse_existing(directory: Path, stem: str) -> None:
    for ext in ("crt", "key"):
        if (directory / f"{stem}.{ext}").exists():
            raise CertificateError(directory / f"{stem}.{ext}", "already exists; not overwriting it")


def read_certificate_request(path: Path) -> x509.CertificateSigningRequest:
    """A team's certificate signing request (PEM), if it is one the federation will sign; else CertificateError.

    The request must carry an RSA key of at least 2048 bits and be signed by that key with SHA-256 or stronger,
    which shows whoever sent it holds the private key. Its subject and any extensions it asks for are not used:
    the CA names the certificate and decides its usage.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise CertificateError(path, "file not found") from exc
    except OSError as exc:
        raise CertificateError(path, f"cannot be read ({exc.strerror})") from exc
    try:
        request = x509.load_pem_x509_csr(data)
    except ValueError as exc:
        raise CertificateError(path, _not_a_request(data)) from exc
    public_key = request.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise CertificateError(path, "the key in the request must be RSA")
    if public_key.key_size < KEY_SIZE:
        raise CertificateError(
            path, f"the key in the request is {public_key.key_size} bits; it must be at least {KEY_SIZE}"
        )
    try:
        strong = isinstance(request.signature_hash_algorithm, hashes.SHA256 | hashes.SHA384 | hashes.SHA512)
        verifies = request.is_signature_valid
    except UnsupportedAlgorithm:
        strong = verifies = False
    if not strong:
        raise CertificateError(path, "the request must be signed with SHA-256 or stronger")
    if not verifies:
        raise CertificateError(path, "the request's signature does not verify: it was changed after it was signed")
    return request


def _not_a_request(data: bytes) -> str:
    if b"PRIVATE KEY-----" in data:
        return "this is a private key, not a certificate signing request; a private key should never leave its owner"
    if b"BEGIN CERTIFICATE-----" in data:
        return "this is a certificate, not a certificate signing request"
    return "not a PEM certificate signing request (one begins -----BEGIN CERTIFICATE REQUEST-----)"


def sign_csr(
    directory: Path,
    stem: str,
    request: Path,
    role: Role,
    usage: Usage,
    *,
    ca_directory: Path | None = None,
    ca_key: Path | None = None,
    days: int = 365,
    now: dt.datetime | None = None,
) -> Path:
    """Issue ``<stem>.crt`` from ``role``'s CA for the key in a team's certificate signing request.

    The private key stays with the team: nothing but the certificate is written. As ``issue_leaf``, this never
    overwrites, and a ``<stem>.key`` already there is refused too (it would not be this certificate's key).
    """
    checked = read_certificate_request(request)
    public_key = checked.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)  # read_certificate_request refuses any other
    ca_cert, ca_private = _role_ca(ca_directory or directory, role, ca_key)
    _refuse_existing(directory, stem)
    cert = _issue(
        subject=Path(stem).name,
        key=public_key,
        issuer_cert=ca_cert,
        issuer_key=ca_private,
        days=days,
        ca=False,
        usage=usage,
        now=now,
    )
    path = directory / f"{stem}.crt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("xb") as out:
        out.write(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _rsa_public_numbers(cert: x509.Certificate, path: Path) -> rsa.RSAPublicNumbers:
    public_key = cert.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise CertificateError(path, "CA key is not RSA")
    return public_key.public_numbers()


def is_complete(directory: Path, leaves: Iterable[Leaf] = DEFAULT_LEAVES) -> bool:
    """Whether every file ``generate`` would write is already there."""
    stems = [ROOT_NAME, *(f"{role}-ca" for role in Role)]
    stems += [f"{leaf.name}-{usage}" for leaf in leaves for usage in leaf.usages]
    return all((directory / f"{stem}.{ext}").is_file() for stem in stems for ext in ("key", "crt"))


def load_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError as exc:
        raise CertificateError(path, "file not found") from exc
    except ValueError as exc:
        raise CertificateError(path, "not a PEM X.509 certificate") from exc


def _check_dates(path: Path, cert: x509.Certificate, now: dt.datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise CertificateError(path, f"not valid until {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if now > cert.not_valid_after_utc:
        raise CertificateError(path, f"expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")


def _check_issued_by(path: Path, cert: x509.Certificate, issuer: x509.Certificate, issuer_label: str) -> None:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise CertificateError(path, f"not issued by the {issuer_label}") from exc


def check_chain(path: Path, role: Role, ca_directory: Path, now: dt.datetime | None = None) -> x509.Certificate:
    """Return the certificate at ``path`` if it chains to the root through ``role``'s CA and is in date.

    Raises CertificateError naming the file that failed.
    """
    now = now or dt.datetime.now(dt.UTC)
    root_path = ca_directory / f"{ROOT_NAME}.crt"
    root = load_certificate(root_path)
    _check_dates(root_path, root, now)
    ca_path = ca_directory / ca_file(role)
    ca = load_certificate(ca_path)
    _check_dates(ca_path, ca, now)
    _check_issued_by(ca_path, ca, root, "federation root CA")
    cert = load_certificate(path)
    _check_dates(path, cert, now)
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    if basic.ca:
        raise CertificateError(path, "is a CA certificate, not an entity's certificate")
    _check_issued_by(path, cert, ca, f"{role} CA")
    public_key = cert.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey) or public_key.key_size < KEY_SIZE:
        raise CertificateError(path, f"key must be RSA of at least {KEY_SIZE} bits")
    if not isinstance(cert.signature_hash_algorithm, hashes.SHA256 | hashes.SHA384 | hashes.SHA512):
        raise CertificateError(path, "must be signed with SHA-256 or stronger")
    return cert


def days_to_expiry(cert: x509.Certificate, now: dt.datetime | None = None) -> int:
    return (cert.not_valid_after_utc - (now or dt.datetime.now(dt.UTC))).days
