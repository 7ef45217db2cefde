"""A citizen in a real browser: clicks through the federation as a person would, with or without JavaScript.

With JavaScript the SAML hops ("Continue to …", "Returning you to …") post themselves and the citizen never
presses their button; without it the citizen presses it. The hub's waiting page moves on by itself either way:
with JavaScript its script asks the hub and goes on when matching has answered; without, it reloads itself.
With JavaScript on, axe-core checks every page the citizen reaches, the hub's and the stubs' (axe needs
JavaScript to run: ``check_accessibility`` on a page without it never returns).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from federation.web.catalogues import APPS
from federation.web.language import ENGLISH, WELSH, translations_for
from tests.support import LiveFederation

PAYE = ("check-your-paye-tax", "Check your PAYE tax")
REFUND = ("claim-a-tax-refund", "Claim a tax refund")
SELF_ASSESSMENT = ("register-for-self-assessment", "Register for Self Assessment")
PENSION = ("view-your-state-pension", "View your State Pension")

IDP_ONE = "Stub Identity Provider One"
IDP_TWO = "Stub Identity Provider Two"
IDP_THREE = "Stub Identity Provider Three"
IDP_FOUR = "Stub Identity Provider Four"

PHOTO_ID = "A UK passport or photocard driving licence"
UK_ADDRESS = "A UK address where you have lived for more than a year"

WAITING = "We are checking your details"
# Each answer a company can give other than success, as the stub IDP's button names it: the hub's exit page, then
# the service's heading and the outcome it shows (catalogue messages: ``say(..., company=...)`` fills them in).
IDP_OUTCOMES = pytest.mark.parametrize(
    ("outcome", "hub_heading", "service_heading", "service_outcome"),
    [
        ("Cancel", "You did not finish proving your identity", "You have not been signed in", "Not signed in"),
        (
            "Authentication failed",
            "%(company)s could not confirm your identity",
            "The company could not confirm your identity",
            "Authentication failed",
        ),
        (
            "Registration pending",
            "You have saved your progress with %(company)s",
            "You have not been signed in",
            "Not signed in",
        ),
        (
            "Requester error",
            "A technical problem stopped %(company)s checking your identity",
            "Sorry, there is a problem with the service",
            "Request error",
        ),
    ],
    ids=["cancel", "authentication-failed", "registration-pending", "requester-error"],
)
# Pages axe has passed in this run, by address, title and text, give or take identifiers that differ every time
# (pairwise identifiers, references of records made by account creation).
PASSED_AXE: set[tuple[str, str, str]] = set()
VARYING = re.compile(r"\b(?:[0-9a-f]{64}|PAYE-9\d+)\b")
# Long enough for a slow matching service's answer, or the hub giving up on it (10 seconds by default).
MATCHING_WAIT_MS = 20_000
# Every app's Welsh, each app's catalogue before the shared one: what a Welsh-reading citizen reads and clicks.
WELSH_WORDS = translations_for([app.translations for app in (*APPS[1:], APPS[0])], WELSH)


def words_in(language: str, text: str, **values: str) -> str:
    """``text`` (a catalogue message, ``%(name)s`` filled from ``values``) as a page in ``language`` says it.

    A message with no Welsh fails the test at once: a Welsh journey must never fall back to English unseen.
    """
    said = text
    if language == WELSH:
        said = WELSH_WORDS.gettext(text)
        if said == text:
            raise AssertionError(f"no Welsh for {text!r} in the catalogues")
    return said % values if values else said


def one_of(*texts: str) -> re.Pattern[str]:
    """Matches an element whose whole text, give or take surrounding white space, is one of ``texts``."""
    return re.compile(r"^\s*(?:" + "|".join(re.escape(text) for text in texts) + r")\s*$")


@dataclass
class Citizen:
    """One citizen's browser tab. ``audited`` lists the h1 of every page checked with axe, in order."""

    page: Page
    live: LiveFederation
    javascript: bool
    check_accessibility: Callable[[Page], None]
    service: tuple[str, str] = PAYE
    language: str = ENGLISH
    audited: list[str] = field(default_factory=list)
    _held: list[Route] = field(default_factory=list)
    _pass_next_refresh: bool = False
    _holding: bool = False
    forms_post_themselves: bool = field(init=False)

    def __post_init__(self) -> None:
        self.forms_post_themselves = self.javascript

    def say(self, text: str, **values: str) -> str:
        """``text`` in the language this citizen reads (``words_in``)."""
        return words_in(self.language, text, **values)

    def blocks_self_posting_forms(self) -> None:
        """As when the page's script fails to load: the SAML hops wait for the citizen to press their button."""
        self.page.route("**/federation-static/auto-submit.js", lambda route: route.abort())
        self.forms_post_themselves = False

    # Where things are

    @property
    def hub(self) -> str:
        return self.live.urls["hub"]

    @property
    def service_name(self) -> str:
        """The service's name as this citizen reads it: the federation file's Welsh name, when it gives one."""
        slug, english = self.service
        for entry in self.live.federation.file.relying_services:
            if entry.entity_id.endswith(f"/{slug}/SAML2/metadata"):
                return entry.in_language(self.language).display_name
        return english

    @property
    def heading(self) -> Locator:
        return self.page.get_by_role("heading", level=1)

    def button(self, name: str) -> Locator:
        return self.page.get_by_role("button", name=name, exact=True)

    def summary_value(self, key: str) -> Locator:
        """The value beside ``key`` in a summary list, as a citizen reads the row."""
        row = self.page.locator(".govuk-summary-list__row").filter(
            has=self.page.locator("dt", has_text=re.compile(rf"^\s*{re.escape(key)}\s*$"))
        )
        return row.locator("dd")

    # Checks

    def audit(self) -> None:
        """axe-core on the page as it stands: zero WCAG 2.2 A and AA violations (axe needs JavaScript to run).

        A page identical to one that has already passed (same address, title and text) is not checked again:
        the start page, the questions and the picker are the same in most journeys.
        """
        if not self.javascript:
            return
        heading = self.heading.inner_text()
        try:
            text = VARYING.sub("…", self.page.locator("main").inner_text())
            page = (self.page.url.split("?")[0], self.page.title(), text)
            if page not in PASSED_AXE:
                self.check_accessibility(self.page)
                PASSED_AXE.add(page)
        finally:
            self._release_refresh()
        self.audited.append(heading)

    def sees_hub_page(self, heading: str) -> None:
        """The hub page headed ``heading``, after any waiting page; every hub page passes axe."""
        self._settle(heading)
        expect(self.page).to_have_url(re.compile("^" + re.escape(self.hub + "/")))
        self.audit()

    def sees_service_page(self, heading: str) -> None:
        expect(self.heading).to_have_text(heading)
        expect(self.page).to_have_url(re.compile("^" + re.escape(self.live.urls["stub_service"] + "/")))
        self.audit()

    def sees_idp_page(self, heading: str) -> None:
        expect(self.heading).to_have_text(heading)
        expect(self.page).to_have_url(re.compile("^" + re.escape(self.live.urls["stub_idp"] + "/")))
        self.audit()

    def sees_error_linked_to(self, field: Locator, message: str, *, group: Locator | None = None) -> None:
        """The Design System's error pattern: the title starts 'Error: ', a 'There is a problem' summary whose
        link moves to ``field``, and the message read out with the field (or the ``group`` it belongs to)."""
        expect(self.page).to_have_title(re.compile("^" + re.escape(self.say("Error") + ": ")))
        summary = self.page.get_by_role("alert")
        expect(summary.get_by_role("heading", name=self.say("There is a problem"))).to_be_visible()
        expect(group or field).to_have_accessible_description(re.compile(re.escape(message)))
        summary.get_by_role("link", name=message, exact=True).click()
        if self.javascript:  # GOV.UK Frontend's error summary moves the focus to the field
            expect(field).to_be_focused()
        else:  # the link's fragment is the field
            expect(field.and_(self.page.locator(":target"))).to_have_count(1)

    # The journey, step by step

    def starts_at(self, service: tuple[str, str]) -> None:
        """From the service's start page to the hub's 'Prove your identity to continue'."""
        self.service = service
        self.page.goto(f"{self.live.urls['stub_service']}/{service[0]}/?lang={self.language}")
        self.sees_service_page(self.service_name)
        self.button(self.say("Start now")).click()
        self._through_saml_form(self.say("Continue to GOV.UK Sign in"))
        self.sees_hub_page(self.say("Prove your identity to continue"))
        expect(self.page.get_by_text(self.service_name, exact=True)).to_be_visible()

    def says_what_they_have(self, *evidence: str) -> None:
        """'Which of these do you have?': tick each of ``evidence`` and continue to the company picker."""
        self.button(self.say("Start now")).click()
        self.sees_hub_page(self.say("Which of these do you have?"))
        for label in evidence:
            self.page.get_by_label(self.say(label), exact=True).check()
        self.button(self.say("Continue")).click()
        self.sees_hub_page(self.say("Choose a certified company"))

    def chooses(self, company: str) -> None:
        """Pick ``company`` on the hub's picker and arrive at its sign-in page."""
        self.page.get_by_label(company, exact=True).check()
        self.button(self.say("Continue")).click()
        onward = self.say("Continue to %(company)s", company=company)
        self._through_saml_form(onward, button=onward)
        self.sees_idp_page(self.say("Sign in to %(company)s", company=company))

    def reaches_idp(self, service: tuple[str, str], company: str = IDP_ONE) -> None:
        """The usual way in: start at ``service``, say they have photo ID, choose ``company``."""
        self.starts_at(service)
        self.says_what_they_have(PHOTO_ID)
        self.chooses(company)

    def signs_in(self, username: str) -> None:
        self.page.get_by_label(self.say("Username")).fill(username)
        self.page.get_by_label(self.say("Password")).fill("password")
        self.button(self.say("Sign in")).click()
        self.sees_idp_page(self.say("Check the details you will share"))

    def agrees(self, level: str | None = None, gpg45_status: str | None = None) -> None:
        """Consent at the identity provider (optionally choosing the level to return) and go back to the hub."""
        if level is not None:
            self.page.get_by_label(level, exact=True).check()
        if gpg45_status is not None:
            self.page.get_by_label("GPG 45 fraud status").select_option(label=gpg45_status)
        self._hold_refreshes_until_audited()  # the hub may show its waiting page next
        self.button(self.say("I agree")).click()
        self._through_saml_form(self.say("Returning you to GOV.UK Sign in"))

    def signs_in_and_agrees(self, username: str, **consent: str) -> None:
        self.signs_in(username)
        self.agrees(**consent)

    def returns_outcome(self, outcome: str) -> None:
        """One of the identity provider's 'Other outcomes' buttons, instead of signing in."""
        others = self.say("Other outcomes")
        expect(self.page.get_by_role("heading", name=others)).to_be_visible()
        self.page.get_by_role("form", name=others).get_by_role("button", name=self.say(outcome), exact=True).click()
        self._through_saml_form(self.say("Returning you to GOV.UK Sign in"))

    def gives_national_insurance_number(self, value: str) -> None:
        self.page.get_by_label(self.say("What is your National Insurance number?")).fill(value)
        self.button(self.say("Continue")).click()

    def goes_back_to_service(self) -> None:
        """From a hub exit page: 'Go back to <service>'."""
        self.button(self.say("Go back to %(service)s", service=self.service_name)).click()

    def arrives_at_service(self, heading: str) -> None:
        """The hub answers the service: through any waiting page and the hub's self-posting form."""
        if self.forms_post_themselves:
            self._settle(heading)
        else:
            self._settle(
                self.say("Your identity has been confirmed"),
                self.say("Returning you to %(service)s", service=self.service_name),
            )
            self.audit()
            self.button(self.say("Continue to %(service)s", service=self.service_name)).click()
        self.sees_service_page(heading)

    # SAML hops and the waiting page

    def _through_saml_form(self, title: str, button: str | None = None) -> None:
        """A page whose form carries a SAML message: it posts itself with JavaScript; without, press its button."""
        if self.forms_post_themselves:
            return
        expect(self.heading).to_have_text(title)
        self.audit()
        self.button(button or self.say("Continue")).click()

    def _settle(self, *headings: str) -> None:
        """Wait for a page headed one of ``headings``, auditing each waiting page shown on the way.

        The waiting page moves on by itself when the answer is there, with or without JavaScript.
        """
        if not self.javascript:  # nothing to audit: just wait for the refreshes to bring the answer
            expect(self.heading).to_have_text(one_of(*headings), timeout=MATCHING_WAIT_MS)
            return
        waiting = self.say(WAITING)
        while True:
            expect(self.heading).to_have_text(one_of(waiting, *headings), timeout=MATCHING_WAIT_MS)
            if self.heading.inner_text().strip() != waiting:
                return
            expect(self.page).to_have_url(f"{self.hub}/response-processing")
            with self.page.expect_event("framenavigated", timeout=MATCHING_WAIT_MS):
                self.audit()  # then lets the held refresh go

    def _hold_refreshes_until_audited(self) -> None:
        """The waiting page's script goes back to it when matching has answered: hold that navigation until axe
        has read the page it would replace, so an audit never races a navigation. (Routing turns off the
        browser's cache, so only from the point where a waiting page can appear.)"""
        if self.javascript and not self._holding:
            self.page.route(f"{self.hub}/response-processing", self._hold_refresh)
            self._holding = True

    def _hold_refresh(self, route: Route) -> None:
        if self._pass_next_refresh:
            self._pass_next_refresh = False
            route.continue_()
        else:
            self._held.append(route)

    def _release_refresh(self) -> None:
        """Let the page just audited refresh: now if its refresh is being held, else when it asks."""
        if self._held:
            held, self._held = self._held, []
            for route in held:
                route.continue_()
        elif self.page.url.startswith(f"{self.hub}/response-processing"):
            self._pass_next_refresh = True
