"""The identity provider built on pysaml2: every answer it gives, checked by the hub's own code, and journeys
through the real hub, stub service and Redis.

The unit tests drive the app with the Flask test client and a pinned copy of the hub's metadata, made by the
hub's own code; the hub's request is the one the hub sends (``hub.outbound.request_to_idp``) and every answer
goes through ``hub.idp_responses.check_idp_response``, as it would at the hub's ACS.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from playwright.sync_api import Browser, expect
from saml2.sigver import EncryptError, SignatureError
from werkzeug.test import TestResponse

import hub
import stub_idp
import stub_idp_pysaml2
import stub_service
from federation.config import Federation, IdentityProviderEntry
from federation.runtime import Runtime
from federation.saml.crypto import decrypt_assertion
from federation.saml.metadata import PUBLISHED_VALIDITY, hub_metadata
from federation.saml.xml import new_id, now, parse, q, text_of
from federation.settings import AppSettings
from federation.store import MemoryStore
from federation.verify.loa import LevelOfAssurance
from hub.idp_responses import IdpOutcome, check_idp_response
from hub.journey import Journey, JourneyRepository, Stage
from hub.outbound import request_to_idp
from stub_idp.users import load_users
from stub_idp_pysaml2.errors import HubMetadataError
from stub_idp_pysaml2.idp_server import IdentityProvider
from stub_idp_pysaml2.services import services
from stub_idp_pysaml2.settings import own_entry
from stub_idp_pysaml2.xmlsec_backend import InProcessBackend
from tests.browser.conftest import DROPPED_STATIC_FILE, check_accessibility
from tests.factories import b64, hub_authn_request, key_pair, redirect_query
from tests.support import TEST_SETTINGS, Citizen, Page, RedisServer, bind, check_page, serve, stop, url_of

USERS = load_users()
ALGORITHMS = {
    "signature": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "digest": "http://www.w3.org/2001/04/xmlenc#sha256",
    "content": "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    "key transport": "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
}


@pytest.fixture(scope="module")
def hub_metadata_file(federation: Federation, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hub's signed metadata as the hub publishes it, pinned in a file."""
    path = tmp_path_factory.mktemp("hub-metadata") / "hub.xml"
    signer = key_pair(federation, federation.file.metadata_signing_certificate)
    path.write_bytes(hub_metadata(federation, signer, now(), PUBLISHED_VALIDITY))
    return path


@pytest.fixture(params=["inprocess", "xmlsec1"])
def crypto(request: pytest.FixtureRequest) -> str:
    """Both of pysaml2's crypto backends: ours in process, and its own, which forks xmlsec1."""
    if request.param == "xmlsec1" and shutil.which("xmlsec1") is None:
        pytest.fail("xmlsec1 is not installed (apt-get install xmlsec1): pysaml2's default backend needs it")
    return str(request.param)


@pytest.fixture()
def idp_app(app_config: dict[str, object], hub_metadata_file: Path) -> Flask:
    return stub_idp_pysaml2.create_app({**app_config, "hub_metadata_file": hub_metadata_file})


@pytest.fixture()
def idp(idp_app: Flask) -> FlaskClient:
    return idp_app.test_client()


@dataclass
class HubSide:
    """The hub's half: its real AuthnRequest, a journey waiting for the answer, and its real check of the answer."""

    runtime: Runtime
    journeys: JourneyRepository
    entry: IdentityProviderEntry

    def journey(self, level: LevelOfAssurance = LevelOfAssurance.LEVEL_2) -> tuple[etree._Element, Journey]:
        request = request_to_idp(self.runtime, self.entry, level)
        service = self.runtime.federation.file.relying_services[0]
        journey = Journey.start(
            rp_entity_id=service.entity_id,
            rp_request_id=new_id(),
            acs_url=service.default_acs_url,
            relay_state=None,
            level=level,
        )
        journey.give_evidence(["photo_id"])
        journey.choose_company(self.entry.entity_id, request.get("ID", ""))
        self.journeys.save(journey, sent_request=request.get("ID", ""))
        return request, journey

    def check(self, answer: etree._Element, journey: Journey) -> IdpOutcome:
        return check_idp_response(answer, journey, self.runtime, self.journeys)


