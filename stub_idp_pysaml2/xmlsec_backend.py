"""pysaml2's crypto backend, in process: python-xmlsec instead of a forked ``xmlsec1`` per operation.

pysaml2 hands its backend whole documents as text and a node to work on, and keeps its own guards in front of it
(``SecurityContext._check_signature``: schema, one Reference to the enclosing element's ID, only the enveloped and
exclusive canonicalisation transforms, no ``ds:Object``; keys only from metadata). This backend does what
``CryptoBackendXmlSec1`` does with the same arguments, and adds its own refusals, since pysaml2 also calls it
without those guards (the hub's metadata signature):

- a hardened parser: no DTD, no entities, no network;
- the signature checked is the signed element's own child, with one Reference, to that element's ID;
- RSA-SHA256 or stronger and SHA-256 or stronger digests only, whatever the signer chose;
- the key is the certificate pysaml2 passes (from metadata), never one from the message's KeyInfo;
- content encryption with AES only (AES-GCM is what this identity provider asks for), never 3DES;
- a failed verification raises, as the ``xmlsec1`` backend does: pysaml2 ignores a False from
  ``verify_signature`` when it checks metadata.

libxmlsec1 lets go of the GIL and brings its own copies of libxml2 and OpenSSL: one operation at a time per
process, as ``federation.saml.crypto`` does for the hub.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import xmlsec as _xmlsec
from lxml import etree
from saml2.sigver import ASSERT_XPATH, CryptoBackend, DecryptError, EncryptError, SignatureError

# python-xmlsec's bundled stubs hide its constants (Transform, KeyFormat…): use the module untyped.
xmlsec: Any = _xmlsec

DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"
SIGNATURE_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    }
)
DIGEST_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#sha384",
        "http://www.w3.org/2001/04/xmlenc#sha512",
    }
)
CONTENT_METHODS = frozenset(
    {
        "http://www.w3.org/2009/xmlenc11#aes128-gcm",
        "http://www.w3.org/2009/xmlenc11#aes256-gcm",
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    }
)
# pysaml2's session key names (xmlsec1's --session-key) that this backend makes.
SESSION_KEY_BITS = {"aes-128": 128, "aes-192": 192, "aes-256": 256}

_libxmlsec = threading.Lock()
_parsers = threading.local()
_keys_lock = threading.Lock()
_keys: dict[tuple[str, bytes], Any] = {}


def _parse(text: str | bytes) -> etree._Element:
    """Parse with this thread's hardened parser (one shared between threads would share libxml2's dictionary).

    ValueError for anything but a plain, well-formed document: a DOCTYPE is refused outright.
    """
    parser: etree.XMLParser | None = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
        )
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError("not well-formed XML") from exc
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype:
        raise ValueError("document has a DOCTYPE")
    return root


def _text(root: etree._Element) -> str:
    return etree.tostring(root, encoding="unicode")


def _cached(kind: str, path: str, load: Any) -> Any:
    """Each key is parsed once per process, by content: pysaml2 writes a certificate from metadata to a new
    temporary file for every operation. Contexts take a copy of the key they are given."""
    data = Path(path).read_bytes()
    with _keys_lock:
        key = _keys.get((kind, data))
        if key is None:
            key = _keys[(kind, data)] = load(data)
        return key


def _private_key(path: str) -> Any:
    return _cached("private", path, lambda data: xmlsec.Key.from_memory(data, xmlsec.KeyFormat.PEM, None))


def _public_key(path: str, cert_type: str) -> Any:
    if cert_type != "pem":
        raise SignatureError(f"certificate type {cert_type} is not supported")
    return _cached("public", path, lambda data: xmlsec.Key.from_memory(data, xmlsec.KeyFormat.CERT_PEM, None))


def _recipient(path: str) -> Any:
    """A keys manager holding one recipient's certificate (building one costs about 8 ms)."""

    def load(data: bytes) -> Any:
        manager = xmlsec.KeysManager()
        manager.add_key(xmlsec.Key.from_memory(data, xmlsec.KeyFormat.CERT_PEM, None))
        return manager

    return _cached("recipient", path, load)


def _signed_element(root: etree._Element, node_name: str, node_id: str | None) -> etree._Element:
    """The element pysaml2 names (``<namespace>:<local name>``) with ID ``node_id``; without an ID, the first one."""
    namespace, _, local = node_name.rpartition(":")
    tag = f"{{{namespace}}}{local}"
    for element in root.iter(tag):
        if node_id is None or element.get("ID") == node_id:
            return element
    raise SignatureError(f"no {local} with the ID to sign or check")


