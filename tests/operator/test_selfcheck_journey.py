"""``ida-hub self-check journey``: test journeys from a service's start page, as a relying-service team runs them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from federation.saml.xml import STATUS_SUCCESS
from hub.cli import main
from hub.cli.journey import SCENARIOS, JourneyDriver, short_status
from tests.factories import redirect_query, service_authn_request
from tests.support import LiveFederation, start_federation

# Per scenario at the stub service's "Check your PAYE tax" (level 2, cycle 3): README's outcome table.
EXPECTED = {
    "match": ("Success", "-"),
    "no-match": ("Responder", "no-match"),
    "cancel": ("Responder", "NoAuthnContext"),
    "authn-failed": ("Responder", "AuthnFailed"),
    "pending": ("Responder", "NoAuthnContext"),
    "requester-error": ("Responder", "Requester"),
    "refuse-consent": ("Responder", "NoAuthnContext"),
    "fraud": ("Responder", "NoAuthnContext"),
    "cycle3-cancel": ("Responder", "NoAuthnContext"),
}


@pytest.fixture(scope="module")
def live(keys_dir: Path) -> Iterator[LiveFederation]:
    federation, servers = start_federation(keys_dir, None)
    yield federation
    for server in servers:
        server.shutdown()


def rows(out: str) -> dict[str, list[str]]:
    """The result table, by scenario: columns are separated by two or more spaces."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("SCENARIO"))
    table = {}
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        table[cells[0]] = cells[1:]
    return table


def test_every_scenario_reports_the_status_the_hub_sent_and_the_acs_answer(
    live: LiveFederation, capsys: pytest.CaptureFixture[str]
) -> None:
    start = f"{live.urls['stub_service']}/check-your-paye-tax/"
    assert main(["self-check", "journey", "--start-url", start, "--all"]) == 0
    out = capsys.readouterr().out
    table = rows(out)
    assert sorted(table) == sorted(EXPECTED)
    for scenario, (status, second) in EXPECTED.items():
        assert table[scenario] == [status, second, "200", "ok"], scenario
    assert "All 9 scenarios completed" in out


def test_a_start_page_that_does_not_reach_the_hub_fails_in_plain_words(
    live: LiveFederation, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["self-check", "journey", "--start-url", f"{live.urls['hub']}/_status"]) == 1
    out = capsys.readouterr().out
    assert rows(out)["match"][:3] == ["-", "-", "-"]
    assert "FAILED: HTTP 200 at" in out and "is not a web page" in out
    assert "1 of 1 scenarios did not complete." in out


def test_an_unreachable_start_page_fails_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["self-check", "journey", "--start-url", "http://127.0.0.1:9/", "--scenario", "cancel"]) == 1
    captured = capsys.readouterr()
    assert "FAILED: could not reach http://127.0.0.1:9/" in captured.out and "Traceback" not in captured.err


def test_the_chosen_identity_provider_is_the_one_used(live: LiveFederation) -> None:
    start = f"{live.urls['stub_service']}/claim-a-tax-refund/"
    result = JourneyDriver(start, idp="Stub Identity Provider Two").run(SCENARIOS["match"])
    assert result.passed, result.problem
    to_idp = [post.action for post in result.messages if "SAMLRequest" in post.fields]
    assert to_idp == [f"{live.urls['hub']}/SAML2/SSO", f"{live.urls['stub_idp']}/stub-idp-two/SAML2/SSO"]
    unknown = JourneyDriver(start, idp="stub-idp-nine").run(SCENARIOS["match"])
    assert not unknown.passed and "identity provider stub-idp-nine is not offered" in unknown.problem


def test_a_redirect_binding_start_is_followed_and_an_acs_refusal_is_a_failure(live: LiveFederation) -> None:
    # A service that redirects to the hub (HTTP-Redirect) but keeps no record of the request it sent: its ACS
    # refuses the hub's genuine answer, which the self-check must report as a failed scenario.
    query = redirect_query(live.federation, service_authn_request(live.federation, signed=False))
    result = JourneyDriver(f"{live.urls['hub']}/SAML2/SSO?{query}").run(SCENARIOS["match"])
    assert result.completed and result.saml_status == STATUS_SUCCESS
    assert result.acs_status == 400 and not result.passed
    assert result.problem == "the service's ACS answered HTTP 400 to the hub's Response"


def test_scenarios_end_the_same_in_any_order_and_however_often_they_run(live: LiveFederation) -> None:
    """At a service that makes accounts and asks cycle 3 (View your State Pension), the scenarios that sign in as
    nobody the department knows use a new test person each run: an account made by one never turns another (or
    a second run) into a match."""
    start = f"{live.urls['stub_service']}/view-your-state-pension/"

    def outcomes(order: list[str]) -> dict[str, tuple[str, str]]:
        found = {}
        for name in order:
            result = JourneyDriver(start).run(SCENARIOS[name])
            assert result.passed, (name, result.problem)
            found[name] = (short_status(result.saml_status), short_status(result.saml_sub_status))
        return found

    names = ["no-match", "cycle3-cancel", "match"]
    first = outcomes(names)
    assert first["no-match"] == ("Success", "")  # an account made for the new person
    assert first["cycle3-cancel"] != ("Success", "")
    assert outcomes(names) == first
    assert outcomes(list(reversed(names))) == first
