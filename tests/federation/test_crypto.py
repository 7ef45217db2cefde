from __future__ import annotations

from pathlib import Path

import pytest
import xmlsec
from lxml import etree

from federation.config import Federation
from federation.errors import DisallowedAlgorithmError, InvalidSamlMessageError, SignatureError
from federation.saml import crypto
from federation.saml.crypto import decrypt_assertion, encrypt_assertion, sign, verify
from federation.saml.keys import KeyPair
from federation.saml.xml import NS, XmlError, new_id, parse, q, to_bytes


def _key(federation: Federation, name: str) -> KeyPair:
    return KeyPair(federation.private_key_path(name), federation.cert(name))


def _signed(federation: Federation) -> etree._Element:
    element = etree.Element(q("saml", "Assertion"), nsmap={"saml": NS["saml"]}, ID=new_id(), Version="2.0")
    etree.SubElement(element, q("saml", "Issuer")).text = "issuer"
    etree.SubElement(element, q("saml", "Subject")).text = "subject"
    sign(element, _key(federation, "hub-signing.crt"))
    return parse(to_bytes(element))


def test_signature_verifies_with_the_signer_certificate_only(federation: Federation) -> None:
    element = _signed(federation)
    verify(element, [federation.cert("hub-signing.crt")])
    with pytest.raises(SignatureError):
        verify(element, [federation.cert("check-your-paye-tax-signing.crt")])


def test_changed_content_breaks_the_signature(federation: Federation) -> None:
    element = _signed(federation)
    element.find(q("saml", "Subject")).text = "someone else"  # type: ignore[union-attr]
    with pytest.raises(SignatureError):
        verify(element, [federation.cert("hub-signing.crt")])


def test_sha1_signature_method_is_refused_before_verifying(federation: Federation) -> None:
    data = to_bytes(_signed(federation)).replace(b"xmldsig-more#rsa-sha256", b"xmldsig#rsa-sha1")
    with pytest.raises(DisallowedAlgorithmError):
        verify(parse(data), [federation.cert("hub-signing.crt")])


def test_signature_referencing_another_element_is_refused(federation: Federation) -> None:
    element = _signed(federation)
    element.set("ID", new_id())
    with pytest.raises(SignatureError, match="does not reference the signed element"):
        verify(element, [federation.cert("hub-signing.crt")])


def test_missing_signature_is_refused(federation: Federation) -> None:
    element = _signed(federation)
    element.remove(element.find(q("ds", "Signature")))  # type: ignore[arg-type]
    with pytest.raises(SignatureError, match="0 signatures"):
        verify(element, [federation.cert("hub-signing.crt")])


def test_encrypted_assertion_decrypts_only_with_recipient_key(federation: Federation) -> None:
    encrypted = encrypt_assertion(_signed(federation), federation.cert("hub-encryption.crt"))
    assert b"aes256-gcm" in to_bytes(encrypted) and b"rsa-oaep" in to_bytes(encrypted)
    assert b"subject" not in to_bytes(encrypted)
    decrypted = decrypt_assertion(encrypted, _key(federation, "hub-encryption.crt"))
    verify(decrypted, [federation.cert("hub-signing.crt")])
    with pytest.raises(InvalidSamlMessageError, match="could not be decrypted"):
        decrypt_assertion(encrypted, _key(federation, "check-your-paye-tax-encryption.crt"))


def test_weak_encryption_algorithms_are_refused(federation: Federation) -> None:
    encrypted = to_bytes(encrypt_assertion(_signed(federation), federation.cert("hub-encryption.crt")))
    for weak in (
        encrypted.replace(b"xmlenc11#aes256-gcm", b"xmlenc#tripledes-cbc"),
        encrypted.replace(b"xmlenc#rsa-oaep-mgf1p", b"xmlenc#rsa-1_5"),
    ):
        with pytest.raises(DisallowedAlgorithmError):
            decrypt_assertion(parse(weak), _key(federation, "hub-encryption.crt"))


@pytest.mark.parametrize(
    "document",
    [
        b'<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>',
        b'<!DOCTYPE x SYSTEM "http://127.0.0.1:1/evil.dtd"><x/>',
        b"<a ID='one'><b ID='one'/></a>",
        b"<a>" * 300 + b"</a>" * 300,
        b"<a>" + b"x" * (300 * 1024) + b"</a>",
        b"<unclosed>",
    ],
    ids=["entity", "external-dtd", "duplicate-id", "deep-nesting", "too-large", "malformed"],
)
def test_parser_refuses_unsafe_documents(document: bytes) -> None:
    with pytest.raises(XmlError):
        parse(document)


def test_comments_do_not_split_text(tmp_path: Path) -> None:
    element = parse(b"<a>user@evil.example<!-- -->.gov.uk</a>")
    assert element.text == "user@evil.example.gov.uk"


class _FailingOnce:
    """python-xmlsec's SignatureContext, whose first ``sign`` in a test fails as libxmlsec1 did once in 73,000
    signatures under gunicorn's threads (``xmlsec.Error: (1, 'failed to sign')``)."""

    failures_left = 0

    def __init__(self) -> None:
        object.__setattr__(self, "_real", REAL_SIGNATURE_CONTEXT())

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self._real, name, value)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)  # type: ignore[attr-defined]

    def sign(self, node: etree._Element) -> None:
        if _FailingOnce.failures_left > 0:
            _FailingOnce.failures_left -= 1
            raise xmlsec.Error(1, "failed to sign")
        self._real.sign(node)  # type: ignore[attr-defined]


REAL_SIGNATURE_CONTEXT = xmlsec.SignatureContext


@pytest.mark.parametrize("failures", [1, 2], ids=["fails-once", "fails-twice"])
def test_a_signature_libxmlsec1_fails_to_make_is_made_once_more_then_given_up(
    federation: Federation, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, failures: int
) -> None:
    monkeypatch.setattr(crypto, "_backend", crypto.InProcessBackend())  # the retry is the in-process backend's
    monkeypatch.setattr(xmlsec, "SignatureContext", _FailingOnce)
    monkeypatch.setattr(_FailingOnce, "failures_left", failures)
    if failures == 2:
        with pytest.raises(xmlsec.Error):
            _signed(federation)
        return
    element = _signed(federation)
    verify(element, [federation.cert("hub-signing.crt")])
    assert "libxmlsec1 failed to sign" in caplog.text and _FailingOnce.failures_left == 0
