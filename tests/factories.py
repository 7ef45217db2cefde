"""Real signed messages for tests, made with the test PKI's keys."""

from __future__ import annotations

import base64
import datetime as dt
import zlib
from urllib.parse import quote_plus

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from federation.config import Federation, IdentityProviderEntry
from federation.saml.build import authn_request
from federation.saml.crypto import sign
from federation.saml.keys import KeyPair
from federation.saml.xml import now, to_bytes
from federation.verify.loa import LevelOfAssurance


def key_pair(federation: Federation, certificate: str) -> KeyPair:
    return KeyPair(federation.private_key_path(certificate), federation.cert(certificate))


def service_authn_request(
    federation: Federation,
    *,
    signer: str = "check-your-paye-tax-signing.crt",
    acs_url: str | None = None,
    destination: str | None = None,
    moment: dt.datetime | None = None,
    signed: bool = True,
) -> etree._Element:
    service = federation.file.relying_services[0]
    request = authn_request(
        issuer=service.entity_id,
        destination=destination or federation.hub.sso_url,
        acs_url=acs_url or service.default_acs_url,
        moment=moment or now(),
    )
    if signed:
        sign(request, key_pair(federation, signer))
    return request


def hub_authn_request(
    federation: Federation,
    company: IdentityProviderEntry,
    *,
    acs_url: str | None = None,
    signer: str | None = "hub-signing.crt",
) -> etree._Element:
    """The hub's AuthnRequest to ``company`` at level 2, signed with ``signer``'s key (None: unsigned)."""
    request = authn_request(
        issuer=federation.hub.entity_id,
        destination=company.sso_url,
        acs_url=acs_url or federation.hub.acs_url,
        moment=now(),
        level=LevelOfAssurance.LEVEL_2,
    )
    if signer is not None:
        sign(request, key_pair(federation, signer))
    return request


def b64(element: etree._Element | bytes) -> str:
    data = element if isinstance(element, bytes) else to_bytes(element)
    return base64.b64encode(data).decode()


def redirect_query(
    federation: Federation,
    element: etree._Element,
    *,
    relay_state: str | None = None,
    signer: str | None = "check-your-paye-tax-signing.crt",
    sig_alg: str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    deflated: bytes | None = None,
) -> str:
    """An HTTP-Redirect query string, signed over its own URL-encoded octets as saml-bindings §3.4.4.1 says."""
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    data = deflated if deflated is not None else compressor.compress(to_bytes(element)) + compressor.flush()
    parts = [f"SAMLRequest={quote_plus(base64.b64encode(data).decode())}"]
    if relay_state is not None:
        parts.append(f"RelayState={quote_plus(relay_state)}")
    if signer is None:
        return "&".join(parts)
    parts.append(f"SigAlg={quote_plus(sig_alg)}")
    key = serialization.load_pem_private_key(federation.private_key_path(signer).read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    digest = hashes.SHA1() if sig_alg.endswith("sha1") else hashes.SHA256()
    signature = key.sign("&".join(parts).encode(), padding.PKCS1v15(), digest)
    parts.append(f"Signature={quote_plus(base64.b64encode(signature).decode())}")
    return "&".join(parts)