@pytest.fixture()
def hub_side(app_config: dict[str, object], federation: Federation) -> HubSide:
    runtime = Runtime(settings=AppSettings.build(app_config), federation=federation, store=MemoryStore())
    return HubSide(runtime, JourneyRepository(runtime.store, 3600), own_entry(federation))


def sso_path(hub_side: HubSide) -> str:
    return urlsplit(hub_side.entry.sso_url).path


def start(
    idp: FlaskClient, hub_side: HubSide, level: LevelOfAssurance = LevelOfAssurance.LEVEL_2
) -> tuple[str, Journey]:
    """Post the hub's AuthnRequest as the hub's page does; the sign-in page's token and the hub's journey."""
    request, journey = hub_side.journey(level)
    response = idp.post(sso_path(hub_side), data={"SAMLRequest": b64(request)})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    location = urlsplit(response.headers["Location"])
    assert location.path == "/sign-in"
    return parse_qs(location.query)["request_token"][0], journey


def sign_in(idp: FlaskClient, token: str, username: str = "alice") -> BeautifulSoup:
    response = idp.post("/sign-in", data={"request_token": token, "username": username, "password": "password"})
    assert response.status_code == 303
    return check_page(idp.get(response.headers["Location"]))


def answer(response: TestResponse) -> etree._Element:
    """The Response on the page that posts it to the hub."""
    soup = check_page(response)
    form = soup.select_one("form#saml-form")
    assert form is not None
    field = form.select_one('input[name="SAMLResponse"]')
    assert field is not None
    return parse(base64.b64decode(str(field["value"])))


def agree(idp: FlaskClient, token: str, **fields: str) -> etree._Element:
    return answer(idp.post("/share-your-details", data={"request_token": token, "decision": "agree", **fields}))


# ---- what the hub is sent ------------------------------------------------------------------------------------


def test_success_is_accepted_by_the_hubs_own_checks_with_either_crypto_backend(
    app_config: dict[str, object], hub_metadata_file: Path, hub_side: HubSide, crypto: str
) -> None:
    app = stub_idp_pysaml2.create_app({**app_config, "hub_metadata_file": hub_metadata_file, "crypto_backend": crypto})
    client = app.test_client()
    token, journey = start(client, hub_side)
    consent = sign_in(client, token)
    assert consent.select_one("#matching-dataset") is not None
    outcome = hub_side.check(agree(client, token), journey)
    assert outcome.stage is Stage.MATCHING
    assert outcome.level is LevelOfAssurance.LEVEL_2
    assert outcome.dataset == USERS["alice"].dataset  # every name, date, address and verified flag, as stub_idp's


def test_response_is_signed_and_its_two_assertions_encrypted_as_the_profile_says(
    idp: FlaskClient, hub_side: HubSide, federation: Federation
) -> None:
    token, _ = start(idp, hub_side)
    sign_in(idp, token)
    response = agree(idp, token)
    signature = response.find(q("ds", "Signature"))
    assert signature is not None
    assert signature.find(f".//{q('ds', 'SignatureMethod')}").get("Algorithm") == ALGORITHMS["signature"]  # type: ignore[union-attr]
    assert signature.find(f".//{q('ds', 'DigestMethod')}").get("Algorithm") == ALGORITHMS["digest"]  # type: ignore[union-attr]
    encrypted = response.findall(q("saml", "EncryptedAssertion"))
    assert len(encrypted) == 2 and response.find(q("saml", "Assertion")) is None
    hub_key = key_pair(federation, "hub-encryption.crt")
    assertions = []
    for node in encrypted:
        methods = [m.get("Algorithm") for m in node.iter(q("xenc", "EncryptionMethod"))]
        assert methods == [ALGORITHMS["content"], ALGORITHMS["key transport"]]
        assertions.append(decrypt_assertion(node, hub_key))
    authn, dataset = assertions
    assert authn.find(q("saml", "AttributeStatement")) is None
    class_ref = authn.find(f".//{q('saml', 'AuthnContextClassRef')}")
    assert text_of(class_ref) == LevelOfAssurance.LEVEL_2.uri
    assert dataset.find(q("saml", "AuthnStatement")) is None
    name_ids = {text_of(a.find(f"{q('saml', 'Subject')}/{q('saml', 'NameID')}")) for a in assertions}
    assert len(name_ids) == 1


