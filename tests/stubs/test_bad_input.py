"""The stub IDP, the stub service and its matching service refuse bad SAML with a plain 400, no traceback."""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.test import TestResponse

import stub_idp
import stub_service
from federation.config import Federation
from federation.saml.build import soap_envelope
from federation.saml.xml import parse
from tests.factories import b64, service_authn_request
from tests.support import check_page

GARBAGE = [{}, {"SAMLRequest": "%%%"}, {"SAMLResponse": "%%%"}, {"SAMLRequest": b64(b"<a>")}]


@pytest.fixture()
def idp_app(app_config: dict[str, object]) -> Flask:
    return stub_idp.create_app(app_config)


@pytest.fixture()
def service_app(app_config: dict[str, object]) -> Flask:
    return stub_service.create_app(app_config)


def check_plain_400(response: TestResponse) -> None:
    check_page(response, 400)


@pytest.mark.parametrize("data", GARBAGE)
def test_stub_idp_refuses_garbage(idp_app: Flask, data: dict[str, str]) -> None:
    check_plain_400(idp_app.test_client().post("/stub-idp-one/SAML2/SSO", data=data))


def test_stub_idp_refuses_a_request_not_signed_by_the_hub(idp_app: Flask, federation: Federation) -> None:
    # Signed by the stub service: a real signature, but not the hub's.
    request = service_authn_request(federation, destination=federation.file.identity_providers[0].sso_url)
    check_plain_400(idp_app.test_client().post("/stub-idp-one/SAML2/SSO", data={"SAMLRequest": b64(request)}))


def test_stub_idp_login_without_a_request_asks_to_start_again(idp_app: Flask) -> None:
    check_plain_400(idp_app.test_client().get("/stub-idp-one/login?request_token=nope"))


@pytest.mark.parametrize("data", GARBAGE)
def test_stub_service_acs_refuses_garbage(service_app: Flask, data: dict[str, str]) -> None:
    check_plain_400(service_app.test_client().post("/check-your-paye-tax/SAML2/SSO/Response/POST", data=data))


@pytest.mark.parametrize(
    "body",
    [b"", b"not xml", b"<x/>", soap_envelope(parse(b"<x/>"))],
    ids=["empty", "not-xml", "not-soap", "not-a-query"],
)
def test_matching_service_refuses_garbage(service_app: Flask, body: bytes) -> None:
    response = service_app.test_client().post("/hmrc/matching-service/POST", data=body, content_type="text/xml")
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)


def test_matching_service_refuses_a_query_not_from_the_hub(service_app: Flask, federation: Federation) -> None:
    request = service_authn_request(federation)  # a signed message, but the wrong kind from the wrong party
    response = service_app.test_client().post("/hmrc/matching-service/POST", data=soap_envelope(request))
    assert response.status_code == 400
