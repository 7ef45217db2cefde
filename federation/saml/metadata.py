"""SAML metadata for the hub and the federation, signed with the federation's metadata-signing key."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from federation.config import Certificate, Federation
from federation.errors import FederationError
from federation.saml.crypto import sign, verify
from federation.saml.keys import KeyPair
from federation.saml.xml import (
    BINDING_HTTP_POST,
    BINDING_HTTP_REDIRECT,
    NAMEID_PERSISTENT,
    NS,
    XmlError,
    instant,
    new_id,
    parse,
    parse_instant,
    q,
)

_NSMAP = {"md": NS["md"], "ds": NS["ds"]}


# How long the metadata the hub publishes is valid for (its validUntil), and how often the hub re-signs it.
PUBLISHED_VALIDITY = dt.timedelta(days=7)
METADATA_REFRESH = dt.timedelta(hours=1)


def _key_descriptor(parent: etree._Element, use: str, certificate: Certificate) -> None:
    descriptor = etree.SubElement(parent, q("md", "KeyDescriptor"), use=use)
    key_info = etree.SubElement(descriptor, q("ds", "KeyInfo"))
    data = etree.SubElement(key_info, q("ds", "X509Data"))
    etree.SubElement(data, q("ds", "X509Certificate")).text = certificate.der_base64


def _hub_entity(federation: Federation) -> etree._Element:
    hub = federation.hub
    entity = etree.Element(q("md", "EntityDescriptor"), nsmap=_NSMAP, entityID=hub.entity_id)
    idp = etree.SubElement(
        entity, q("md", "IDPSSODescriptor"), protocolSupportEnumeration=NS["samlp"], WantAuthnRequestsSigned="true"
    )
    for cert in federation.certs(hub.signing_certificates):
        _key_descriptor(idp, "signing", cert)
    etree.SubElement(idp, q("md", "NameIDFormat")).text = NAMEID_PERSISTENT
    # One endpoint takes both bindings for AuthnRequests; metadata-driven toolkits pick by what is listed.
    for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
        etree.SubElement(idp, q("md", "SingleSignOnService"), Binding=binding, Location=hub.sso_url)
    sp = etree.SubElement(
        entity,
        q("md", "SPSSODescriptor"),
        protocolSupportEnumeration=NS["samlp"],
        AuthnRequestsSigned="true",
        WantAssertionsSigned="true",
    )
    for cert in federation.certs(hub.signing_certificates):
        _key_descriptor(sp, "signing", cert)
    _key_descriptor(sp, "encryption", federation.cert(hub.encryption_certificate))
    etree.SubElement(sp, q("md", "NameIDFormat")).text = NAMEID_PERSISTENT
    etree.SubElement(
        sp,
        q("md", "AssertionConsumerService"),
        Binding=BINDING_HTTP_POST,
        Location=hub.acs_url,
        index="1",
        isDefault="true",
    )
    return entity


def _idp_entity(federation: Federation, index: int) -> etree._Element:
    entry = federation.file.identity_providers[index]
    entity = etree.Element(q("md", "EntityDescriptor"), nsmap=_NSMAP, entityID=entry.entity_id)
    idp = etree.SubElement(entity, q("md", "IDPSSODescriptor"), protocolSupportEnumeration=NS["samlp"])
    for cert in federation.certs(entry.signing_certificates):
        _key_descriptor(idp, "signing", cert)
    etree.SubElement(idp, q("md", "SingleSignOnService"), Binding=BINDING_HTTP_POST, Location=entry.sso_url)
    organization = etree.SubElement(entity, q("md", "Organization"))
    for tag in ("OrganizationName", "OrganizationDisplayName"):
        etree.SubElement(
            organization, q("md", tag), {"{http://www.w3.org/XML/1998/namespace}lang": "en"}
        ).text = entry.display_name
    etree.SubElement(
        organization, q("md", "OrganizationURL"), {"{http://www.w3.org/XML/1998/namespace}lang": "en"}
    ).text = entry.sso_url
    return entity


def _signed(element: etree._Element, signer: KeyPair, valid_for: dt.timedelta, moment: dt.datetime) -> bytes:
    element.set("ID", new_id())
    element.set("validUntil", instant(moment + valid_for))
    # md:EntityDescriptor and md:EntitiesDescriptor take the signature as their first child.
    sign(element, signer)
    return etree.tostring(element, encoding="utf-8", xml_declaration=True)


def hub_metadata(federation: Federation, signer: KeyPair, moment: dt.datetime, valid_for: dt.timedelta) -> bytes:
    return _signed(_hub_entity(federation), signer, valid_for, moment)


def federation_metadata(federation: Federation, signer: KeyPair, moment: dt.datetime, valid_for: dt.timedelta) -> bytes:
    entities = etree.Element(q("md", "EntitiesDescriptor"), nsmap=_NSMAP, Name="IDA-HUB-FEDERATION")
    entities.append(_hub_entity(federation))
    for index in range(len(federation.file.identity_providers)):
        entities.append(_idp_entity(federation, index))
    return _signed(entities, signer, valid_for, moment)


class MetadataError(Exception):
    """Metadata that must not be trusted: unsigned, signed by the wrong key, expired or malformed."""


def read_metadata(data: bytes, certificates: list[Certificate], moment: dt.datetime) -> etree._Element:
    """Parse metadata and trust it only if signed by one of ``certificates`` and not past its validUntil.

    pysaml2 loads unsigned remote metadata even with a pinned certificate (its issue #1037); this refuses it.
    """
    try:
        root = parse(data)
    except XmlError as exc:
        raise MetadataError(f"metadata rejected: {exc}") from exc
    if root.tag not in (q("md", "EntityDescriptor"), q("md", "EntitiesDescriptor")):
        raise MetadataError("not SAML metadata")
    try:
        verify(root, certificates)
    except FederationError as exc:
        raise MetadataError(f"metadata signature: {exc.detail}") from exc
    valid_until = root.get("validUntil")
    if not valid_until:
        raise MetadataError("metadata has no validUntil")
    try:
        if parse_instant(valid_until) <= moment:
            raise MetadataError("metadata has expired")
    except XmlError as exc:
        raise MetadataError("metadata validUntil is not a time") from exc
    return root