def test_the_same_person_has_the_same_persistent_id_and_another_person_another(
    idp: FlaskClient, hub_side: HubSide
) -> None:
    ids = []
    for username in ("alice", "alice", "bob"):
        token, journey = start(idp, hub_side)
        sign_in(idp, token, username)
        ids.append(hub_side.check(agree(idp, token), journey).persistent_id)
    assert ids[0] == ids[1] != ids[2]
    assert ids[0] is not None and len(ids[0]) == 64


def test_fraud_event_reaches_the_hub_as_a_fraud_event(idp: FlaskClient, hub_side: HubSide) -> None:
    token, journey = start(idp, hub_side)
    sign_in(idp, token)
    outcome = hub_side.check(agree(idp, token, level="LEVEL_X", gpg45_status="IT01"), journey)
    assert outcome.stage is Stage.FRAUD


def test_level_below_what_the_hub_asked_is_refused_by_the_hub(idp: FlaskClient, hub_side: HubSide) -> None:
    token, journey = start(idp, hub_side)
    sign_in(idp, token)
    outcome = hub_side.check(agree(idp, token, level="LEVEL_1"), journey)
    assert outcome.stage is Stage.LEVEL_REFUSED and outcome.level is LevelOfAssurance.LEVEL_1


@pytest.mark.parametrize(
    ("outcome", "stage"),
    [
        ("cancel", Stage.CANCELLED),
        ("authn-failed", Stage.AUTHN_FAILED),
        ("pending", Stage.PENDING),
        ("requester-error", Stage.REQUESTER_ERROR),
    ],
)
def test_each_other_outcome_reaches_the_hub_as_its_stage(
    idp: FlaskClient, hub_side: HubSide, outcome: str, stage: Stage
) -> None:
    token, journey = start(idp, hub_side)
    response = answer(idp.post("/other-outcome", data={"request_token": token, "outcome": outcome}))
    assert response.find(q("saml", "EncryptedAssertion")) is None
    assert hub_side.check(response, journey).stage is stage


def test_refusing_consent_is_a_cancel(idp: FlaskClient, hub_side: HubSide) -> None:
    token, journey = start(idp, hub_side)
    sign_in(idp, token)
    response = answer(idp.post("/share-your-details", data={"request_token": token, "decision": "refuse"}))
    assert hub_side.check(response, journey).stage is Stage.CANCELLED


def test_redirect_binding_request_signed_by_the_hub_is_accepted(
    idp: FlaskClient, hub_side: HubSide, federation: Federation
) -> None:
    request, journey = hub_side.journey()
    query = redirect_query(federation, request, relay_state="state-1", signer="hub-signing.crt")
    response = idp.get(f"{sso_path(hub_side)}?{query}")
    assert response.status_code == 303
    token = parse_qs(urlsplit(response.headers["Location"]).query)["request_token"][0]
    page = check_page(idp.post("/other-outcome", data={"request_token": token, "outcome": "cancel"}))
    relay = page.select_one('#saml-form input[name="RelayState"]')
    assert relay is not None and relay["value"] == "state-1"


# ---- what it refuses, in plain words -------------------------------------------------------------------------


def refusal(response: TestResponse) -> tuple[int, str]:
    """A refusal page's status and heading (after ``check_page``'s checks of every page)."""
    heading = check_page(response, None).find("h1")
    return response.status_code, heading.get_text(strip=True) if heading is not None else ""


REQUEST_REFUSED = "There is a problem with the sign-in request"


def test_sso_without_a_request_is_refused(idp: FlaskClient, hub_side: HubSide) -> None:
    assert refusal(idp.post(sso_path(hub_side), data={})) == (400, REQUEST_REFUSED)
    assert refusal(idp.get(sso_path(hub_side))) == (400, REQUEST_REFUSED)


