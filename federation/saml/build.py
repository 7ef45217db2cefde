"""Building the SAML 2.0 messages that cross the federation.

Builders return unsigned lxml elements; the caller signs (``federation.saml.crypto.sign``) and encrypts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lxml import etree

from federation.errors import InvalidSamlMessageError
from federation.saml.xml import (
    BINDING_HTTP_POST,
    CM_BEARER,
    NAMEID_PERSISTENT,
    NS,
    STATUS_SUCCESS,
    instant,
    new_id,
    q,
)
from federation.verify.loa import LevelOfAssurance

_NSMAP = {"samlp": NS["samlp"], "saml": NS["saml"]}


def _protocol(tag: str, *, issuer: str, destination: str | None, moment: dt.datetime, **attrs: str) -> etree._Element:
    element = etree.Element(q("samlp", tag), nsmap=_NSMAP, ID=new_id(), Version="2.0", IssueInstant=instant(moment))
    if destination:
        element.set("Destination", destination)
    for name, value in attrs.items():
        element.set(name, value)
    etree.SubElement(element, q("saml", "Issuer")).text = issuer
    return element


def authn_request(
    *,
    issuer: str,
    destination: str,
    acs_url: str,
    moment: dt.datetime,
    level: LevelOfAssurance | None = None,
) -> etree._Element:
    """An AuthnRequest for the HTTP-POST binding, asking for a persistent NameID."""
    request = _protocol(
        "AuthnRequest",
        issuer=issuer,
        destination=destination,
        moment=moment,
        AssertionConsumerServiceURL=acs_url,
        ProtocolBinding=BINDING_HTTP_POST,
    )
    etree.SubElement(request, q("samlp", "NameIDPolicy"), Format=NAMEID_PERSISTENT, AllowCreate="true")
    if level is not None:
        context = etree.SubElement(request, q("samlp", "RequestedAuthnContext"), Comparison="minimum")
        etree.SubElement(context, q("saml", "AuthnContextClassRef")).text = level.uri
    return request


def response(
    *,
    issuer: str,
    destination: str | None,
    in_response_to: str,
    moment: dt.datetime,
    status: str = STATUS_SUCCESS,
    sub_status: str | None = None,
    status_message: str | None = None,
    status_detail: str | None = None,
) -> etree._Element:
    """A samlp:Response with its Status; append assertions before signing.

    ``status_detail`` is a Verify-style ``StatusValue`` such as ``authn-cancel`` or ``loa-pending``.
    """
    element = _protocol("Response", issuer=issuer, destination=destination, moment=moment, InResponseTo=in_response_to)
    status_node = etree.SubElement(element, q("samlp", "Status"))
    code = etree.SubElement(status_node, q("samlp", "StatusCode"), Value=status)
    if sub_status:
        etree.SubElement(code, q("samlp", "StatusCode"), Value=sub_status)
    if status_message:
        etree.SubElement(status_node, q("samlp", "StatusMessage")).text = status_message
    if status_detail:
        detail = etree.SubElement(status_node, q("samlp", "StatusDetail"))
        etree.SubElement(detail, q("ida", "StatusValue"), nsmap={"ida": NS["ida"]}).text = status_detail
    return element


def attribute_query(*, issuer: str, destination: str, name_id: str, moment: dt.datetime) -> etree._Element:
    """A samlp:AttributeQuery about ``name_id``.

    Evidence for the matcher (an EncryptedAssertion) goes in the subject's SubjectConfirmationData, as
    GOV.UK Verify's hub sent it: see ``confirmation_data``.
    """
    query = _protocol("AttributeQuery", issuer=issuer, destination=destination, moment=moment)
    subject = etree.SubElement(query, q("saml", "Subject"))
    etree.SubElement(subject, q("saml", "NameID"), Format=NAMEID_PERSISTENT).text = name_id
    confirmation = etree.SubElement(subject, q("saml", "SubjectConfirmation"), Method=CM_BEARER)
    etree.SubElement(confirmation, q("saml", "SubjectConfirmationData"))
    return query


def confirmation_data(query: etree._Element) -> etree._Element:
    """The SubjectConfirmationData of an AttributeQuery's subject."""
    node = query.find(
        f"{q('saml', 'Subject')}/{q('saml', 'SubjectConfirmation')}/{q('saml', 'SubjectConfirmationData')}"
    )
    if node is None:
        raise InvalidSamlMessageError("attribute query has no subject confirmation data")
    return node


@dataclass(frozen=True)
class Subject:
    name_id: str
    in_response_to: str
    recipient: str
    name_qualifier: str | None = None


def assertion(
    *,
    issuer: str,
    subject: Subject,
    audience: str,
    moment: dt.datetime,
    lifetime: dt.timedelta,
    level: LevelOfAssurance | str | None = None,
    attributes: list[etree._Element] | None = None,
) -> etree._Element:
    """A bearer assertion for one audience, with an AuthnStatement when ``level`` is given."""
    element = etree.Element(
        q("saml", "Assertion"), nsmap={"saml": NS["saml"]}, ID=new_id(), Version="2.0", IssueInstant=instant(moment)
    )
    etree.SubElement(element, q("saml", "Issuer")).text = issuer
    subject_node = etree.SubElement(element, q("saml", "Subject"))
    name_id = etree.SubElement(subject_node, q("saml", "NameID"), Format=NAMEID_PERSISTENT)
    if subject.name_qualifier:
        name_id.set("SPNameQualifier", subject.name_qualifier)
    name_id.text = subject.name_id
    confirmation = etree.SubElement(subject_node, q("saml", "SubjectConfirmation"), Method=CM_BEARER)
    etree.SubElement(
        confirmation,
        q("saml", "SubjectConfirmationData"),
        InResponseTo=subject.in_response_to,
        NotOnOrAfter=instant(moment + lifetime),
        Recipient=subject.recipient,
    )
    conditions = etree.SubElement(
        element, q("saml", "Conditions"), NotBefore=instant(moment), NotOnOrAfter=instant(moment + lifetime)
    )
    restriction = etree.SubElement(conditions, q("saml", "AudienceRestriction"))
    etree.SubElement(restriction, q("saml", "Audience")).text = audience
    if level is not None:
        statement = etree.SubElement(element, q("saml", "AuthnStatement"), AuthnInstant=instant(moment))
        context = etree.SubElement(statement, q("saml", "AuthnContext"))
        uri = level.uri if isinstance(level, LevelOfAssurance) else level
        etree.SubElement(context, q("saml", "AuthnContextClassRef")).text = uri
    if attributes:
        statement = etree.SubElement(element, q("saml", "AttributeStatement"))
        statement.extend(attributes)
    return element


def soap_envelope(body: etree._Element) -> bytes:
    envelope = etree.Element(q("soap", "Envelope"), nsmap={"soap": NS["soap"]})
    etree.SubElement(envelope, q("soap", "Body")).append(body)
    return etree.tostring(envelope, encoding="utf-8", xml_declaration=True)
