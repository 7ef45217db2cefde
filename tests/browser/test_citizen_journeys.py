"""Every branch of the citizen's journey in a real browser, with JavaScript on and off.

The same branches as tests/journeys/test_journeys.py, clicked through as a person would: the stub service's
start page, the hub's questions and company picker, the stub identity provider, any hub page after it and the
service's outcome page. With JavaScript on, every hub page on the way passes axe (see ``Citizen.audit``).
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.citizen import (
    IDP_FOUR,
    IDP_ONE,
    IDP_OUTCOMES,
    IDP_THREE,
    IDP_TWO,
    PAYE,
    PENSION,
    PHOTO_ID,
    REFUND,
    SELF_ASSESSMENT,
    UK_ADDRESS,
    Citizen,
)
from tests.browser.conftest import DROPPED_STATIC_FILE

pytestmark = DROPPED_STATIC_FILE

PAIRWISE_ID = re.compile(r"^\s*[0-9a-f]{64}\s*$")


def test_matched_citizen_sees_their_record_level_and_pairwise_identifier(citizen: Citizen) -> None:
    citizen.reaches_idp(PAYE)
    citizen.signs_in_and_agrees("alice")
    citizen.arrives_at_service("You are signed in")
    expect(citizen.summary_value("Outcome")).to_have_text("Matched")
    expect(citizen.summary_value("Record reference")).to_have_text("PAYE-1001")
    expect(citizen.summary_value("Level of assurance")).to_have_text("Level 2")
    expect(citizen.summary_value("Your identifier for this service")).to_have_text(PAIRWISE_ID)


def test_saml_hops_show_a_continue_button_that_passes_axe_when_they_cannot_post_themselves(
    citizen: Citizen,
) -> None:
    # Without JavaScript these pages are what the citizen sees; with it, block the script that posts them.
    citizen.blocks_self_posting_forms()
    citizen.reaches_idp(PAYE)
    citizen.signs_in_and_agrees("alice")
    citizen.arrives_at_service("You are signed in")
    expect(citizen.summary_value("Record reference")).to_have_text("PAYE-1001")


def test_cycle3_shows_an_error_for_a_malformed_number_then_matches_on_a_valid_one(citizen: Citizen) -> None:
    citizen.reaches_idp(PAYE)
    citizen.signs_in_and_agrees("erin")
    citizen.sees_hub_page("What is your National Insurance number?")

    citizen.gives_national_insurance_number("QQ 12 34 56 C")  # the hint's example
    citizen.sees_hub_page("What is your National Insurance number?")
    field = citizen.page.get_by_label("What is your National Insurance number?")
    citizen.sees_error_linked_to(field, "Enter your own National Insurance number, not the example")
    expect(field).to_have_value("QQ 12 34 56 C")

    citizen.gives_national_insurance_number("SE 12 34 56 C")
    citizen.arrives_at_service("You are signed in")
    expect(citizen.summary_value("Record reference")).to_have_text("PAYE-1005")


def test_cycle3_answer_that_finds_no_record_tells_the_service_no_match(citizen: Citizen) -> None:
    citizen.reaches_idp(PAYE)
    citizen.signs_in_and_agrees("bob")
    citizen.sees_hub_page("What is your National Insurance number?")
    citizen.gives_national_insurance_number("AB 65 43 21 C")
    citizen.arrives_at_service("We could not find your record")
    expect(citizen.summary_value("Outcome")).to_have_text("No match")


def test_no_record_and_no_further_question_tells_the_service_no_match(citizen: Citizen) -> None:
    citizen.reaches_idp(REFUND)
    citizen.signs_in_and_agrees("bob")
    citizen.arrives_at_service("We could not find your record")
    expect(citizen.summary_value("Outcome")).to_have_text("No match")


def test_citizen_without_the_cycle3_detail_is_not_signed_in(citizen: Citizen) -> None:
    citizen.reaches_idp(PAYE)
    citizen.signs_in_and_agrees("bob")
    citizen.sees_hub_page("What is your National Insurance number?")
    citizen.button("I do not have this").click()
    citizen.sees_hub_page("You have not been signed in")
    expect(citizen.page.get_by_text("Check your PAYE tax could not find your record")).to_be_visible()
    citizen.goes_back_to_service()
    citizen.arrives_at_service("You have not been signed in")
    expect(citizen.summary_value("Outcome")).to_have_text("Not signed in")


def test_service_that_creates_accounts_gets_only_the_attributes_it_asked_for(citizen: Citizen) -> None:
    citizen.reaches_idp(SELF_ASSESSMENT)
    citizen.signs_in_and_agrees("bob")
    citizen.arrives_at_service("Your account has been created")
    expect(citizen.summary_value("Outcome")).to_have_text("Account created")
    expect(citizen.summary_value("Record reference")).to_have_text(re.compile(r"^\s*PAYE-9"))
    expect(citizen.page.get_by_role("heading", name="Details we received")).to_be_visible()
    expect(citizen.summary_value("First name")).to_have_text("Bob")
    expect(citizen.summary_value("Last name")).to_have_text("Brown")
    expect(citizen.summary_value("Date of birth")).to_have_text("2 November 1975")
    expect(citizen.summary_value("Address")).to_contain_text("BS1 4DJ")
    expect(citizen.page.get_by_text("Gender")).to_have_count(0)  # the service did not ask for it


def test_failed_account_creation_shows_a_page_then_the_citizen_is_not_signed_in(citizen: Citizen) -> None:
    citizen.reaches_idp(SELF_ASSESSMENT)
    citizen.signs_in_and_agrees("harry")
    citizen.sees_hub_page("Register for Self Assessment could not create an account for you")
    expect(citizen.button("Try another company")).to_have_count(0)
    citizen.goes_back_to_service()
    citizen.arrives_at_service("You have not been signed in")
    expect(citizen.summary_value("Outcome")).to_have_text("Not signed in")


def test_account_created_after_cycle3_includes_the_answer(citizen: Citizen) -> None:
    citizen.reaches_idp(PENSION)
    citizen.signs_in_and_agrees("bob")
    citizen.sees_hub_page("What is your National Insurance number?")
    citizen.gives_national_insurance_number("AB 65 43 21 C")
    citizen.arrives_at_service("Your account has been created")
    expect(citizen.summary_value("Outcome")).to_have_text("Account created")
    expect(citizen.summary_value("National Insurance number")).to_have_text("AB654321C")


def test_level_1_service_accepts_a_level_1_identity(citizen: Citizen) -> None:
    citizen.reaches_idp(REFUND)
    citizen.signs_in_and_agrees("carol")
    citizen.arrives_at_service("You are signed in")
    expect(citizen.summary_value("Record reference")).to_have_text("PAYE-1004")
    expect(citizen.summary_value("Level of assurance")).to_have_text("Level 1")


def test_identity_below_the_level_the_service_needs_is_refused(citizen: Citizen) -> None:
    citizen.reaches_idp(PAYE)
    citizen.signs_in_and_agrees("carol")  # verified to level 1 only
    citizen.sees_hub_page(f"{IDP_ONE} could not prove your identity well enough")
    expect(citizen.button("Try another company")).to_be_visible()
    citizen.goes_back_to_service()
    citizen.arrives_at_service("You have not been signed in")
    expect(citizen.summary_value("Outcome")).to_have_text("Not signed in")


def test_level_the_company_is_not_certified_for_is_refused(citizen: Citizen) -> None:
    citizen.starts_at(REFUND)
    citizen.says_what_they_have(UK_ADDRESS)
    citizen.chooses(IDP_THREE)  # certified for level 1 only
    citizen.signs_in_and_agrees("alice", level="Level 2")
    citizen.sees_hub_page(f"{IDP_THREE} could not prove your identity well enough")
    citizen.goes_back_to_service()
    citizen.arrives_at_service("You have not been signed in")
    expect(citizen.summary_value("Outcome")).to_have_text("Not signed in")


@IDP_OUTCOMES
def test_identity_provider_outcome_shows_its_hub_page_and_the_service_its_status(
    citizen: Citizen, outcome: str, hub_heading: str, service_heading: str, service_outcome: str
) -> None:
    citizen.reaches_idp(PAYE)
    citizen.returns_outcome(outcome)
    citizen.sees_hub_page(citizen.say(hub_heading, company=IDP_ONE))
    citizen.goes_back_to_service()
    citizen.arrives_at_service(service_heading)
    expect(citizen.summary_value("Outcome")).to_have_text(service_outcome)


def test_fraud_event_ends_the_journey_without_another_try(citizen: Citizen) -> None:
    citizen.reaches_idp(PAYE)
    citizen.signs_in("alice")
    citizen.agrees(level="Level X: report a fraud event", gpg45_status="IT01: identity theft")
    citizen.sees_hub_page("We could not confirm your identity")
    expect(citizen.button("Try another company")).to_have_count(0)
    citizen.goes_back_to_service()
    citizen.arrives_at_service("You have not been signed in")
    expect(citizen.summary_value("Outcome")).to_have_text("Not signed in")


def test_failed_sign_in_lets_the_citizen_try_another_company_and_match(citizen: Citizen) -> None:
    citizen.reaches_idp(PAYE)
    citizen.returns_outcome("Authentication failed")
    citizen.sees_hub_page(f"{IDP_ONE} could not confirm your identity")
    citizen.button("Try another company").click()
    citizen.sees_hub_page("Choose a certified company")
    # Stub Identity Provider Three is certified to level 1 only: not offered for a level 2 service.
    picker = citizen.page.get_by_role("group", name="Choose a certified company")
    expect(picker.locator("label")).to_have_text([IDP_ONE, IDP_FOUR, IDP_TWO])
    citizen.chooses(IDP_TWO)
    citizen.signs_in_and_agrees("alice")
    citizen.arrives_at_service("You are signed in")
    expect(citizen.summary_value("Record reference")).to_have_text("PAYE-1001")


def test_questions_need_an_answer_and_the_picker_marks_companies_likely_to_work(citizen: Citizen) -> None:
    citizen.starts_at(REFUND)  # a level 1 service: every company is offered
    citizen.button("Start now").click()
    citizen.sees_hub_page("Which of these do you have?")
    citizen.button("Continue").click()
    citizen.sees_hub_page("Which of these do you have?")
    citizen.sees_error_linked_to(
        citizen.page.get_by_label(PHOTO_ID, exact=True),
        "Select which of these you have, or select ‘None of these’",
        group=citizen.page.get_by_role("group", name="Which of these do you have?"),
    )

    citizen.page.get_by_label(UK_ADDRESS, exact=True).check()
    citizen.button("Continue").click()
    citizen.sees_hub_page("Choose a certified company")
    picker = citizen.page.get_by_role("group", name="Choose a certified company")
    expect(picker.get_by_role("radio")).to_have_count(4)
    expect(picker.locator("label")).to_have_text([IDP_THREE, IDP_ONE, IDP_TWO, IDP_FOUR])  # recommended first
    expect(citizen.page.get_by_label(IDP_THREE, exact=True)).to_have_accessible_description(re.compile("^Recommended"))
    for company in (IDP_ONE, IDP_TWO, IDP_FOUR):
        expect(citizen.page.get_by_label(company, exact=True)).to_have_accessible_description(
            re.compile("^Unlikely to work for you")
        )

    citizen.button("Continue").click()
    citizen.sees_hub_page("Choose a certified company")
    citizen.sees_error_linked_to(
        citizen.page.get_by_label(IDP_THREE, exact=True), "Select a certified company", group=picker
    )