def test_sso_with_a_request_that_is_not_saml_is_refused(idp: FlaskClient, hub_side: HubSide) -> None:
    for junk in ("not base64 at all!", base64.b64encode(b"<not-saml/>").decode(), b64(b"\x00\x01")):
        assert refusal(idp.post(sso_path(hub_side), data={"SAMLRequest": junk})) == (400, REQUEST_REFUSED)


@pytest.mark.parametrize("signer", [None, "stub-idp-one-signing.crt", "metadata-signing.crt"])
def test_request_not_signed_by_the_hub_is_refused(
    idp: FlaskClient, hub_side: HubSide, federation: Federation, signer: str | None
) -> None:
    request = hub_authn_request(federation, hub_side.entry, signer=signer)
    assert refusal(idp.post(sso_path(hub_side), data={"SAMLRequest": b64(request)})) == (400, REQUEST_REFUSED)


def test_request_naming_an_assertion_consumer_the_hub_does_not_list_is_refused(
    idp: FlaskClient, hub_side: HubSide, federation: Federation
) -> None:
    request = hub_authn_request(federation, hub_side.entry, acs_url="https://elsewhere.example/acs")
    assert refusal(idp.post(sso_path(hub_side), data={"SAMLRequest": b64(request)})) == (400, REQUEST_REFUSED)


def test_redirect_request_with_a_signature_that_does_not_match_is_refused(
    idp: FlaskClient, hub_side: HubSide, federation: Federation
) -> None:
    request, _ = hub_side.journey()
    query = redirect_query(federation, request, relay_state="state-1", signer="stub-idp-one-signing.crt")
    assert refusal(idp.get(f"{sso_path(hub_side)}?{query}")) == (400, REQUEST_REFUSED)


def test_unknown_or_missing_request_token_asks_the_tester_to_start_again(idp: FlaskClient) -> None:
    for response in (
        idp.get("/sign-in"),
        idp.get("/sign-in?request_token=" + "x" * 32),
        idp.post("/other-outcome", data={"outcome": "cancel"}),
        idp.get("/share-your-details?request_token=nonsense"),
    ):
        assert refusal(response) == (400, "You need to start again")


def test_wrong_password_shows_the_error_summary_linking_to_the_username(idp: FlaskClient, hub_side: HubSide) -> None:
    token, _ = start(idp, hub_side)
    for username in ("alice", "nobody-at-all"):
        response = idp.post("/sign-in", data={"request_token": token, "username": username, "password": "wrong"})
        soup = check_page(response, 400)
        links = [(a.get_text(strip=True), a["href"]) for a in soup.select(".govuk-error-summary a")]
        assert links == [("Enter a correct username and password", "#username")]


def test_empty_sign_in_form_names_both_fields(idp: FlaskClient, hub_side: HubSide) -> None:
    token, _ = start(idp, hub_side)
    soup = check_page(idp.post("/sign-in", data={"request_token": token}), 400)
    assert [a["href"] for a in soup.select(".govuk-error-summary a")] == ["#username", "#password"]


def test_consent_before_sign_in_and_choices_the_page_never_offered_are_refused(
    idp: FlaskClient, hub_side: HubSide
) -> None:
    token, _ = start(idp, hub_side)
    assert refusal(idp.get(f"/share-your-details?request_token={token}")) == (400, "You need to sign in first")
    assert refusal(idp.post("/other-outcome", data={"request_token": token, "outcome": "win"})) == (
        400,
        "There is a problem with the request",
    )
    sign_in(idp, token)
    assert refusal(idp.post("/share-your-details", data={"request_token": token, "decision": "maybe"})) == (
        400,
        "There is a problem with the request",
    )
    soup = check_page(
        idp.post("/share-your-details", data={"request_token": token, "decision": "agree", "level": "9"}), 400
    )
    assert [a["href"] for a in soup.select(".govuk-error-summary a")] == ["#level"]


