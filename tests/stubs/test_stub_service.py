"""The stub relying services: index, start pages, the trip to the hub, every outcome page and the records form."""

from __future__ import annotations

import base64
import datetime as dt
import logging
from typing import Any

import pytest
from bs4 import Tag
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

import stub_service
from federation.config import AccountCreationAttribute, Federation, Profile, RelyingServiceEntry
from federation.saml.build import Subject, assertion, response
from federation.saml.crypto import encrypt_assertion, sign, verify
from federation.saml.xml import (
    STATUS_AUTHN_FAILED,
    STATUS_NO_AUTHN_CONTEXT,
    STATUS_NO_MATCH,
    STATUS_REQUESTER,
    STATUS_RESPONDER,
    STATUS_SUCCESS,
    now,
    parse,
    q,
)
from federation.verify.account_attributes import to_attributes as account_attributes
from federation.verify.loa import LevelOfAssurance
from federation.verify.mds import MatchingDataset, text_attribute
from stub_service.matcher import Matcher
from stub_service.services import services as stub_service_services
from tests.factories import b64, key_pair
from tests.support import RedisServer, check_page

SLUGS = {
    "check-your-paye-tax": ("Check your PAYE tax", "Level 2", "NationalInsuranceNumber", "No"),
    "claim-a-tax-refund": ("Claim a tax refund", "Level 1", "None", "No"),
    "register-for-self-assessment": ("Register for Self Assessment", "Level 2", "None", "Yes"),
    "view-your-state-pension": ("View your State Pension", "Level 2", "NationalInsuranceNumber", "Yes"),
    "apply-for-carers-allowance": ("Apply for Carer's Allowance", "Level 1", "None", "No"),
}
DEPARTMENTS = {
    "hmrc": {"check-your-paye-tax", "claim-a-tax-refund", "register-for-self-assessment"},
    "dwp": {"view-your-state-pension", "apply-for-carers-allowance"},
}
PAIRWISE = "e" * 64
ALICE = MatchingDataset.model_validate(
    {
        "first_names": [{"value": "Alice", "verified": True}],
        "surnames": [{"value": "Smith", "verified": True}],
        "dates_of_birth": [{"value": "1980-05-14", "verified": True}],
        "current_addresses": [{"lines": ["10 Downing Street", "London"], "postcode": "SW1A 2AA", "verified": True}],
    }
)
BOB = MatchingDataset.model_validate(
    {
        "first_names": [{"value": "Bob", "verified": True}],
        "surnames": [{"value": "Brown", "verified": True}],
        "dates_of_birth": [{"value": "1975-11-02", "verified": True}],
        "current_addresses": [{"lines": ["22 High Street", "Bristol"], "postcode": "BS1 4DJ", "verified": True}],
    }
)


@pytest.fixture()
def service_app(app_config: dict[str, object]) -> Flask:
    return stub_service.create_app(app_config)


@pytest.fixture()
def client(service_app: Flask) -> FlaskClient:
    return service_app.test_client()


def text(soup: Tag, selector: str) -> str:
    node = soup.select_one(selector)
    assert node is not None, f"{selector} not on the page"
    return node.get_text(" ", strip=True)


def variant(federation: Federation, slug: str) -> RelyingServiceEntry:
    return next(rp for rp in federation.file.relying_services if rp.service_url.endswith(f"/{slug}/"))


def start(client: FlaskClient, slug: str) -> str:
    """Press Start now; return the ID of the AuthnRequest the page would post to the hub."""
    soup = check_page(client.post(f"/{slug}/start"))
    field = soup.select_one('#saml-form input[name="SAMLRequest"]')
    assert field is not None
    return str(parse(base64.b64decode(str(field["value"]))).get("ID", ""))


