"""The stub IDP lets a tester return every identity-provider outcome, as docs/protocol.md encodes them.

Driven with the Flask test client and a real hub-signed AuthnRequest; every Response is checked with the
IDP's certificate and every assertion decrypted with the hub's key.
"""

from __future__ import annotations

import base64
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup, Tag
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from werkzeug.test import TestResponse

import stub_idp
from federation.config import DEFAULT_FEDERATION_FILE, Federation, IdentityProviderEntry
from federation.saml.checks import read_status
from federation.saml.crypto import decrypt_assertion, verify
from federation.saml.xml import (
    ATTR_FRAUD_EVENT_ID,
    ATTR_GPG45_STATUS,
    DETAIL_AUTHN_CANCEL,
    DETAIL_LOA_PENDING,
    STATUS_AUTHN_FAILED,
    STATUS_NO_AUTHN_CONTEXT,
    STATUS_REQUEST_DENIED,
    STATUS_REQUESTER,
    STATUS_RESPONDER,
    STATUS_SUCCESS,
    parse,
    q,
    text_of,
)
from federation.verify.loa import FRAUD_LEVEL_URI, LevelOfAssurance
from federation.verify.mds import from_attribute_statement
from stub_idp.services import services as stub_idp_services
from stub_idp.users import load_users
from tests.factories import b64, hub_authn_request, key_pair
from tests.support import RedisServer, check_page

IDP_ONE = "stub-idp-one"
REGISTRATION = {
    "first_name": "Fiona",
    "middle_names": "Grace",
    "surname": "Fictional",
    "date_of_birth-day": "9",
    "date_of_birth-month": "10",
    "date_of_birth-year": "1988",
    "gender": "FEMALE",
    "address_line_1": "4 Imaginary Close",
    "address_line_2": "",
    "address_town": "Exeter",
    "postcode": "ex1 1aa",
    "username": "fiona.test",
    "password": "correct horse",
    "level": "LEVEL_2",
}


@pytest.fixture()
def idp_app(app_config: dict[str, object]) -> Flask:
    return stub_idp.create_app(app_config)


@pytest.fixture()
def idp(idp_app: Flask) -> FlaskClient:
    return idp_app.test_client()


@dataclass
class Started:
    token: str
    request_id: str
    entry: IdentityProviderEntry


def _entry(federation: Federation, slug: str) -> IdentityProviderEntry:
    return next(e for e in federation.file.identity_providers if e.sso_url.endswith(f"/{slug}/SAML2/SSO"))


def start(idp: FlaskClient, federation: Federation, slug: str = IDP_ONE) -> Started:
    """Post a hub-signed AuthnRequest to the IDP, as the hub does, and return the login page's token."""
    entry = _entry(federation, slug)
    request = hub_authn_request(federation, entry)
    response = idp.post(f"/{slug}/SAML2/SSO", data={"SAMLRequest": b64(request)})
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == f"/{slug}/login"
    return Started(parse_qs(location.query)["request_token"][0], request.get("ID", ""), entry)


def one(node: Tag, selector: str) -> Tag:
    """The element ``selector`` finds under ``node``, which must be there."""
    found = node.select_one(selector)
    assert found is not None, f"{selector} not found"
    return found


def form_errors(soup: BeautifulSoup) -> list[tuple[str, str]]:
    """The error summary's messages with their links; checks the page is marked as having errors."""
    assert soup.title is not None and soup.title.get_text(strip=True).startswith("Error: ")
    summary = one(soup, ".govuk-error-summary")
    assert one(summary, ".govuk-error-summary__title").get_text(strip=True) == "There is a problem"
    links = [(a.get_text(strip=True), str(a["href"])) for a in summary.select("a")]
    inline = [node.get_text(" ", strip=True).removeprefix("Error: ") for node in soup.select(".govuk-error-message")]
    assert [text for text, _ in links] == inline
    for _, href in links[:1]:
        one(soup, href)
    return links


