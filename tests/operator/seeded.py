"""Deliberate mistakes for the self-check to find: weak certificates, and SP metadata written to order."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from federation.saml.xml import BINDING_HTTP_POST, NAMEID_PERSISTENT, NS, q
from keys.pki import Role, Usage, issue_leaf, load_certificate, load_private_key

_SHA256_WITH_RSA = bytes.fromhex("06092a864886f70d01010b")
_SHA1_WITH_RSA = bytes.fromhex("06092a864886f70d010105")


def sha1_certificate(keys: Path, stem: str) -> Path:
    """A relying-service certificate from the right CA, signed with SHA-1.

    cryptography refuses to sign certificates with SHA-1, so this issues a SHA-256 one with our PKI code and
    re-signs its to-be-signed part with the CA's key under SHA-1. The two algorithm identifiers have the same
    length, and so does an RSA signature from the same key, so the DER is patched in place.
    """
    path = issue_leaf(keys, stem, Role.RP, Usage.SIGNING)
    cert = load_certificate(path)
    der = cert.public_bytes(serialization.Encoding.DER)
    tbs = cert.tbs_certificate_bytes.replace(_SHA256_WITH_RSA, _SHA1_WITH_RSA)
    signature = load_private_key(keys / "rp-ca.key").sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    patched = der.replace(cert.tbs_certificate_bytes, tbs).replace(_SHA256_WITH_RSA, _SHA1_WITH_RSA)
    patched = patched.replace(cert.signature, signature)
    path.write_bytes(x509.load_der_x509_certificate(patched).public_bytes(serialization.Encoding.PEM))
    return path


def _der_base64(path: Path) -> str:
    return base64.b64encode(load_certificate(path).public_bytes(serialization.Encoding.DER)).decode()


def sp_metadata(
    entity_id: str,
    *,
    acs: list[tuple[str, str]],
    signing: list[Path],
    encryption: list[Path],
    authn_requests_signed: str | None = "true",
    want_assertions_signed: str | None = "true",
    nameid_format: str = NAMEID_PERSISTENT,
) -> bytes:
    """A service provider's metadata, as a SAML toolkit would export it; ``acs`` is (binding, location) pairs."""
    entity = etree.Element(q("md", "EntityDescriptor"), nsmap={"md": NS["md"], "ds": NS["ds"]}, entityID=entity_id)
    sp = etree.SubElement(entity, q("md", "SPSSODescriptor"), protocolSupportEnumeration=NS["samlp"])
    if authn_requests_signed is not None:
        sp.set("AuthnRequestsSigned", authn_requests_signed)
    if want_assertions_signed is not None:
        sp.set("WantAssertionsSigned", want_assertions_signed)
    for use, paths in (("signing", signing), ("encryption", encryption)):
        for path in paths:
            descriptor = etree.SubElement(sp, q("md", "KeyDescriptor"), use=use)
            data = etree.SubElement(etree.SubElement(descriptor, q("ds", "KeyInfo")), q("ds", "X509Data"))
            etree.SubElement(data, q("ds", "X509Certificate")).text = _der_base64(path)
    etree.SubElement(sp, q("md", "NameIDFormat")).text = nameid_format
    for index, (binding, location) in enumerate(acs, start=1):
        etree.SubElement(sp, q("md", "AssertionConsumerService"), Binding=binding, Location=location, index=str(index))
    return etree.tostring(entity, xml_declaration=True, encoding="utf-8")


__all__ = ["BINDING_HTTP_POST", "sha1_certificate", "sp_metadata"]
