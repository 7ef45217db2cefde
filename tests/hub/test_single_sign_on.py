"""The hub's SAML endpoints refuse bad input with a 400 page in plain words, never a traceback."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable

import pytest
from bs4 import BeautifulSoup
from flask.testing import FlaskClient
from lxml import etree

from federation.config import Federation
from federation.crypto import sign
from federation.xml import now, q, to_bytes
from tests.factories import b64, key_pair, service_authn_request


def _page(response) -> BeautifulSoup:  # type: ignore[no-untyped-def]
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert len(soup.select("h1")) == 1
    assert "Traceback" not in soup.text
    return soup


def test_signed_request_starts_a_journey_with_an_opaque_httponly_cookie(
    client: FlaskClient, federation: Federation
) -> None:
    response = client.post("/SAML2/SSO", data={"SAMLRequest": b64(service_authn_request(federation))})
    assert response.status_code == 303 and response.location.endswith("/start")
    cookies = response.headers.getlist("Set-Cookie")
    journey_cookie = next(c for c in cookies if c.startswith("hub_journey="))
    assert "HttpOnly" in journey_cookie and "SameSite=Lax" in journey_cookie
    assert len(journey_cookie.split(";")[0].split("=", 1)[1]) >= 40  # opaque, high-entropy
    choose = client.get("/choose-a-certified-company")
    soup = _page(choose)
    assert soup.select_one("h1").get_text(strip=True) == "Choose a certified company"
    # The level 1-only company is not offered to a level 2 service.
    offered = [node["value"] for node in soup.select('input[name="company"]')]
    assert len(offered) == 2 and not any("three" in value for value in offered)


def _bad_requests(federation: Federation) -> dict[str, dict[str, str]]:
    service_request = service_authn_request(federation)
    tampered = to_bytes(service_request).replace(b'AssertionConsumerServiceURL="', b'AssertionConsumerServiceURL="x')
    return {
        "missing": {},
        "not-base64": {"SAMLRequest": "%%% not base64 %%%"},
        "not-xml": {"SAMLRequest": b64(b"hello, hub")},
        "doctype": {"SAMLRequest": b64(b'<!DOCTYPE x [<!ENTITY a "a">]><x>&a;</x>')},
        "unsigned": {"SAMLRequest": b64(service_authn_request(federation, signed=False))},
        "signed-by-another-party": {
            "SAMLRequest": b64(service_authn_request(federation, signer="stub-idp-one-signing.crt"))
        },
        "tampered-after-signing": {"SAMLRequest": b64(tampered)},
        "unlisted-acs-url": {
            "SAMLRequest": b64(service_authn_request(federation, acs_url="https://attacker.example/acs"))
        },
        "wrong-destination": {
            "SAMLRequest": b64(service_authn_request(federation, destination="https://elsewhere.example/SSO"))
        },
        "stale": {"SAMLRequest": b64(service_authn_request(federation, moment=now() - dt.timedelta(hours=1)))},
        "relay-state-too-long": {"SAMLRequest": b64(service_authn_request(federation)), "RelayState": "r" * 81},
        "scoping": {"SAMLRequest": b64(_signed_after(federation, _add_scoping))},
        "passive": {"SAMLRequest": b64(_signed_after(federation, lambda r: r.set("IsPassive", "true")))},
        "artifact-binding": {
            "SAMLRequest": b64(
                _signed_after(
                    federation, lambda r: r.set("ProtocolBinding", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact")
                )
            )
        },
        "version-1-1": {"SAMLRequest": b64(_signed_after(federation, lambda r: r.set("Version", "1.1")))},
        "xsw-wrapped": {"SAMLRequest": b64(_wrapped(federation))},
    }


def _signed_after(federation: Federation, edit: Callable[[etree._Element], object]) -> etree._Element:
    request = service_authn_request(federation, signed=False)
    edit(request)
    sign(request, key_pair(federation, "stub-service-signing.crt"))
    return request


def _add_scoping(request: etree._Element) -> None:
    scoping = etree.SubElement(request, q("samlp", "Scoping"))
    idp_list = etree.SubElement(scoping, q("samlp", "IDPList"))
    etree.SubElement(idp_list, q("samlp", "IDPEntry"), ProviderID="https://idp.example")


def _wrapped(federation: Federation) -> etree._Element:
    """XSW2 on an AuthnRequest: an evil request (attacker's ACS) wrapping the genuine signed one."""
    genuine = service_authn_request(federation)
    evil = copy.deepcopy(genuine)
    evil.set("ID", "_evil")
    evil.set("AssertionConsumerServiceURL", "https://attacker.example/acs")
    evil.find(q("ds", "Signature")).addprevious(genuine)  # type: ignore[union-attr]
    return evil


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "not-base64",
        "not-xml",
        "doctype",
        "unsigned",
        "signed-by-another-party",
        "tampered-after-signing",
        "unlisted-acs-url",
        "wrong-destination",
        "stale",
        "relay-state-too-long",
        "scoping",
        "passive",
        "artifact-binding",
        "version-1-1",
        "xsw-wrapped",
    ],
)
def test_bad_authn_request_gets_a_plain_400_page_and_no_journey(
    client: FlaskClient, federation: Federation, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.post("/SAML2/SSO", data=_bad_requests(federation)[case])
    assert response.status_code == 400
    soup = _page(response)
    assert "problem" in soup.select_one("h1").get_text().lower()
    assert "hub_journey" not in response.headers.get("Set-Cookie", "")
    assert any(record.levelname == "WARNING" and "Refused" in record.getMessage() for record in caplog.records)


def test_replayed_authn_request_is_refused(client: FlaskClient, federation: Federation) -> None:
    data = {"SAMLRequest": b64(service_authn_request(federation))}
    assert client.post("/SAML2/SSO", data=data).status_code == 303
    replay = client.post("/SAML2/SSO", data=data)
    assert replay.status_code == 400
    assert "already been used" in _page(replay).text


def test_idp_response_without_a_journey_asks_the_citizen_to_start_again(client: FlaskClient) -> None:
    response = client.post("/SAML2/SSO/Response/POST", data={"SAMLResponse": b64(b"<x/>")})
    assert response.status_code == 400
    assert _page(response).select_one("h1").get_text(strip=True) == "You need to start again"


def test_garbage_idp_response_within_a_journey_is_a_400(client: FlaskClient, federation: Federation) -> None:
    client.post("/SAML2/SSO", data={"SAMLRequest": b64(service_authn_request(federation))})
    for data in ({}, {"SAMLResponse": "!!"}, {"SAMLResponse": b64(b"<samlp:Response/>")}):
        response = client.post("/SAML2/SSO/Response/POST", data=data)
        assert response.status_code == 400
        _page(response)


def test_choosing_without_the_form_token_is_forbidden(client: FlaskClient, federation: Federation) -> None:
    client.post("/SAML2/SSO", data={"SAMLRequest": b64(service_authn_request(federation))})
    response = client.post(
        "/choose-a-certified-company", data={"company": federation.file.identity_providers[0].entity_id}
    )
    assert response.status_code == 403
    _page(response)


def test_choosing_nothing_shows_the_error_summary(client: FlaskClient, federation: Federation) -> None:
    client.post("/SAML2/SSO", data={"SAMLRequest": b64(service_authn_request(federation))})
    soup = _page(client.get("/choose-a-certified-company"))
    token = soup.select_one('input[name="csrf_token"]')["value"]
    response = client.post("/choose-a-certified-company", data={"csrf_token": token})
    assert response.status_code == 400
    soup = _page(response)
    assert soup.title.get_text().startswith("Error: ")
    assert soup.select_one(".govuk-error-summary h2").get_text(strip=True) == "There is a problem"


def test_unknown_page_and_wrong_method_are_plain_pages(client: FlaskClient) -> None:
    assert client.get("/no-such-page").status_code == 404
    response = client.get("/SAML2/SSO/Response/POST")
    assert response.status_code == 405
    _page(response)


def test_metadata_is_signed_and_has_a_validity_limit(client: FlaskClient, federation: Federation) -> None:
    from federation.crypto import verify
    from federation.xml import parse

    for path in ("/SAML2/metadata", "/SAML2/metadata/federation"):
        response = client.get(path)
        assert response.status_code == 200 and response.mimetype == "application/samlmetadata+xml"
        document = parse(response.get_data())
        assert document.get("validUntil")
        verify(document, [federation.cert("metadata-signing.crt")])