def test_a_request_is_answered_once(idp: FlaskClient, hub_side: HubSide) -> None:
    token, _ = start(idp, hub_side)
    answer(idp.post("/other-outcome", data={"request_token": token, "outcome": "cancel"}))
    assert refusal(idp.post("/other-outcome", data={"request_token": token, "outcome": "cancel"})) == (
        400,
        "You need to start again",
    )


def test_without_the_hubs_metadata_the_tester_sees_the_service_is_unavailable(
    app_config: dict[str, object], hub_side: HubSide
) -> None:
    """No pinned copy and a hub that cannot be reached: a 503 page, and a try again later, not a traceback."""
    client = stub_idp_pysaml2.create_app(app_config).test_client()
    request, _ = hub_side.journey()
    assert refusal(client.post(sso_path(hub_side), data={"SAMLRequest": b64(request)})) == (
        503,
        "Sorry, the service is unavailable",
    )


def test_index_lists_the_company_and_its_test_users(idp: FlaskClient) -> None:
    soup = check_page(idp.get("/"))
    assert {row["id"] for row in soup.select("#test-users tbody tr")} >= {"user-alice", "user-bob"}


# ---- the in-process backend's own refusals -------------------------------------------------------------------


def test_in_process_backend_encrypts_with_aes_only(idp_app: Flask) -> None:
    setup = services(idp_app).idp.setup
    with pytest.raises(EncryptError):
        InProcessBackend().encrypt_assertion("<a/>", str(setup.encryption_certificate), "<t/>", key_type="des-192")


def test_in_process_backend_raises_when_a_signature_does_not_verify(
    idp: FlaskClient, hub_side: HubSide, federation: Federation
) -> None:
    """pysaml2 ignores a False from the backend when it checks metadata: a failure must raise, as xmlsec1's does."""
    token, _ = start(idp, hub_side)
    response = answer(idp.post("/other-outcome", data={"request_token": token, "outcome": "cancel"}))
    text = etree.tostring(response, encoding="unicode")
    node_name = "urn:oasis:names:tc:SAML:2.0:protocol:Response"
    certificate = str(federation.keys_dir / hub_side.entry.signing_certificates[0])
    backend = InProcessBackend()
    assert backend.validate_signature(text, certificate, "pem", node_name, response.get("ID"))
    with pytest.raises(SignatureError):
        backend.validate_signature(text.replace("authn-cancel", "loa-pending"), certificate, "pem", node_name, None)
    with pytest.raises(SignatureError):
        other = str(federation.keys_dir / "stub-idp-one-signing.crt")
        backend.validate_signature(text, other, "pem", node_name, response.get("ID"))


# ---- through the real hub, over HTTP, with Redis -------------------------------------------------------------

APPS = {
    "hub": hub.create_app,
    "stub_idp": stub_idp.create_app,
    "stub_service": stub_service.create_app,
    "stub_idp_pysaml2": stub_idp_pysaml2.create_app,
}


@pytest.fixture(scope="module")
def live(keys_dir: Path, redis_server: RedisServer) -> Iterator[dict[str, str]]:
    """The federation and this identity provider on loopback, sharing the session's Redis. This company fetches
    the hub's metadata from the hub, as it does when it runs for real."""
    redis_server.client.flushall()
    servers = {name: bind() for name in APPS}
    urls = {name: url_of(server) for name, server in servers.items()}
    config = {"keys_dir": keys_dir, "urls": urls, "redis_url": redis_server.url, "testing": True, **TEST_SETTINGS}
    try:
        apps = {name: factory(config) for name, factory in APPS.items()}
    except BaseException:
        for server in servers.values():
            server.server_close()
        raise
    for name, server in servers.items():
        serve(apps[name], server)
    yield urls
    stop(servers.values())


