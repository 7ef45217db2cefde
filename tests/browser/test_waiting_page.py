"""The hub's waiting page while a slow matching service answers: it moves on by itself, with or without
JavaScript. With JavaScript it asks the hub and is never reloaded; without, it reloads itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, expect

from tests.browser.citizen import MATCHING_WAIT_MS, REFUND, WAITING, Citizen
from tests.browser.conftest import DROPPED_STATIC_FILE, federation_running
from tests.support import LiveFederation, RedisServer

pytestmark = DROPPED_STATIC_FILE
MOVING_ON = "Checking has finished. Taking you to the next page."


@pytest.fixture(scope="module")
def live(keys_dir: Path, redis_server: RedisServer) -> Iterator[LiveFederation]:
    """The stub matching service answers for anyone born in 1968 after 3 seconds: slower than the hub waits
    before showing its waiting page, well within the hub's 10-second limit."""
    with federation_running(keys_dir, redis_server, slow_matching_seconds=3) as federation:
        yield federation


def loads_of_the_waiting_page(page: Page) -> list[str]:
    """The resource type of each request for the waiting page's address from now on: "document" for a load
    (the first, a reload, or the move on), "fetch" for its script's question."""
    seen: list[str] = []

    def note(request: Request) -> None:
        if request.url.split("?")[0].endswith(("/response-processing", "/response-processing/status")):
            seen.append(request.resource_type)

    page.on("request", note)
    return seen


def test_waiting_page_refreshes_by_itself_until_the_matching_service_answers(citizen: Citizen) -> None:
    citizen.reaches_idp(REFUND)
    citizen.signs_in_and_agrees("sam")  # born in 1968
    expect(citizen.heading).to_have_text(WAITING)
    expect(citizen.page.get_by_text("This page will update by itself.", exact=False)).to_be_visible()
    citizen.arrives_at_service("We could not find your record")
    expect(citizen.summary_value("Outcome")).to_have_text("No match")
    if citizen.javascript:
        assert WAITING in citizen.audited


@pytest.mark.parametrize("page", ["javascript"], indirect=True)
def test_with_javascript_the_page_is_not_reloaded_keeps_focus_and_announces_the_answer(citizen: Citizen) -> None:
    page = citizen.page
    citizen.reaches_idp(REFUND)
    requests = loads_of_the_waiting_page(page)
    citizen.signs_in_and_agrees("sam")
    expect(citizen.heading).to_have_text(WAITING)
    page.evaluate("window.stillTheSamePage = true")  # a reload would lose it
    check_again = page.get_by_role("link", name="Check again")
    check_again.focus()
    live_regions = page.locator("[aria-live], [role='status'], [role='alert'], [role='log']")
    expect(live_regions).to_have_count(1)
    # The answer comes while the page stays: told through the live region, focus where the citizen left it.
    # (The citizen's browser holds the move on until axe has read the waiting page: arrives_at_service.)
    expect(page.get_by_role("status")).to_have_text(MOVING_ON, timeout=MATCHING_WAIT_MS)
    assert page.evaluate("window.stillTheSamePage") is True
    expect(check_again).to_be_focused()
    citizen.arrives_at_service("We could not find your record")
    assert requests.count("document") == 2, requests  # arriving, and moving on: no reload in between
    assert requests.count("fetch") >= 1, requests


@pytest.mark.parametrize("page", ["no-javascript"], indirect=True)
def test_without_javascript_the_page_reloads_itself_until_the_answer(citizen: Citizen) -> None:
    citizen.reaches_idp(REFUND)
    requests = loads_of_the_waiting_page(citizen.page)
    citizen.signs_in_and_agrees("sam")
    expect(citizen.heading).to_have_text(WAITING)
    expect(citizen.page.get_by_role("link", name="Check again")).to_be_visible()
    citizen.arrives_at_service("We could not find your record")
    assert requests.count("document") >= 2 and "fetch" not in requests, requests  # reloaded: the meta refresh
