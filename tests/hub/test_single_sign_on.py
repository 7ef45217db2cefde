"""The hub's SAML endpoints refuse bad input with a 400 page in plain words, never a traceback."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from lxml import etree

from federation.config import Federation
from federation.errors import ProtocolError
from federation.saml.build import authn_request
from federation.saml.crypto import sign
from federation.saml.xml import now, q, to_bytes
from federation.verify.loa import LevelOfAssurance
from hub.service_requests import assertion_consumer_url, requested_level
from tests.factories import b64, key_pair, service_authn_request
from tests.support import check_page


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
    soup = check_page(choose)
    assert soup.select_one("h1").get_text(strip=True) == "Choose a certified company"
    # The level 1-only company is not offered to a level 2 service.
    offered = [node["value"] for node in soup.select('input[name="company"]')]
    assert offered and set(offered) == _certified_at(federation, LevelOfAssurance.LEVEL_2)
    assert not any("three" in value for value in offered)


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
    sign(request, key_pair(federation, "check-your-paye-tax-signing.crt"))
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
    soup = check_page(response, 400)
    assert "problem" in soup.select_one("h1").get_text().lower()
    assert "hub_journey" not in response.headers.get("Set-Cookie", "")
    assert any(record.levelname == "WARNING" and "Refused" in record.getMessage() for record in caplog.records)


def test_replayed_authn_request_is_refused(client: FlaskClient, federation: Federation) -> None:
    data = {"SAMLRequest": b64(service_authn_request(federation))}
    assert client.post("/SAML2/SSO", data=data).status_code == 303
    replay = client.post("/SAML2/SSO", data=data)
    assert replay.status_code == 400
    assert "already been used" in check_page(replay, 400).text


def test_idp_response_without_a_journey_asks_the_citizen_to_start_again(client: FlaskClient) -> None:
    response = client.post("/SAML2/SSO/Response/POST", data={"SAMLResponse": b64(b"<x/>")})
    assert response.status_code == 400
    assert check_page(response, 400).select_one("h1").get_text(strip=True) == "You need to start again"


def test_garbage_idp_response_within_a_journey_is_a_400(client: FlaskClient, federation: Federation) -> None:
    client.post("/SAML2/SSO", data={"SAMLRequest": b64(service_authn_request(federation))})
    for data in ({}, {"SAMLResponse": "!!"}, {"SAMLResponse": b64(b"<samlp:Response/>")}):
        response = client.post("/SAML2/SSO/Response/POST", data=data)
        assert response.status_code == 400
        check_page(response, 400)


def test_choosing_without_the_form_token_is_forbidden(client: FlaskClient, federation: Federation) -> None:
    client.post("/SAML2/SSO", data={"SAMLRequest": b64(service_authn_request(federation))})
    response = client.post(
        "/choose-a-certified-company", data={"company": federation.file.identity_providers[0].entity_id}
    )
    assert response.status_code == 403
    check_page(response, 403)


def test_choosing_nothing_shows_the_error_summary(client: FlaskClient, federation: Federation) -> None:
    client.post("/SAML2/SSO", data={"SAMLRequest": b64(service_authn_request(federation))})
    soup = check_page(client.get("/choose-a-certified-company"))
    token = soup.select_one('input[name="csrf_token"]')["value"]
    response = client.post("/choose-a-certified-company", data={"csrf_token": token})
    assert response.status_code == 400
    soup = check_page(response, 400)
    assert soup.title.get_text().startswith("Error: ")
    assert soup.select_one(".govuk-error-summary h2").get_text(strip=True) == "There is a problem"


def test_unknown_page_and_wrong_method_are_plain_pages(client: FlaskClient) -> None:
    assert client.get("/no-such-page").status_code == 404
    response = client.get("/SAML2/SSO/Response/POST")
    assert response.status_code == 405
    check_page(response, 405)


def test_metadata_is_signed_and_has_a_validity_limit(client: FlaskClient, federation: Federation) -> None:
    from federation.saml.crypto import verify
    from federation.saml.xml import parse

    for path in ("/SAML2/metadata", "/SAML2/metadata/federation"):
        response = client.get(path)
        assert response.status_code == 200 and response.mimetype == "application/samlmetadata+xml"
        document = parse(response.get_data())
        assert document.get("validUntil")
        verify(document, [federation.cert("metadata-signing.crt")])


# ---- what off-the-shelf toolkits send (hub/service_requests.py, docs/integration-guide.md) ----------------

NAMEID = "urn:oasis:names:tc:SAML:2.0:nameid-format:"
UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
PASSWORD_PROTECTED_TRANSPORT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
PAYE, REFUND = 0, 1  # relying_services[0] needs level 2; [1] needs level 1


def _request_for(
    federation: Federation, service: int = PAYE, edit: Callable[[etree._Element], object] | None = None
) -> str:
    """A signed AuthnRequest from one of the stub services, edited before it is signed, base64-encoded."""
    entry = federation.file.relying_services[service]
    request = authn_request(
        issuer=entry.entity_id, destination=federation.hub.sso_url, acs_url=entry.default_acs_url, moment=now()
    )
    if edit is not None:
        edit(request)
    sign(request, key_pair(federation, entry.signing_certificates[0]))  # each service signs with its own key
    return b64(request)


def _name_id_policy(name_format: str | None, **attributes: str) -> Callable[[etree._Element], None]:
    def edit(request: etree._Element) -> None:
        policy = request.find(q("samlp", "NameIDPolicy"))
        assert policy is not None
        policy.attrib.clear()
        if name_format is not None:
            policy.set("Format", name_format)
        for name, value in attributes.items():
            policy.set(name, value)

    return edit


def _requested(refs: list[str], comparison: str | None = "minimum") -> Callable[[etree._Element], None]:
    def edit(request: etree._Element) -> None:
        context = etree.SubElement(request, q("samlp", "RequestedAuthnContext"))
        if comparison is not None:
            context.set("Comparison", comparison)
        for ref in refs:
            etree.SubElement(context, q("saml", "AuthnContextClassRef")).text = ref

    return edit


def _offered_companies(client: FlaskClient) -> list[str]:
    soup = check_page(client.get("/choose-a-certified-company"))
    return [str(node["value"]) for node in soup.select('input[name="company"]')]


@pytest.mark.parametrize(
    "edit",
    [
        _name_id_policy(f"{NAMEID}persistent", AllowCreate="true"),
        _name_id_policy(UNSPECIFIED, AllowCreate="true"),
        _name_id_policy(None),
        lambda request: request.remove(request.find(q("samlp", "NameIDPolicy"))),
        _name_id_policy(f"{NAMEID}persistent", AllowCreate="false"),
        lambda request: _name_id_policy(None, SPNameQualifier=request.findtext(q("saml", "Issuer")))(request),
    ],
    ids=["persistent", "unspecified", "no-format", "no-policy", "allow-create-false", "qualified-for-the-service"],
)
def test_name_id_policy_the_hub_can_honour_starts_a_journey(
    client: FlaskClient, federation: Federation, edit: Callable[[etree._Element], None]
) -> None:
    response = client.post("/SAML2/SSO", data={"SAMLRequest": _request_for(federation, edit=edit)})
    assert response.status_code == 303 and response.location.endswith("/start")


@pytest.mark.parametrize(
    "edit",
    [
        _name_id_policy(f"{NAMEID}transient"),
        _name_id_policy("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"),
        _name_id_policy(f"{NAMEID}encrypted"),
        _name_id_policy(f"{NAMEID}kerberos"),
        _name_id_policy(f"{NAMEID}persistent", SPNameQualifier="https://affiliation.example"),
    ],
    ids=["transient", "email-address", "encrypted", "kerberos", "qualified-for-another-party"],
)
def test_name_id_policy_the_hub_cannot_honour_is_refused_with_a_page_that_says_why(
    client: FlaskClient,
    federation: Federation,
    edit: Callable[[etree._Element], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = client.post("/SAML2/SSO", data={"SAMLRequest": _request_for(federation, edit=edit)})
    assert response.status_code == 400
    soup = check_page(response, 400)
    heading, main = soup.select_one("h1"), soup.select_one("main")
    assert heading is not None and heading.get_text(strip=True) == "There is a problem with the sign-in request"
    assert main is not None and "asked for a kind of sign-in this service does not provide" in main.get_text(" ")
    assert "hub_journey" not in response.headers.get("Set-Cookie", "")
    assert any("Refused: UnsupportedNameIdPolicyError" in record.getMessage() for record in caplog.records)


def _certified_at(federation: Federation, level: LevelOfAssurance) -> set[str]:
    """The companies certified to prove ``level`` (or more): what the picker must offer, no more."""
    return {
        idp.entity_id
        for idp in federation.file.identity_providers
        if any(certified.satisfies(level) for certified in idp.levels_of_assurance)
    }


def test_level_requested_above_the_configured_level_is_what_the_citizen_must_prove(
    client: FlaskClient, federation: Federation
) -> None:
    """A level 1 service asking for level 2 gets level 2: the level 1-only company is no longer offered."""
    client.post("/SAML2/SSO", data={"SAMLRequest": _request_for(federation, REFUND)})
    assert set(_offered_companies(client)) == _certified_at(federation, LevelOfAssurance.LEVEL_1)
    edit = _requested([LevelOfAssurance.LEVEL_2.uri], "exact")
    assert client.post("/SAML2/SSO", data={"SAMLRequest": _request_for(federation, REFUND, edit)}).status_code == 303
    offered = _offered_companies(client)
    assert set(offered) == _certified_at(federation, LevelOfAssurance.LEVEL_2)
    assert not any("three" in value for value in offered)


@pytest.mark.parametrize(
    "edit",
    [
        _requested([LevelOfAssurance.LEVEL_1.uri], "exact"),
        _requested([LevelOfAssurance.LEVEL_1.uri], "maximum"),
        _requested([PASSWORD_PROTECTED_TRANSPORT], "exact"),
        _requested(["urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"], None),
        _requested([]),
    ],
    ids=["level-1-exact", "level-1-maximum", "password-protected-transport", "unspecified-class", "empty"],
)
def test_requested_context_never_lowers_the_configured_level(
    client: FlaskClient, federation: Federation, edit: Callable[[etree._Element], None]
) -> None:
    response = client.post("/SAML2/SSO", data={"SAMLRequest": _request_for(federation, PAYE, edit)})
    assert response.status_code == 303
    assert set(_offered_companies(client)) == _certified_at(federation, LevelOfAssurance.LEVEL_2)


L1, L2 = LevelOfAssurance.LEVEL_1, LevelOfAssurance.LEVEL_2


@pytest.mark.parametrize(
    ("configured", "refs", "comparison", "expected"),
    [
        (L1, None, None, L1),
        (L1, [L2.uri], "minimum", L2),
        (L1, [L2.uri], "exact", L2),
        (L1, [L2.uri], "better", L2),
        (L1, [L1.uri, L2.uri], "exact", L1),  # either will do: the lowest listed is the floor
        (L1, [PASSWORD_PROTECTED_TRANSPORT, L2.uri], "minimum", L2),
        (L2, [L1.uri], "minimum", L2),
        (L2, [L1.uri], "exact", L2),
        (L2, [PASSWORD_PROTECTED_TRANSPORT], "exact", L2),
    ],
)
def test_requested_level_is_the_lowest_known_level_listed_but_never_below_the_configured_one(
    configured: LevelOfAssurance, refs: list[str] | None, comparison: str | None, expected: LevelOfAssurance
) -> None:
    request = etree.Element(q("samlp", "AuthnRequest"))
    if refs is not None:
        _requested(refs, comparison)(request)
    assert requested_level(request, configured) is expected


@pytest.mark.parametrize("padded", [f" {L2.uri}\n", f"{L1.uri} ", "\tsomething:else"])
def test_a_requested_class_reference_with_whitespace_around_it_is_refused_not_trimmed_or_ignored(padded: str) -> None:
    """URIs are compared exactly: trimming would accept what no other party reads the same way, and ignoring
    it could give a service that asked for level 2 the configured level 1."""
    request = etree.Element(q("samlp", "AuthnRequest"))
    _requested([padded], "minimum")(request)
    with pytest.raises(ProtocolError, match="whitespace"):
        requested_level(request, L1)


def test_two_requested_authn_contexts_are_refused(client: FlaskClient, federation: Federation) -> None:
    def twice(request: etree._Element) -> None:
        _requested([LevelOfAssurance.LEVEL_2.uri])(request)
        _requested([LevelOfAssurance.LEVEL_1.uri])(request)

    response = client.post("/SAML2/SSO", data={"SAMLRequest": _request_for(federation, edit=twice)})
    assert response.status_code == 400
    check_page(response, 400)


def test_force_authn_provider_name_and_attribute_consuming_service_index_are_accepted(
    client: FlaskClient, federation: Federation
) -> None:
    def toolkit_extras(request: etree._Element) -> None:
        request.set("ForceAuthn", "true")
        request.set("ProviderName", "A department's own name for itself")
        request.set("AttributeConsumingServiceIndex", "1")

    response = client.post("/SAML2/SSO", data={"SAMLRequest": _request_for(federation, edit=toolkit_extras)})
    assert response.status_code == 303
    # The name the citizen sees is the federation file's, never the request's.
    assert "A department's own name" not in client.get("/start").get_data(as_text=True)


def _index_instead_of_url(index: str) -> Callable[[etree._Element], None]:
    def edit(request: etree._Element) -> None:
        del request.attrib["AssertionConsumerServiceURL"]
        request.set("AssertionConsumerServiceIndex", index)

    return edit


def test_assertion_consumer_service_index_1_is_the_first_configured_url(
    client: FlaskClient, federation: Federation
) -> None:
    response = client.post(
        "/SAML2/SSO", data={"SAMLRequest": _request_for(federation, edit=_index_instead_of_url("1"))}
    )
    assert response.status_code == 303


@pytest.mark.parametrize(
    "edit",
    [
        _index_instead_of_url("2"),
        _index_instead_of_url("0"),
        _index_instead_of_url("-1"),
        _index_instead_of_url("one"),
        _index_instead_of_url("١"),  # an Arabic-Indic digit: str.isdigit says yes, int() would take it
        lambda request: request.set("AssertionConsumerServiceIndex", "1"),  # as well as the URL
    ],
    ids=["past-the-end", "zero", "negative", "not-a-number", "non-ascii-digit", "index-and-url"],
)
def test_assertion_consumer_service_index_naming_no_configured_url_is_refused(
    client: FlaskClient, federation: Federation, edit: Callable[[etree._Element], None]
) -> None:
    response = client.post("/SAML2/SSO", data={"SAMLRequest": _request_for(federation, edit=edit)})
    assert response.status_code == 400
    check_page(response, 400)
    assert "hub_journey" not in response.headers.get("Set-Cookie", "")


def test_assertion_consumer_service_index_resolves_against_the_configured_list(federation: Federation) -> None:
    first, second = "https://service.example/acs/1", "https://service.example/acs/2"
    service = federation.file.relying_services[PAYE].model_copy(update={"assertion_consumer_urls": [first, second]})

    def request_with(**attributes: str) -> etree._Element:
        return etree.Element(q("samlp", "AuthnRequest"), attributes)

    assert assertion_consumer_url(request_with(), service) == first
    assert assertion_consumer_url(request_with(AssertionConsumerServiceIndex="1"), service) == first
    assert assertion_consumer_url(request_with(AssertionConsumerServiceIndex="2"), service) == second
    assert assertion_consumer_url(request_with(AssertionConsumerServiceURL=second), service) == second
    with pytest.raises(ProtocolError):
        assertion_consumer_url(request_with(AssertionConsumerServiceIndex="3"), service)


def test_authn_request_naming_a_subject_is_refused(client: FlaskClient, federation: Federation) -> None:
    def with_subject(request: etree._Element) -> None:
        subject = etree.Element(q("saml", "Subject"))
        etree.SubElement(subject, q("saml", "NameID")).text = "someone@example.com"
        request.find(q("saml", "Issuer")).addnext(subject)  # type: ignore[union-attr]

    response = client.post("/SAML2/SSO", data={"SAMLRequest": _request_for(federation, edit=with_subject)})
    assert response.status_code == 400
    check_page(response, 400)
