"""The hub's home page, ``/``: what the hub is, the services a citizen starts from, its metadata and status."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser

from federation.config import Federation
from tests.browser.conftest import DROPPED_STATIC_FILE, check_accessibility
from tests.support import check_page, serve, stop, url_of


def test_home_page_says_what_the_hub_is_and_that_it_is_in_private_beta(client: FlaskClient) -> None:
    soup = check_page(client.get("/"))
    heading = soup.select_one("h1")
    assert heading is not None and heading.get_text(strip=True) == "Prove your identity to use government services"
    tag = soup.select_one(".govuk-phase-banner .govuk-tag")
    assert tag is not None and tag.get_text(strip=True) == "Private beta"
    main = soup.select_one("main")
    assert main is not None and "identity hub for government services" in main.get_text(" ", strip=True)


def test_home_page_links_each_relying_services_start_page_from_the_federation_file(
    client: FlaskClient, federation: Federation
) -> None:
    soup = check_page(client.get("/"))
    links = [(a.get_text(strip=True), a["href"]) for a in soup.select("#services a")]
    assert links == [(rp.display_name, rp.service_url) for rp in federation.file.relying_services]
    assert len(links) >= 4


def test_home_page_links_the_hubs_metadata_and_status_which_answer(client: FlaskClient, federation: Federation) -> None:
    soup = check_page(client.get("/"))
    metadata, status = soup.select_one("a#metadata-url"), soup.select_one("a#status-url")
    assert metadata is not None and status is not None
    assert metadata["href"] == metadata.get_text(strip=True) == f"{federation.hub.base_url}/SAML2/metadata"
    assert status["href"] == status.get_text(strip=True) == f"{federation.hub.base_url}/_status"
    answer = client.get(urlsplit(str(metadata["href"])).path)
    assert answer.status_code == 200 and answer.mimetype == "application/samlmetadata+xml"
    assert client.get(urlsplit(str(status["href"])).path).get_json() == {"status": "ok"}


@DROPPED_STATIC_FILE
def test_home_page_passes_axe(app: Flask, chromium: Browser) -> None:
    server = serve(app)
    context = chromium.new_context()  # JavaScript on: axe needs it
    try:
        page = context.new_page()
        response = page.goto(url_of(server) + "/")
        assert response is not None and response.status == 200
        check_accessibility(page)
    finally:
        context.close()
        stop([server])
