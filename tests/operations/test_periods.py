"""Each period counts only what happened in it: events in older buckets stay out of shorter periods."""

from __future__ import annotations

import time

import pytest
from flask import Flask

from hub import operations
from hub.stats import StatsSink
from tests.operations.conftest import read_dashboard
from tests.support import RedisServer

SERVICE = "http://service.you-forgot-to-start-it.invalid/check-your-paye-tax/SAML2/metadata"
IDP = "http://idp.you-forgot-to-start-it.invalid/stub-idp-one/SAML2/metadata"


def _journey(sink: StatsSink, name: str, at: float, *, signed_in: bool) -> None:
    """The audit events of one journey, written with ``at`` as their time, as the hub's auditor writes them."""
    fields = {"journey": name, "relying_service": SERVICE, "idp": IDP, "level": "LEVEL_2", "at": at}
    sink.write({"event": "journey_started", **fields})
    sink.write({"event": "company_chosen", **fields, "reached": ["chose-company"]})
    verified = ["idp-answered", "verified"] if signed_in else ["idp-answered"]
    outcome = "matching" if signed_in else "authn-failed"
    sink.write({"event": "idp_outcome", **fields, "outcome": outcome, "reached": verified})
    if signed_in:
        sink.write({"event": "matching_outcome", **fields, "result": "match", "reached": ["matched"]})
    sink.write({"event": "response_sent", **fields, "outcome": "matched" if signed_in else "authn-failed"})


@pytest.fixture(params=["in-process", "redis"])
def ops(request: pytest.FixtureRequest, app_config: dict[str, object]) -> Flask:
    if request.param == "in-process":
        return operations.create_app(app_config)
    server: RedisServer = request.getfixturevalue("redis_server")
    server.client.flushall()
    return operations.create_app({**app_config, "redis_url": server.url})


def test_periods_count_only_events_inside_them(ops: Flask) -> None:
    sink = StatsSink(ops.extensions["runtime"].store, flush_seconds=0)
    now = time.time()
    _journey(sink, "now-1", now, signed_in=True)
    _journey(sink, "two-hours-ago", now - 2 * 3600, signed_in=True)
    _journey(sink, "three-days-ago", now - 3 * 86400, signed_in=False)
    _journey(sink, "twenty-days-ago", now - 20 * 86400, signed_in=True)
    _journey(sink, "forty-days-ago", now - 40 * 86400, signed_in=True)

    started = {
        period: read_dashboard(ops, period).card("Journeys started") for period in ("hour", "day", "week", "month")
    }

    assert started == {"hour": "1", "day": "2", "week": "3", "month": "4"}
    week = read_dashboard(ops, "week")
    assert week.card("Signed in") == "67%" and week.card_hint("Signed in") == "2 of 3 completed journeys"
    assert [row["Journeys"] for row in week.table("funnel").values()] == ["3", "3", "3", "2", "2", "2"]
    assert week.table("companies")["Stub Identity Provider One"]["Not verified"] == "1"


def test_an_unknown_period_shows_the_last_24_hours(ops: Flask) -> None:
    assert read_dashboard(ops, "fortnight").description.startswith("Last 24 hours: from ")
