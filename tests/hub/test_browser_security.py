"""Cookies, CSRF, session fixation and security headers at the hub."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient

import hub
from federation.config import Federation
from tests.factories import b64, service_authn_request


def _start(client: FlaskClient, federation: Federation) -> str:
    response = client.post("/SAML2/SSO", data={"SAMLRequest": b64(service_authn_request(federation))})
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("hub_journey="))
    return cookie.split(";")[0].split("=", 1)[1]


def test_each_journey_gets_a_new_id_and_a_planted_one_is_never_used(
    client: FlaskClient, federation: Federation
) -> None:
    client.set_cookie("hub_journey", "attacker-chosen-value")
    first = _start(client, federation)
    second = _start(client, federation)
    assert len({first, second, "attacker-chosen-value"}) == 3


@pytest.mark.parametrize(
    "path",
    ["/which-of-these-do-you-have", "/choose-a-certified-company", "/further-information/cancel", "/return-to-service"],
)
def test_every_hub_form_refuses_a_post_without_its_token(
    client: FlaskClient, federation: Federation, path: str
) -> None:
    _start(client, federation)
    for token in (None, "wrong"):
        data = {"csrf_token": token} if token else {}
        response = client.post(path, data={**data, "evidence": "photo_id", "company": "x"})
        assert response.status_code == 403, (path, response.status_code)
        assert "Traceback" not in response.get_data(as_text=True)


def test_pages_carry_a_nonce_based_csp_and_refuse_framing(client: FlaskClient, federation: Federation) -> None:
    _start(client, federation)
    response = client.get("/start")
    policy = response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce is not None and "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    scripts = BeautifulSoup(response.get_data(as_text=True), "html.parser").select("script:not([src])")
    assert scripts and all(script.get("nonce") == nonce.group(1) for script in scripts)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP locally
    assert _start_nonce(client) != nonce.group(1)


def _start_nonce(client: FlaskClient) -> str:
    policy = client.get("/start").headers["Content-Security-Policy"]
    match = re.search(r"'nonce-([^']+)'", policy)
    assert match is not None
    return match.group(1)


def test_pages_that_carry_saml_are_not_stored(client: FlaskClient, federation: Federation) -> None:
    _start(client, federation)
    page = BeautifulSoup(client.get("/choose-a-certified-company").get_data(as_text=True), "html.parser")
    token = page.select_one('input[name="csrf_token"]')["value"]  # type: ignore[index]
    company = page.select_one('input[name="company"]')["value"]  # type: ignore[index]
    response = client.post("/choose-a-certified-company", data={"csrf_token": token, "company": company})
    assert response.status_code == 200 and "SAMLRequest" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


@pytest.fixture()
def https_hub(keys_dir: Path) -> Flask:
    urls = {"hub": "https://hub.example", "stub_idp": "https://idp.example", "stub_service": "https://service.example"}
    return hub.create_app({"keys_dir": keys_dir, "urls": urls, "testing": True})


def test_over_https_cookies_are_secure_and_cross_site_and_hsts_is_sent(https_hub: Flask, keys_dir: Path) -> None:
    from federation.config import DEFAULT_FEDERATION_FILE, load_federation

    federation = load_federation(
        DEFAULT_FEDERATION_FILE,
        keys_dir=keys_dir,
        urls={
            "hub": "https://hub.example",
            "stub_idp": "https://idp.example",
            "stub_service": "https://service.example",
        },
    )
    client = https_hub.test_client()
    response = client.post(
        "/SAML2/SSO", base_url="https://hub.example", data={"SAMLRequest": b64(service_authn_request(federation))}
    )
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("hub_journey="))
    # SameSite=None so the IDP's cross-site POST back brings the journey with it; Secure, as that requires.
    assert "Secure" in cookie and "SameSite=None" in cookie and "HttpOnly" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