def sign_in(
    idp: FlaskClient, started: Started, username: str, slug: str = IDP_ONE, password: str = "password"
) -> BeautifulSoup:
    response = idp.post(
        f"/{slug}/login", data={"request_token": started.token, "username": username, "password": password}
    )
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == f"/{slug}/consent"
    return check_page(idp.get(response.headers["Location"]))


def idp_answer(response: TestResponse, federation: Federation, started: Started) -> etree._Element:
    """The Response the page posts to the hub, after checking its IDP signature and its addressing."""
    soup = check_page(response)
    form = one(soup, "#saml-form")
    assert form["action"] == federation.hub.acs_url
    message = parse(base64.b64decode(str(one(form, 'input[name="SAMLResponse"]')["value"])))
    verify(message, federation.certs(started.entry.signing_certificates))
    assert message.get("InResponseTo") == started.request_id
    assert message.get("Destination") == federation.hub.acs_url
    assert text_of(message.find(q("saml", "Issuer"))) == started.entry.entity_id
    return message


def assertions(message: etree._Element, federation: Federation, started: Started) -> tuple[etree._Element, ...]:
    """The two assertions, decrypted with the hub's key, each signature checked: (authentication, dataset)."""
    assert message.find(q("saml", "Assertion")) is None
    encrypted = message.findall(q("saml", "EncryptedAssertion"))
    assert len(encrypted) == 2
    decrypted = [decrypt_assertion(node, key_pair(federation, "hub-encryption.crt")) for node in encrypted]
    for item in decrypted:
        verify(item, federation.certs(started.entry.signing_certificates))
    authn = [a for a in decrypted if a.find(q("saml", "AuthnStatement")) is not None]
    dataset = [a for a in decrypted if a.find(q("saml", "AuthnStatement")) is None]
    assert len(authn) == len(dataset) == 1
    name_ids = {text_of(a.find(f"{q('saml', 'Subject')}/{q('saml', 'NameID')}")) for a in decrypted}
    assert len(name_ids) == 1
    return authn[0], dataset[0]


def class_ref(authn: etree._Element) -> str:
    path = f"{q('saml', 'AuthnStatement')}/{q('saml', 'AuthnContext')}/{q('saml', 'AuthnContextClassRef')}"
    return text_of(authn.find(path))


def attribute_values(statement: etree._Element | None) -> dict[str, str]:
    assert statement is not None
    return {
        str(a.get("Name")): text_of(a.find(q("saml", "AttributeValue")))
        for a in statement.findall(q("saml", "Attribute"))
    }


# ---- index and login ------------------------------------------------------------------------------------


def test_index_lists_each_idp_with_levels_and_evidence_and_every_seeded_user(idp: FlaskClient) -> None:
    soup = check_page(idp.get("/"))
    three = one(soup, "#idp-stub-idp-three")
    assert three.select("td")[0].get_text(strip=True) == "Level 1"
    assert "UK address" in three.select("td")[1].get_text(" ", strip=True)
    two = one(soup, "#idp-stub-idp-two").select("td")
    assert two[0].get_text(strip=True) == "Level 1 and Level 2"
    assert len(two[1].select("li")) == 2
    users = {str(row["id"]): row.select("td") for row in soup.select("#test-users tbody tr")}
    seeded = load_users()
    assert {"alice", "bob", "carol", "dan", "erin", "harry"} <= set(seeded)
    assert set(users) == {f"user-{name}" for name in seeded}
    for name, user in seeded.items():
        level, exercises = (cell.get_text(" ", strip=True) for cell in users[f"user-{name}"])
        assert (level, exercises) == (user.level.label, user.exercises)
    assert "cycle 3" in seeded["erin"].exercises.lower() and "no verified address" in seeded["harry"].exercises


def test_index_is_titled_once_by_its_name(idp: FlaskClient) -> None:
    soup = check_page(idp.get("/"))
    assert soup.title is not None and soup.title.get_text(strip=True) == "Stub identity providers"


