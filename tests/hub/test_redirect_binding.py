"""AuthnRequests over HTTP-Redirect: the query-string signature is required and checked, and the
DEFLATE payload is capped so a decompression bomb is refused before it is inflated in full."""

from __future__ import annotations

import base64
import re
import zlib
from urllib.parse import quote_plus

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask.testing import FlaskClient

from federation.config import Federation
from federation.saml.xml import q, to_bytes
from tests.factories import redirect_query, service_authn_request
from tests.support import check_page


def _unsigned(federation: Federation):  # type: ignore[no-untyped-def]
    return service_authn_request(federation, signed=False)


def test_signed_redirect_request_starts_a_journey(client: FlaskClient, federation: Federation) -> None:
    query = redirect_query(federation, _unsigned(federation), relay_state="state-123")
    response = client.get(f"/SAML2/SSO?{query}")
    assert response.status_code == 303 and response.location.endswith("/start")


def check_refused(client: FlaskClient, query: str) -> None:
    response = client.get(f"/SAML2/SSO?{query}")
    check_page(response, 400)
    assert "hub_journey" not in response.headers.get("Set-Cookie", "")


def test_unsigned_redirect_request_is_refused(client: FlaskClient, federation: Federation) -> None:
    check_refused(client, redirect_query(federation, _unsigned(federation), signer=None))


def test_redirect_request_signed_by_another_party_is_refused(client: FlaskClient, federation: Federation) -> None:
    check_refused(client, redirect_query(federation, _unsigned(federation), signer="stub-idp-one-signing.crt"))


def test_sha1_redirect_signature_is_refused(client: FlaskClient, federation: Federation) -> None:
    query = redirect_query(federation, _unsigned(federation), sig_alg="http://www.w3.org/2000/09/xmldsig#rsa-sha1")
    check_refused(client, query)


def test_relay_state_changed_after_signing_is_refused(client: FlaskClient, federation: Federation) -> None:
    query = redirect_query(federation, _unsigned(federation), relay_state="good")
    check_refused(client, query.replace("RelayState=good", "RelayState=evil"))


def test_decompression_bomb_is_refused_quickly(client: FlaskClient, federation: Federation) -> None:
    # 100 MB of spaces compress to about 100 KB; the hub stops inflating at 256 KB.
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    bomb = compressor.compress(b"<a>" + b" " * 100_000_000 + b"</a>") + compressor.flush()
    check_refused(client, redirect_query(federation, _unsigned(federation), deflated=bomb))


@pytest.mark.parametrize(
    "query",
    ["", "SAMLRequest=", "SAMLRequest=%%%", "SAMLRequest=bm90IGRlZmxhdGU%3D", "SAMLRequest=a&SAMLRequest=b"],
    ids=["empty", "blank", "not-base64", "not-deflate", "repeated"],
)
def test_malformed_redirect_query_is_refused(client: FlaskClient, query: str) -> None:
    check_refused(client, query)


def test_toolkit_rules_apply_to_redirect_requests_too(client: FlaskClient, federation: Federation) -> None:
    """The NameIDPolicy rule (hub/service_requests.py) does not depend on the binding the request came by."""
    request = _unsigned(federation)
    request.find(q("samlp", "NameIDPolicy")).set("Format", "urn:oasis:names:tc:SAML:2.0:nameid-format:transient")
    check_refused(client, redirect_query(federation, request))
    request.find(q("samlp", "NameIDPolicy")).set("Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")
    assert client.get(f"/SAML2/SSO?{redirect_query(federation, request)}").status_code == 303


def _lower_case_query(federation: Federation, relay_state: str) -> str:
    """A signed Redirect query percent-encoded in lower case (%2f, not %2F), as ADFS and python3-saml's
    ``lowercase_urlencoding`` send it."""

    def encode(value: str) -> str:
        return re.sub(r"%[0-9A-F]{2}", lambda match: match.group(0).lower(), quote_plus(value))

    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    deflated = compressor.compress(to_bytes(_unsigned(federation))) + compressor.flush()
    parts = [
        f"SAMLRequest={encode(base64.b64encode(deflated).decode())}",
        f"RelayState={encode(relay_state)}",
        f"SigAlg={encode('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256')}",
    ]
    key = serialization.load_pem_private_key(
        federation.private_key_path("check-your-paye-tax-signing.crt").read_bytes(), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = key.sign("&".join(parts).encode(), padding.PKCS1v15(), hashes.SHA256())
    return "&".join([*parts, f"Signature={encode(base64.b64encode(signature).decode())}"])


def test_lower_case_percent_encoding_is_verified_as_sent(client: FlaskClient, federation: Federation) -> None:
    """The signature is over the octets as sent, whatever case their percent-encoding is in."""
    query = _lower_case_query(federation, "/after-sign-in?x=1")
    assert "%2f" in query
    assert client.get(f"/SAML2/SSO?{query}").status_code == 303
