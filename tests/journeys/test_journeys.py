"""Every branch of the journey over real HTTP: stub service → hub → stub IDP → hub → matching → service.

Each test runs twice: with each app's in-process store and with a real redis-server.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re

import pytest
from lxml import etree

from federation.errors import SignatureError
from federation.saml.crypto import verify
from federation.saml.xml import STATUS_NO_MATCH, STATUS_RESPONDER, parse, q, text_of
from federation.verify.account_attributes import read_attributes
from tests.journeys.drive import PAYE, PENSION, REFUND, SELF_ASSESSMENT, Journey, idp_entity
from tests.support import LiveFederation


def test_matched_citizen_sees_record_identifier_and_level(live_federation: LiveFederation) -> None:
    journey = Journey(live_federation)
    outcome = journey.to_service(journey.sign_in("alice"))
    assert outcome.h1 == "You are signed in"
    assert outcome.text("#outcome-status") == "Matched"
    assert outcome.text("#record-reference") == "PAYE-1001"
    assert outcome.text("#level-of-assurance") == "Level 2"
    pairwise = outcome.text("#pairwise-id")
    raw_pid = journey.idp_persistent_id()
    assert len(pairwise) == 64 and pairwise != raw_pid and raw_pid not in outcome.response.text
    msa = f"{live_federation.urls['stub_service']}/hmrc/matching-service/SAML2/metadata"
    expected = hashlib.sha256(f"{idp_entity(live_federation, 'stub-idp-one')}{msa}{raw_pid}".encode()).hexdigest()
    assert pairwise == expected


def test_simple_profile_assertion_is_the_hubs_and_states_outcome_and_level(live_federation: LiveFederation) -> None:
    journey = Journey(live_federation, service=PAYE)
    assertion = journey.service_assertion(journey.sign_in("alice"))
    hub = live_federation.federation.hub
    assert text_of(assertion.find(q("saml", "Issuer"))) == hub.entity_id
    verify(assertion, live_federation.federation.certs(hub.signing_certificates))
    assert read_attributes(assertion.find(q("saml", "AttributeStatement"))) == {
        "outcome": ["match"],
        "level_of_assurance": ["LEVEL_2"],
    }


def test_full_profile_assertion_is_the_matching_services_own(live_federation: LiveFederation) -> None:
    journey = Journey(live_federation, service=SELF_ASSESSMENT)
    final_form = journey.sign_in("alice")
    assertion = journey.service_assertion(final_form)
    msa = live_federation.federation.file.relying_services[2].matching_service
    assert text_of(assertion.find(q("saml", "Issuer"))) == msa.entity_id
    verify(assertion, live_federation.federation.certs(msa.signing_certificates))
    with pytest.raises(SignatureError):
        verify(assertion, live_federation.federation.certs(live_federation.federation.hub.signing_certificates))
    outcome = journey.to_service(final_form)
    assert outcome.text("#outcome-status") == "Matched"
    assert outcome.text("#record-reference") == "PAYE-1001"


def test_same_citizen_through_another_idp_gets_another_identifier(live_federation: LiveFederation) -> None:
    first = Journey(live_federation)
    second = Journey(live_federation, idp="stub-idp-two")
    one = first.to_service(first.sign_in("alice"))
    two = second.to_service(second.sign_in("alice"))
    assert one.text("#record-reference") == two.text("#record-reference") == "PAYE-1001"
    assert one.text("#pairwise-id") != two.text("#pairwise-id")


def test_ambiguous_surname_and_birth_date_resolved_by_postcode(live_federation: LiveFederation) -> None:
    journey = Journey(live_federation)
    assert journey.to_service(journey.sign_in("dan")).text("#record-reference") == "PAYE-1003"


def test_cycle3_finds_a_record_by_national_insurance_number(live_federation: LiveFederation) -> None:
    journey = Journey(live_federation)
    question = journey.sign_in("erin")
    assert question.h1 == "What is your National Insurance number?"
    invalid = journey.citizen.submit(question, {"cycle3": "QQ 12 34 56 C"})  # the hint's example
    assert invalid.status == 400 and invalid.response.text.count("Enter your own National Insurance number, not the")
    matched = journey.citizen.wait(journey.citizen.submit(invalid, {"cycle3": "se 12 34 56 c"}))
    outcome = journey.to_service(matched)
    assert outcome.text("#record-reference") == "PAYE-1005"


def test_cycle3_no_match_gives_the_service_no_match(live_federation: LiveFederation) -> None:
    journey = Journey(live_federation)
    question = journey.sign_in("bob")
    outcome = journey.to_service(journey.citizen.wait(journey.citizen.submit(question, {"cycle3": "AB 65 43 21 C"})))
    assert outcome.h1 == "We could not find your record"
    assert outcome.text("#saml-status") == STATUS_RESPONDER
    assert outcome.text("#saml-sub-status") == STATUS_NO_MATCH


def test_no_match_without_cycle3_or_account_creation_is_no_match(live_federation: LiveFederation) -> None:
    journey = Journey(live_federation, service=REFUND)
    assert journey.to_service(journey.sign_in("bob")).text("#outcome-status") == "No match"


def test_cycle3_cancelled_tells_the_service_no_authentication(live_federation: LiveFederation) -> None:
    journey = Journey(live_federation)
    question = journey.sign_in("bob")
    cancel = next(f for f in question.soup.select("form") if f.get("action", "").endswith("/cancel"))
    cancel["id"] = "cancel-form"
    exit_page = journey.citizen.submit(question, selector="#cancel-form")
    assert exit_page.h1 == "You have not been signed in"
    assert journey.return_to_service(exit_page).text("#outcome-status") == "Not signed in"


def test_account_created_with_only_the_requested_verified_attributes(live_federation: LiveFederation) -> None:
    journey = Journey(live_federation, service=SELF_ASSESSMENT)
    outcome = journey.to_service(journey.sign_in("bob"))
    assert outcome.text("#outcome-status") == "Account created"
    received = outcome.text("#received-attributes")
    assert "Bob" in received and "Brown" in received and "2 November 1975" in received and "BS1 4DJ" in received
    assert "Gender" not in received and "MALE" not in received  # gender was not asked for
    assert outcome.text("#record-reference").startswith("PAYE-9")


def test_account_creation_after_cycle3_includes_the_answer(live_federation: LiveFederation) -> None:
    journey = Journey(live_federation, service=PENSION)
    question = journey.sign_in("bob")
    outcome = journey.to_service(journey.citizen.wait(journey.citizen.submit(question, {"cycle3": "AB 65 43 21 C"})))
    assert outcome.text("#outcome-status") == "Account created"
    assert "AB654321C" in outcome.text("#received-attributes")


def test_failed_account_creation_shows_a_page_and_tells_the_service(live_federation: LiveFederation) -> None:
    journey = Journey(live_federation, service=SELF_ASSESSMENT)
    exit_page = journey.sign_in("harry")
    assert exit_page.h1 == "Register for Self Assessment could not create an account for you"
    assert journey.return_to_service(exit_page).text("#outcome-status") == "Not signed in"


def test_level_1_service_accepts_a_level_1_identity(live_federation: LiveFederation) -> None:
    journey = Journey(live_federation, service=REFUND)
    outcome = journey.to_service(journey.sign_in("carol"))
    assert outcome.text("#record-reference") == "PAYE-1004"
    assert outcome.text("#level-of-assurance") == "Level 1"


def test_level_below_what_the_service_needs_is_refused(live_federation: LiveFederation) -> None:
    journey = Journey(live_federation, service=PAYE)
    exit_page = journey.sign_in("carol")  # verified to level 1 only
    assert exit_page.status == 200
    assert exit_page.h1 == "Stub Identity Provider One could not prove your identity well enough"
    assert exit_page.soup.select_one('a.govuk-button[href="/choose-a-certified-company"]') is not None
    assert journey.return_to_service(exit_page).text("#outcome-status") == "Not signed in"


def test_level_the_idp_is_not_certified_for_is_refused(live_federation: LiveFederation) -> None:
    journey = Journey(live_federation, service=REFUND, idp="stub-idp-three")  # certified for level 1 only
    exit_page = journey.sign_in("alice", level="LEVEL_2")
    assert exit_page.h1 == "Stub Identity Provider Three could not prove your identity well enough"


@pytest.mark.parametrize(
    ("outcome", "heading", "service_sees"),
    [
        ("cancel", "You did not finish proving your identity", "Not signed in"),
        ("authn-failed", "Stub Identity Provider One could not confirm your identity", "Authentication failed"),
        ("pending", "You have saved your progress with Stub Identity Provider One", "Not signed in"),
        (
            "requester-error",
            "A technical problem stopped Stub Identity Provider One checking your identity",
            "Request error",
        ),
    ],
)
def test_idp_outcome_shows_its_page_and_the_service_gets_its_status(
    live_federation: LiveFederation, outcome: str, heading: str, service_sees: str
) -> None:
    journey = Journey(live_federation)
    exit_page = journey.idp_outcome(outcome)
    assert exit_page.h1 == heading
    assert journey.return_to_service(exit_page).text("#outcome-status") == service_sees


def test_fraud_event_ends_the_journey_without_another_try(live_federation: LiveFederation) -> None:
    journey = Journey(live_federation)
    exit_page = journey.sign_in("alice", level="LEVEL_X", gpg45_status="IT01")
    assert exit_page.h1 == "We could not confirm your identity"
    assert exit_page.soup.select_one('a[href="/choose-a-certified-company"]') is None
    assert journey.return_to_service(exit_page).text("#outcome-status") == "Not signed in"


def test_failed_sign_in_lets_the_citizen_try_another_company(live_federation: LiveFederation) -> None:
    journey = Journey(live_federation)
    exit_page = journey.idp_outcome("authn-failed")
    choose = journey.citizen.get(live_federation.urls["hub"] + "/choose-a-certified-company")
    assert choose.h1 == "Choose a certified company"
    to_idp = journey.citizen.submit(choose, {"company": idp_entity(live_federation, "stub-idp-two")})
    login = journey.citizen.submit(to_idp, selector="#saml-form")
    consent = journey.citizen.submit(login, {"username": "alice", "password": "password"}, selector="#sign-in-form")
    back = journey.citizen.submit(consent, {"decision": "agree"}, selector="#consent-form")
    outcome = journey.to_service(journey.citizen.wait(journey.citizen.submit(back, selector="#saml-form")))
    assert exit_page.status == 200 and outcome.text("#record-reference") == "PAYE-1001"


def test_a_refused_answer_from_the_company_offers_another_company_or_the_way_back(
    live_federation: LiveFederation,
) -> None:
    """The company's answer does not pass the hub's checks (here its signature no longer covers what was sent;
    a company whose clock is fast meets the same page): the citizen is told, and is not stuck there."""
    journey = Journey(live_federation)
    back = journey.sign_in_without_waiting("alice")
    response = parse(base64.b64decode(back.hidden("SAMLResponse", "#saml-form")))
    response.set("IssueInstant", "2026-01-01T00:00:00Z")
    tampered = base64.b64encode(etree.tostring(response)).decode()

    refused = journey.citizen.submit(back, {"SAMLResponse": tampered}, selector="#saml-form")

    assert refused.status == 400 and refused.h1 == "We could not accept the answer from Stub Identity Provider One"
    assert refused.soup.select_one('a.govuk-button[href="/choose-a-certified-company"]') is not None
    assert journey.return_to_service(refused).text("#outcome-status") == "Not signed in"
    # The journey has ended: the company's genuine answer, posted now, finds none.
    assert journey.citizen.submit(back, selector="#saml-form").h1 == "You need to start again"


def test_hub_keeps_nothing_after_the_journey(live_federation: LiveFederation, request: pytest.FixtureRequest) -> None:
    journey = Journey(live_federation)
    journey.to_service(journey.sign_in("alice"))
    store = live_federation.apps["hub"].extensions["runtime"].store
    if store.kind == "redis":
        keys = [key.decode() for key in request.getfixturevalue("redis_server").client.keys("hub:*")]
    else:
        keys = store.keys()
    # Only the replay cache's one-way markers remain, beside the dashboard's counters (which hold no journey):
    # no journey, no outstanding request.
    kept = [key for key in keys if not key.removeprefix("hub:").startswith("stats:")]
    # …each of a fixed length, naming no message: seen:<kind>:<SHA-256>.
    marker = re.compile(r"seen:[a-z-]+:[0-9a-f]{64}")
    assert kept and all(marker.fullmatch(key.removeprefix("hub:")) for key in kept), kept


def test_no_personal_data_in_logs_at_debug(live_federation: LiveFederation, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    journey = Journey(live_federation)
    outcome = journey.to_service(journey.sign_in("alice"))
    assert outcome.h1 == "You are signed in"
    logged = caplog.text
    personal = (
        "Alice",
        "Smith",
        "1980-05-14",
        "SW1A 2AA",
        "Downing",
        journey.idp_persistent_id(),
        outcome.text("#pairwise-id"),
    )
    for value in personal:
        assert value not in logged
    assert "SAMLResponse" not in logged and "<saml" not in logged