def to_pysaml2_idp(citizen: Citizen, urls: dict[str, str], service: str = "check-your-paye-tax") -> Page:
    """From the service's start page, through the hub's questions, to this company's sign-in page."""
    start_page = citizen.get(f"{urls['stub_service']}/{service}/")
    hub_start = citizen.submit(citizen.submit(start_page), selector="#saml-form")
    continue_link = hub_start.soup.select_one("main a.govuk-button")
    assert continue_link is not None, hub_start.url
    question = citizen.get(urls["hub"] + str(continue_link["href"]))
    choose = citizen.submit(question, {"evidence": ["photo_id"]})
    assert choose.h1 == "Choose a certified company", choose.url
    to_idp = citizen.submit(choose, {"company": f"{urls['stub_idp_pysaml2']}/SAML2/metadata"})
    sign_in_page = citizen.submit(to_idp, selector="#saml-form")
    assert sign_in_page.h1 == "Sign in to Stub Identity Provider Four", sign_in_page.url
    return sign_in_page


def test_matched_journey_through_the_real_hub(live: dict[str, str]) -> None:
    citizen = Citizen()
    consent = citizen.submit(
        to_pysaml2_idp(citizen, live), {"username": "alice", "password": "password"}, selector="#sign-in-form"
    )
    back = citizen.submit(consent, {"decision": "agree"}, selector="#consent-form")
    final = citizen.wait(citizen.submit(back, selector="#saml-form"))
    outcome = citizen.submit(final, selector="#saml-form")
    assert outcome.h1 == "You are signed in"
    assert outcome.text("#outcome-status") == "Matched"
    assert outcome.text("#record-reference") == "PAYE-1001"
    assert outcome.text("#level-of-assurance") == "Level 2"


def test_cancelled_journey_through_the_real_hub(live: dict[str, str]) -> None:
    citizen = Citizen()
    back = citizen.submit(to_pysaml2_idp(citizen, live), {"outcome": "cancel"}, selector="#outcome-form")
    exit_page = citizen.wait(citizen.submit(back, selector="#saml-form"))
    assert exit_page.h1 == "You did not finish proving your identity", exit_page.url


@pytest.mark.live
@pytest.mark.parametrize(
    ("signer", "refusal"), [(None, "HubMetadataError"), ("stub-idp-one-signing.crt", "SignatureError")]
)
def test_hub_metadata_that_is_unsigned_or_signed_by_another_key_is_refused(
    idp_app: Flask, federation: Federation, signer: str | None, refusal: str
) -> None:
    """pysaml2 accepts unsigned metadata even when it is given a certificate to check it with: this company does
    not; and a signature by any key but the federation's metadata key fails (the in-process backend raises)."""
    metadata = etree.fromstring(
        hub_metadata(federation, key_pair(federation, signer or "metadata-signing.crt"), now(), PUBLISHED_VALIDITY)
    )
    if signer is None:
        metadata.remove(metadata.find(q("ds", "Signature")))  # type: ignore[arg-type]
    body = etree.tostring(metadata)

    def publish(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/samlmetadata+xml")])
        return [body]

    server = serve(publish)
    try:
        company = services(idp_app).idp
        setup = replace(company.setup, hub_metadata_url=url_of(server) + "/", hub_metadata_file=None)
        with pytest.raises(HubMetadataError) as caught:
            IdentityProvider(company.entry, setup).server()
        assert type(caught.value.__cause__).__name__ == refusal
    finally:
        stop([server])


@DROPPED_STATIC_FILE
def test_the_companys_pages_pass_axe_in_a_real_browser(live: dict[str, str], chromium: Browser) -> None:
    """Sign-in (as it is and with its errors), consent, the index and the start-again page: zero WCAG 2.2 A and AA
    violations. The sign-in page is reached over HTTP; the request token, not a cookie, carries the journey on."""
    sign_in_url = to_pysaml2_idp(Citizen(), live).url
    context = chromium.new_context()
    page = context.new_page()
    try:
        page.goto(sign_in_url)
        check_accessibility(page)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".govuk-error-summary")).to_be_visible()
        check_accessibility(page)
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Check the details you will share")
        check_accessibility(page)
        for address in (live["stub_idp_pysaml2"] + "/", live["stub_idp_pysaml2"] + "/sign-in"):
            page.goto(address)
            check_accessibility(page)
    finally:
        context.close()