def _brand(soup: BeautifulSoup) -> tuple[str, str]:
    """The header's name and the footer's text, after checking the page wears nothing of GOV.UK's brand."""
    assert not soup.select(".govuk-header, .govuk-logo, .govuk-footer, .govuk-footer__crown"), "GOV.UK's brand"
    assert not soup.select(".govuk-footer__copyright-logo, .govuk-footer__licence-logo"), "the crest or licence"
    assert "govuk-crest" not in str(soup) and "govuk-icon" not in str(soup)
    assert [str(link["href"]) for link in soup.select("link[rel~=icon], link[rel=mask-icon]")] == ["data:,"]
    header = one(soup, "header.govuk-template__header .govuk-generic-header__homepage-link")
    footer = one(soup, "footer.govuk-template__footer")
    return header.get_text(strip=True), footer.get_text(" ", strip=True)


def test_every_stub_idp_page_has_the_companys_plain_header_and_footer_not_govuks(
    idp: FlaskClient, federation: Federation
) -> None:
    started = start(idp, federation)
    pages = {
        "index": "/",
        "login": f"/{IDP_ONE}/login?request_token={started.token}",
        "register": f"/{IDP_ONE}/register?request_token={started.token}",
    }
    brands = {name: _brand(check_page(idp.get(url))) for name, url in pages.items()}
    idp.post(f"/{IDP_ONE}/login", data={"request_token": started.token, "username": "alice", "password": "password"})
    brands["consent"] = _brand(check_page(idp.get(f"/{IDP_ONE}/consent?request_token={started.token}")))

    footer = "A stub identity provider for testing GOV.UK Sign in. It is not a real certified company."
    assert brands == {
        "index": ("Stub identity providers", footer),
        "login": ("Stub Identity Provider One", footer),
        "register": ("Stub Identity Provider One", footer),
        "consent": ("Stub Identity Provider One", footer),
    }


def test_login_page_offers_sign_in_registration_and_every_other_outcome(
    idp: FlaskClient, federation: Federation
) -> None:
    started = start(idp, federation)
    soup = check_page(idp.get(f"/{IDP_ONE}/login?request_token={started.token}"))
    assert one(soup, "h1").get_text(strip=True) == "Sign in to Stub Identity Provider One"
    assert "Stub Identity Provider One" in str(soup.title)
    sign_in_form = soup.select("form")[0]  # the first form: what a plain HTTP client submits
    assert sign_in_form.has_attr("novalidate")
    assert {str(i["name"]) for i in sign_in_form.select("input")} == {"request_token", "username", "password"}
    for field in ("username", "password"):
        one(soup, f'label[for="{field}"]')
    register = one(soup, "#register-link")
    assert register.get_text(strip=True) == "Register a new test user"
    group = one(soup, "#sign-in-form .govuk-button-group")  # the page's two actions, side by side
    assert [str(node["id"]) for node in group.select("button, a")] == ["sign-in", "register-link"]
    assert parse_qs(urlsplit(str(register["href"])).query)["request_token"] == [started.token]
    outcome_form = one(soup, "#outcome-form")
    assert outcome_form["action"] == f"/{IDP_ONE}/outcome"
    assert one(outcome_form, 'input[name="request_token"]')["value"] == started.token
    buttons = {str(b["value"]): b.get_text(strip=True) for b in outcome_form.select('button[name="outcome"]')}
    assert buttons == {
        "cancel": "Cancel",
        "authn-failed": "Authentication failed",
        "pending": "Registration pending",
        "requester-error": "Requester error",
    }


def test_sign_in_with_a_wrong_password_shows_an_error(idp: FlaskClient, federation: Federation) -> None:
    started = start(idp, federation)
    response = idp.post(
        f"/{IDP_ONE}/login", data={"request_token": started.token, "username": "alice", "password": "wrong"}
    )
    soup = check_page(response, 400)
    assert form_errors(soup) == [("Enter a correct username and password", "#username")]


def test_empty_sign_in_form_asks_for_username_and_password(idp: FlaskClient, federation: Federation) -> None:
    started = start(idp, federation)
    soup = check_page(idp.post(f"/{IDP_ONE}/login", data={"request_token": started.token}), 400)
    assert form_errors(soup) == [("Enter your username", "#username"), ("Enter your password", "#password")]


