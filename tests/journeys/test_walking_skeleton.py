"""The whole journey over real HTTP: stub service → hub → stub IDP → hub → matching service → stub service.

Runs twice: with each app's in-process store and with a real redis-server.
"""

from __future__ import annotations

import base64
import hashlib
import logging

import pytest

from federation.crypto import KeyPair, decrypt_assertion
from federation.xml import STATUS_NO_MATCH, STATUS_RESPONDER, parse, q, text_of
from tests.conftest import LiveFederation
from tests.support import Citizen, Page

IDP_ONE = "stub-idp-one"


def _idp_entity(live: LiveFederation, slug: str = IDP_ONE) -> str:
    return f"{live.urls['stub_idp']}/{slug}/SAML2/metadata"


def sign_in(live: LiveFederation, username: str, slug: str = IDP_ONE) -> tuple[Citizen, Page, Page]:
    """Drive the journey up to the IDP's answer; return the citizen, the IDP's form to the hub and the final page."""
    citizen = Citizen()
    start = citizen.get(live.urls["stub_service"] + "/")
    assert start.h1 == "Check your PAYE tax"
    to_hub = citizen.submit(start)
    assert to_hub.form("#saml-form")["action"] == live.urls["hub"] + "/SAML2/SSO"
    choose = citizen.submit(to_hub)
    assert choose.h1 == "Choose a certified company"
    to_idp = citizen.submit(choose, {"company": _idp_entity(live, slug)})
    assert to_idp.form("#saml-form")["action"] == f"{live.urls['stub_idp']}/{slug}/SAML2/SSO"
    login = citizen.submit(to_idp)
    assert login.h1.startswith("Sign in to")
    back_to_hub = citizen.submit(login, {"username": username, "password": "password"})
    assert back_to_hub.form("#saml-form")["action"] == live.urls["hub"] + "/SAML2/SSO/Response/POST"
    answer = citizen.submit(back_to_hub)
    if answer.status != 200:
        return citizen, back_to_hub, answer
    assert answer.form("#saml-form")["action"] == live.urls["stub_service"] + "/SAML2/SSO/Response/POST"
    return citizen, back_to_hub, citizen.submit(answer)


def idp_persistent_id(live: LiveFederation, idp_form: Page) -> str:
    """Read the NameID the IDP sent, with the hub's key: what the relying service must never see."""
    response = parse(base64.b64decode(idp_form.hidden("SAMLResponse")))
    hub_key = KeyPair(live.keys_dir / "hub-encryption.key", live.federation.cert("hub-encryption.crt"))
    assertion = decrypt_assertion(response.findall(q("saml", "EncryptedAssertion"))[0], hub_key)
    return text_of(assertion.find(f"{q('saml', 'Subject')}/{q('saml', 'NameID')}"))


def test_matched_citizen_sees_record_identifier_and_level(live_federation: LiveFederation) -> None:
    _, idp_form, outcome = sign_in(live_federation, "alice")
    assert outcome.h1 == "You are signed in"
    assert outcome.text("#record-reference") == "PAYE-1001"
    assert outcome.text("#level-of-assurance") == "Level 2"
    pairwise = outcome.text("#pairwise-id")
    raw_pid = idp_persistent_id(live_federation, idp_form)
    assert len(pairwise) == 64 and pairwise != raw_pid
    assert raw_pid not in outcome.response.text
    msa = f"{live_federation.urls['stub_service']}/matching-service/SAML2/metadata"
    assert pairwise == hashlib.sha256(f"{_idp_entity(live_federation)}{msa}{raw_pid}".encode()).hexdigest()


def test_same_citizen_through_another_idp_gets_another_identifier(live_federation: LiveFederation) -> None:
    _, _, first = sign_in(live_federation, "alice", IDP_ONE)
    _, _, second = sign_in(live_federation, "alice", "stub-idp-two")
    assert first.text("#record-reference") == second.text("#record-reference") == "PAYE-1001"
    assert first.text("#pairwise-id") != second.text("#pairwise-id")


def test_ambiguous_surname_and_birth_date_resolved_by_postcode(live_federation: LiveFederation) -> None:
    _, _, outcome = sign_in(live_federation, "dan")
    assert outcome.text("#record-reference") == "PAYE-1003"


def test_unknown_citizen_gets_no_match_status_at_service(live_federation: LiveFederation) -> None:
    _, _, outcome = sign_in(live_federation, "bob")
    assert outcome.h1 == "We could not find your record"
    assert outcome.text("#saml-status") == STATUS_RESPONDER
    assert outcome.text("#saml-sub-status") == STATUS_NO_MATCH


def test_level_below_service_requirement_is_refused_by_hub(live_federation: LiveFederation) -> None:
    _, _, refused = sign_in(live_federation, "carol")
    assert refused.status == 400
    assert refused.h1 == "There is a problem with the sign-in request"


def test_hub_keeps_nothing_after_the_journey(live_federation: LiveFederation, request: pytest.FixtureRequest) -> None:
    sign_in(live_federation, "alice")
    store = live_federation.apps["hub"].extensions["runtime"].store
    if store.kind == "redis":
        keys = [key.decode() for key in request.getfixturevalue("redis_server").client.keys("hub:*")]
    else:
        keys = store.keys()
    # Only the replay cache's one-way markers remain: no journey, no outstanding request.
    assert keys and all(key.removeprefix("hub:").startswith("seen:") for key in keys), keys


def test_no_personal_data_in_logs_at_debug(live_federation: LiveFederation, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _, idp_form, outcome = sign_in(live_federation, "alice")
    assert outcome.h1 == "You are signed in"
    logged = caplog.text
    for value in ("Alice", "Smith", "1980-05-14", "SW1A 2AA", "Downing", idp_persistent_id(live_federation, idp_form)):
        assert value not in logged
    assert "SAMLResponse" not in logged and "<saml" not in logged
