"""Checking the SAML 2.0 messages that cross the federation.

The checks read only from elements whose signatures have been verified, and raise a ``FederationError``
subclass naming what was wrong (never quoting the message, which may hold personal data).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from lxml import etree

from federation.config import Certificate
from federation.errors import InvalidSamlMessageError, ProtocolError
from federation.saml.crypto import verify
from federation.saml.xml import (
    CM_BEARER,
    MAX_ENTITY_ID_CHARS,
    MAX_NAME_ID_CHARS,
    MAX_URI_CHARS,
    NAMEID_PERSISTENT,
    STATUS_REQUESTER,
    STATUS_RESPONDER,
    STATUS_SUCCESS,
    XmlError,
    child,
    exact_text,
    is_xml_id,
    parse,
    parse_instant,
    q,
    text_of,
)


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


NAMEID_ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
MAX_CONFIRMATION_LIFETIME = dt.timedelta(hours=1)
_TOP_LEVEL_STATUSES = frozenset(
    {STATUS_SUCCESS, STATUS_REQUESTER, STATUS_RESPONDER, "urn:oasis:names:tc:SAML:2.0:status:VersionMismatch"}
)
_ALLOWED_CONDITIONS = frozenset({q("saml", "AudienceRestriction"), q("saml", "OneTimeUse")})


DEFAULT_AUTHN_MAX_AGE = dt.timedelta(hours=1)


def exact_uri(element: etree._Element | None, what: str, limit: int = MAX_URI_CHARS) -> str:
    """A URI or identifier exactly as sent: one text node, no child elements, no surrounding whitespace, at most
    ``limit`` characters.

    The one rule for the vocabulary (entity IDs, audiences, class references, NameIDs, status details): values
    are compared exactly, never trimmed or case-folded, so a value with whitespace around it is refused here,
    not quietly read as the value without it.
    """
    value = None if element is None else exact_text(element)
    if not value:
        raise ProtocolError(f"{what} is missing or not plain text")
    if len(value) > limit:
        raise ProtocolError(f"{what} is longer than {limit} characters")
    if value != value.strip():
        raise ProtocolError(f"{what} has whitespace around it")
    return value


def check_id(value: str | None, what: str) -> str:
    """An ``xs:ID`` value (an NCName, at most ``MAX_ID_CHARS`` characters), or ProtocolError."""
    if not is_xml_id(value):
        raise ProtocolError(f"{what} is not an xs:ID of at most 256 characters")
    return value or ""


def _issuer(element: etree._Element, what: str) -> str:
    issuers = element.findall(q("saml", "Issuer"))
    if len(issuers) != 1:
        raise ProtocolError(f"{what} must have exactly one Issuer")
    if issuers[0].get("Format") not in (None, NAMEID_ENTITY):
        raise ProtocolError(f"{what} Issuer is not an entity ID")
    issuer = exact_uri(issuers[0], f"{what} Issuer", MAX_ENTITY_ID_CHARS)
    if any(character.isspace() for character in issuer):
        raise ProtocolError(f"{what} Issuer is not an entity ID")
    return issuer


def _instant_in_window(
    value: str | None, *, now: dt.datetime, skew: dt.timedelta, max_age: dt.timedelta, what: str
) -> None:
    try:
        moment = parse_instant(value)
    except XmlError as exc:
        raise ProtocolError(f"{what} has no valid IssueInstant") from exc
    if moment > now + skew or moment < now - max_age - skew:
        raise ProtocolError(f"{what} was issued outside the time allowed")


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
    check_id(element.get("ID"), "message ID")
    if element.get("InResponseTo") is not None:
        check_id(element.get("InResponseTo"), "message InResponseTo")
    _instant_in_window(element.get("IssueInstant"), now=now, skew=skew, max_age=max_age, what="message")
    if destination is not None and element.get("Destination") != destination:
        raise ProtocolError("message Destination is not this endpoint")
    return _issuer(element, "message")


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
    if code.get("Value") not in _TOP_LEVEL_STATUSES:
        raise ProtocolError("response has an unknown top-level status")
    sub = child(code, "samlp", "StatusCode")
    if sub is not None and child(sub, "samlp", "StatusCode") is not None:
        raise ProtocolError("response nests status codes more than one level deep")
    detail = status.find(f"{q('samlp', 'StatusDetail')}/{q('ida', 'StatusValue')}")
    detail_value = None if detail is None else exact_uri(detail, "status detail")
    return Status(code.get("Value", ""), None if sub is None else sub.get("Value"), detail_value)


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
    max_authn_age: dt.timedelta = DEFAULT_AUTHN_MAX_AGE,
) -> CheckedAssertion:
    """Verify an assertion's own signature, then its issuer, subject confirmation, conditions and audience, and
    when it authenticates someone, when: no longer ago than ``max_authn_age`` (plus ``skew``), never in the
    future, and any session it states not yet over."""
    if element.tag != q("saml", "Assertion"):
        raise InvalidSamlMessageError("expected an Assertion")
    verify(element, certificates)
    check_id(element.get("ID"), "assertion ID")
    if element.get("Version") != "2.0":
        raise ProtocolError("assertion is not SAML version 2.0")
    if _issuer(element, "assertion") != issuer:
        raise ProtocolError("assertion issuer is not the expected party")
    _instant_in_window(
        element.get("IssueInstant"), now=now, skew=skew, max_age=MAX_CONFIRMATION_LIFETIME, what="assertion"
    )
    if (
        element.find(f".//{q('saml', 'Assertion')}") is not None
        or element.find(f".//{q('saml', 'EncryptedAssertion')}") is not None
        or element.find(f".//{q('saml', 'Advice')}") is not None
    ):
        raise ProtocolError("assertion carries other assertions")
    subject = child(element, "saml", "Subject")
    name_ids = [] if subject is None else subject.findall(q("saml", "NameID"))
    name_id_node = name_ids[0] if len(name_ids) == 1 else None
    if name_id_node is None or name_id_node.get("Format") != NAMEID_PERSISTENT:
        raise ProtocolError("assertion has no persistent NameID")
    name_id = exact_uri(name_id_node, "assertion NameID", MAX_NAME_ID_CHARS)
    if name_id_node.get("SPNameQualifier") not in (None, audience) or name_id_node.get("NameQualifier") not in (
        None,
        issuer,
    ):
        raise ProtocolError("assertion NameID is qualified for another party")
    confirmations = [] if subject is None else subject.findall(q("saml", "SubjectConfirmation"))
    if len(confirmations) != 1 or confirmations[0].get("Method") != CM_BEARER:
        raise ProtocolError("assertion must have exactly one bearer subject confirmation")
    data = child(confirmations[0], "saml", "SubjectConfirmationData")
    if data is None:
        raise ProtocolError("assertion subject confirmation has no data")
    if data.get("Recipient") != recipient:
        raise ProtocolError("assertion Recipient is not this endpoint")
    if data.get("NotBefore") is not None:
        raise ProtocolError("bearer subject confirmation must not have NotBefore")
    if data.get("InResponseTo") is not None:
        check_id(data.get("InResponseTo"), "assertion InResponseTo")
    if in_response_to is not None and data.get("InResponseTo") != in_response_to:
        raise ProtocolError("assertion answers a different request")
    try:
        not_on_or_after = parse_instant(data.get("NotOnOrAfter"))
    except XmlError as exc:
        raise ProtocolError("assertion subject confirmation has no NotOnOrAfter") from exc
    if now >= not_on_or_after + skew:
        raise ProtocolError("assertion has expired")
    if not_on_or_after > now + MAX_CONFIRMATION_LIFETIME + skew:
        raise ProtocolError("assertion is valid for longer than we allow")
    conditions = element.findall(q("saml", "Conditions"))
    if len(conditions) != 1:
        raise ProtocolError("assertion must have exactly one Conditions")
    _check_conditions(conditions[0], audience=audience, now=now, skew=skew)
    class_ref = _authn_context(element, now=now, skew=skew, max_age=max_authn_age)
    if len(element.findall(q("saml", "AttributeStatement"))) > 1:
        raise ProtocolError("assertion has more than one AttributeStatement")
    return CheckedAssertion(
        id=element.get("ID", ""),
        issuer=issuer,
        name_id=name_id,
        not_on_or_after=not_on_or_after,
        authn_context=class_ref,
        attribute_statement=child(element, "saml", "AttributeStatement"),
    )


def _authn_context(
    element: etree._Element, *, now: dt.datetime, skew: dt.timedelta, max_age: dt.timedelta
) -> str | None:
    """The level's class reference: at most one AuthnStatement, holding exactly one ClassRef and no DeclRef, with
    an AuthnInstant no older than ``max_age`` and not in the future, and any SessionNotOnOrAfter still ahead."""
    statements = element.findall(q("saml", "AuthnStatement"))
    if not statements:
        return None
    contexts = statements[0].findall(q("saml", "AuthnContext"))
    refs = [] if len(contexts) != 1 else contexts[0].findall(q("saml", "AuthnContextClassRef"))
    declared = [] if len(contexts) != 1 else contexts[0].findall(q("saml", "AuthnContextDeclRef"))
    if len(statements) != 1 or len(refs) != 1 or declared:
        raise ProtocolError("assertion must have one AuthnStatement with exactly one AuthnContextClassRef")
    try:
        authn_instant = parse_instant(statements[0].get("AuthnInstant"))
    except XmlError as exc:
        raise ProtocolError("assertion AuthnStatement has no valid AuthnInstant") from exc
    if authn_instant > now + skew:
        raise ProtocolError("assertion AuthnInstant is in the future")
    if authn_instant < now - max_age - skew:
        raise ProtocolError("assertion AuthnInstant is older than we accept")
    if statements[0].get("SessionNotOnOrAfter") is not None:
        try:
            session_end = parse_instant(statements[0].get("SessionNotOnOrAfter"))
        except XmlError as exc:
            raise ProtocolError("assertion SessionNotOnOrAfter is not a valid time") from exc
        if now >= session_end + skew:
            raise ProtocolError("assertion SessionNotOnOrAfter has passed")
    return exact_uri(refs[0], "assertion AuthnContextClassRef")


def _check_conditions(conditions: etree._Element, *, audience: str, now: dt.datetime, skew: dt.timedelta) -> None:
    if any(node.tag not in _ALLOWED_CONDITIONS for node in conditions):
        raise ProtocolError("assertion has conditions we do not understand")
    try:
        not_before = parse_instant(conditions.get("NotBefore")) if conditions.get("NotBefore") else None
        not_after = parse_instant(conditions.get("NotOnOrAfter")) if conditions.get("NotOnOrAfter") else None
    except XmlError as exc:
        raise ProtocolError("assertion conditions have an invalid time") from exc
    if not_before is not None and now + skew < not_before:
        raise ProtocolError("assertion is not valid yet")
    if not_after is not None and now >= not_after + skew:
        raise ProtocolError("assertion conditions have expired")
    if not_before is not None and not_after is not None and not_before >= not_after:
        raise ProtocolError("assertion conditions end before they begin")
    restrictions = conditions.findall(q("saml", "AudienceRestriction"))
    if not restrictions:
        raise ProtocolError("assertion has no AudienceRestriction")
    for restriction in restrictions:
        if audience not in [exact_text(a) for a in restriction.findall(q("saml", "Audience"))]:
            raise ProtocolError("assertion is meant for another audience")


_DESCRIBED_CHARS = 120  # a refused message's ID or issuer may be any length: a log line stays short


def describe(element: etree._Element) -> dict[str, Any]:
    """Non-personal facts about a message, for logs: its type, ID and issuer, never its content."""
    return {
        "saml_type": etree.QName(element).localname,
        "saml_id": (element.get("ID") or "")[:_DESCRIBED_CHARS] or None,
        "saml_issuer": text_of(child(element, "saml", "Issuer"))[:_DESCRIBED_CHARS] or None,
    }
