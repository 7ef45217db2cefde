"""The dashboard's words: a count takes the noun's singular only for one, and the time to sign in is the band
the median falls in (the counters keep duration bands, not times), never a band's bound shown as a time."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest
from flask import Flask

from hub import operations
from hub.operations import charts
from hub.operations.dashboard import MATCHING_SEGMENTS
from hub.stats import StatsSink
from tests.operations.conftest import DashboardPage, read_dashboard

SERVICE = "http://service.you-forgot-to-start-it.invalid/check-your-paye-tax/SAML2/metadata"
IDP = "http://idp.you-forgot-to-start-it.invalid/stub-idp-one/SAML2/metadata"


@pytest.fixture()
def ops(app_config: dict[str, object]) -> Flask:
    return operations.create_app(app_config)


def _journeys(ops: Flask, *, signed_in: Sequence[float] = (), not_signed_in: int = 0) -> DashboardPage:
    """The dashboard for the last hour after journeys signed in after each of ``signed_in`` seconds, and
    ``not_signed_in`` that the company could not verify, as the hub's auditor writes them."""
    sink = StatsSink(ops.extensions["runtime"].store, flush_seconds=0)
    now = time.time()
    outcomes = [("matched", "matching", seconds) for seconds in signed_in]
    outcomes += [("authn-failed", "authn-failed", 40.0)] * not_signed_in
    for index, (outcome, idp_outcome, seconds) in enumerate(outcomes):
        fields = {"journey": f"journey-{index}", "relying_service": SERVICE, "idp": IDP, "at": now}
        sink.write({"event": "journey_started", **fields})
        sink.write({"event": "company_chosen", **fields})
        sink.write({"event": "idp_outcome", **fields, "outcome": idp_outcome})
        sink.write({"event": "response_sent", **fields, "outcome": outcome, "seconds": seconds})
    return read_dashboard(ops, "hour")


def test_counted_takes_the_singular_for_one_and_the_plural_otherwise() -> None:
    assert charts.counted(1, "journey") == "1 journey"
    assert charts.counted(0, "journey") == "0 journeys"
    assert charts.counted(2, "journey") == "2 journeys"
    assert charts.counted(1_234, "completed journey") == "1,234 completed journeys"
    assert charts.counted(1, "account created", "accounts created") == "1 account created"
    assert charts.counted(3, "account created", "accounts created") == "3 accounts created"


def test_one_journey_is_one_journey_on_every_card_and_chart(ops: Flask) -> None:
    page = _journeys(ops, signed_in=[12.0])

    assert page.card_hint("Signed in") == "1 of 1 completed journey"
    assert page.card_hint("Identity verified") == "1 of 1 company answer"
    services = page.soup.select_one('svg[aria-labelledby="services-chart-title"]')
    assert services is not None
    labels = [text.get_text(strip=True) for text in services.select("text")]
    assert "1 journey" in labels and "1 journeys" not in labels
    assert "Check your PAYE tax: 1 matched, 0 accounts created, 0 with no match, 0 errors" in page.chart_summary(
        "services"
    )
    assert "in 12 intervals" in page.chart_summary("over-time")


def test_the_matching_summary_counts_each_outcome_in_its_own_number() -> None:
    chart = charts.shares("services-chart", "Matching outcome", [("A service", [2, 1, 1, 3])], MATCHING_SEGMENTS)

    assert chart.summary == "Matching outcome. A service: 2 matched, 1 account created, 1 with no match, 3 errors."
    assert "7 journeys" in [text.text for text in chart.texts]


def test_the_median_time_to_sign_in_is_shown_as_its_band(ops: Flask) -> None:
    page = _journeys(ops, signed_in=[45.0, 50.0, 100.0], not_signed_in=2)

    assert page.card("Median time to sign in") == "30 s to 1 min"
    assert page.card_hint("Median time to sign in") == "at least half of the 3 sign-ins took 1 minute or less"


@pytest.mark.parametrize(
    ("signed_in", "band", "hint"),
    [
        ([20.0], "30 s or less", "the only sign-in took 30 seconds or less"),
        ([20.0, 25.0, 200.0, 250.0], "30 s or less", "at least half of the 4 sign-ins took 30 seconds or less"),
        ([90.0, 100.0, 250.0], "1 to 2 min", "at least half of the 3 sign-ins took 2 minutes or less"),
        ([1900.0, 2000.0, 20.0], "over 30 min", "more than half of the 3 sign-ins took over 30 minutes"),
        ([], "–", "no sign-ins in the period"),
    ],
)
def test_the_median_band_names_both_its_bounds_or_says_it_has_none(
    ops: Flask, signed_in: list[float], band: str, hint: str
) -> None:
    page = _journeys(ops, signed_in=signed_in, not_signed_in=1)  # journeys not signed in never count

    assert (page.card("Median time to sign in"), page.card_hint("Median time to sign in")) == (band, hint)
