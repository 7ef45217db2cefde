"""The stub apps' pages and the company picker's tags in a real browser, on a desktop and at 375 px: the stub
IDPs wear the company's own plain brand, not GOV.UK's; what should stay on one line does; axe finds nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urljoin

import pytest
import requests
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.citizen import IDP_ONE, PAYE, PHOTO_ID
from tests.browser.conftest import DROPPED_STATIC_FILE, check_accessibility
from tests.factories import b64, hub_authn_request
from tests.support import LiveFederation

pytestmark = DROPPED_STATIC_FILE
WIDTHS = {"desktop": 1280, "mobile": 375}
STUB_IDP_FOOTER = "A stub identity provider for testing GOV.UK Sign in. It is not a real certified company."


@pytest.fixture(params=list(WIDTHS))
def sized_page(request: pytest.FixtureRequest, chromium: Browser) -> Iterator[Page]:
    """A tab with JavaScript on (axe needs it) in a window as wide as a desktop's or a small phone's."""
    context = chromium.new_context(viewport={"width": WIDTHS[request.param], "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def lines(locator: Locator) -> int:
    """How many lines the element's text takes as laid out."""
    return int(
        locator.evaluate(
            "el => { const r = document.createRange(); r.selectNodeContents(el); return r.getClientRects().length }"
        )
    )


def top(locator: Locator) -> float:
    box = locator.bounding_box()
    assert box is not None
    return box["y"]


def wide(page: Page) -> bool:
    """Wider than a phone: a button group's actions sit in a row (on a phone they stack)."""
    return (page.viewport_size or {"width": 0})["width"] > WIDTHS["mobile"]


def wears_the_companys_brand(page: Page, name: str) -> None:
    """A header with the company's name and a plain footer; no GOV.UK crown, logotype, crest or licence."""
    expect(page.locator(".govuk-header, .govuk-logo, .govuk-footer, .govuk-footer__crown")).to_have_count(0)
    expect(page.locator(".govuk-footer__copyright-logo, .govuk-footer__licence-logo")).to_have_count(0)
    expect(page.get_by_role("banner").get_by_role("link")).to_have_text(name)
    expect(page.get_by_role("contentinfo")).to_have_text(STUB_IDP_FOOTER)


def idp_sign_in_url(live: LiveFederation, slug: str = "stub-idp-one") -> str:
    """The sign-in page of a request the hub has just sent ``slug``: a hub-signed AuthnRequest posted to it."""
    federation = live.federation
    entry = next(e for e in federation.file.identity_providers if e.sso_url.endswith(f"/{slug}/SAML2/SSO"))
    request = hub_authn_request(federation, entry)
    response = requests.post(entry.sso_url, data={"SAMLRequest": b64(request)}, allow_redirects=False, timeout=30)
    assert response.status_code == 303, response.status_code
    return urljoin(entry.sso_url, response.headers["Location"])


def test_stub_idp_pages_wear_the_companys_brand_and_pass_axe(sized_page: Page, live: LiveFederation) -> None:
    page = sized_page
    page.goto(f"{live.urls['stub_idp']}/")
    expect(page).to_have_title("Stub identity providers")
    wears_the_companys_brand(page, "Stub identity providers")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS["desktop" if wide(page) else "mobile"]
    check_accessibility(page)

    page.goto(idp_sign_in_url(live))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sign in to {IDP_ONE}")
    wears_the_companys_brand(page, IDP_ONE)
    check_accessibility(page)
    sign_in = page.get_by_role("button", name="Sign in", exact=True)
    register = page.get_by_role("link", name="Register a new test user")
    if wide(page):
        assert abs(top(sign_in) - top(register)) < 20

    register.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Register a new test user")
    wears_the_companys_brand(page, IDP_ONE)
    expect(page.get_by_label("Last name", exact=True)).to_be_visible()
    check_accessibility(page)

    page.go_back()
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("password")
    sign_in.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check the details you will share")
    wears_the_companys_brand(page, IDP_ONE)
    check_accessibility(page)


def test_company_picker_tags_stay_on_one_line(sized_page: Page, live: LiveFederation) -> None:
    page = sized_page
    page.goto(f"{live.urls['stub_service']}/{PAYE[0]}/")
    page.get_by_role("button", name="Start now").click()  # the SAML form posts itself to the hub's start page
    expect(page).to_have_url(re.compile("^" + re.escape(live.urls["hub"] + "/")))
    page.goto(f"{live.urls['hub']}/which-of-these-do-you-have")
    page.get_by_label(PHOTO_ID, exact=True).check()
    page.get_by_role("button", name="Continue", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a certified company")
    check_accessibility(page)

    tags = page.locator(".govuk-radios__hint .govuk-tag")
    expect(tags.filter(has_text="Unlikely to work for you")).not_to_have_count(0)
    for tag in tags.all():
        assert lines(tag) == 1, tag.inner_text()
    unlikely = page.get_by_label("Stub Identity Provider Two", exact=True)
    expect(unlikely).to_have_accessible_description(re.compile(r"^Unlikely to work for you\s+Uses an app"))


def test_department_records_keep_references_whole_and_buttons_in_line(sized_page: Page, live: LiveFederation) -> None:
    page = sized_page
    page.goto(f"{live.urls['stub_service']}/hmrc/records")
    references = page.locator("#records tbody th")
    expect(references.first).to_have_text(re.compile(r"^PAYE-\d+$"))
    for reference in references.all():
        assert lines(reference) == 1, reference.inner_text()
    add, forget = page.locator("#add-record"), page.locator("#forget-added")
    if wide(page):
        assert top(add) == top(forget)
    check_accessibility(page)


def test_stub_service_footer_puts_the_crown_just_above_the_licence(sized_page: Page, live: LiveFederation) -> None:
    page = sized_page
    page.goto(f"{live.urls['stub_service']}/")
    crown = page.locator("footer .govuk-footer__crown").bounding_box()
    licence = page.locator("footer .govuk-footer__licence-logo").bounding_box()
    assert crown is not None and licence is not None
    assert 0 <= licence["y"] - (crown["y"] + crown["height"]) <= 30  # the crown's own margin, no more
    check_accessibility(page)
