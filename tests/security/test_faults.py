"""When parts fail: Redis stopping mid-journey, the matching service down or slow, a misconfigured federation."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

import hub
from federation.config import DEFAULT_FEDERATION_FILE, FederationConfigError
from federation.saml.checks import read_status
from federation.saml.crypto import verify
from federation.saml.xml import STATUS_NO_AUTHN_CONTEXT, STATUS_RESPONDER, parse
from tests.journeys.drive import Journey
from tests.support import Page, RedisServer, federation_file_with, start_federation, url_of

pytestmark = pytest.mark.live  # its tests start the federation (or gunicorn) themselves


def _service_status(journey: Journey, exit_page: Page) -> tuple[str, str | None]:
    """What the hub's 'Go back' form would tell the service: read from the signed Response it carries."""
    form = next(f for f in exit_page.soup.select("form") if f.get("action", "").endswith("/return-to-service"))
    form["id"] = "return-form"
    to_service = journey.citizen.submit(exit_page, selector="#return-form")
    message = parse(base64.b64decode(to_service.hidden("SAMLResponse", "#saml-form")))
    verify(message, [journey.live.federation.cert("hub-signing.crt")])
    status = read_status(message)
    return status.code, status.sub_code


def test_redis_stopping_mid_journey_gives_503_and_journeys_work_again(
    keys_dir: Path, redis_server: RedisServer
) -> None:
    redis_server.client.flushall()
    live, servers = start_federation(keys_dir, redis_server.url)
    try:
        journey = Journey(live)
        journey.to_idp()
        redis_server.stop()
        page = journey.citizen.get(live.urls["hub"] + "/choose-a-certified-company")
        assert page.status == 503
        assert page.h1 == "Sorry, the service is unavailable"
        assert "Traceback" not in page.response.text
        redis_server.start()
        again = Journey(live)
        assert again.to_service(again.sign_in("alice")).text("#record-reference") == "PAYE-1001"
    finally:
        if redis_server.process.poll() is not None:
            redis_server.start()
        for server in servers:
            server.shutdown()


def test_matching_service_down_shows_a_way_back_and_tells_the_service_no_authentication(keys_dir: Path) -> None:
    live, servers = start_federation(keys_dir, None)
    try:
        journey = Journey(live)
        login = journey.to_idp()
        consent = journey.citizen.submit(login, {"username": "alice", "password": "password"}, selector="#sign-in-form")
        to_hub = journey.citizen.submit(consent, {"decision": "agree"}, selector="#consent-form")
        stub_service = next(server for server in servers if url_of(server) == live.urls["stub_service"])
        stub_service.shutdown()  # the stub service, and with it the matching service, goes away
        exit_page = journey.citizen.wait(journey.citizen.submit(to_hub, selector="#saml-form"))
        assert exit_page.h1 == "Sorry, there is a problem with the service"
        assert "Go back to Check your PAYE tax" in exit_page.response.text
        assert _service_status(journey, exit_page) == (STATUS_RESPONDER, STATUS_NO_AUTHN_CONTEXT)
    finally:
        for server in servers:
            if url_of(server) != live.urls["stub_service"]:
                server.shutdown()


def test_slow_matching_service_runs_out_of_time_with_a_clear_page(keys_dir: Path, tmp_path: Path) -> None:
    # Longer than the hub's short inline wait (so the waiting page shows), shorter than the slow answer.
    federation_file = federation_file_with(tmp_path, matching_timeout_seconds=3)
    live, servers = start_federation(keys_dir, None, federation_file=federation_file, slow_matching_seconds=8)
    try:
        journey = Journey(live)
        waiting = journey.citizen.submit(journey.sign_in_without_waiting("sam"), selector="#saml-form")
        assert waiting.h1 == "We are checking your details"
        exit_page = journey.citizen.wait(waiting)
        assert exit_page.h1 == "Sorry, there is a problem with the service"
        assert _service_status(journey, exit_page) == (STATUS_RESPONDER, STATUS_NO_AUTHN_CONTEXT)
    finally:
        for server in servers:
            server.shutdown()


def _broken(tmp_path: Path, edit: object) -> Path:
    data = yaml.safe_load(DEFAULT_FEDERATION_FILE.read_text())
    edit(data)  # type: ignore[operator]
    path = tmp_path / "federation.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (
            lambda d: d["identity_providers"][0].update(signing_certificates=["check-your-paye-tax-signing.crt"]),
            "identity_providers[0].signing_certificates[0]",
        ),
        (lambda d: d["departments"][0].pop("matching_services"), "departments[0].matching_services"),
        (
            lambda d: d["departments"][0]["matching_services"][0].pop("account_creation_url"),
            "departments[0]: relying_services[2]",
        ),
    ],
    ids=["idp-certificate-from-the-wrong-ca", "department-without-matching-service", "account-creation-without-url"],
)
def test_misconfigured_federation_stops_start_up_naming_the_field(
    keys_dir: Path, tmp_path: Path, edit: object, named: str
) -> None:
    path = _broken(tmp_path, edit)
    with pytest.raises(FederationConfigError) as caught:
        hub.create_app({"keys_dir": keys_dir, "federation_file": path, "testing": True})
    assert str(path) in str(caught.value) and named in str(caught.value)