def test_pages_may_post_the_response_to_the_hub(idp: FlaskClient, federation: Federation) -> None:
    policy = idp.get("/").headers["Content-Security-Policy"]
    hub_origin = federation.hub.acs_url.split("/SAML2/")[0]
    assert f"form-action 'self' {hub_origin}" in policy


# ---- non-success outcomes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "status", "sub_status", "detail"),
    [
        ("cancel", STATUS_RESPONDER, STATUS_NO_AUTHN_CONTEXT, DETAIL_AUTHN_CANCEL),
        ("pending", STATUS_RESPONDER, STATUS_NO_AUTHN_CONTEXT, DETAIL_LOA_PENDING),
        ("authn-failed", STATUS_RESPONDER, STATUS_AUTHN_FAILED, None),
        ("requester-error", STATUS_REQUESTER, STATUS_REQUEST_DENIED, None),
    ],
)
def test_each_other_outcome_returns_a_signed_response_with_its_status_and_no_assertions(
    idp: FlaskClient, federation: Federation, outcome: str, status: str, sub_status: str, detail: str | None
) -> None:
    started = start(idp, federation)
    response = idp.post(f"/{IDP_ONE}/outcome", data={"request_token": started.token, "outcome": outcome})
    message = idp_answer(response, federation, started)
    answer = read_status(message)
    assert (answer.code, answer.sub_code, answer.detail) == (status, sub_status, detail)
    assert message.find(q("saml", "EncryptedAssertion")) is None
    assert message.find(q("saml", "Assertion")) is None


def test_a_request_is_answered_only_once(idp: FlaskClient, federation: Federation) -> None:
    started = start(idp, federation)
    cancel = {"request_token": started.token, "outcome": "cancel"}
    assert idp.post(f"/{IDP_ONE}/outcome", data=cancel).status_code == 200
    again = check_page(idp.post(f"/{IDP_ONE}/outcome", data=cancel), 400)
    assert one(again, "h1").get_text(strip=True) == "You need to start again"


# ---- consent ---------------------------------------------------------------------------------------------


def test_consent_shows_the_dataset_and_defaults_to_the_users_level(idp: FlaskClient, federation: Federation) -> None:
    started = start(idp, federation)
    soup = sign_in(idp, started, "alice")
    rows = {
        one(row, ".govuk-summary-list__key").get_text(strip=True): one(row, ".govuk-summary-list__value").get_text(
            " ", strip=True
        )
        for row in soup.select("#matching-dataset .govuk-summary-list__row")
    }
    assert rows["First name"] == "Alice verified"
    assert rows["Last name"] == "Smith verified, from 21 June 2008 Jones verified, to 20 June 2008"
    assert rows["Date of birth"] == "14 May 1980 verified"
    assert rows["Gender"] == "Female not verified"
    assert rows["Current address"].startswith("10 Downing Street London SW1A 2AA verified")
    assert "1 Acacia Avenue" in rows["Previous addresses"]
    assert rows["Level of assurance"] == "Level 2"
    assert "asked for Level 2" in one(soup, "#levels").get_text(" ", strip=True)
    form = one(soup, "#consent-form")
    assert form.has_attr("novalidate")
    assert one(form, 'input[name="request_token"]')["value"] == started.token
    assert one(form, "legend").get_text(strip=True) == "Level of assurance to return"
    levels = {str(r["value"]): r.has_attr("checked") for r in form.select('input[name="level"]')}
    assert levels == {"LEVEL_1": False, "LEVEL_2": True, "LEVEL_X": False}
    assert one(soup, 'label[for="level-3"]').get_text(strip=True) == "Level X: report a fraud event"
    statuses = [str(o["value"]) for o in form.select('select[name="gpg45_status"] option')]
    assert statuses == ["DF01", "FI01", "IT01"]
    one(soup, 'label[for="gpg45_status"]')
    buttons = {b.get_text(strip=True): str(b["value"]) for b in form.select('button[name="decision"]')}
    assert buttons == {"I agree": "agree", "I refuse": "refuse"}


