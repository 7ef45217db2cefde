"""The comparison backend: pysaml2's ``CryptoBackendXmlSec1``, which forks the ``xmlsec1`` command.

This is pysaml2's default path (temporary files, one process per operation), kept so the benchmark can
measure what the in-process backend saves and so the security suite can show both enforce the same rules.
Templates are built the same way as in process; only the raw sign, verify, encrypt and decrypt differ.
"""

from __future__ import annotations

import logging
import tempfile

from lxml import etree
from saml2.sigver import CryptoBackendXmlSec1, DecryptError, EncryptError, SignatureError, get_xmlsec_binary

from federation.config import Certificate
from federation.saml.keys import KeyPair
from federation.saml.xml import parse, q, to_bytes

logger = logging.getLogger(__name__)


def _node_name(element: etree._Element) -> str:
    """pysaml2's name for an element type, for xmlsec1's ``--id-attr:ID``: namespace URI, a colon, local name."""
    name = etree.QName(element)
    return f"{name.namespace}:{name.localname}"


class Xmlsec1Backend:
    name = "xmlsec1"

    def __init__(self) -> None:
        self._xmlsec = CryptoBackendXmlSec1(get_xmlsec_binary())

    def sign(self, element: etree._Element, signature: etree._Element, key_pair: KeyPair) -> None:
        try:
            signed = self._xmlsec.sign_statement(
                to_bytes(element).decode(), _node_name(element), str(key_pair.key_path), element.get("ID")
            )
        except SignatureError as exc:
            raise ValueError("xmlsec1 could not sign") from exc
        filled = parse(signed.encode()).find(q("ds", "Signature"))
        parent = signature.getparent()
        if filled is None or parent is None:
            raise ValueError("xmlsec1 returned no signature")
        parent.replace(signature, filled)

    def verify(self, element: etree._Element, signature: etree._Element, certificate: Certificate) -> bool:
        try:
            return bool(
                self._xmlsec.validate_signature(
                    to_bytes(element), str(certificate.path), "pem", _node_name(element), element.get("ID")
                )
            )
        except SignatureError:
            return False

    def encrypt(self, wrapper: etree._Element, template: etree._Element, recipient: Certificate, bits: int) -> None:
        parent = template.getparent()
        if parent is not None:
            parent.remove(template)
        with tempfile.NamedTemporaryFile(suffix=".xml") as template_file:
            template_file.write(to_bytes(template))
            template_file.flush()
            try:
                output = self._xmlsec.encrypt(
                    to_bytes(wrapper).decode(),
                    str(recipient.path),
                    template_file.name,
                    f"aes-{bits}",
                    "/*[local-name()='EncryptedAssertion']/*[local-name()='Assertion']",
                )
            except EncryptError as exc:
                raise ValueError("xmlsec1 could not encrypt") from exc
        encrypted = parse(output if isinstance(output, bytes) else output.encode())
        wrapper.remove(wrapper[0])
        wrapper.append(encrypted[0])

    def decrypt(self, holder: etree._Element, key_pair: KeyPair) -> bytes | None:
        try:
            output = self._xmlsec.decrypt(to_bytes(holder).decode(), str(key_pair.key_path))
        except DecryptError:
            return None
        return str(
            output
        ).encode()  # the holder, decrypted: the caller parses it and refuses anything but one Assertion
