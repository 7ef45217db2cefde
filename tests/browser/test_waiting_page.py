"""The hub's waiting page while a slow matching service answers: it refreshes by itself, with or without JavaScript."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.citizen import REFUND, WAITING, Citizen
from tests.browser.conftest import DROPPED_STATIC_FILE, federation_running
from tests.support import LiveFederation, RedisServer

pytestmark = DROPPED_STATIC_FILE


@pytest.fixture(scope="module")
def live(keys_dir: Path, redis_server: RedisServer) -> Iterator[LiveFederation]:
    """The stub matching service answers for anyone born in 1968 after 3 seconds: slower than the hub waits
    before showing its waiting page, well within the hub's 10-second limit."""
    with federation_running(keys_dir, redis_server, slow_matching_seconds=3) as federation:
        yield federation


def test_waiting_page_refreshes_by_itself_until_the_matching_service_answers(citizen: Citizen) -> None:
    citizen.reaches_idp(REFUND)
    citizen.signs_in_and_agrees("sam")  # born in 1968
    expect(citizen.heading).to_have_text(WAITING)
    expect(citizen.page.get_by_text("This page will update by itself.", exact=False)).to_be_visible()
    citizen.arrives_at_service("We could not find your record")
    expect(citizen.summary_value("Outcome")).to_have_text("No match")
    if citizen.javascript:
        assert WAITING in citizen.audited
