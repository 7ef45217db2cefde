"""A self-check finding, and the rules every certificate and URL a relying service gives us must meet."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from keys.pki import KEY_SIZE

EXPIRY_WARNING = dt.timedelta(days=30)


@dataclass(frozen=True)
class Finding:
    """One thing wrong: a short code tests and scripts can rely on, where it is, what is wrong, what to do."""

    code: str
    where: str
    problem: str
    fix: str
    field: str = ""


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(value: object) -> str | None:
    """Why ``value`` is not a URL the hub may send a citizen to, or None: https, or http on this machine only."""
    if not isinstance(value, str) or not value:
        return "is missing"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(ch.isspace() for ch in value):
        return f"{value!r} is not an absolute http(s) URL"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return f"{value} uses http on a host other than this machine (127.0.0.1, ::1, localhost)"
    return None


def certificate_findings(
    cert: x509.Certificate, where: str, ca: x509.Certificate, ca_name: str, moment: dt.datetime, field: str = ""
) -> list[Finding]:
    """Chain, dates, key and signature of one certificate, each rule its own finding so all are shown at once."""
    found: list[Finding] = []

    def add(code: str, problem: str, fix: str) -> None:
        found.append(Finding(code, where, problem, fix, field))

    basic = _basic_constraints(cert)
    if basic is not None and basic.ca:
        add(
            "cert-is-ca",
            "is a CA certificate, not a certificate for your service.",
            "Use your service's own certificate.",
        )
    if not issued_by(cert, ca):
        add(
            "cert-wrong-ca",
            f"is not issued by the federation's relying-service CA ({ca_name}).",
            "Ask the federation operator for a certificate issued by the relying-service CA; self-signed certificates "
            "and certificates from other CAs are refused.",
        )
    if moment > cert.not_valid_after_utc:
        add(
            "cert-expired",
            f"expired on {cert.not_valid_after_utc:%Y-%m-%d}.",
            "Get a new certificate and roll it over (docs/operations.md, key rollover).",
        )
    elif moment < cert.not_valid_before_utc:
        add(
            "cert-not-yet-valid",
            f"is not valid until {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC.",
            "Check the clock of the machine that issued it, or wait until then before using it.",
        )
    elif cert.not_valid_after_utc - moment < EXPIRY_WARNING:
        add(
            "cert-expires-soon",
            f"expires on {cert.not_valid_after_utc:%Y-%m-%d}, within {EXPIRY_WARNING.days} days.",
            "Start a key rollover now: add the new certificate at least 7 days before the old one expires.",
        )
    public_key = cert.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        add("cert-key-type", "does not hold an RSA key.", f"Use an RSA key of at least {KEY_SIZE} bits.")
    elif public_key.key_size < KEY_SIZE:
        add(
            "cert-weak-key",
            f"holds a {public_key.key_size}-bit RSA key.",
            f"Generate a new key of at least {KEY_SIZE} bits and get a certificate for it.",
        )
    algorithm = _hash_name(cert)
    if algorithm not in ("sha256", "sha384", "sha512"):
        add(
            "cert-weak-signature",
            f"is signed with {algorithm.upper()}, which the federation does not accept.",
            "Get a certificate signed with SHA-256 or stronger.",
        )
    return found


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca``'s key signed ``cert``, whatever the hash: a SHA-1 certificate is its own finding, not this one."""
    if cert.issuer != ca.subject:
        return False
    ca_key = ca.public_key()
    algorithm = cert.signature_hash_algorithm
    if not isinstance(ca_key, rsa.RSAPublicKey) or algorithm is None:
        return False
    try:
        ca_key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        return False
    return True


def _hash_name(cert: x509.Certificate) -> str:
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return "an unknown algorithm"
    names = {"sha1": "SHA-1", "md5": "MD5", "sha224": "SHA-224"}
    return names.get(algorithm.name, algorithm.name) if algorithm is not None else "no hash"


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None