@pytest.mark.parametrize("level", [LevelOfAssurance.LEVEL_1, LevelOfAssurance.LEVEL_2])
def test_agreeing_returns_two_encrypted_assertions_at_the_chosen_level(
    idp: FlaskClient, federation: Federation, level: LevelOfAssurance
) -> None:
    started = start(idp, federation)
    sign_in(idp, started, "alice")
    response = idp.post(
        f"/{IDP_ONE}/consent",
        data={"request_token": started.token, "decision": "agree", "level": level.value, "gpg45_status": "DF01"},
    )
    message = idp_answer(response, federation, started)
    assert read_status(message).code == STATUS_SUCCESS
    authn, dataset = assertions(message, federation, started)
    assert class_ref(authn) == level.uri
    assert authn.find(q("saml", "AttributeStatement")) is None
    mds = from_attribute_statement(dataset.find(q("saml", "AttributeStatement")))
    assert [name.value for name in mds.surnames] == ["Smith", "Jones"]


def test_a_tester_may_return_a_level_the_idp_is_not_certified_for(idp: FlaskClient, federation: Federation) -> None:
    started = start(idp, federation, "stub-idp-three")  # certified for level 1 only
    sign_in(idp, started, "alice", "stub-idp-three")
    response = idp.post(
        "/stub-idp-three/consent", data={"request_token": started.token, "decision": "agree", "level": "LEVEL_2"}
    )
    authn, _ = assertions(idp_answer(response, federation, started), federation, started)
    assert class_ref(authn) == LevelOfAssurance.LEVEL_2.uri


def test_agreeing_at_level_x_reports_a_fraud_event(idp: FlaskClient, federation: Federation) -> None:
    started = start(idp, federation)
    sign_in(idp, started, "bob")
    response = idp.post(
        f"/{IDP_ONE}/consent",
        data={"request_token": started.token, "decision": "agree", "level": "LEVEL_X", "gpg45_status": "FI01"},
    )
    message = idp_answer(response, federation, started)
    assert read_status(message).code == STATUS_SUCCESS
    authn, dataset = assertions(message, federation, started)
    assert class_ref(authn) == FRAUD_LEVEL_URI
    values = attribute_values(authn.find(q("saml", "AttributeStatement")))
    assert set(values) == {ATTR_FRAUD_EVENT_ID, ATTR_GPG45_STATUS}
    assert values[ATTR_GPG45_STATUS] == "FI01"
    assert values[ATTR_FRAUD_EVENT_ID]
    assert dataset.find(q("saml", "AttributeStatement")) is not None


def test_agreeing_without_choosing_returns_the_users_own_level(idp: FlaskClient, federation: Federation) -> None:
    # The automation contract: a plain HTTP client posts only request_token and decision.
    started = start(idp, federation)
    sign_in(idp, started, "carol")
    response = idp.post(f"/{IDP_ONE}/consent", data={"request_token": started.token, "decision": "agree"})
    authn, _ = assertions(idp_answer(response, federation, started), federation, started)
    assert class_ref(authn) == LevelOfAssurance.LEVEL_1.uri


def test_refusing_returns_the_cancel_outcome(idp: FlaskClient, federation: Federation) -> None:
    started = start(idp, federation)
    sign_in(idp, started, "alice")
    response = idp.post(f"/{IDP_ONE}/consent", data={"request_token": started.token, "decision": "refuse"})
    message = idp_answer(response, federation, started)
    answer = read_status(message)
    assert (answer.code, answer.sub_code, answer.detail) == (
        STATUS_RESPONDER,
        STATUS_NO_AUTHN_CONTEXT,
        DETAIL_AUTHN_CANCEL,
    )
    assert message.find(q("saml", "EncryptedAssertion")) is None


def test_consent_with_a_level_the_page_does_not_offer_shows_an_error(idp: FlaskClient, federation: Federation) -> None:
    started = start(idp, federation)
    sign_in(idp, started, "alice")
    response = idp.post(
        f"/{IDP_ONE}/consent", data={"request_token": started.token, "decision": "agree", "level": "LEVEL_9"}
    )
    assert form_errors(check_page(response, 400)) == [("Select the level of assurance to return", "#level")]


