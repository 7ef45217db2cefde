"""AuthnRequests over HTTP-Redirect: the query-string signature is required and checked, and the
DEFLATE payload is capped so a decompression bomb is refused before it is inflated in full."""

from __future__ import annotations

import zlib

import pytest
from bs4 import BeautifulSoup
from flask.testing import FlaskClient

from federation.config import Federation
from tests.factories import redirect_query, service_authn_request


def _unsigned(federation: Federation):  # type: ignore[no-untyped-def]
    return service_authn_request(federation, signed=False)


def test_signed_redirect_request_starts_a_journey(client: FlaskClient, federation: Federation) -> None:
    query = redirect_query(federation, _unsigned(federation), relay_state="state-123")
    response = client.get(f"/SAML2/SSO?{query}")
    assert response.status_code == 303 and response.location.endswith("/start")


def check_refused(client: FlaskClient, query: str) -> None:
    response = client.get(f"/SAML2/SSO?{query}")
    assert response.status_code == 400
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert soup.select_one("h1") is not None and "Traceback" not in soup.text
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
