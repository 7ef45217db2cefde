"""XML namespaces, a hardened parser and the small helpers every SAML message needs."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections import Counter
from typing import Any

from lxml import etree

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xenc": "http://www.w3.org/2001/04/xmlenc#",
    "xs": "http://www.w3.org/2001/XMLSchema",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "soap": "http://schemas.xmlsoap.org/soap/envelope/",
    "ida": "http://www.cabinetoffice.gov.uk/resource-library/ida/attributes",
}

STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_NO_AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
STATUS_AUTHN_FAILED = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
STATUS_REQUEST_DENIED = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
STATUS_MATCH = "urn:uk:gov:cabinet-office:tc:saml:statuscode:match"
STATUS_NO_MATCH = "urn:uk:gov:cabinet-office:tc:saml:statuscode:no-match"
STATUS_CREATED = "urn:uk:gov:cabinet-office:tc:saml:statuscode:created"
STATUS_CREATE_FAILURE = "urn:uk:gov:cabinet-office:tc:saml:statuscode:create-failure"

# Verify-style StatusValue details an identity provider adds to Responder/NoAuthnContext.
DETAIL_AUTHN_CANCEL = "authn-cancel"
DETAIL_LOA_PENDING = "loa-pending"

# A fraud event: the authentication assertion's class is levelX and it carries these two attributes.
ATTR_FRAUD_EVENT_ID = "FECI_IDPFraudEventID"
ATTR_GPG45_STATUS = "FECI_GPG45Status"
GPG45_FRAUD_STATUSES = ("DF01", "FI01", "IT01")  # document fraud, false identity, identity theft

NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
CM_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
BINDING_HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_SOAP = "urn:oasis:names:tc:SAML:2.0:bindings:SOAP"
ATTRNAME_UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"

# A SAML message we accept is a few kilobytes; Verify's largest were under 100 KB.
MAX_MESSAGE_BYTES = 256 * 1024

_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": False,  # kept to be inspected, then removed: see _strip_comments
    "remove_pis": False,
    "remove_blank_text": False,
    "collect_ids": False,
}
_parsers = threading.local()


def _parser() -> etree.XMLParser:
    """This thread's hardened parser, made on its first parse.

    Not one parser for every thread: lxml gives each thread its own libxml2 string dictionary, but a thread whose
    first XML call is a parse takes the dictionary the parser last worked with, which with a shared parser is
    another thread's. The threads would then share a dictionary, which libxml2 does not allow: one thread parsing
    while another builds elements corrupts element names now and then. Under gunicorn's threads that lost about
    one journey in five thousand to a failed signature, broken encrypted data or a garbled message
    (tests/federation/test_xml.py shows the sharing).
    """
    parser: etree.XMLParser | None = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = etree.XMLParser(**_PARSER_OPTIONS)
    return parser


class XmlError(ValueError):
    """The bytes are not a single, safe, well-formed XML document."""


def q(prefix: str, local: str) -> str:
    """Clark notation for ``prefix:local``."""
    return f"{{{NS[prefix]}}}{local}"


def parse(data: bytes) -> etree._Element:
    """Parse untrusted XML: no DTD, no entities, no network, no duplicate IDs, bounded size and depth."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise XmlError(f"document is {len(data)} bytes, over the {MAX_MESSAGE_BYTES} byte limit")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise XmlError("document has a DOCTYPE or entity declaration")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise XmlError(f"not well-formed XML: {exc.msg}") from exc
    tree = root.getroottree()
    docinfo: Any = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise XmlError("document has a DOCTYPE")
    _strip_comments(root)
    check_unique_ids(root)
    return root


_SIGNATURE = "{http://www.w3.org/2000/09/xmldsig#}Signature"


def _strip_comments(root: etree._Element) -> None:
    """Remove comments so text is read whole (a comment in a NameID truncates naive readers, CVE-2017-11427).

    Canonicalisation without comments ignores them, so removing them changes no digest. Inside a signature,
    where different layers could read different text (CVE-2025-29774), and as processing instructions, which
    c14n does sign, they have no business at all: refuse the document.
    """
    if next(root.iter(etree.PI), None) is not None or any(
        isinstance(node, etree._ProcessingInstruction) for node in root.itersiblings(preceding=True)
    ):
        raise XmlError("document has a processing instruction")
    for comment in list(root.iter(etree.Comment)):
        if any(ancestor.tag == _SIGNATURE for ancestor in comment.iterancestors()):
            raise XmlError("document has a comment inside a signature")
        parent = comment.getparent()
        if parent is None:
            continue
        tail = comment.tail or ""
        previous = comment.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
        parent.remove(comment)


# Compiled once (a third cheaper than ``root.xpath`` each time); evaluations take the evaluator's own lock.
_ID_ATTRIBUTES = etree.XPath("//@*[translate(local-name(), 'ID', 'id') = 'id']")


def check_unique_ids(root: etree._Element) -> None:
    """Reject a document in which two elements share an ID: the signature could point at either.

    ``Id``, ``id``, ``xml:id`` and namespaced ``ID`` attributes count too, so no parser differential can make
    a decoy win (CVE-2025-25291 family).
    """
    values = _ID_ATTRIBUTES(root)
    counts = Counter(str(value).strip() for value in (values if isinstance(values, list) else []))
    duplicates = [value for value, n in counts.items() if n > 1]
    if duplicates:
        raise XmlError("document has duplicate ID attributes")


def to_bytes(element: etree._Element) -> bytes:
    return etree.tostring(element, encoding="utf-8", xml_declaration=False)


def new_id() -> str:
    """A SAML ID: an NCName with 160 bits of randomness."""
    return "_" + secrets.token_hex(20)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def instant(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_instant(text: str | None) -> dt.datetime:
    if not text:
        raise XmlError("missing time value")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise XmlError("time value is not an xs:dateTime") from exc
    if moment.tzinfo is None:
        raise XmlError("time value has no time zone")
    return moment.astimezone(dt.UTC)


def child(parent: etree._Element, prefix: str, local: str) -> etree._Element | None:
    return parent.find(q(prefix, local))


def text_of(element: etree._Element | None) -> str:
    if element is None:
        return ""
    return "".join(str(text) for text in element.itertext()).strip()
