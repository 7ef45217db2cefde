"""Self-check rules for a relying service's SAML metadata (its SPSSODescriptor), and how it fits its entry."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from lxml import etree

from federation.saml.xml import BINDING_HTTP_POST, NAMEID_PERSISTENT, NS, XmlError, parse, parse_instant, q
from hub.cli.findings import Finding, certificate_findings, url_problem
from hub.cli.selfcheck_config import entity_id_problem
from keys.pki import CertificateError, load_certificate


@dataclass
class ServiceMetadata:
    """What the metadata says the hub needs: entity ID, certificates by use, and where to post Responses."""

    entity_id: str
    signing: list[x509.Certificate] = field(default_factory=list)
    encryption: list[x509.Certificate] = field(default_factory=list)
    post_acs: list[str] = field(default_factory=list)


def _descriptor(root: etree._Element, entity_id: str | None) -> etree._Element | None:
    if root.tag == q("md", "EntityDescriptor"):
        return root
    if root.tag != q("md", "EntitiesDescriptor"):
        return None
    entities = root.iter(q("md", "EntityDescriptor"))
    with_sp = [entity for entity in entities if entity.find(q("md", "SPSSODescriptor")) is not None]
    chosen = [entity for entity in with_sp if entity.get("entityID") == entity_id] if entity_id else with_sp
    return chosen[0] if len(chosen) == 1 else None


def metadata_findings(
    data: bytes, name: str, ca: x509.Certificate, moment: dt.datetime, entity_id: str | None = None
) -> tuple[ServiceMetadata | None, list[Finding]]:
    found: list[Finding] = []

    def add(code: str, where: str, problem: str, fix: str) -> None:
        found.append(Finding(code, f"{name}{where}", problem, fix))

    try:
        root = parse(data)
    except XmlError as exc:
        add(
            "metadata-unreadable",
            "",
            f"is not SAML metadata we can read ({exc}).",
            "Send the XML your toolkit exports.",
        )
        return None, found
    entity = _descriptor(root, entity_id)
    sp = entity.find(q("md", "SPSSODescriptor")) if entity is not None else None
    if entity is None or sp is None:
        add(
            "metadata-not-sp",
            "",
            "has no EntityDescriptor with an SPSSODescriptor (one service provider).",
            "Export your service provider's metadata: one EntityDescriptor holding an SPSSODescriptor.",
        )
        return None, found
    metadata = ServiceMetadata(entity.get("entityID", ""))
    problem = entity_id_problem(metadata.entity_id)
    if problem:
        add("entity-id-format", " entityID", f"{problem}.", "Use an https URL on your service's domain or a URN.")
    _valid_until(entity, root, moment, add)
    if NS["samlp"] not in (sp.get("protocolSupportEnumeration") or "").split():
        add(
            "protocol",
            " SPSSODescriptor",
            "does not declare SAML 2.0.",
            f'Set protocolSupportEnumeration="{NS["samlp"]}".',
        )
    if sp.get("AuthnRequestsSigned") not in ("true", "1"):
        add(
            "authn-requests-not-signed",
            " SPSSODescriptor",
            'does not say AuthnRequestsSigned="true"; the hub refuses unsigned AuthnRequests.',
            'Sign every AuthnRequest with your signing key and set AuthnRequestsSigned="true".',
        )
    if sp.get("WantAssertionsSigned") not in ("true", "1"):
        add(
            "assertions-signed-not-wanted",
            " SPSSODescriptor",
            'does not say WantAssertionsSigned="true", so your toolkit may accept an unsigned assertion.',
            'Set WantAssertionsSigned="true" and make your toolkit require the hub\'s signature on the assertion.',
        )
    _key_descriptors(sp, metadata, name, ca, moment, found, add)
    _assertion_consumers(sp, metadata, add)
    formats = [str(node.text or "").strip() for node in sp.findall(q("md", "NameIDFormat"))]
    if formats and NAMEID_PERSISTENT not in formats:
        add(
            "nameid-format",
            " NameIDFormat",
            "does not include persistent; the hub only sends a persistent pairwise identifier.",
            f"Add <NameIDFormat>{NAMEID_PERSISTENT}</NameIDFormat> or remove the NameIDFormat elements.",
        )
    return metadata, found


def _valid_until(entity: etree._Element, root: etree._Element, moment: dt.datetime, add: Any) -> None:
    for holder in [entity] if entity is root else [root, entity]:
        value = holder.get("validUntil")
        if not value:
            continue
        try:
            expired = parse_instant(value) <= moment
        except XmlError:
            add("metadata-expired", " validUntil", f"{value!r} is not a time.", "Use an xs:dateTime in UTC.")
            continue
        if expired:
            add(
                "metadata-expired",
                " validUntil",
                f"passed on {value}.",
                "Export fresh metadata with a later validUntil.",
            )


def _key_descriptors(
    sp: etree._Element,
    metadata: ServiceMetadata,
    name: str,
    ca: x509.Certificate,
    moment: dt.datetime,
    found: list[Finding],
    add: Any,
) -> None:
    for index, descriptor in enumerate(sp.findall(q("md", "KeyDescriptor")), start=1):
        use = descriptor.get("use")
        node = descriptor.find(f".//{q('ds', 'X509Certificate')}")
        where = f" KeyDescriptor {index} ({use or 'no use'})"
        try:
            der = base64.b64decode("".join((node.text or "").split()) if node is not None else "", validate=True)
            cert = x509.load_der_x509_certificate(der)
        except (binascii.Error, ValueError):
            add("cert-unreadable", where, "holds no readable X509Certificate.", "Put the base64 DER certificate there.")
            continue
        found.extend(certificate_findings(cert, f"{name}{where}", ca, "rp-ca.crt", moment))
        if use in (None, "signing"):
            metadata.signing.append(cert)
        if use in (None, "encryption"):
            metadata.encryption.append(cert)
    if not metadata.signing:
        add(
            "no-signing-certificate",
            " SPSSODescriptor",
            'has no signing certificate (KeyDescriptor use="signing" or without use).',
            "Publish the certificate of the key that signs your AuthnRequests.",
        )
    if not metadata.encryption:
        add(
            "no-encryption-certificate",
            " SPSSODescriptor",
            'has no encryption certificate (KeyDescriptor use="encryption" or without use); the hub encrypts '
            "every assertion to you.",
            'Publish the certificate whose private key decrypts assertions, with use="encryption".',
        )


def _assertion_consumers(sp: etree._Element, metadata: ServiceMetadata, add: Any) -> None:
    for index, acs in enumerate(sp.findall(q("md", "AssertionConsumerService")), start=1):
        location, binding = acs.get("Location", ""), acs.get("Binding", "")
        where = f" AssertionConsumerService {index} ({location})"
        if binding != BINDING_HTTP_POST:
            add(
                "acs-unsupported-binding",
                where,
                f"uses {binding or 'no binding'}; the hub only sends Responses by HTTP-POST and will never use it.",
                f'Offer this endpoint with Binding="{BINDING_HTTP_POST}", or remove it.',
            )
            continue
        metadata.post_acs.append(location)
        problem = url_problem(location)
        if problem:
            add(
                "acs-not-https",
                where,
                f"{problem}.",
                "Receive Responses over https; http is only for a service running on the same machine.",
            )
    if not metadata.post_acs:
        add(
            "acs-no-post-binding",
            " SPSSODescriptor",
            "has no AssertionConsumerService with the HTTP-POST binding.",
            f'Add an AssertionConsumerService with Binding="{BINDING_HTTP_POST}".',
        )


def _configured_certs(keys_dir: Path, relatives: object) -> list[x509.Certificate]:
    found = []
    for relative in relatives if isinstance(relatives, list) else [relatives]:
        try:
            found.append(load_certificate(keys_dir / str(relative)))
        except CertificateError:
            continue  # reported by the entry's own checks
    return found


def compare(metadata: ServiceMetadata, name: str, entry: dict[str, Any], where: str, keys_dir: Path) -> list[Finding]:
    """Metadata and federation file must agree: the hub only ever uses what the federation file says."""
    found: list[Finding] = []
    if entry.get("entity_id") != metadata.entity_id:
        found.append(
            Finding(
                "entity-id-mismatch",
                f"{name} entityID",
                f"is {metadata.entity_id!r} but the federation file has {entry.get('entity_id')!r}.",
                "Use the same entity ID in your toolkit as in the federation file (it is the Issuer of your requests).",
            )
        )
    configured_acs = entry.get("assertion_consumer_urls") or []
    for url in metadata.post_acs:
        if url not in configured_acs:
            found.append(
                Finding(
                    "acs-not-in-config",
                    f"{name} AssertionConsumerService ({url})",
                    "is not in the federation file; the hub refuses AuthnRequests asking for it.",
                    "Ask the federation operator to add it to assertion_consumer_urls, or use a configured one.",
                )
            )
    for url in configured_acs:
        if url not in metadata.post_acs:
            found.append(
                Finding(
                    "acs-not-in-metadata",
                    f"{where}.assertion_consumer_urls ({url})",
                    "is not an HTTP-POST AssertionConsumerService in your metadata.",
                    "Publish every ACS URL you use in your metadata, or ask the operator to remove this one.",
                )
            )
    signing = _configured_certs(keys_dir, entry.get("signing_certificates") or [])
    for cert in metadata.signing:
        if cert not in signing:
            found.append(
                Finding(
                    "cert-not-in-config",
                    f"{name} signing certificate ({cert.subject.rfc4514_string()})",
                    "is not in the federation file's signing_certificates; requests signed with it are refused.",
                    "Ask the federation operator to add it (see key rollover in docs/operations.md).",
                )
            )
    encryption = _configured_certs(keys_dir, entry.get("encryption_certificate"))
    if encryption and metadata.encryption and not any(cert in metadata.encryption for cert in encryption):
        found.append(
            Finding(
                "encryption-cert-mismatch",
                f"{where}.encryption_certificate",
                "is not the encryption certificate in your metadata; the hub encrypts to the federation file's one.",
                "Publish the same encryption certificate in both, and keep its private key at your service.",
            )
        )
    return found
