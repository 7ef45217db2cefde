"""SAML bindings: decoding HTTP-POST and HTTP-Redirect messages with size caps, and Redirect signatures.

In the HTTP-Redirect binding the XML is DEFLATE-compressed into the query string and the signature is over
the query string itself (saml-bindings §3.4.4.1), computed on the octets exactly as they were sent.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass
from urllib.parse import unquote_plus

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from federation.config import Certificate
from federation.errors import DisallowedAlgorithmError, InvalidSamlMessageError, SignatureError
from federation.saml.xml import MAX_MESSAGE_BYTES, XmlError, parse

_MAX_ENCODED = MAX_MESSAGE_BYTES * 4 // 3 + 4
REDIRECT_SIGNATURE_ALGORITHMS: dict[str, hashes.HashAlgorithm] = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": hashes.SHA256(),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": hashes.SHA384(),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512(),
}


def _b64(value: str, field: str) -> bytes:
    if len(value) > _MAX_ENCODED:
        raise InvalidSamlMessageError(f"{field} is too large")
    try:
        # Some toolkits wrap base64 at 76 characters; the binding allows the line breaks.
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSamlMessageError(f"{field} is not base64") from exc


def _xml(data: bytes, field: str) -> etree._Element:
    try:
        return parse(data)
    except XmlError as exc:
        raise InvalidSamlMessageError(f"{field} rejected: {exc}") from exc


def decode_post(value: str, field: str) -> etree._Element:
    """A base64 form field of the HTTP-POST binding."""
    if not value:
        raise InvalidSamlMessageError(f"no {field} in the form")
    return _xml(_b64(value, field), field)


def inflate(data: bytes, limit: int = MAX_MESSAGE_BYTES) -> bytes:
    """Raw DEFLATE, refusing to produce more than ``limit`` bytes: no decompression bomb gets through."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise InvalidSamlMessageError("message is not DEFLATE-compressed") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise InvalidSamlMessageError(f"message inflates to more than {limit} bytes")
    return out


@dataclass(frozen=True)
class RedirectMessage:
    element: etree._Element
    relay_state: str | None
    signed_octets: bytes | None
    sig_alg: str | None
    signature: bytes | None


def _raw_parameters(query: bytes) -> dict[str, str]:
    raw: dict[str, str] = {}
    for pair in query.decode("ascii", errors="strict").split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if name in raw:
            raise InvalidSamlMessageError(f"query string repeats {name}")
        raw[name] = value
    return raw


def decode_redirect(query: bytes, field: str = "SAMLRequest") -> RedirectMessage:
    """Decode an HTTP-Redirect query string, keeping the signed octets exactly as sent."""
    if len(query) > 2 * _MAX_ENCODED:
        raise InvalidSamlMessageError("query string is too large")
    try:
        raw = _raw_parameters(query)
    except UnicodeDecodeError as exc:
        raise InvalidSamlMessageError("query string is not ASCII") from exc
    if field not in raw:
        raise InvalidSamlMessageError(f"no {field} in the query string")
    element = _xml(inflate(_b64(unquote_plus(raw[field]), field)), field)
    relay_state = unquote_plus(raw["RelayState"]) if "RelayState" in raw else None
    if "Signature" not in raw:
        return RedirectMessage(element, relay_state, None, None, None)
    # §3.4.4.1: SAMLRequest, RelayState (if present), SigAlg, in that order, as URL-encoded on the wire.
    parts = [f"{field}={raw[field]}"]
    if "RelayState" in raw:
        parts.append(f"RelayState={raw['RelayState']}")
    parts.append(f"SigAlg={raw.get('SigAlg', '')}")
    signature = _b64(unquote_plus(raw["Signature"]), "Signature")
    return RedirectMessage(
        element, relay_state, "&".join(parts).encode("ascii"), unquote_plus(raw.get("SigAlg", "")), signature
    )


def verify_redirect(message: RedirectMessage, certificates: list[Certificate]) -> None:
    """Check the query-string signature against the sender's configured certificates."""
    if message.signature is None or message.signed_octets is None:
        raise SignatureError("HTTP-Redirect message is not signed")
    algorithm = REDIRECT_SIGNATURE_ALGORITHMS.get(message.sig_alg or "")
    if algorithm is None:
        raise DisallowedAlgorithmError("HTTP-Redirect signature algorithm not allowed")
    for certificate in [c for c in certificates if c.is_current()]:
        key = certificate.cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            continue
        try:
            key.verify(message.signature, message.signed_octets, padding.PKCS1v15(), algorithm)
        except InvalidSignature:
            continue
        return
    raise SignatureError("HTTP-Redirect signature does not verify with any key configured for the issuer")
