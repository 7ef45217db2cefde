"""The hub's pages off the main path: an expired session, information pages and a page that does not exist."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.citizen import PAYE, PHOTO_ID, Citizen
from tests.browser.conftest import DROPPED_STATIC_FILE

pytestmark = DROPPED_STATIC_FILE


def test_expired_session_asks_the_citizen_to_start_again_at_their_service(citizen: Citizen) -> None:
    citizen.starts_at(PAYE)
    citizen.button("Start now").click()
    citizen.sees_hub_page("Which of these do you have?")
    citizen.page.context.clear_cookies(name="hub_journey")  # as when the journey cookie expires
    citizen.page.reload()
    citizen.sees_hub_page("You need to start again")
    citizen.button("Go back to Check your PAYE tax").click()
    citizen.sees_service_page("Check your PAYE tax")
    expect(citizen.button("Start now")).to_be_visible()


def test_information_pages_are_reachable_from_the_journey_and_pass_axe(citizen: Citizen) -> None:
    citizen.starts_at(PAYE)
    citizen.says_what_they_have(PHOTO_ID)
    citizen.page.get_by_text("About certified companies", exact=True).click()  # the details' summary
    citizen.page.get_by_role("link", name="More about certified companies").click()
    citizen.sees_hub_page("About certified companies")
    citizen.page.get_by_role("link", name="Back").click()
    citizen.sees_hub_page("Choose a certified company")

    footer = citizen.page.get_by_role("contentinfo")
    footer.get_by_role("link", name="Cookies").click()
    citizen.sees_hub_page("Cookies")
    expect(citizen.page.get_by_role("cell", name="hub_journey", exact=True)).to_be_visible()
    footer.get_by_role("link", name="Privacy").click()
    citizen.sees_hub_page("Privacy notice")


def test_unknown_hub_address_shows_page_not_found(citizen: Citizen) -> None:
    response = citizen.page.goto(f"{citizen.hub}/no-such-page")
    assert response is not None and response.status == 404
    citizen.sees_hub_page("Page not found")