def hub_response(
    federation: Federation,
    entry: RelyingServiceEntry,
    request_id: str,
    *,
    status: str = STATUS_SUCCESS,
    sub_status: str | None = None,
    level: LevelOfAssurance = LevelOfAssurance.LEVEL_2,
    attributes: list[etree._Element] | None = None,
    destination: str | None = None,
    signer: str = "hub-signing.crt",
    stated: tuple[str, str] | None = None,
) -> str:
    """A hub-signed Response for ``request_id``, base64 for the form; on success with one encrypted assertion.

    The assertion is as the hub makes it in the service's profile: for the simple profile, the hub's, stating
    the outcome and level (``stated`` overrides them); for the full profile, the matching service's.
    """
    hub, moment, key = federation.hub, now(), key_pair(federation, signer)
    asserting_party, assertion_key = hub.entity_id, key
    if entry.profile is Profile.FULL:
        msa = entry.matching_service
        asserting_party, assertion_key = msa.entity_id, key_pair(federation, msa.signing_certificates[0])
    else:
        outcome, stated_level = stated or ("account-created" if attributes else "match", level.value)
        attributes = [text_attribute("outcome", outcome), text_attribute("level_of_assurance", stated_level)] + (
            attributes or []
        )
    message = response(
        issuer=hub.entity_id,
        destination=destination or entry.default_acs_url,
        in_response_to=request_id,
        moment=moment,
        status=status,
        sub_status=sub_status,
    )
    if status == STATUS_SUCCESS:
        item = assertion(
            issuer=asserting_party,
            subject=Subject(name_id=PAIRWISE, in_response_to=request_id, recipient=entry.default_acs_url),
            audience=entry.entity_id,
            moment=moment,
            lifetime=dt.timedelta(minutes=5),
            level=level,
            attributes=attributes,
        )
        sign(item, assertion_key)
        message.append(encrypt_assertion(item, federation.cert(entry.encryption_certificate)))
    sign(message, key)
    return b64(message)


def acs(client: FlaskClient, slug: str, saml_response: str) -> Any:
    return client.post(f"/{slug}/SAML2/SSO/Response/POST", data={"SAMLResponse": saml_response})


# ---- index and start pages ---------------------------------------------------------------------------------


def test_index_lists_every_variant_by_department_with_its_level_cycle3_and_account_creation(
    client: FlaskClient,
) -> None:
    soup = check_page(client.get("/"))
    listed = {}
    for department, slugs in DEPARTMENTS.items():
        rows = soup.select(f"#services-{department} tbody tr")
        found = set()
        for row in rows:
            cells = [cell.get_text(" ", strip=True) for cell in row.select("td, th")]
            link = row.select_one("a")
            assert link is not None
            found.add(str(link["href"]).strip("/"))
            listed[str(link["href"]).strip("/")] = tuple(cells)
        assert found == slugs
        assert soup.select_one(f"a#records-link-{department}")["href"] == f"/{department}/records"  # type: ignore[index]
    assert listed == SLUGS


@pytest.mark.parametrize("slug", SLUGS)
def test_each_variant_has_a_start_page_with_a_start_button(
    client: FlaskClient, federation: Federation, slug: str
) -> None:
    soup = check_page(client.get(f"/{slug}/"))
    name = SLUGS[slug][0]
    assert text(soup, "h1") == name
    assert text(soup, ".govuk-service-navigation__service-name") == name
    form = soup.select_one(f'form[method="post"][action="/{slug}/start"]')
    assert form is not None
    button = form.select_one("button.govuk-button--start")
    assert button is not None and button.get_text(strip=True) == "Start now"
    headings = [h.get_text(strip=True) for h in soup.select("h2")]
    assert "Other ways to use this service" in headings
    assert text(soup, "#other-ways") == variant(federation, slug).other_ways


def test_an_unknown_service_slug_is_not_found(client: FlaskClient) -> None:
    check_page(client.get("/check-your-council-tax/"), 404)
    check_page(client.post("/check-your-council-tax/start"), 404)


@pytest.mark.parametrize("slug", SLUGS)
def test_start_sends_the_hub_a_request_signed_for_this_variant(
    client: FlaskClient, federation: Federation, slug: str
) -> None:
    reply = client.post(f"/{slug}/start")
    soup = check_page(reply)
    form = soup.select_one("#saml-form")
    assert form is not None and form["action"] == federation.hub.sso_url
    request = parse(base64.b64decode(str(form.select_one('input[name="SAMLRequest"]')["value"])))  # type: ignore[index]
    entry = variant(federation, slug)
    verify(request, federation.certs(entry.signing_certificates))
    assert request.get("AssertionConsumerServiceURL") == entry.default_acs_url
    assert request.findtext(q("saml", "Issuer")) == entry.entity_id
    cookie = reply.headers["Set-Cookie"]
    assert cookie.startswith(f"stub_service_{slug.replace('-', '_')}=")
    assert "HttpOnly" in cookie and f"Path=/{slug}/" in cookie
    assert federation.hub.sso_url.split("/SAML2")[0] in reply.headers["Content-Security-Policy"]


