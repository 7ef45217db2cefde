"""The waiting page while a matching service is slower than the hub waits: with JavaScript it tells the citizen
it is still checking without reloading, then reaches the page the hub shows when the wait runs out, which offers
a way on; without JavaScript it reloads itself until then."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.citizen import MATCHING_WAIT_MS, PAYE, WAITING, Citizen
from tests.browser.conftest import DROPPED_STATIC_FILE, federation_running
from tests.browser.test_waiting_page import MOVING_ON, loads_of_the_waiting_page
from tests.support import LiveFederation, RedisServer

pytestmark = DROPPED_STATIC_FILE
TIMED_OUT = "Sorry, there is a problem with the service"


@pytest.fixture(scope="module")
def live(keys_dir: Path, redis_server: RedisServer) -> Iterator[LiveFederation]:
    """The stub matching service answers for anyone born in 1968 after 13 seconds: longer than the hub's wait
    (10 seconds), so the citizen waits long enough to hear how it is going, and then the wait runs out."""
    with federation_running(keys_dir, redis_server, slow_matching_seconds=13) as federation:
        yield federation


@pytest.mark.parametrize("page", ["javascript"], indirect=True)
def test_with_javascript_the_wait_is_told_without_a_reload_and_its_end_offers_a_way_on(citizen: Citizen) -> None:
    page = citizen.page
    citizen.reaches_idp(PAYE)
    requests = loads_of_the_waiting_page(page)
    citizen.signs_in_and_agrees("sam")  # born in 1968
    expect(citizen.heading).to_have_text(WAITING)
    citizen.audit()
    page.evaluate("window.stillTheSamePage = true")
    check_again = page.get_by_role("link", name="Check again")
    check_again.focus()

    status = page.get_by_role("status")
    expect(status).to_have_text(re.compile(r"^Still checking your details\. It has taken \d+ seconds so far\.$"))
    assert page.evaluate("window.stillTheSamePage") is True
    expect(check_again).to_be_focused()
    expect(status).to_have_text(MOVING_ON, timeout=MATCHING_WAIT_MS)
    assert page.evaluate("window.stillTheSamePage") is True
    expect(check_again).to_be_focused()

    expect(page).to_have_url(f"{citizen.hub}/could-not-check-your-details", timeout=MATCHING_WAIT_MS)
    citizen.sees_hub_page(TIMED_OUT)
    expect(citizen.button(f"Go back to {citizen.service_name}")).to_be_visible()
    assert requests.count("document") == 1, requests  # the waiting page was loaded once, and never again
    assert requests.count("fetch") >= 3, requests
    citizen.goes_back_to_service()
    citizen.arrives_at_service("You have not been signed in")


@pytest.mark.parametrize("page", ["no-javascript"], indirect=True)
def test_without_javascript_the_page_reloads_itself_until_the_wait_runs_out(citizen: Citizen) -> None:
    citizen.reaches_idp(PAYE)
    requests = loads_of_the_waiting_page(citizen.page)
    citizen.signs_in_and_agrees("sam")
    expect(citizen.heading).to_have_text(WAITING)
    citizen.sees_hub_page(TIMED_OUT)
    assert requests.count("document") >= 3 and "fetch" not in requests, requests
    citizen.goes_back_to_service()
    citizen.arrives_at_service("You have not been signed in")
