"""python3-saml (OneLogin's toolkit) as a relying service: whole journeys with each binding, the toolkit's
default request, a non-success outcome, and negative controls showing the toolkit does check what it gets."""

from __future__ import annotations

import copy

import pytest

from federation.saml.xml import NAMEID_PERSISTENT, q
from tests.interop import python3_saml_sp
from tests.interop.conftest import ACCOUNT_CREATION_ENTITY_PATH, Interop, ToolkitJourney, ToolkitService
from tests.interop.settings import LEVEL_2, python3_saml_default_settings

PASSWORD_PROTECTED_TRANSPORT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"


def _signed_in(result: dict[str, object]) -> None:
    assert result["errors"] == [], result["error_reason"]
    assert result["authenticated"] is True
    assert result["name_id_format"] == NAMEID_PERSISTENT
    assert isinstance(result["name_id"], str) and len(result["name_id"]) == 64


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_matched_citizen_signs_in_with_pairwise_id_level_and_attributes(
    interop: Interop, python3_saml: ToolkitService, binding: str
) -> None:
    journey = ToolkitJourney(interop, python3_saml, binding)
    result = journey.to_service(journey.sign_in("alice"))
    _signed_in(result)
    assert result["authn_contexts"] == [LEVEL_2]
    assert result["attributes"] == {"outcome": ["match"], "level_of_assurance": ["LEVEL_2"]}
    assert result["relay_state"] == "/after-sign-in"
    # Both bindings carry the same request: the toolkit's own, asking for a persistent ID at level 2 at least.
    policy = journey.authn_request.find(q("samlp", "NameIDPolicy"))
    assert policy.get("Format") == NAMEID_PERSISTENT
    context = journey.authn_request.find(q("samlp", "RequestedAuthnContext"))
    assert context.get("Comparison") == "minimum"


def test_same_citizen_gets_the_same_pairwise_id_each_time(interop: Interop, python3_saml: ToolkitService) -> None:
    first = ToolkitJourney(interop, python3_saml, "redirect")
    second = ToolkitJourney(interop, python3_saml, "post")
    assert first.to_service(first.sign_in("alice"))["name_id"] == second.to_service(second.sign_in("alice"))["name_id"]


def test_toolkit_defaults_unspecified_format_and_exact_password_transport_are_accepted(
    interop: Interop, python3_saml: ToolkitService
) -> None:
    """python3-saml's default request: NameID Format unspecified, PasswordProtectedTransport, Comparison exact.

    The hub answers unspecified with its persistent pairwise ID and ignores the class it does not know: the
    service's configured level (2) is what the citizen proves.
    """
    python3_saml.app.config[python3_saml_sp.SETTINGS] = python3_saml_default_settings(python3_saml.settings)
    journey = ToolkitJourney(interop, python3_saml, "redirect")
    result = journey.to_service(journey.sign_in("alice"))
    policy = journey.authn_request.find(q("samlp", "NameIDPolicy"))
    assert (policy.get("Format"), policy.get("AllowCreate")) == (UNSPECIFIED, "true")
    context = journey.authn_request.find(q("samlp", "RequestedAuthnContext"))
    assert context.get("Comparison") == "exact"
    assert [ref.text for ref in context] == [PASSWORD_PROTECTED_TRANSPORT]
    _signed_in(result)
    assert result["authn_contexts"] == [LEVEL_2]


def test_cancel_at_the_identity_provider_is_an_error_the_toolkit_reports(
    interop: Interop, python3_saml: ToolkitService
) -> None:
    journey = ToolkitJourney(interop, python3_saml, "post")
    result = journey.to_service(journey.cancel_at_idp())
    assert result["authenticated"] is False
    assert result["errors"] == ["invalid_response"]
    assert result["error_reason"] == (
        "The status code of the Response was not Success, was Responder -> "
        "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
    )
    assert result["name_id"] is None and result["attributes"] == {}


def _post_again(journey: ToolkitJourney) -> dict[str, object]:
    """Post the hub's captured answer to the ACS once more, as the same browser."""
    return journey.to_service()


def test_toolkit_refuses_a_response_meant_for_another_audience(interop: Interop, python3_saml: ToolkitService) -> None:
    """Negative control: the same genuine Response fails for a service configured with another entity ID."""
    journey = ToolkitJourney(interop, python3_saml, "redirect")
    journey.sign_in("alice")
    other = copy.deepcopy(python3_saml.settings)
    other["sp"]["entityId"] = "https://another-service.example/saml/metadata"
    python3_saml.app.config[python3_saml_sp.SETTINGS] = other
    refused = _post_again(journey)
    assert refused["authenticated"] is False
    assert "is not a valid audience for this Response" in str(refused["error_reason"])
    python3_saml.app.config[python3_saml_sp.SETTINGS] = python3_saml.settings
    _signed_in(_post_again(journey))


def test_toolkit_refuses_a_response_signed_by_a_key_it_was_not_given(
    interop: Interop, python3_saml: ToolkitService
) -> None:
    """Negative control: with another party's certificate as the hub's, the genuine Response does not verify."""
    journey = ToolkitJourney(interop, python3_saml, "post")
    journey.sign_in("alice")
    other = copy.deepcopy(python3_saml.settings)
    other["idp"]["x509cert"] = (interop.keys_dir / "stub-idp-one-signing.crt").read_text()
    python3_saml.app.config[python3_saml_sp.SETTINGS] = other
    refused = _post_again(journey)
    assert refused["authenticated"] is False
    assert refused["error_reason"] == "Signature validation failed. SAML Response rejected"
    python3_saml.app.config[python3_saml_sp.SETTINGS] = python3_saml.settings
    _signed_in(_post_again(journey))


def test_new_account_brings_the_requested_attributes_as_plain_values(
    interop: Interop, python3_saml: ToolkitService
) -> None:
    """bob has no record: a service that creates accounts gets outcome account-created and what it asked for,
    one plain-text value each, as any toolkit can read them."""
    settings = copy.deepcopy(python3_saml.settings)
    settings["sp"]["entityId"] = python3_saml.base_url + ACCOUNT_CREATION_ENTITY_PATH
    python3_saml.app.config[python3_saml_sp.SETTINGS] = settings
    journey = ToolkitJourney(interop, python3_saml, "redirect")
    result = journey.to_service(journey.sign_in("bob"))
    _signed_in(result)
    attributes = result["attributes"]
    assert attributes["outcome"] == ["account-created"]
    assert attributes["level_of_assurance"] == ["LEVEL_2"]
    assert set(attributes) == {"outcome", "level_of_assurance", "firstname", "surname", "dateofbirth", "currentaddress"}
    assert all(len(values) == 1 and isinstance(values[0], str) and values[0] for values in attributes.values())
