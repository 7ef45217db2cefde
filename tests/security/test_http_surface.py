"""What every app answers at the HTTP level: a repeated SAML parameter is refused, and a wrong method gets a 405
that says so and names the methods allowed."""

from __future__ import annotations

import base64
import zlib
from urllib.parse import quote_plus

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from werkzeug.datastructures import MultiDict

from federation.config import Federation
from federation.saml.xml import to_bytes
from tests.factories import service_authn_request
from tests.support import check_page

POST_ENDPOINTS = [
    ("hub", "/SAML2/SSO", "SAMLRequest"),
    ("hub", "/SAML2/SSO/Response/POST", "SAMLResponse"),
    ("stub_idp", "/stub-idp-one/SAML2/SSO", "SAMLRequest"),
    ("stub_service", "/check-your-paye-tax/SAML2/SSO/Response/POST", "SAMLResponse"),
]


@pytest.mark.parametrize(("app_name", "path", "field"), POST_ENDPOINTS)
@pytest.mark.parametrize("repeated", ["message", "RelayState", "Signature", "SigAlg"])
def test_a_repeated_saml_parameter_in_a_form_is_refused(
    apps: dict[str, Flask], federation: Federation, app_name: str, path: str, field: str, repeated: str
) -> None:
    message = base64.b64encode(to_bytes(service_authn_request(federation))).decode()
    name = field if repeated == "message" else repeated
    form = [(field, message), (name, "one" if repeated != "message" else message), (name, "two")]
    if repeated == "message":
        form = [(field, message), (field, message)]
    response = apps[app_name].test_client().post(path, data=MultiDict(form))
    assert response.status_code == 400
    check_page(response, 400)


@pytest.mark.parametrize(("app_name", "path", "field"), POST_ENDPOINTS)
def test_a_saml_parameter_in_both_the_query_and_the_form_is_refused(
    apps: dict[str, Flask], federation: Federation, app_name: str, path: str, field: str
) -> None:
    message = base64.b64encode(to_bytes(service_authn_request(federation))).decode()
    client = apps[app_name].test_client()
    response = client.post(f"{path}?{field}={quote_plus(message)}", data={field: message})
    assert response.status_code == 400
    check_page(response, 400)


@pytest.mark.parametrize("repeated", ["SAMLRequest", "RelayState", "Signature", "SigAlg"])
def test_a_repeated_parameter_in_a_redirect_binding_query_is_refused(
    apps: dict[str, Flask], federation: Federation, repeated: str
) -> None:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    deflated = compressor.compress(to_bytes(service_authn_request(federation, signed=False))) + compressor.flush()
    value = quote_plus(base64.b64encode(deflated).decode())
    query = f"SAMLRequest={value}&RelayState=r&SigAlg=a&Signature=s&{repeated}={value}"
    response = apps["hub"].test_client().get(f"/SAML2/SSO?{query}")
    assert response.status_code == 400
    check_page(response, 400)


@pytest.mark.parametrize(
    ("app_name", "method", "path", "allowed"),
    [
        ("hub", "put", "/SAML2/SSO", {"GET", "POST"}),
        ("hub", "get", "/SAML2/SSO/Response/POST", {"POST"}),
        ("hub", "delete", "/SAML2/metadata", {"GET"}),
        ("stub_idp", "get", "/stub-idp-one/SAML2/SSO", {"POST"}),
        ("stub_service", "get", "/hmrc/matching-service/POST", {"POST"}),
    ],
)
def test_a_wrong_method_gets_a_405_page_that_says_so_with_an_allow_header(
    apps: dict[str, Flask], app_name: str, method: str, path: str, allowed: set[str]
) -> None:
    response = getattr(apps[app_name].test_client(), method)(path)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} - {"HEAD", "OPTIONS"} == allowed
    heading = BeautifulSoup(response.get_data(as_text=True), "html.parser").select_one("h1")
    assert heading is not None and heading.get_text(strip=True) == "You cannot use this page in that way"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