def test_fraud_event_with_an_unknown_status_shows_an_error(idp: FlaskClient, federation: Federation) -> None:
    started = start(idp, federation)
    sign_in(idp, started, "alice")
    response = idp.post(
        f"/{IDP_ONE}/consent",
        data={"request_token": started.token, "decision": "agree", "level": "LEVEL_X", "gpg45_status": "XX99"},
    )
    assert form_errors(check_page(response, 400)) == [("Select a GPG 45 fraud status from the list", "#gpg45_status")]


def test_consent_before_signing_in_is_refused(idp: FlaskClient, federation: Federation) -> None:
    started = start(idp, federation)
    soup = check_page(idp.get(f"/{IDP_ONE}/consent?request_token={started.token}"), 400)
    assert one(soup, "h1").get_text(strip=True) == "You need to sign in first"


# ---- registration ----------------------------------------------------------------------------------------


def test_empty_registration_form_lists_every_missing_answer(idp: FlaskClient) -> None:
    soup = check_page(idp.post(f"/{IDP_ONE}/register", data={}), 400)
    links = form_errors(soup)
    assert links[0] == ("Enter the first name", "#first_name")
    assert links[1] == ("Enter the last name", "#surname")  # "Last name", as the Design System's names pattern says
    assert one(soup, 'label[for="surname"]').get_text(strip=True) == "Last name"
    assert one(soup, 'label[for="middle_names"]').get_text(strip=True) == "Middle names"
    assert [href for _, href in links] == [
        "#first_name",
        "#surname",
        "#date_of_birth-day",
        "#address_line_1",
        "#postcode",
        "#username",
        "#password",
        "#level",
    ]
    assert one(soup, "#register-form").has_attr("novalidate")


@pytest.mark.parametrize(
    ("day", "month", "year", "message", "anchor"),
    [
        ("", "", "", "Enter the date of birth", "#date_of_birth-day"),
        ("1", "", "1990", "Date of birth must include a month", "#date_of_birth-month"),
        ("31", "2", "1990", "Date of birth must be a real date", "#date_of_birth-day"),
        ("a", "2", "1990", "Date of birth must be a real date", "#date_of_birth-day"),
        ("1", "2", "90", "Year must include 4 numbers", "#date_of_birth-year"),
        ("1", "1", "2999", "Date of birth must be in the past", "#date_of_birth-day"),
    ],
)
def test_registration_accepts_only_a_real_past_date_of_birth(
    idp: FlaskClient, day: str, month: str, year: str, message: str, anchor: str
) -> None:
    data = {**REGISTRATION, "date_of_birth-day": day, "date_of_birth-month": month, "date_of_birth-year": year}
    soup = check_page(idp.post(f"/{IDP_ONE}/register", data=data), 400)
    assert form_errors(soup) == [(message, anchor)]
    assert "govuk-input--error" in one(soup, anchor)["class"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("postcode", "not a postcode", "Enter a full UK postcode, like AA1 1AA"),
        (
            "username",
            "Bad Name!",
            "Username must be 3 to 40 characters and only include lowercase letters, "
            "numbers, dots, hyphens and underscores, starting with a letter or number",
        ),
        ("username", "alice", "That username is already taken. Choose another username"),
        ("password", "short", "Password must be between 8 and 100 characters"),
        ("gender", "UNKNOWN", "Select a gender from the list"),
        ("level", "LEVEL_X", "Select the level of assurance the test user is verified to"),
    ],
)
def test_registration_explains_each_wrong_answer(idp: FlaskClient, field: str, value: str, message: str) -> None:
    soup = check_page(idp.post(f"/{IDP_ONE}/register", data={**REGISTRATION, field: value}), 400)
    assert form_errors(soup) == [(message, f"#{field}")]
    if field != "password":  # a password is never sent back
        one(soup, f'[name="{field}"]')


