"""The hub_service cookie: it gets a citizen whose journey has gone back to their service, and tells no one
who holds the browser's cookies which service that is. It lasts as long as the journey cookie and is cleared by
the response that carries the final SAML Response."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import unquote

import pytest
import requests

from federation.sealing import Sealer
from hub.services import services
from tests.journeys.drive import PAYE, PENSION, REFUND, SELF_ASSESSMENT, Journey
from tests.support import LiveFederation, Page, start_federation


@pytest.fixture(scope="module")
def live(keys_dir: Path) -> Iterator[LiveFederation]:
    federation, servers = start_federation(keys_dir, None)
    yield federation
    for server in servers:
        server.shutdown()


def _set_cookies(response: requests.Response) -> dict[str, str]:
    """Each cookie a response (or the redirects before it) set, as its Set-Cookie header."""
    found: dict[str, str] = {}
    for hop in [*response.history, response]:
        for header in hop.raw.headers.getlist("Set-Cookie"):
            found[header.split("=", 1)[0]] = header
    return found


def _at_hub(live: LiveFederation, service: str) -> Journey:
    """A journey of ``service``'s just arrived at the hub."""
    journey = Journey(live, service=service)
    start = journey.citizen.get(f"{live.urls['stub_service']}/{service}/")
    arrived = journey.citizen.submit(journey.citizen.submit(start), selector="#saml-form")
    assert arrived.h1 == "Prove your identity to continue"
    return journey


def _decodings(value: str) -> list[bytes]:
    """``value`` and every part of it as text, URL-decoded, base64 and hex, whichever decode."""
    parts = [value, unquote(value), *value.split("."), *value.split(":")]
    decoded = [part.encode() for part in parts]
    for part in parts:
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                decoded.append(decode(part + "=" * (-len(part) % 4)))
            except (binascii.Error, ValueError):
                pass
        try:
            decoded.append(bytes.fromhex(part))
        except ValueError:
            pass
    return decoded


def _service_cookie(journey: Journey) -> str:
    value = journey.citizen.http.cookies.get("hub_service")
    assert value, "no hub_service cookie"
    return value


def test_the_service_cookie_names_no_service_not_even_by_its_length(live: LiveFederation) -> None:
    values = {}
    for service in (PAYE, REFUND, SELF_ASSESSMENT, PENSION):
        value = _service_cookie(_at_hub(live, service))
        entry = live.federation.relying_service(f"{live.urls['stub_service']}/{service}/SAML2/metadata")
        assert entry is not None
        for clue in (entry.entity_id, entry.service_url, entry.display_name, service, "stub_service", "127.0.0.1"):
            assert not any(clue.encode() in decoded for decoded in _decodings(value)), (service, clue)
        values[service] = value
    assert len({len(value) for value in values.values()}) == 1, values
    assert _service_cookie(_at_hub(live, PAYE)) != values[PAYE]  # nor the same value twice for one service


def test_the_service_cookie_lasts_as_long_as_the_journey_cookie(live: LiveFederation) -> None:
    journey = Journey(live)
    start = journey.citizen.get(f"{live.urls['stub_service']}/{PAYE}/")
    to_hub = journey.citizen.submit(start)
    form = to_hub.form("#saml-form")
    response = journey.citizen.http.post(
        str(form["action"]),
        data={str(node["name"]): str(node["value"]) for node in form.select("input[type=hidden]")},
        allow_redirects=False,
        timeout=10,
    )
    cookies = SimpleCookie()
    for header in response.raw.headers.getlist("Set-Cookie"):
        cookies.load(header)
    minutes = live.federation.hub.journey_minutes
    assert cookies["hub_service"]["max-age"] == cookies["hub_journey"]["max-age"] == str(minutes * 60)
    assert cookies["hub_service"]["httponly"] and cookies["hub_service"]["samesite"] == "Lax"


def _cleared(page: Page) -> None:
    """``page`` carries the final SAML Response, and its response expired the hub_service cookie."""
    assert page.soup.select_one("#saml-form input[name=SAMLResponse]") is not None
    header = _set_cookies(page.response).get("hub_service")
    assert header is not None, "the final Response did not clear hub_service"
    cookie = SimpleCookie()
    cookie.load(header)
    assert cookie["hub_service"].value == "" and cookie["hub_service"]["max-age"] == "0"
    assert "1970" in cookie["hub_service"]["expires"]


def test_the_response_that_carries_the_final_saml_response_clears_the_service_cookie(live: LiveFederation) -> None:
    matched = Journey(live)
    final = matched.sign_in("alice")
    _cleared(final)
    assert "hub_service" not in matched.citizen.http.cookies
    assert matched.to_service(final).text("#outcome-status") == "Matched"

    cancelled = Journey(live)  # from an exit page
    exit_page = cancelled.idp_outcome("cancel")
    assert "hub_service" in cancelled.citizen.http.cookies  # not cleared before the service is answered
    form = next(f for f in exit_page.soup.select("form") if str(f.get("action", "")).endswith("/return-to-service"))
    form["id"] = "return-form"
    final = cancelled.citizen.submit(exit_page, selector="#return-form")
    _cleared(final)
    assert cancelled.to_service(final).text("#outcome-status") == "Not signed in"


def _start_again(journey: Journey, live: LiveFederation) -> Page:
    page = journey.citizen.get(live.urls["hub"] + "/choose-a-certified-company")
    assert page.status == 400 and page.h1 == "You need to start again"
    return page


def test_start_again_still_sends_the_citizen_back_to_their_own_service(live: LiveFederation) -> None:
    journey = _at_hub(live, REFUND)
    del journey.citizen.http.cookies["hub_journey"]  # as when the journey has gone
    button = _start_again(journey, live).soup.select_one("main a.govuk-button")
    assert button is not None and button.get_text(strip=True) == "Go back to Claim a tax refund"
    assert button["href"] == f"{live.urls['stub_service']}/{REFUND}/"


def test_start_again_offers_no_way_back_for_a_service_cookie_that_is_altered_expired_or_sealed_elsewhere(
    live: LiveFederation,
) -> None:
    sealer: Sealer = services(live.apps["hub"]).sealer
    entity_id = f"{live.urls['stub_service']}/{REFUND}/SAML2/metadata"
    expired = sealer.seal(f'{{"service":"{entity_id}","until":{int(time.time()) - 1}}}'.encode(), "cookie:hub_service")
    elsewhere = sealer.seal(f'{{"service":"{entity_id}","until":{int(time.time()) + 60}}}'.encode(), "journey:x")
    journey = _at_hub(live, REFUND)
    genuine = _service_cookie(journey)
    for value in (genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB"), expired, elsewhere, entity_id):
        journey.citizen.http.cookies.clear()
        journey.citizen.http.cookies.set("hub_service", value)
        assert _start_again(journey, live).soup.select_one("main a.govuk-button") is None
