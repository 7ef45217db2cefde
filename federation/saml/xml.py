"""XML namespaces, a hardened parser and the small helpers every SAML message needs."""

from __future__ import annotations

import datetime as dt
import re
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
# The longest identifiers we read. Ours are 41 characters and the toolkits' under 50; the SAML limits are
# 1024 for an entity ID (saml-metadata §2.3.2) and 256 for a persistent NameID (saml-core §8.3.7).
MAX_ID_CHARS = 256
MAX_ENTITY_ID_CHARS = 1024
MAX_NAME_ID_CHARS = 256
MAX_URI_CHARS = 1024
MAX_ATTRIBUTE_VALUE_CHARS = 1024
MAX_RELAY_STATE_BYTES = 80  # saml-bindings §3.4.3 and §3.5.3

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
    "encoding": "utf-8",  # never libxml2's guess from the first bytes: see _utf8_text
}
_parsers = threading.local()


_UTF8_BOM = b"\xef\xbb\xbf"
# XML 1.0's Char production less the characters a UTF-16 or UTF-32 document read as UTF-8 is full of: any C0
# control but tab, newline and return, the surrogates, and U+FFFE/U+FFFF.
_NOT_XML_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_DECLARATION = re.compile(r"<\?xml(?P<attributes>[^>]*?)\?>")
_ENCODING = re.compile(r"""\bencoding\s*=\s*(?P<quote>["'])(?P<name>[^"']*)(?P=quote)""")
# Markup that declares something: "<!" opening anything but a comment or a CDATA section (DOCTYPE, ENTITY,
# ELEMENT, ATTLIST, NOTATION, a conditional section).
_DECLARATION_MARKUP = re.compile(r"<!(?!--|\[CDATA\[)")
_XINCLUDE_NAMESPACES = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")


class _RefuseEverything(etree.Resolver):
    """A resolver that loads nothing: no file, no URL, no catalogue entry.

    ``no_network`` stops http and ftp but not ``file://``: without this, a parameter entity naming
    ``file:///dev/zero`` keeps a thread reading for ever, and a real file is read as a DTD. lxml asks its
    resolvers before libxml2 opens anything, and an exception raised here ends the parse.
    """

    def resolve(self, system_url: str, public_id: str, context: object = None) -> Any:
        raise XmlError("document refers to an external resource")


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
        parser.resolvers.add(_RefuseEverything())
    return parser


class XmlError(ValueError):
    """The bytes are not a single, safe, well-formed XML document."""


def q(prefix: str, local: str) -> str:
    """Clark notation for ``prefix:local``."""
    return f"{{{NS[prefix]}}}{local}"


def _utf8_text(data: bytes) -> bytes:
    """The document's bytes without a UTF-8 byte order mark, once they are known to be UTF-8 and nothing else.

    Decided by decoding, never by searching the raw bytes: a guard that looks for ``<!DOCTYPE`` in UTF-8 misses
    the same word in UTF-16, which libxml2 would then read. UTF-16 and UTF-32 with a byte order mark are not
    UTF-8 at all; without one they decode as UTF-8 full of NUL characters, which XML forbids. A declaration
    naming any other encoding is refused too, and the parser is told the encoding, so libxml2 never guesses.
    """
    body = data.removeprefix(_UTF8_BOM)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise XmlError("document is not UTF-8") from exc
    if _NOT_XML_CHARACTER.search(text):
        raise XmlError("document holds characters XML does not allow (is it UTF-16 or UTF-32?)")
    declaration = _DECLARATION.match(text)
    if declaration is None and text.startswith("<?xml"):
        raise XmlError("document has a malformed XML declaration")
    encoding = _ENCODING.search(declaration.group("attributes")) if declaration else None
    if encoding is not None and encoding.group("name").lower() != "utf-8":
        raise XmlError("document declares an encoding other than UTF-8")
    if _DECLARATION_MARKUP.search(text):
        raise XmlError("document has a DOCTYPE or other declaration")
    return body


def parse(data: bytes) -> etree._Element:
    """Parse untrusted XML: UTF-8 only, no DTD, no entities, no file or network access, no XInclude, no
    duplicate IDs, bounded size and depth.

    Each layer stands on its own: the text is checked for declarations after decoding; the parser is told the
    encoding, resolves no entity, loads no DTD and has a resolver that refuses every external resource; and the
    parsed tree is checked for a DOCTYPE again.
    """
    if len(data) > MAX_MESSAGE_BYTES:
        raise XmlError(f"document is {len(data)} bytes, over the {MAX_MESSAGE_BYTES} byte limit")
    body = _utf8_text(data)
    try:
        root = etree.fromstring(body, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise XmlError(f"not well-formed XML: {exc.msg}") from exc
    tree = root.getroottree()
    docinfo: Any = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlError("document has a DOCTYPE")
    if any(next(root.iter(f"{{{namespace}}}*"), None) is not None for namespace in _XINCLUDE_NAMESPACES):
        raise XmlError("document has an XInclude element")
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


# xs:ID is an NCName: XML's Name (NameStartChar NameChar*) without colons.
_NAME_START = (
    "A-Z_a-z\xc0-\xd6\xd8-\xf6\xf8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c\u200d\u2070-\u218f"
    "\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff"
)
_NCNAME = re.compile(f"[{_NAME_START}][{_NAME_START}\\-.0-9\xb7\u0300-\u036f\u203f\u2040]*")


def is_xml_id(value: str | None) -> bool:
    """Whether ``value`` is an ``xs:ID`` (an NCName) of at most ``MAX_ID_CHARS`` characters."""
    return value is not None and len(value) <= MAX_ID_CHARS and _NCNAME.fullmatch(value) is not None


def exact_text(element: etree._Element) -> str | None:
    """An element's text exactly as sent, or None if it has child elements.

    For URIs and identifiers, which are compared exactly: never trimmed, so ``" urn:x "`` is not ``"urn:x"``
    (``text_of`` trims, for the names and addresses people type).
    """
    if len(element):
        return None
    return element.text or ""


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
