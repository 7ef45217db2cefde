"""Capture a real identity provider Response from a live journey, and the tools to forge it.

The attacker in these tests holds whatever the case says it holds: its own key, a signed message it saw,
or (to test a check in depth) the IDP's key, so that only the check under test stands in the way.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from dataclasses import dataclass

import requests
import xmlsec
from lxml import etree

from federation.saml.crypto import decrypt_assertion, sign
from federation.saml.keys import KeyPair
from federation.saml.xml import new_id, q, to_bytes
from tests.journeys.drive import Journey
from tests.support import LiveFederation, Page

IDP_ONE = "stub-idp-one"


@dataclass
class Captured:
    """A journey waiting at the hub's ACS, and the genuine Response the IDP gave for it."""

    live: LiveFederation
    journey: Journey
    form: Page

    @property
    def response(self) -> etree._Element:
        """A fresh, mutable copy of the genuine Response."""
        return etree.fromstring(base64.b64decode(self.form.hidden("SAMLResponse", "#saml-form")))

    def key(self, certificate: str) -> KeyPair:
        federation = self.live.federation
        return KeyPair(federation.private_key_path(certificate), federation.cert(certificate))

    @property
    def idp_key(self) -> KeyPair:
        return self.key(f"{IDP_ONE}-signing.crt")

    @property
    def hub_acs(self) -> str:
        return self.live.urls["hub"] + "/SAML2/SSO/Response/POST"

    def post(self, message: etree._Element | bytes) -> requests.Response:
        data = message if isinstance(message, bytes) else to_bytes(message)
        return self.journey.citizen.http.post(
            self.hub_acs, data={"SAMLResponse": base64.b64encode(data).decode()}, timeout=30
        )

    # -- assertions -------------------------------------------------------------------------------------

    def assertions(self, response: etree._Element) -> list[etree._Element]:
        """The two signed assertions, decrypted with the hub's key (the test plays an insider)."""
        hub_key = self.key("hub-encryption.crt")
        return [decrypt_assertion(node, hub_key) for node in response.findall(q("saml", "EncryptedAssertion"))]

    def rebuild(
        self,
        response: etree._Element,
        assertions: list[etree._Element],
        *,
        encrypt: bool = True,
        sign_response: bool = True,
        signer: KeyPair | None = None,
    ) -> etree._Element:
        """Put ``assertions`` in place of the Response's, re-encrypted to the hub, and sign it again."""
        for node in response.findall(q("saml", "EncryptedAssertion")) + response.findall(q("saml", "Assertion")):
            response.remove(node)
        hub_cert = self.live.federation.cert("hub-encryption.crt").pem
        for item in assertions:
            # The test's own encryptor: the hub's would refuse to wrap some of the forgeries.
            response.append(
                encrypt_with(item, hub_cert, xmlsec.Transform.AES256_GCM, xmlsec.Transform.RSA_OAEP)
                if encrypt
                else item
            )
        return resign(response, signer or self.idp_key) if sign_response else strip_signature(response)

    def edit_assertions(
        self, edit: Callable[[etree._Element], None], *, which: str = "both", resign_assertions: bool = True
    ) -> etree._Element:
        """Change the assertions (``which``: authn, matching or both); re-sign them and the Response (IDP key)."""
        response = self.response
        items = self.assertions(response)
        for item in items:
            is_authn = item.find(q("saml", "AuthnStatement")) is not None
            if which == "both" or (which == "authn") == is_authn:
                edit(item)
                if resign_assertions:
                    resign(item, self.idp_key)
        return self.rebuild(response, items)


def strip_signature(element: etree._Element) -> etree._Element:
    for signature in element.findall(q("ds", "Signature")):
        element.remove(signature)
    return element


def resign(element: etree._Element, key: KeyPair) -> etree._Element:
    strip_signature(element)
    sign(element, key)
    return element


def attacker_key(tmp_dir: object) -> KeyPair:
    """A key and self-signed certificate that no one in the federation knows."""
    import datetime as dt
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    from federation.config import Certificate

    directory = Path(str(tmp_dir))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (directory / "attacker.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return KeyPair(directory / "attacker.key", Certificate(directory / "attacker.crt", cert))


def sign_with(element: etree._Element, key: KeyPair, method: int, digest: int) -> etree._Element:
    """Sign with chosen algorithms (for downgrade cases), the way a careless IDP would."""
    strip_signature(element)
    signature = xmlsec.template.create(element, xmlsec.Transform.EXCL_C14N, method, ns="ds")
    element.find(q("saml", "Issuer")).addnext(signature)  # type: ignore[union-attr]
    reference = xmlsec.template.add_reference(signature, digest, uri=f"#{element.get('ID')}")
    xmlsec.template.add_transform(reference, xmlsec.Transform.ENVELOPED)
    xmlsec.template.add_transform(reference, xmlsec.Transform.EXCL_C14N)
    context = xmlsec.SignatureContext()
    context.key = key._key
    context.register_id(element, "ID")
    context.sign(signature)
    return element


def encrypt_with(assertion: etree._Element, certificate_pem: bytes, content: int, transport: int) -> etree._Element:
    """Encrypt with chosen algorithms (for downgrade cases)."""
    wrapper = etree.Element(q("saml", "EncryptedAssertion"), nsmap={"saml": "urn:oasis:names:tc:SAML:2.0:assertion"})
    wrapper.append(copy.deepcopy(assertion))
    template = xmlsec.template.encrypted_data_create(wrapper, content, type=xmlsec.EncryptionType.ELEMENT, ns="xenc")
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, transport)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(certificate_pem, xmlsec.KeyFormat.CERT_PEM, None))
    context = xmlsec.EncryptionContext(manager)
    sizes = {xmlsec.Transform.DES3: 192, xmlsec.Transform.AES256_GCM: 256, xmlsec.Transform.AES256: 256}
    size = sizes.get(content, 128)
    kind = xmlsec.KeyData.DES if content == xmlsec.Transform.DES3 else xmlsec.KeyData.AES
    context.key = xmlsec.Key.generate(kind, size, xmlsec.KeyDataType.SESSION)
    context.encrypt_xml(template, wrapper[0])
    return etree.fromstring(to_bytes(wrapper))


def fresh_id(element: etree._Element) -> etree._Element:
    element.set("ID", new_id())
    return element


def encrypt_content(first: etree._Element, second: etree._Element, certificate_pem: bytes) -> etree._Element:
    """One EncryptedAssertion whose plaintext is two elements (XML Encryption's Type=Content), as no genuine
    identity provider would send."""
    wrapper = etree.Element(q("saml", "EncryptedAssertion"), nsmap={"saml": "urn:oasis:names:tc:SAML:2.0:assertion"})
    wrapper.extend([copy.deepcopy(first), copy.deepcopy(second)])
    template = xmlsec.template.encrypted_data_create(
        wrapper, xmlsec.Transform.AES256_GCM, type=xmlsec.EncryptionType.CONTENT, ns="xenc"
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.Transform.RSA_OAEP)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(certificate_pem, xmlsec.KeyFormat.CERT_PEM, None))
    context = xmlsec.EncryptionContext(manager)
    context.key = xmlsec.Key.generate(xmlsec.KeyData.AES, 256, xmlsec.KeyDataType.SESSION)
    context.encrypt_xml(template, wrapper)
    return etree.fromstring(to_bytes(wrapper))