# ---- outcome pages -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sub_status", "h1", "phrase"),
    [
        (STATUS_NO_MATCH, "We could not find your record", "No match"),
        (STATUS_NO_AUTHN_CONTEXT, "You have not been signed in", "Not signed in"),
        (STATUS_AUTHN_FAILED, "The company could not confirm your identity", "Authentication failed"),
        (STATUS_REQUESTER, "Sorry, there is a problem with the service", "Request error"),
    ],
    ids=["no-match", "no-authn-context", "authn-failed", "requester"],
)
def test_outcome_page_shows_each_failure_in_plain_words(
    client: FlaskClient, federation: Federation, sub_status: str, h1: str, phrase: str
) -> None:
    slug = "check-your-paye-tax"
    request_id = start(client, slug)
    saml = hub_response(
        federation, variant(federation, slug), request_id, status=STATUS_RESPONDER, sub_status=sub_status
    )
    soup = check_page(acs(client, slug, saml))
    assert text(soup, "h1") == h1
    assert text(soup, "#outcome-status") == phrase
    assert text(soup, "#saml-status") == STATUS_RESPONDER
    assert text(soup, "#saml-sub-status") == sub_status
    assert soup.select_one("#pairwise-id") is None and soup.select_one("#record-reference") is None
    assert soup.select_one("a#start-again")["href"] == f"/{slug}/"  # type: ignore[index]


def test_no_authn_context_says_the_citizen_did_not_finish(client: FlaskClient, federation: Federation) -> None:
    request_id = start(client, "claim-a-tax-refund")
    saml = hub_response(
        federation,
        variant(federation, "claim-a-tax-refund"),
        request_id,
        status=STATUS_RESPONDER,
        sub_status=STATUS_NO_AUTHN_CONTEXT,
    )
    soup = check_page(acs(client, "claim-a-tax-refund", saml))
    assert text(soup, "h1") == "You have not been signed in"
    assert text(soup, "#outcome-lead") == "You did not finish proving your identity."
    assert text(soup, ".govuk-service-navigation__service-name") == "Claim a tax refund"


def test_matched_outcome_shows_record_identifier_and_level(
    service_app: Flask, client: FlaskClient, federation: Federation
) -> None:
    matcher: Matcher = stub_service_services(service_app).departments["hmrc"].matcher
    assert matcher.match(PAIRWISE, ALICE) is not None  # as the matching service would have, moments before
    request_id = start(client, "check-your-paye-tax")
    soup = check_page(
        acs(
            client,
            "check-your-paye-tax",
            hub_response(federation, variant(federation, "check-your-paye-tax"), request_id),
        )
    )
    assert text(soup, "h1") == "You are signed in"
    assert text(soup, "#outcome-status") == "Matched"
    assert text(soup, "#record-reference") == "PAYE-1001"
    assert text(soup, "#record-name") == "Alice Smith"
    assert text(soup, "#record-tax-code") == "1257L"
    assert text(soup, "#record-employer") == "Department for Paperwork"
    assert text(soup, "#pairwise-id") == PAIRWISE
    assert text(soup, "#level-of-assurance") == "Level 2"
    assert text(soup, "#saml-status") == STATUS_SUCCESS


def test_a_level_1_service_accepts_level_1(client: FlaskClient, federation: Federation) -> None:
    request_id = start(client, "claim-a-tax-refund")
    saml = hub_response(
        federation, variant(federation, "claim-a-tax-refund"), request_id, level=LevelOfAssurance.LEVEL_1
    )
    soup = check_page(acs(client, "claim-a-tax-refund", saml))
    assert text(soup, "#level-of-assurance") == "Level 1"
    assert text(soup, "#outcome-status") == "Matched"