def test_registered_user_can_sign_in_and_shares_a_verified_dataset(idp: FlaskClient, federation: Federation) -> None:
    started = start(idp, federation)
    register = check_page(idp.get(f"/{IDP_ONE}/register?request_token={started.token}"))
    assert one(register, '#register-form input[name="request_token"]')["value"] == started.token
    response = idp.post(f"/{IDP_ONE}/register", data={**REGISTRATION, "request_token": started.token})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert "Fiona" not in location and "fiona" not in location
    assert parse_qs(urlsplit(location).query)["request_token"] == [started.token]
    assert "Set-Cookie" not in response.headers
    login = check_page(idp.get(location))
    assert "Test user registered" in one(login, ".govuk-notification-banner").get_text(" ", strip=True)
    consent = sign_in(idp, started, "fiona.test", password=REGISTRATION["password"])
    assert "Level 2" in one(consent, "#matching-dataset").get_text(" ", strip=True)
    response = idp.post(f"/{IDP_ONE}/consent", data={"request_token": started.token, "decision": "agree"})
    authn, dataset = assertions(idp_answer(response, federation, started), federation, started)
    assert class_ref(authn) == LevelOfAssurance.LEVEL_2.uri
    mds = from_attribute_statement(dataset.find(q("saml", "AttributeStatement")))
    assert [n.value for n in mds.first_names] == ["Fiona"] and [n.value for n in mds.middle_names] == ["Grace"]
    assert mds.dates_of_birth[0].value.isoformat() == "1988-10-09"
    assert mds.gender is not None and mds.gender.value == "FEMALE"
    address = mds.current_addresses[0]
    assert (address.lines, address.postcode) == (["4 Imaginary Close", "Exeter"], "EX1 1AA")
    values = [*mds.first_names, *mds.middle_names, *mds.surnames, *mds.dates_of_birth, mds.gender, address]
    assert all(value.verified for value in values)


def test_registered_usernames_are_unique_and_passwords_are_not_stored(idp_app: Flask, idp: FlaskClient) -> None:
    assert idp.post(f"/{IDP_ONE}/register", data=REGISTRATION).status_code == 303
    again = check_page(idp.post("/stub-idp-two/register", data=REGISTRATION), 400)
    assert form_errors(again) == [("That username is already taken. Choose another username", "#username")]
    stored = idp_app.extensions["runtime"].store.get("user:fiona.test")
    assert stored is not None and stored["password"] == "" and stored["password_hash"]
    assert REGISTRATION["password"] not in str(stored)


def test_a_user_registered_with_one_worker_signs_in_with_another_through_redis(
    app_config: dict[str, object], federation: Federation, redis_server: RedisServer
) -> None:
    config = {**app_config, "redis_url": redis_server.url}
    first, second = stub_idp.create_app(config).test_client(), stub_idp.create_app(config).test_client()
    username = f"worker-{uuid.uuid4().hex[:8]}"
    assert first.post(f"/{IDP_ONE}/register", data={**REGISTRATION, "username": username}).status_code == 303
    started = start(first, federation)
    sign_in(second, started, username, password=REGISTRATION["password"])
    response = second.post(f"/{IDP_ONE}/consent", data={"request_token": started.token, "decision": "agree"})
    assert read_status(idp_answer(response, federation, started)).code == STATUS_SUCCESS


def test_registration_without_a_request_returns_to_the_index(idp: FlaskClient) -> None:
    response = idp.post(f"/{IDP_ONE}/register", data=REGISTRATION)
    assert response.status_code == 303
    soup = check_page(idp.get(response.headers["Location"]))
    assert one(soup, "h1").get_text(strip=True) == "Stub identity providers"
    one(soup, ".govuk-notification-banner")


