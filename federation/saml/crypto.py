"""XML signatures and encryption, in process, with python-xmlsec.

pysaml2's default backend forks ``xmlsec1`` and writes temporary files for every operation (about 50 ms
each on our machines); python-xmlsec does the same work in well under a millisecond. The guards pysaml2
applies before calling ``xmlsec1`` are applied here, and more:

- exactly one signature, an immediate child of the signed element, with one Reference to that element's ID;
- no duplicate IDs anywhere in the document (checked by ``federation.saml.xml.parse``);
- only the keys the federation file names; any KeyInfo in the message is ignored;
- only enveloped-signature and exclusive canonicalisation transforms, so no XSLT, XPath or external URI;
- an algorithm allow-list: RSA-SHA256 or stronger, SHA-256 or stronger digests, RSA-OAEP key transport,
  AES-GCM content encryption (AES-CBC only where the federation file allows it for one identity provider);
- exactly one Assertion inside an EncryptedAssertion, and nothing else.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any, Protocol

import xmlsec as _xmlsec
from lxml import etree

from federation.config import Certificate
from federation.errors import DisallowedAlgorithmError, InvalidSamlMessageError, SignatureError
from federation.metrics import CRYPTO_OPERATIONS
from federation.saml.keys import KeyPair, public_key, recipient_manager
from federation.saml.xml import NS, XmlError, child, parse, q, to_bytes

SIGNATURE_ALGORITHMS = frozenset(
    {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    }
)
DIGEST_ALGORITHMS = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#sha384",
        "http://www.w3.org/2001/04/xmlenc#sha512",
    }
)
EXCL_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
CANONICALIZATION_ALGORITHMS = frozenset({EXCL_C14N})
REFERENCE_TRANSFORMS = frozenset({ENVELOPED, EXCL_C14N})
KEY_TRANSPORT_ALGORITHMS = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
        "http://www.w3.org/2009/xmlenc11#rsa-oaep",
    }
)
# AES-GCM only, unless the federation file allows CBC for one identity provider: CBC has no integrity, and
# with it a padding or format oracle recovers the plaintext (Jager and Somorovsky, "How to break XML
# Encryption", CCS 2011), which is how the known attacks on XML Encryption work.
CONTENT_ENCRYPTION_ALGORITHMS = frozenset(
    {
        "http://www.w3.org/2009/xmlenc11#aes128-gcm",
        "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    }
)
CBC_CONTENT_ENCRYPTION_ALGORITHMS = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    }
)

# python-xmlsec's bundled stubs hide its constants (Transform, KeyFormat…); use the module untyped.
xmlsec: Any = _xmlsec

logger = logging.getLogger(__name__)
# python-xmlsec lets go of the GIL inside libxmlsec1, which brings its own copies of libxml2 and OpenSSL and
# works on trees that lxml's libxml2 built and on keys every thread shares. One libxmlsec1 operation at a time
# in a process: its threads add nothing to the CPU a worker has (the GIL serialises the rest of a request),
# and no two of them then meet inside the C libraries. (The failed signatures that led to this lock came from
# threads sharing a libxml2 dictionary, fixed in federation.saml.xml._parser: docs/operations.md, "Hub processes,
# threads and libxmlsec1". The lock stays as a guard.)
_libxmlsec = threading.Lock()


def sign(element: etree._Element, key_pair: KeyPair) -> None:
    """Add an enveloped RSA-SHA256 signature over ``element`` (which must carry an ID), after its Issuer."""
    element_id = element.get("ID")
    if not element_id:
        raise ValueError("element to sign has no ID")
    signature = xmlsec.template.create(element, xmlsec.Transform.EXCL_C14N, xmlsec.Transform.RSA_SHA256, ns="ds")
    issuer = child(element, "saml", "Issuer")
    if issuer is not None:
        issuer.addnext(signature)
    else:
        element.insert(0, signature)
    reference = xmlsec.template.add_reference(signature, xmlsec.Transform.SHA256, uri=f"#{element_id}")
    xmlsec.template.add_transform(reference, xmlsec.Transform.ENVELOPED)
    xmlsec.template.add_transform(reference, xmlsec.Transform.EXCL_C14N)
    key_info = xmlsec.template.ensure_key_info(signature)
    xmlsec.template.x509_data_add_certificate(xmlsec.template.add_x509_data(key_info))
    _backend.sign(element, signature, key_pair)
    CRYPTO_OPERATIONS.labels("sign").inc()


def _algorithm(parent: etree._Element | None, prefix: str, local: str) -> str:
    node = None if parent is None else parent.find(q(prefix, local))
    return "" if node is None else node.get("Algorithm", "")


_X509_CERTIFICATE = q("ds", "X509Certificate")
_SIGNATURE_CHILDREN = {q("ds", "SignedInfo"), q("ds", "SignatureValue"), q("ds", "KeyInfo")}
_REFERENCE_CHILDREN = {q("ds", "Transforms"), q("ds", "DigestMethod"), q("ds", "DigestValue")}


def _check_signature_shape(element: etree._Element, signature: etree._Element) -> None:
    """saml-core §5.4: one SignedInfo with one Reference to the enveloping element; nothing else inside."""
    if any(node.tag not in _SIGNATURE_CHILDREN for node in signature):
        raise SignatureError("signature holds elements other than SignedInfo, SignatureValue and KeyInfo")
    if len(signature.findall(q("ds", "SignedInfo"))) != 1 or len(signature.findall(q("ds", "SignatureValue"))) != 1:
        raise SignatureError("signature must have exactly one SignedInfo and one SignatureValue")
    signed_info = child(signature, "ds", "SignedInfo")
    if signed_info is None:
        raise SignatureError("signature has no SignedInfo")
    if _algorithm(signed_info, "ds", "CanonicalizationMethod") not in CANONICALIZATION_ALGORITHMS:
        raise DisallowedAlgorithmError("canonicalisation method not allowed")
    if _algorithm(signed_info, "ds", "SignatureMethod") not in SIGNATURE_ALGORITHMS:
        raise DisallowedAlgorithmError("signature method not allowed")
    references = signed_info.findall(q("ds", "Reference"))
    if len(references) != 1:
        raise SignatureError(f"signature has {len(references)} references, expected 1")
    reference = references[0]
    if any(node.tag not in _REFERENCE_CHILDREN for node in reference):
        raise SignatureError("signature reference holds unexpected elements")
    if reference.get("URI") != f"#{element.get('ID')}":
        raise SignatureError("signature does not reference the signed element")
    if _algorithm(reference, "ds", "DigestMethod") not in DIGEST_ALGORITHMS:
        raise DisallowedAlgorithmError("digest method not allowed")
    transforms = reference.find(q("ds", "Transforms"))
    names = [] if transforms is None else [t.get("Algorithm", "") for t in transforms]
    if ENVELOPED not in names or any(name not in REFERENCE_TRANSFORMS for name in names):
        raise SignatureError("signature uses transforms that are not allowed")


def is_signed(element: etree._Element) -> bool:
    return child(element, "ds", "Signature") is not None


def verify(element: etree._Element, certificates: Iterable[Certificate]) -> None:
    """Check ``element``'s own enveloped signature against the federation's certificates for its issuer.

    Raises SignatureError (or DisallowedAlgorithmError) if it is missing, malformed or made with any
    other key.
    """
    element_id = element.get("ID")
    if not element_id:
        raise SignatureError("signed element has no ID")
    signatures = element.findall(q("ds", "Signature"))
    if len(signatures) != 1:
        raise SignatureError(f"element has {len(signatures)} signatures, expected 1")
    signature = signatures[0]
    _check_signature_shape(element, signature)
    for certificate in [c for c in certificates if c.is_current()]:
        CRYPTO_OPERATIONS.labels("verify").inc()
        if _backend.verify(element, signature, certificate):
            return
    raise SignatureError("signature does not verify with any key configured for the issuer")


_CONTENT_METHODS = {
    "aes128-gcm": xmlsec.Transform.AES128_GCM,
    "aes256-gcm": xmlsec.Transform.AES256_GCM,
}


def encrypt_assertion(
    assertion: etree._Element | bytes, recipient: Certificate, method: str = "aes256-gcm"
) -> etree._Element:
    """Return a ``saml:EncryptedAssertion`` holding ``assertion`` (an element, or one serialised) encrypted to
    ``recipient``.

    AES-GCM for the content and RSA-OAEP for the session key: not pysaml2's default 3DES and RSA 1.5.
    """
    # Parsed whole, not appended: appending would strip the assertion's own xmlns:saml as redundant with the
    # wrapper's, and the encrypted text would then use a prefix it does not declare. Toolkits that re-serialise
    # the Response with their own prefixes before decrypting (pysaml2) then fail with "unbound prefix".
    wrapper = parse(
        b'<saml:EncryptedAssertion xmlns:saml="%s">%s</saml:EncryptedAssertion>'
        % (NS["saml"].encode(), assertion if isinstance(assertion, bytes) else to_bytes(assertion))
    )
    transform = _CONTENT_METHODS[method]
    template = xmlsec.template.encrypted_data_create(wrapper, transform, type=xmlsec.EncryptionType.ELEMENT, ns="xenc")
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.Transform.RSA_OAEP)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    _backend.encrypt(wrapper, template, recipient, 256 if "256" in method else 128)
    CRYPTO_OPERATIONS.labels("encrypt").inc()
    # libxmlsec rewrites the tree underneath lxml; a clean parse gives callers a consistent element.
    return parse(to_bytes(wrapper))


def _check_encryption_shape(encrypted_data: etree._Element, *, allow_cbc: bool) -> None:
    allowed = CONTENT_ENCRYPTION_ALGORITHMS | (CBC_CONTENT_ENCRYPTION_ALGORITHMS if allow_cbc else frozenset())
    if _algorithm(encrypted_data, "xenc", "EncryptionMethod") not in allowed:
        raise DisallowedAlgorithmError("content encryption method not allowed")
    if encrypted_data.find(f".//{q('xenc', 'CipherReference')}") is not None:
        raise InvalidSamlMessageError("encrypted data refers to content outside the message")
    if encrypted_data.find(f".//{q('ds', 'RetrievalMethod')}") is not None:
        raise InvalidSamlMessageError("encrypted key is not carried inside the message")
    encrypted_keys = encrypted_data.findall(f"{q('ds', 'KeyInfo')}/{q('xenc', 'EncryptedKey')}")
    if len(encrypted_keys) != 1:
        raise InvalidSamlMessageError("encrypted data must carry exactly one encrypted key")
    if _algorithm(encrypted_keys[0], "xenc", "EncryptionMethod") not in KEY_TRANSPORT_ALGORITHMS:
        raise DisallowedAlgorithmError("key transport method not allowed")


def decrypt_assertion(
    encrypted_assertion: etree._Element, key_pair: KeyPair, *, allow_cbc: bool = False
) -> etree._Element:
    """Decrypt a ``saml:EncryptedAssertion`` and return the assertion as a standalone, re-checked document.

    The plaintext must be exactly one ``saml:Assertion``: a second element, or text beside it, is refused, never
    dropped (a reader that took the first of two could be shown either). ``allow_cbc`` is set only for an
    identity provider the federation file allows AES-CBC for.
    """
    # Work on a copy so a failure leaves the caller's tree as it was.
    holder = parse(to_bytes(encrypted_assertion))
    if len(holder) != 1 or holder[0].tag != q("xenc", "EncryptedData"):
        raise InvalidSamlMessageError("encrypted assertion must hold exactly one EncryptedData")
    _check_encryption_shape(holder[0], allow_cbc=allow_cbc)
    decrypted = _backend.decrypt(holder, key_pair)
    CRYPTO_OPERATIONS.labels("decrypt").inc()
    if decrypted is None:
        raise InvalidSamlMessageError("encrypted assertion could not be decrypted with our key")
    try:
        plaintext = parse(decrypted)
    except XmlError as exc:
        raise InvalidSamlMessageError(f"decrypted assertion rejected: {exc}") from exc
    texts = [plaintext.text, *(node.tail for node in plaintext)]
    if len(plaintext) != 1 or any(text and text.strip() for text in texts):
        raise InvalidSamlMessageError("encrypted assertion must hold exactly one element and nothing else")
    if plaintext[0].tag != q("saml", "Assertion"):
        raise InvalidSamlMessageError("encrypted assertion did not hold an Assertion")
    # A document of its own, as the signature check expects (the ID registry and enveloped transform work on it).
    try:
        return parse(to_bytes(plaintext[0]))
    except XmlError as exc:
        raise InvalidSamlMessageError(f"decrypted assertion rejected: {exc}") from exc


class InProcessBackend:
    """python-xmlsec: libxmlsec1 in this process, keys parsed once. The default."""

    name = "inprocess"

    def sign(self, element: etree._Element, signature: etree._Element, key_pair: KeyPair) -> None:
        for attempt in (1, 2):
            context = xmlsec.SignatureContext()
            context.key = key_pair._key
            context.register_id(element, "ID")
            try:
                with _libxmlsec:
                    context.sign(signature)
                break
            except xmlsec.Error as exc:  # our own message and key: a failure is libxmlsec1's, so once more
                if attempt == 2:
                    raise
                logger.warning("libxmlsec1 failed to sign (%s); signing once more", exc)
                CRYPTO_OPERATIONS.labels("sign-retried").inc()
        # The key has no certificate, so libxmlsec left the template's X509Certificate empty. lxml's find()
        # does not see the nodes libxmlsec made (their names are not in the document's dictionary): walk.
        for node in signature.iter():
            if node.tag == _X509_CERTIFICATE and not node.text:
                node.text = key_pair._certificate_text

    def verify(self, element: etree._Element, signature: etree._Element, certificate: Certificate) -> bool:
        context = xmlsec.SignatureContext()
        context.key = public_key(certificate)
        context.register_id(element, "ID")
        try:
            with _libxmlsec:
                context.verify(signature)
        except xmlsec.Error:
            return False
        return True

    def encrypt(self, wrapper: etree._Element, template: etree._Element, recipient: Certificate, bits: int) -> None:
        context = xmlsec.EncryptionContext(recipient_manager(recipient))
        context.key = xmlsec.Key.generate(xmlsec.KeyData.AES, bits, xmlsec.KeyDataType.SESSION)
        with _libxmlsec:
            context.encrypt_xml(template, wrapper[0])

    def decrypt(self, holder: etree._Element, key_pair: KeyPair) -> bytes | None:
        """The holder with its EncryptedData replaced by the plaintext, serialised: everything the plaintext
        held, so the caller can refuse more than one element (libxmlsec1 returns only the first)."""
        context = xmlsec.EncryptionContext(key_pair._manager)
        try:
            with _libxmlsec:
                context.decrypt(holder[0])
        except xmlsec.Error:
            return None
        return to_bytes(holder)


class CryptoBackend(Protocol):
    name: str

    def sign(self, element: etree._Element, signature: etree._Element, key_pair: KeyPair) -> None: ...
    def verify(self, element: etree._Element, signature: etree._Element, certificate: Certificate) -> bool: ...
    def encrypt(self, wrapper: etree._Element, template: etree._Element, recipient: Certificate, bits: int) -> None: ...
    def decrypt(self, holder: etree._Element, key_pair: KeyPair) -> bytes | None: ...  # the holder, decrypted


_backend: CryptoBackend = InProcessBackend()


def use_backend(name: str) -> None:
    """Choose how signatures and encryption are computed, for the whole process.

    ``inprocess`` (default) uses python-xmlsec; ``xmlsec1`` forks pysaml2's ``xmlsec1`` command per operation
    and is kept to compare against. Every guard above applies to both: only the raw operation differs.
    """
    global _backend
    if name == _backend.name:
        return
    if name == "inprocess":
        _backend = InProcessBackend()
    elif name == "xmlsec1":
        from federation.saml.crypto_xmlsec1 import Xmlsec1Backend

        _backend = Xmlsec1Backend()
    else:
        raise ValueError(f"unknown crypto backend {name!r}: use inprocess or xmlsec1")


def backend_name() -> str:
    return _backend.name
