"""Many hub processes on one Redis: any of them can continue any journey, and none accepts a replay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import hub
from tests.journeys.drive import Journey, idp_entity
from tests.support import TEST_SETTINGS, LiveFederation, RedisServer, serve, start_federation, stop, url_of


@pytest.fixture()
def two_hubs(keys_dir: Path, redis_server: RedisServer) -> Iterator[tuple[LiveFederation, str]]:
    """The federation with hub A at its configured URL, and a second hub process B on the same Redis."""
    redis_server.client.flushall()
    live, servers = start_federation(keys_dir, redis_server.url)
    # With the test settings too: a second hub batching its dashboard counters would write them a second after
    # the test, into whatever the next test put in Redis.
    config = {"keys_dir": keys_dir, "urls": live.urls, "redis_url": redis_server.url, "testing": True}
    second = hub.create_app({**config, **TEST_SETTINGS})
    server = serve(second)
    yield live, url_of(server)
    stop([*servers, server])


def test_journey_alternating_between_two_hub_processes_completes(two_hubs: tuple[LiveFederation, str]) -> None:
    live, hub_b = two_hubs
    hub_a = live.urls["hub"]
    journey = Journey(live)
    citizen = journey.citizen
    to_hub = citizen.submit(citizen.get(f"{live.urls['stub_service']}/check-your-paye-tax/"))
    assert citizen.submit(to_hub, selector="#saml-form").url == hub_a + "/start"  # A starts the journey
    question = citizen.get(hub_b + "/which-of-these-do-you-have")  # B continues it
    choose = citizen.submit(question, {"evidence": ["photo_id"]})
    assert choose.url == hub_b + "/choose-a-certified-company"
    choose = citizen.get(hub_a + "/choose-a-certified-company")  # back to A
    login = citizen.submit(citizen.submit(choose, {"company": idp_entity(live, "stub-idp-one")}), selector="#saml-form")
    consent = citizen.submit(login, {"username": "alice", "password": "password"}, selector="#sign-in-form")
    idp_answer = citizen.submit(consent, {"decision": "agree"}, selector="#consent-form")
    form = idp_answer.form("#saml-form")
    form["action"] = hub_b + "/SAML2/SSO/Response/POST"  # the IDP's answer reaches B
    final = citizen.wait(citizen.submit(idp_answer, selector="#saml-form"))
    assert final.url.startswith(hub_b)
    assert journey.to_service(final).text("#record-reference") == "PAYE-1001"

    # The same answer replayed to the other process is refused there too.
    replay = citizen.http.post(
        hub_a + "/SAML2/SSO/Response/POST",
        data={"SAMLResponse": idp_answer.hidden("SAMLResponse", "#saml-form")},
        timeout=30,
    )
    assert replay.status_code == 400


def test_replay_of_an_unused_answer_to_a_second_process_is_refused(two_hubs: tuple[LiveFederation, str]) -> None:
    live, hub_b = two_hubs
    journey = Journey(live)
    idp_answer = journey.sign_in_without_waiting("alice")
    data = {"SAMLResponse": idp_answer.hidden("SAMLResponse", "#saml-form")}
    first = journey.citizen.http.post(hub_b + "/SAML2/SSO/Response/POST", data=data, timeout=30)
    assert first.status_code == 200
    second = journey.citizen.http.post(live.urls["hub"] + "/SAML2/SSO/Response/POST", data=data, timeout=30)
    assert second.status_code == 400  # the journey it answered is over: nothing to replay into