def test_account_created_outcome_shows_attributes_and_new_record(
    service_app: Flask, client: FlaskClient, federation: Federation
) -> None:
    slug = "register-for-self-assessment"
    entry = variant(federation, slug)
    matcher: Matcher = stub_service_services(service_app).departments["hmrc"].matcher
    created = matcher.create(PAIRWISE, BOB)  # as the matching service's account creation would have
    assert created is not None
    request_id = start(client, slug)
    attributes = account_attributes(entry.account_creation_attributes, BOB, None)
    soup = check_page(acs(client, slug, hub_response(federation, entry, request_id, attributes=attributes)))
    assert text(soup, "h1") == "Your account has been created"
    assert text(soup, "#outcome-status") == "Account created"
    assert text(soup, "#record-reference") == created.reference
    assert text(soup, "#pairwise-id") == PAIRWISE
    received = {
        text(row, "dt"): text(row, "dd") for row in soup.select("#received-attributes .govuk-summary-list__row")
    }
    assert received == {
        "First name": "Bob",
        "Last name": "Brown",
        "Date of birth": "2 November 1975",
        "Address": "22 High Street, Bristol, BS1 4DJ",
    }


def test_attributes_the_service_did_not_ask_for_are_refused(client: FlaskClient, federation: Federation) -> None:
    slug = "check-your-paye-tax"  # asks for no account creation attributes
    request_id = start(client, slug)
    attributes = account_attributes([AccountCreationAttribute.SURNAME], BOB, None)
    check_page(
        acs(client, slug, hub_response(federation, variant(federation, slug), request_id, attributes=attributes)), 400
    )


def test_level_below_the_variant_requirement_is_refused(client: FlaskClient, federation: Federation) -> None:
    request_id = start(client, "check-your-paye-tax")
    saml = hub_response(
        federation, variant(federation, "check-your-paye-tax"), request_id, level=LevelOfAssurance.LEVEL_1
    )
    check_page(acs(client, "check-your-paye-tax", saml), 400)


def test_response_for_another_variants_acs_is_refused(client: FlaskClient, federation: Federation) -> None:
    request_id = start(client, "check-your-paye-tax")
    other = variant(federation, "claim-a-tax-refund").default_acs_url
    saml = hub_response(
        federation,
        variant(federation, "check-your-paye-tax"),
        request_id,
        status=STATUS_RESPONDER,
        sub_status=STATUS_NO_MATCH,
        destination=other,
    )
    check_page(acs(client, "check-your-paye-tax", saml), 400)
    check_page(acs(client, "claim-a-tax-refund", saml), 400)  # right Destination, but this browser never started there


@pytest.mark.parametrize("case", ["no-pending-request", "another-request", "signed-by-another-key", "replayed"])
def test_response_not_bound_to_this_browsers_request_is_refused(
    service_app: Flask, federation: Federation, case: str
) -> None:
    slug, client = "check-your-paye-tax", service_app.test_client()
    entry = variant(federation, slug)
    request_id = "_never-sent" if case == "no-pending-request" else start(client, slug)
    if case == "another-request":
        request_id = start(service_app.test_client(), slug)  # another browser's
    signer = "check-your-paye-tax-signing.crt" if case == "signed-by-another-key" else "hub-signing.crt"
    saml = hub_response(
        federation, entry, request_id, status=STATUS_RESPONDER, sub_status=STATUS_NO_MATCH, signer=signer
    )
    if case == "replayed":
        check_page(acs(client, slug, saml))
    check_page(acs(client, slug, saml), 400)


@pytest.mark.parametrize("data", [{}, {"SAMLResponse": "%%%"}, {"SAMLResponse": b64(b"<a>")}])
def test_acs_refuses_garbage_with_a_plain_400(client: FlaskClient, data: dict[str, str]) -> None:
    start(client, "check-your-paye-tax")
    soup = check_page(client.post("/check-your-paye-tax/SAML2/SSO/Response/POST", data=data), 400)
    assert text(soup, "h1") == "There is a problem with the sign-in request"


# ---- department records ------------------------------------------------------------------------------------


