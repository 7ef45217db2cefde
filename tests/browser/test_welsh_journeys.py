"""The whole journey in Welsh, in Chromium, with JavaScript on and off.

A citizen who chooses Cymraeg on the service's start page reads every page after it in Welsh: the service's, the
hub's, the identity provider's (the hub posts the language with its AuthnRequest, and nothing about the service)
and the service's again. On each page: ``lang="cy"``, no sentence of the English catalogues left untranslated,
and, with JavaScript on, axe (``Citizen.audit``). The citizen reads buttons and headings from the catalogues
(``words_in``), so a message with no Welsh fails the test.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from federation.config import DEFAULT_FEDERATION_FILE, validate_federation_file
from federation.web.catalogues import APPS, read
from federation.web.language import WELSH
from tests.browser.citizen import IDP_ONE, IDP_OUTCOMES, PAYE, PHOTO_ID, SELF_ASSESSMENT, Citizen, words_in
from tests.browser.conftest import DROPPED_STATIC_FILE, check_accessibility
from tests.support import LiveFederation

pytestmark = DROPPED_STATIC_FILE

_PLACEHOLDER_OR_MARKUP = re.compile(r"%\(\w+\)[sd]|<[^>]+>")


def _english_sentences() -> list[str]:
    """Every English message of the catalogues whose Welsh differs, in the pieces around its placeholders and
    markup that are long enough to be English by themselves (three words or more); and the federation file's
    names and descriptions that it gives in Welsh too."""
    file = validate_federation_file(DEFAULT_FEDERATION_FILE, None)
    entries = [*file.identity_providers, *file.relying_services, *file.departments]
    pieces = {
        getattr(entry, field)
        for entry in entries
        for field, welsh in entry.welsh.model_dump().items()
        if welsh and getattr(entry, field, None)
    }
    for app in APPS:
        for message in read(app):
            if not message.id or message.pluralizable:
                continue
            if message.string == message.id:
                continue
            for piece in _PLACEHOLDER_OR_MARKUP.split(str(message.id)):
                piece = piece.strip(" .,:;‘’'\"()")
                if len(piece.split()) >= 3:
                    pieces.add(piece)
    return sorted(pieces, key=len, reverse=True)


ENGLISH_SENTENCES = _english_sentences()


def assert_in_welsh(page: Page) -> None:
    """The page is marked Welsh and shows no English sentence from the catalogues."""
    expect(page.locator("html")).to_have_attribute("lang", WELSH)
    text = " ".join(page.locator("body").inner_text().split())
    left = [sentence for sentence in ENGLISH_SENTENCES if sentence in text]
    assert not left, f"{page.url} still says, in English: {left[:5]}"


class WelshCitizen(Citizen):
    """A citizen reading Welsh: every page they reach is checked to be in Welsh before axe reads it (until they
    switch back to English)."""

    def audit(self) -> None:
        if self.language == WELSH:
            assert_in_welsh(self.page)
        super().audit()


@pytest.fixture()
def welsh(page: Page, live: LiveFederation, request: pytest.FixtureRequest) -> WelshCitizen:
    javascript = request.node.callspec.params["page"] == "javascript"
    return WelshCitizen(page, live, javascript=javascript, check_accessibility=check_accessibility, language=WELSH)


def test_a_matched_citizen_goes_through_every_page_in_welsh(welsh: WelshCitizen) -> None:
    welsh.reaches_idp(PAYE, IDP_ONE)
    welsh.signs_in_and_agrees("alice")
    welsh.arrives_at_service(welsh.say("You are signed in"))
    expect(welsh.summary_value(welsh.say("Record reference"))).to_have_text("PAYE-1001")


def test_the_cycle3_question_and_its_error_are_in_welsh(welsh: WelshCitizen) -> None:
    welsh.reaches_idp(PAYE, IDP_ONE)
    welsh.signs_in_and_agrees("erin")
    question = welsh.say("What is your National Insurance number?")
    welsh.sees_hub_page(question)
    welsh.gives_national_insurance_number("")
    welsh.sees_hub_page(question)
    welsh.sees_error_linked_to(welsh.page.get_by_label(question), welsh.say("Enter your National Insurance number"))
    welsh.gives_national_insurance_number("SE 12 34 56 C")
    welsh.arrives_at_service(welsh.say("You are signed in"))
    expect(welsh.summary_value(welsh.say("Record reference"))).to_have_text("PAYE-1005")


def test_account_creation_shows_the_details_and_the_date_of_birth_in_welsh(welsh: WelshCitizen) -> None:
    welsh.reaches_idp(SELF_ASSESSMENT, IDP_ONE)
    welsh.signs_in_and_agrees("bob")
    welsh.arrives_at_service(welsh.say("Your account has been created"))
    expect(welsh.summary_value(welsh.say("Date of birth"))).to_have_text("2 Tachwedd 1975")


@IDP_OUTCOMES
def test_each_answer_from_the_company_has_its_exit_page_and_the_services_page_in_welsh(
    welsh: WelshCitizen, outcome: str, hub_heading: str, service_heading: str, service_outcome: str
) -> None:
    welsh.reaches_idp(PAYE, IDP_ONE)
    welsh.returns_outcome(outcome)
    welsh.sees_hub_page(welsh.say(hub_heading, company=IDP_ONE))
    welsh.goes_back_to_service()
    welsh.arrives_at_service(welsh.say(service_heading))
    expect(welsh.summary_value(welsh.say("Outcome"))).to_have_text(welsh.say(service_outcome))


def test_the_choice_of_welsh_can_be_undone_on_any_page(welsh: WelshCitizen) -> None:
    welsh.starts_at(PAYE)
    welsh.page.get_by_role("link", name="Change the language to English").click()
    expect(welsh.page.locator("html")).to_have_attribute("lang", "en")
    expect(welsh.heading).to_have_text(words_in("en", "Prove your identity to continue"))
    welsh.language = "en"
    welsh.says_what_they_have(PHOTO_ID)