# ---- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("GET", "/stub-idp-one/login", {}),
        ("GET", "/stub-idp-one/login?request_token=", {}),
        ("POST", "/stub-idp-one/login", {"request_token": "x" * 32, "username": "alice", "password": "password"}),
        ("POST", "/stub-idp-one/outcome", {"outcome": "cancel"}),
        ("POST", "/stub-idp-one/outcome", {"request_token": "../../etc", "outcome": "cancel"}),
        ("GET", "/stub-idp-one/consent?request_token=nope", {}),
        ("POST", "/stub-idp-one/consent", {"request_token": "y" * 32, "decision": "agree"}),
        ("GET", "/stub-idp-one/register?request_token=nope", {}),
        ("POST", "/stub-idp-one/register", {**REGISTRATION, "request_token": "z" * 32}),
    ],
)
def test_unknown_request_tokens_get_a_plain_400(idp: FlaskClient, method: str, url: str, data: dict[str, str]) -> None:
    soup = check_page(idp.open(url, method=method, data=data), 400)
    assert one(soup, "h1").get_text(strip=True) == "You need to start again"


@pytest.mark.parametrize("outcome", ["", "success", "CANCEL", "fraud"])
def test_an_outcome_the_page_does_not_offer_gets_a_plain_400(
    idp: FlaskClient, federation: Federation, outcome: str
) -> None:
    started = start(idp, federation)
    check_page(idp.post(f"/{IDP_ONE}/outcome", data={"request_token": started.token, "outcome": outcome}), 400)
    # The request is still waiting: a real outcome can still answer it.
    cancel = {"request_token": started.token, "outcome": "cancel"}
    assert idp.post(f"/{IDP_ONE}/outcome", data=cancel).status_code == 200


def test_a_consent_decision_the_page_does_not_offer_gets_a_plain_400(idp: FlaskClient, federation: Federation) -> None:
    started = start(idp, federation)
    sign_in(idp, started, "alice")
    check_page(idp.post(f"/{IDP_ONE}/consent", data={"request_token": started.token, "decision": "maybe"}), 400)


def test_a_token_from_another_idp_is_refused(idp: FlaskClient, federation: Federation) -> None:
    started = start(idp, federation, "stub-idp-two")
    check_page(idp.get(f"/{IDP_ONE}/login?request_token={started.token}"), 400)
    check_page(idp.post(f"/{IDP_ONE}/outcome", data={"request_token": started.token, "outcome": "cancel"}), 400)


def test_an_unknown_idp_is_not_found(idp: FlaskClient) -> None:
    check_page(idp.get("/no-such-idp/login?request_token=abc"), 404)


# ---- logs ------------------------------------------------------------------------------------------------


def test_nothing_personal_is_logged(idp: FlaskClient, federation: Federation, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    idp.post(f"/{IDP_ONE}/register", data=REGISTRATION)
    started = start(idp, federation)
    sign_in(idp, started, "fiona.test", password=REGISTRATION["password"])
    response = idp.post(f"/{IDP_ONE}/consent", data={"request_token": started.token, "decision": "agree"})
    authn, _ = assertions(idp_answer(response, federation, started), federation, started)
    persistent_id = text_of(authn.find(f"{q('saml', 'Subject')}/{q('saml', 'NameID')}"))
    logged = " ".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "Test user registered" in logged and "Response sent to the hub" in logged
    for secret in (
        "Fiona",
        "Fictional",
        "fiona.test",
        "1988",
        "Imaginary",
        "EX1",
        persistent_id,
        started.token,
        "SAMLResponse",
        REGISTRATION["password"],
    ):
        assert secret not in logged


def test_persistent_ids_survive_a_signing_key_rollover(
    idp_app: Flask, app_config: dict[str, object], tmp_path: Path
) -> None:
    """A promoted new signing key (listed first) must not give every test user a new persistent ID."""
    import yaml

    data = yaml.safe_load(DEFAULT_FEDERATION_FILE.read_text(encoding="utf-8"))
    first = data["identity_providers"][0]
    first["signing_certificates"] = ["stub-idp-two-signing.crt", *first["signing_certificates"]]
    path = tmp_path / "federation.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    rolled = stub_idp.create_app({**app_config, "federation_file": path})
    before, after = stub_idp_services(idp_app).idps, stub_idp_services(rolled).idps
    assert before[IDP_ONE].secret == after[IDP_ONE].secret
    assert before[IDP_ONE].secret != before["stub-idp-two"].secret