def _form(**changes: str) -> dict[str, str]:
    return {
        "first_name": "Zara",
        "surname": "Quinn",
        "date_of_birth-day": "9",
        "date_of_birth-month": "12",
        "date_of_birth-year": "1988",
        "postcode": "ls1 4ap",
        "nino": "",
        **changes,
    }


def test_records_lists_every_seeded_record(client: FlaskClient) -> None:
    soup = check_page(client.get("/hmrc/records"))
    references = [text(row, "th") for row in soup.select("#records tbody tr")]
    assert references == ["PAYE-1001", "PAYE-1002", "PAYE-1003", "PAYE-1004", "PAYE-1005"]
    erin = soup.select("#records tbody tr")[-1]
    assert [cell.get_text(strip=True) for cell in erin.select("td")] == [
        "Erin Evans-Hughes",
        "3 March 1970",
        "SA1 1AA",
        "SE123456C",
        "1257L",
        "Swansea Harbour Trust",
    ]


def test_add_record_form_has_every_field(client: FlaskClient) -> None:
    soup = check_page(client.get("/hmrc/records/add"))
    names = {str(node["name"]) for node in soup.select("form[novalidate] input[name]")}
    assert names == {
        "first_name",
        "surname",
        "date_of_birth-day",
        "date_of_birth-month",
        "date_of_birth-year",
        "postcode",
        "nino",
    }
    assert soup.select_one(".govuk-error-summary") is None


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"first_name": " ", "surname": ""}, {"#first_name": "Enter a first name", "#surname": "Enter a last name"}),
        (
            {"date_of_birth-day": "", "date_of_birth-month": "", "date_of_birth-year": ""},
            {"#date_of_birth-day": "Enter a date of birth"},
        ),
        ({"date_of_birth-month": ""}, {"#date_of_birth-month": "Date of birth must include a month"}),
        (
            {"date_of_birth-day": "31", "date_of_birth-month": "2"},
            {"#date_of_birth-day": "Date of birth must be a real date"},
        ),
        ({"date_of_birth-year": "2999"}, {"#date_of_birth-day": "Date of birth must be in the past"}),
        ({"postcode": ""}, {"#postcode": "Enter a postcode"}),
        ({"postcode": "not a postcode"}, {"#postcode": "Enter a real postcode"}),
        ({"nino": "AB12"}, {"#nino": "Enter a National Insurance number in the correct format"}),
    ],
    ids=["names", "no-date", "part-date", "unreal-date", "future-date", "no-postcode", "bad-postcode", "bad-nino"],
)
def test_add_record_shows_design_system_errors(
    client: FlaskClient, changes: dict[str, str], errors: dict[str, str]
) -> None:
    soup = check_page(client.post("/hmrc/records/add", data=_form(**changes)), 400)
    assert soup.title is not None and soup.title.get_text(strip=True).startswith("Error: ")
    assert text(soup, ".govuk-error-summary__title") == "There is a problem"
    summary = {str(a["href"]): a.get_text(strip=True) for a in soup.select(".govuk-error-summary__list a")}
    assert summary == errors
    inline = [node.get_text(" ", strip=True) for node in soup.select(".govuk-error-message")]
    assert inline == [f"Error: {message}" for message in errors.values()]
    for anchor in errors:
        assert soup.select_one(anchor) is not None  # each summary link lands on a field
    assert soup.select_one("#surname")["value"] == changes.get("surname", "Quinn")  # type: ignore[index]


def test_a_valid_record_is_added_and_listed(client: FlaskClient) -> None:
    reply = client.post("/hmrc/records/add", data=_form(nino="jg 10 37 59 b"))
    assert reply.status_code == 303
    soup = check_page(client.get(reply.headers["Location"]))
    rows = soup.select("#records tbody tr")
    assert len(rows) == 6
    reference = text(rows[-1], "th")
    assert reference.startswith("PAYE-9") and len(reference) == len("PAYE-91234")
    assert [cell.get_text(strip=True) for cell in rows[-1].select("td")] == [
        "Zara Quinn",
        "9 December 1988",
        "LS1 4AP",
        "JG103759B",
        "1257L",
        "Not yet known",
    ]
    assert text(soup, ".govuk-notification-banner").endswith(f"Record {reference} added")


