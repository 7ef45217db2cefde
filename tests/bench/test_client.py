"""The benchmark's lean citizen (``bench/client.py``) walks the same journey as the tests' citizen, and fails
loudly, never silently, when a page is not what the journey expects."""

from __future__ import annotations

import statistics
import time

import pytest
import requests

from bench.client import JourneyFailedError, matched_journey, reading
from tests.support import LiveFederation


@pytest.mark.parametrize("think_seconds", [0.0, 0.02], ids=["at-once", "pausing-on-each-page"])
def test_the_lean_citizen_signs_alice_in_and_sees_her_record(
    live_federation: LiveFederation, think_seconds: float
) -> None:
    seen: list[str] = []

    def observe(response: requests.Response, *args: object, **kwargs: object) -> None:
        seen.append(response.url.split("?", 1)[0])

    assert matched_journey(live_federation.urls, observe, think_seconds) is True
    hub = live_federation.urls["hub"]
    assert [url[len(hub) :] for url in seen if url.startswith(hub)] == [
        "/SAML2/SSO",
        "/start",
        "/which-of-these-do-you-have",
        "/which-of-these-do-you-have",
        "/choose-a-certified-company",
        "/choose-a-certified-company",
        "/SAML2/SSO/Response/POST",
        "/response-processing",
    ]


def test_a_reading_pause_is_random_with_the_mean_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    pause = reading(0.25)
    for _ in range(4000):
        pause()
    assert len(set(slept)) == 4000 and min(slept) >= 0
    assert abs(statistics.fmean(slept) - 0.25) < 0.025  # 10%: six standard errors of 4,000 draws
    slept.clear()
    reading(0)()
    assert slept == []


def test_the_lean_citizen_stops_at_a_page_it_did_not_expect(live_federation: LiveFederation) -> None:
    wrong = {**live_federation.urls, "stub_idp": live_federation.urls["hub"]}  # a company the hub does not know
    with pytest.raises(JourneyFailedError, match="HTTP 400"):
        matched_journey(wrong)
