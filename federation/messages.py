"""Building and checking the SAML 2.0 messages that cross the federation.

Builders return unsigned lxml elements; the caller signs (``federation.crypto.sign``) and encrypts. The
checks read only from elements whose signatures have been verified, and raise a ``FederationError``
subclass naming what was wrong (never quoting the message, which may hold personal data).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from lxml import etree

from federation.config import Certificate
from federation.crypto import verify
from federation.errors import InvalidSamlMessageError, ProtocolError
from federation.loa import LevelOfAssurance
from federation.xml import (
    BINDING_HTTP_POST,
    CM_BEARER,
    NAMEID_PERSISTENT,
    NS,
    STATUS_SUCCESS,
    XmlError,
    child,
    instant,
    new_id,
    parse,
    parse_instant,
    q,
    text_of,
)

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
    node = query.find(f"{q('saml', 'Subject')}/{q('saml', 'SubjectConfirmation')}/{q('saml', 'SubjectConfirmationData')}")
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


def soap_body(data: bytes) -> etree._Element:
    """The single element inside a SOAP 1.1 Body."""
    try:
        envelope = parse(data)
    except XmlError as exc:
        raise InvalidSamlMessageError(f"SOAP message rejected: {exc}") from exc
    body = child(envelope, "soap", "Body") if envelope.tag == q("soap", "Envelope") else None
    if body is None or len(body) != 1:
        raise InvalidSamlMessageError("not a SOAP envelope with one element in its body")
    return body[0]


# ---- checks --------------------------------------------------------------------------------------------


def check_message(
    element: etree._Element,
    *,
    tag: str,
    destination: str | None,
    now: dt.datetime,
    skew: dt.timedelta,
    max_age: dt.timedelta = dt.timedelta(minutes=5),
) -> str:
    """Shape, version, time and destination of a protocol message; returns its Issuer."""
    if element.tag != q("samlp", tag):
        raise InvalidSamlMessageError(f"expected a {tag}")
    if element.get("Version") != "2.0":
        raise ProtocolError("message is not SAML version 2.0")
    if not element.get("ID"):
        raise ProtocolError("message has no ID")
    try:
        issued = parse_instant(element.get("IssueInstant"))
    except XmlError as exc:
        raise ProtocolError("message has no valid IssueInstant") from exc
    if issued > now + skew or issued < now - max_age - skew:
        raise ProtocolError("message was issued outside the time allowed")
    if destination is not None and element.get("Destination") != destination:
        raise ProtocolError("message Destination is not this endpoint")
    issuer = text_of(child(element, "saml", "Issuer"))
    if not issuer:
        raise ProtocolError("message has no Issuer")
    return issuer


@dataclass(frozen=True)
class Status:
    code: str
    sub_code: str | None = None
    detail: str | None = None

    @property
    def success(self) -> bool:
        return self.code == STATUS_SUCCESS


def read_status(response_element: etree._Element) -> Status:
    """The top-level status, the second-level status and any Verify-style StatusValue detail."""
    status = child(response_element, "samlp", "Status")
    code = None if status is None else child(status, "samlp", "StatusCode")
    if status is None or code is None or not code.get("Value"):
        raise ProtocolError("response has no status code")
    sub = child(code, "samlp", "StatusCode")
    detail = status.find(f"{q('samlp', 'StatusDetail')}/{q('ida', 'StatusValue')}")
    return Status(code.get("Value", ""), None if sub is None else sub.get("Value"), text_of(detail) or None)


@dataclass(frozen=True)
class CheckedAssertion:
    id: str
    issuer: str
    name_id: str
    not_on_or_after: dt.datetime
    authn_context: str | None
    attribute_statement: etree._Element | None


def check_assertion(
    element: etree._Element,
    *,
    certificates: list[Certificate],
    issuer: str,
    audience: str,
    recipient: str,
    in_response_to: str | None,
    now: dt.datetime,
    skew: dt.timedelta,
) -> CheckedAssertion:
    """Verify an assertion's own signature, then its issuer, subject confirmation, conditions and audience."""
    if element.tag != q("saml", "Assertion"):
        raise InvalidSamlMessageError("expected an Assertion")
    verify(element, certificates)
    if element.get("Version") != "2.0":
        raise ProtocolError("assertion is not SAML version 2.0")
    if text_of(child(element, "saml", "Issuer")) != issuer:
        raise ProtocolError("assertion issuer is not the expected party")
    subject = child(element, "saml", "Subject")
    name_id_node = None if subject is None else child(subject, "saml", "NameID")
    name_id = text_of(name_id_node)
    if name_id_node is None or not name_id or name_id_node.get("Format") != NAMEID_PERSISTENT:
        raise ProtocolError("assertion has no persistent NameID")
    confirmations = [] if subject is None else subject.findall(q("saml", "SubjectConfirmation"))
    if len(confirmations) != 1 or confirmations[0].get("Method") != CM_BEARER:
        raise ProtocolError("assertion must have exactly one bearer subject confirmation")
    data = child(confirmations[0], "saml", "SubjectConfirmationData")
    if data is None:
        raise ProtocolError("assertion subject confirmation has no data")
    if data.get("Recipient") != recipient:
        raise ProtocolError("assertion Recipient is not this endpoint")
    if in_response_to is not None and data.get("InResponseTo") != in_response_to:
        raise ProtocolError("assertion answers a different request")
    try:
        not_on_or_after = parse_instant(data.get("NotOnOrAfter"))
    except XmlError as exc:
        raise ProtocolError("assertion subject confirmation has no NotOnOrAfter") from exc
    if now >= not_on_or_after + skew:
        raise ProtocolError("assertion has expired")
    _check_conditions(child(element, "saml", "Conditions"), audience=audience, now=now, skew=skew)
    statement = child(element, "saml", "AuthnStatement")
    class_ref = None
    if statement is not None:
        class_ref = text_of(statement.find(f"{q('saml', 'AuthnContext')}/{q('saml', 'AuthnContextClassRef')}"))
    return CheckedAssertion(
        id=element.get("ID", ""),
        issuer=issuer,
        name_id=name_id,
        not_on_or_after=not_on_or_after,
        authn_context=class_ref or None,
        attribute_statement=child(element, "saml", "AttributeStatement"),
    )


def _check_conditions(conditions: etree._Element | None, *, audience: str, now: dt.datetime, skew: dt.timedelta) -> None:
    if conditions is None:
        raise ProtocolError("assertion has no Conditions")
    try:
        if conditions.get("NotBefore") and now + skew < parse_instant(conditions.get("NotBefore")):
            raise ProtocolError("assertion is not valid yet")
        if conditions.get("NotOnOrAfter") and now >= parse_instant(conditions.get("NotOnOrAfter")) + skew:
            raise ProtocolError("assertion conditions have expired")
    except XmlError as exc:
        raise ProtocolError("assertion conditions have an invalid time") from exc
    restrictions = conditions.findall(q("saml", "AudienceRestriction"))
    if not restrictions:
        raise ProtocolError("assertion has no AudienceRestriction")
    for restriction in restrictions:
        if audience not in [text_of(a) for a in restriction.findall(q("saml", "Audience"))]:
            raise ProtocolError("assertion is meant for another audience")


def describe(element: etree._Element) -> dict[str, Any]:
    """Non-personal facts about a message, for logs: its type, ID and issuer, never its content."""
    return {
        "saml_type": etree.QName(element).localname,
        "saml_id": element.get("ID"),
        "saml_issuer": text_of(child(element, "saml", "Issuer")) or None,
    }
