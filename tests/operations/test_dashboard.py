"""The dashboard's figures match the journeys run through the live federation, with Redis and in memory."""

from __future__ import annotations

from tests.operations.conftest import (
    abandoned_at_the_hub,
    cancelled,
    cancelled_then_matched_at_another_company,
    matched,
    operations_for,
    read_dashboard,
)
from tests.support import LiveFederation


def test_dashboard_counts_three_matched_and_one_cancelled_journey(live_federation: LiveFederation) -> None:
    for _ in range(3):
        matched(live_federation)
    cancelled(live_federation)

    page = read_dashboard(operations_for(live_federation), "hour")

    assert page.card("Journeys started") == "4"
    assert page.card("Journeys completed") == "4"
    assert page.card("Signed in") == "75%" and page.card_hint("Signed in") == "3 of 4 completed journeys"
    assert page.card("Identity verified") == "75%"
    assert page.card("Median time to sign in") == "30 s or less"
    assert page.card_hint("Median time to sign in") == "at least half of the 3 sign-ins took 30 seconds or less"
    companies = page.table("companies")
    one = companies["Stub Identity Provider One"]
    assert (one["Chosen"], one["Answered"], one["Verified"], one["Cancelled"], one["Verified rate"]) == (
        "4",
        "4",
        "3",
        "1",
        "75%",
    )
    assert companies["Stub Identity Provider Two"]["Answered"] == "0"
    assert companies["Stub Identity Provider Two"]["Verified rate"] == "–"
    funnel = page.table("funnel")
    assert [row["Journeys"] for row in funnel.values()] == ["4", "4", "4", "3", "3", "3"]
    lost = {step: row["Lost at this step"] for step, row in funnel.items() if row["Lost at this step"] not in "0–"}
    assert lost == {"Identity verified": "1"}  # citizens drop out at the company, nowhere else
    assert funnel["Identity verified"]["Share lost"] == "25%"
    paye = page.table("services")["Check your PAYE tax"]
    assert (paye["Started"], paye["Identity verified"], paye["Matched"], paye["No match"], paye["Match rate"]) == (
        "4",
        "3",
        "3",
        "0",
        "100%",
    )
    assert paye["Signed in"] == "3"
    assert paye["Department"] == "HM Revenue and Customs"
    assert page.table("services")["View your State Pension"]["Department"] == "Department for Work and Pensions"
    assert page.table("services")["Claim a tax refund"]["Started"] == "0"
    over_time = page.table("over-time")
    assert sum(int(row["Started"]) for row in over_time.values()) == 4
    assert sum(int(row["Completed"]) for row in over_time.values()) == 4
    assert "4 started and 4 completed" in page.chart_summary("over-time")
    assert "Identity verified: 3, 1 lost (25%)" in page.chart_summary("funnel")


def test_a_citizen_who_tries_a_second_company_counts_once_in_the_funnel(live_federation: LiveFederation) -> None:
    cancelled_then_matched_at_another_company(live_federation)
    abandoned_at_the_hub(live_federation)  # so that counting choices, not journeys, would show in the funnel

    page = read_dashboard(operations_for(live_federation), "day")

    assert [row["Journeys"] for row in page.table("funnel").values()] == ["2", "1", "1", "1", "1", "1"]
    assert page.table("funnel")["Chose a company"]["Share lost"] == "50%"
    companies = page.table("companies")
    assert companies["Stub Identity Provider One"]["Cancelled"] == "1"
    assert companies["Stub Identity Provider One"]["Verified rate"] == "0%"
    assert companies["Stub Identity Provider Two"]["Verified rate"] == "100%"
    assert page.card("Identity verified") == "50%"  # two answers from companies, one of them verified
    assert page.card("Signed in") == "100%"  # of journeys completed: the abandoned one is not


def test_every_period_shows_the_journeys_of_the_last_hour(live_federation: LiveFederation) -> None:
    matched(live_federation)
    app = operations_for(live_federation)
    for period, label in (
        ("hour", "Last hour"),
        ("day", "Last 24 hours"),
        ("week", "Last 7 days"),
        ("month", "Last 30 days"),
    ):
        page = read_dashboard(app, period)
        assert page.card("Journeys started") == "1", period
        assert page.description.startswith(f"{label}: from "), page.description
