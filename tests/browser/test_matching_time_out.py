"""A matching service too slow for the hub: the waiting page gives way to a page saying so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.citizen import PAYE, WAITING, Citizen
from tests.browser.conftest import DROPPED_STATIC_FILE, federation_running
from tests.support import LiveFederation, RedisServer, federation_file_with

pytestmark = DROPPED_STATIC_FILE


@pytest.fixture(scope="module")
def live(
    keys_dir: Path, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveFederation]:
    """The hub waits 3 seconds for a matching service, longer than it holds the citizen's request before showing
    its waiting page; the stub matching service answers for anyone born in 1968 after 6."""
    federation_file = federation_file_with(tmp_path_factory.mktemp("federation"), matching_timeout_seconds=3)
    with federation_running(
        keys_dir, redis_server, federation_file=federation_file, slow_matching_seconds=6
    ) as federation:
        yield federation


def test_matching_service_too_slow_shows_a_problem_page_and_the_citizen_is_not_signed_in(citizen: Citizen) -> None:
    citizen.reaches_idp(PAYE)
    citizen.signs_in_and_agrees("sam")  # born in 1968
    expect(citizen.heading).to_have_text(WAITING)
    citizen.sees_hub_page("Sorry, there is a problem with the service")
    expect(citizen.page.get_by_text("Check your PAYE tax could not check your details just now.")).to_be_visible()
    citizen.goes_back_to_service()
    citizen.arrives_at_service("You have not been signed in")
    expect(citizen.summary_value("Outcome")).to_have_text("Not signed in")