def _own_signature(element: etree._Element) -> etree._Element:
    """The element's enveloped signature, checked for shape and algorithms before libxmlsec sees it."""
    signatures = element.findall(f"{{{DS}}}Signature")
    if len(signatures) != 1:
        raise SignatureError(f"expected one signature on the element, found {len(signatures)}")
    signature = signatures[0]
    references = signature.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    if len(references) != 1 or references[0].get("URI") != f"#{element.get('ID')}":
        raise SignatureError("the signature must have one Reference, to the signed element's ID")
    method = signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}SignatureMethod")
    digest = references[0].find(f"{{{DS}}}DigestMethod")
    if method is None or method.get("Algorithm") not in SIGNATURE_METHODS:
        raise SignatureError("signature method not allowed: RSA-SHA256 or stronger only")
    if digest is None or digest.get("Algorithm") not in DIGEST_METHODS:
        raise SignatureError("digest method not allowed: SHA-256 or stronger only")
    return signature


class InProcessBackend(CryptoBackend):  # type: ignore[misc]
    """``CryptoBackendXmlSec1``'s operations, with the same arguments and results, done by python-xmlsec."""

    @property
    def version(self) -> str:
        return ".".join(str(part) for part in xmlsec.get_libxmlsec_version())

    def sign_statement(self, statement: Any, node_name: str, key_file: str, node_id: str | None) -> str:
        """Fill in the signature template that pysaml2 put in the element ``node_id``."""
        root = _parse(statement if isinstance(statement, str | bytes) else str(statement))
        element = _signed_element(root, node_name, node_id)
        signature = _own_signature(element)
        context = xmlsec.SignatureContext()
        context.key = _private_key(key_file)
        context.register_id(element, "ID")
        try:
            with _libxmlsec:
                context.sign(signature)
        except xmlsec.Error as exc:
            raise SignatureError("libxmlsec1 could not sign") from exc
        return _text(root)

    def validate_signature(
        self, signedtext: str | bytes, cert_file: str, cert_type: str, node_name: str, node_id: str | None
    ) -> bool:
        """True if the element's own signature verifies with ``cert_file``; raises otherwise, as xmlsec1's does."""
        try:
            root = _parse(signedtext)
        except ValueError as exc:
            raise SignatureError(str(exc)) from exc
        element = _signed_element(root, node_name, node_id)
        signature = _own_signature(element)
        context = xmlsec.SignatureContext()
        context.key = _public_key(cert_file, cert_type)
        context.register_id(element, "ID")
        try:
            with _libxmlsec:
                context.verify(signature)
        except xmlsec.Error as exc:
            raise SignatureError("signature does not verify with the certificate") from exc
        return True

    def encrypt_assertion(
        self,
        statement: Any,
        enc_key: str,
        template: Any,
        key_type: str = "aes-256",
        node_xpath: str | None = None,
        node_id: str | None = None,
    ) -> str:
        """Replace the node ``node_xpath`` selects (pysaml2's default: the assertion in the first
        EncryptedAssertion) with its encryption to the certificate ``enc_key``, as ``template`` describes."""
        bits = SESSION_KEY_BITS.get(key_type)
        if bits is None:
            raise EncryptError(f"session key {key_type} refused: AES only")
        encrypted_data = _parse(str(template))
        method = encrypted_data.find(f"{{{XENC}}}EncryptionMethod")
        if method is None or method.get("Algorithm") not in CONTENT_METHODS:
            raise EncryptError("content encryption method refused: AES only")
        root = _parse(statement if isinstance(statement, str | bytes) else str(statement))
        nodes = root.xpath(node_xpath or ASSERT_XPATH)
        if not isinstance(nodes, list) or not nodes or not isinstance(nodes[0], etree._Element):
            raise EncryptError("nothing to encrypt at the path given")
        node = nodes[0]
        if node_id is not None and node.get("ID") != node_id:
            raise EncryptError("the element to encrypt does not have the ID given")
        context = xmlsec.EncryptionContext(_recipient(enc_key))
        context.key = xmlsec.Key.generate(xmlsec.KeyData.AES, bits, xmlsec.KeyDataType.SESSION)
        try:
            with _libxmlsec:
                context.encrypt_xml(encrypted_data, node)
        except xmlsec.Error as exc:
            raise EncryptError("libxmlsec1 could not encrypt") from exc
        # libxmlsec rewrote the tree underneath lxml: serialise and parse once more for a consistent document.
        return _text(_parse(_text(root)))

    def encrypt(self, text: str, recv_key: str, template: str, session_key_type: str, xpath: str = "") -> str:
        raise EncryptError("this identity provider encrypts whole assertions only (encrypt_assertion)")

    def decrypt(self, enctext: str, key_file: str) -> str:
        raise DecryptError("this identity provider receives nothing encrypted")