def test_added_records_are_shared_by_every_worker_through_redis(
    app_config: dict[str, object], redis_server: RedisServer
) -> None:
    redis_server.client.flushall()
    config = {**app_config, "redis_url": redis_server.url}
    one, two = stub_service.create_app(config), stub_service.create_app(config)
    assert one.test_client().post("/hmrc/records/add", data=_form()).status_code == 303
    assert one.test_client().post("/hmrc/records/add", data=_form(first_name="Yusuf")).status_code == 303
    soup = check_page(two.test_client().get("/hmrc/records"))
    names = [cell.get_text(strip=True) for cell in soup.select("#records tbody tr td:first-of-type")]
    assert names[-2:] == ["Zara Quinn", "Yusuf Quinn"]
    matcher: Matcher = stub_service_services(two).departments["hmrc"].matcher
    zara = MatchingDataset.model_validate(
        {
            "first_names": [{"value": "Zara"}],
            "surnames": [{"value": "Quinn"}],
            "dates_of_birth": [{"value": "1988-12-09"}],
            "current_addresses": [{"lines": ["1 Park Row"], "postcode": "LS1 4AP"}],
        }
    )
    found = matcher.match(PAIRWISE, zara)
    assert found is not None and found.first_name == "Zara"


def test_nothing_personal_is_logged(
    service_app: Flask, client: FlaskClient, federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    matcher: Matcher = stub_service_services(service_app).departments["hmrc"].matcher
    matcher.match(PAIRWISE, ALICE)
    request_id = start(client, "check-your-paye-tax")
    soup = check_page(
        acs(
            client,
            "check-your-paye-tax",
            hub_response(federation, variant(federation, "check-your-paye-tax"), request_id),
        )
    )
    assert text(soup, "#outcome-status") == "Matched"
    client.post("/hmrc/records/add", data=_form(nino="JG103759B"))
    assert "Hub response: Matched" in caplog.text
    for value in (PAIRWISE, "Alice", "Smith", "1980-05-14", "Zara", "Quinn", "1988", "LS1 4AP", "JG103759B", "PAYE-"):
        assert value not in caplog.text
    assert "SAMLResponse" not in caplog.text and "<saml" not in caplog.text


def test_full_profile_service_refuses_an_assertion_the_hub_made(client: FlaskClient, federation: Federation) -> None:
    slug = "register-for-self-assessment"  # full profile: the assertion must be our matching service's
    entry = variant(federation, slug)
    request_id = start(client, slug)
    as_simple = entry.model_copy(update={"profile": Profile.SIMPLE})
    check_page(acs(client, slug, hub_response(federation, as_simple, request_id)), 400)


@pytest.mark.parametrize("stated", [("match", "LEVEL_1"), ("maybe", "LEVEL_2")], ids=["wrong-level", "odd-outcome"])
def test_simple_profile_assertion_must_state_its_outcome_and_level(
    client: FlaskClient, federation: Federation, stated: tuple[str, str]
) -> None:
    slug = "check-your-paye-tax"
    request_id = start(client, slug)
    check_page(acs(client, slug, hub_response(federation, variant(federation, slug), request_id, stated=stated)), 400)


def test_records_added_since_start_can_be_forgotten_leaving_the_seeded_ones(client: FlaskClient) -> None:
    assert client.post("/hmrc/records/add", data=_form()).status_code == 303
    soup = check_page(client.get("/hmrc/records"))
    assert len(soup.select("#records tbody tr")) == 6
    forgotten = client.post("/hmrc/records/forget-added")
    assert forgotten.status_code == 303 and forgotten.headers["Location"].endswith("/hmrc/records?forgotten=1")
    soup = check_page(client.get(forgotten.headers["Location"]))
    references = [row.select_one("th").get_text(strip=True) for row in soup.select("#records tbody tr")]  # type: ignore[union-attr]
    assert references == ["PAYE-1001", "PAYE-1002", "PAYE-1003", "PAYE-1004", "PAYE-1005"]
    assert "1 added records forgotten" in text(soup, ".govuk-notification-banner")
    assert check_page(client.get("/dwp/records")).select("#records tbody tr")  # DWP's are untouched
