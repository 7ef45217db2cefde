"""pysaml2's Saml2Client as a relying service: whole journeys with each binding, the toolkit's default
request, what the hub refuses, non-success outcomes, and negative controls."""

from __future__ import annotations

import base64

import pytest
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.saml import NAMEID_FORMAT_TRANSIENT

from federation.saml.crypto import sign
from federation.saml.keys import KeyPair
from federation.saml.xml import NAMEID_PERSISTENT, parse, q, to_bytes
from tests.interop import pysaml2_sp
from tests.interop.conftest import Interop, ToolkitJourney, ToolkitService
from tests.interop.settings import LEVEL_2, pysaml2_default_config


def _signed_in(result: dict[str, object], interop: Interop) -> None:
    assert result["authenticated"] is True, result
    assert result["issuer"] == interop.hub_entity_id
    assert result["name_id_format"] == NAMEID_PERSISTENT
    assert isinstance(result["name_id"], str) and len(result["name_id"]) == 64


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_matched_citizen_signs_in_with_pairwise_id_level_and_attributes(
    interop: Interop, pysaml2: ToolkitService, binding: str
) -> None:
    journey = ToolkitJourney(interop, pysaml2, binding)
    result = journey.to_service(journey.sign_in("alice"))
    _signed_in(result, interop)
    assert result["authn_contexts"] == [LEVEL_2]
    assert result["attributes"] == {"outcome": ["match"], "level_of_assurance": ["LEVEL_2"]}
    assert result["acs_path"] == "/saml/acs" and result["relay_state"] == "/after-sign-in"


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_configured_request_asks_for_a_persistent_id_at_level_2_at_least(
    interop: Interop, pysaml2: ToolkitService, binding: str
) -> None:
    journey = ToolkitJourney(interop, pysaml2, binding)
    journey.to_idp()
    request = journey.authn_request
    assert request.find(q("samlp", "NameIDPolicy")).get("Format") == NAMEID_PERSISTENT
    context = request.find(q("samlp", "RequestedAuthnContext"))
    assert context.get("Comparison") == "minimum" and [ref.text for ref in context] == [LEVEL_2]
    # Signed as each binding signs: enveloped for POST, in the query string for Redirect.
    assert (request.find(q("ds", "Signature")) is not None) is (binding == "post")


def test_toolkit_default_request_without_name_id_policy_starts_a_journey(
    interop: Interop, pysaml2: ToolkitService
) -> None:
    """pysaml2's default request: no NameIDPolicy, no RequestedAuthnContext, a ProviderName. The hub starts a
    journey at the service's configured level (2: the level 1-only company is not offered)."""
    pysaml2_sp.configure(pysaml2.app, pysaml2_default_config(pysaml2.settings))
    journey = ToolkitJourney(interop, pysaml2, "post")
    login = journey.to_idp()
    request = journey.authn_request
    assert request.find(q("samlp", "NameIDPolicy")) is None
    assert request.find(q("samlp", "RequestedAuthnContext")) is None
    assert request.get("ProviderName") == "pysaml2 interoperability service"
    assert request.get("AssertionConsumerServiceURL") == pysaml2.acs_urls[0]
    assert login.soup.select_one("#sign-in-form") is not None
    choose = next(page for page in journey.citizen.pages if page.url.endswith("/choose-a-certified-company"))
    offered = [str(node["value"]) for node in choose.soup.select('input[name="company"]')]
    assert offered and not any("stub-idp-three" in value for value in offered)


def test_transient_name_id_policy_is_refused_with_a_page_that_says_why(
    interop: Interop, pysaml2: ToolkitService
) -> None:
    config = pysaml2_default_config(pysaml2.settings)
    config["service"]["sp"]["name_id_policy_format"] = NAMEID_FORMAT_TRANSIENT
    pysaml2_sp.configure(pysaml2.app, config)
    journey = ToolkitJourney(interop, pysaml2, "redirect")
    refused = journey.to_hub()
    assert journey.authn_request.find(q("samlp", "NameIDPolicy")).get("Format") == NAMEID_FORMAT_TRANSIENT
    assert refused.status == 400
    assert refused.h1 == "There is a problem with the sign-in request"
    assert "asked for a kind of sign-in this service does not provide" in refused.text("main")
    assert "hub_journey" not in journey.citizen.http.cookies


def test_cancel_at_the_identity_provider_is_a_status_error_the_toolkit_reports(
    interop: Interop, pysaml2: ToolkitService
) -> None:
    journey = ToolkitJourney(interop, pysaml2, "redirect")
    result = journey.to_service(journey.cancel_at_idp())
    assert result["authenticated"] is False
    assert result["error"] == "StatusNoAuthnContext"
    assert str(result["message"]).endswith(
        "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext from urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
    )


def test_assertion_consumer_service_index_sends_the_answer_to_that_url(
    interop: Interop, pysaml2: ToolkitService
) -> None:
    """Index 2 is the second of the service's assertion_consumer_urls: the hub answers there, and only there."""
    journey = ToolkitJourney(interop, pysaml2, "post", query={"acs_index": "2"})
    answer = journey.cancel_at_idp()
    assert journey.authn_request.get("AssertionConsumerServiceIndex") == "2"
    assert journey.authn_request.get("AssertionConsumerServiceURL") is None
    assert answer.form("#saml-form")["action"] == pysaml2.acs_urls[1]
    assert journey.to_service()["error"] == "StatusNoAuthnContext"


def test_toolkit_refuses_a_response_signed_by_a_key_it_was_not_given(interop: Interop, pysaml2: ToolkitService) -> None:
    """Negative control: the hub's answer, re-signed with another party's key, is refused before its status is
    even read; the genuine answer is read."""
    journey = ToolkitJourney(interop, pysaml2, "post")
    journey.cancel_at_idp()
    forged = parse(base64.b64decode(journey.saml_response))
    signature = forged.find(q("ds", "Signature"))
    assert signature is not None
    forged.remove(signature)
    stranger = KeyPair(interop.keys_dir / "stub-idp-one-signing.key", interop.live.federation.cert("hub-signing.crt"))
    sign(forged, stranger)
    refused = journey.to_service(saml_response=base64.b64encode(to_bytes(forged)).decode())
    assert refused["authenticated"] is False and refused["error"] == "SignatureError"
    assert journey.to_service()["error"] == "StatusNoAuthnContext"


def test_toolkit_refuses_a_response_meant_for_another_audience(interop: Interop, pysaml2: ToolkitService) -> None:
    """Negative control: the same genuine Response fails for a service configured with another entity ID."""
    journey = ToolkitJourney(interop, pysaml2, "redirect")
    journey.sign_in("alice")
    other = dict(pysaml2.settings, entityid="https://another-service.example/saml/metadata")
    pysaml2_sp.configure(pysaml2.app, other)
    refused = journey.to_service()
    assert refused["authenticated"] is False
    assert str(refused["message"]).startswith("AudienceRestrictions conditions not satisfied!"), refused
    pysaml2_sp.configure(pysaml2.app, pysaml2.settings)
    _signed_in(journey.to_service(), interop)


def test_hub_metadata_offers_single_sign_on_with_the_redirect_binding(
    interop: Interop, pysaml2: ToolkitService
) -> None:
    client = pysaml2.app.extensions["saml2_client"]
    for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
        services = client.metadata.single_sign_on_service(interop.hub_entity_id, binding)
        assert [service["location"] for service in services] == [interop.live.federation.hub.sso_url]
