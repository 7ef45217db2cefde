"""A live federation with two extra relying services, each a small app on an off-the-shelf SAML toolkit.

The services are registered in a copy of federation.yaml, with keys issued by our own PKI under the
relying-service CA, and configured from the hub's published metadata, as a department would be.
"""

from __future__ import annotations

import base64
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml
from flask import Flask

from federation.saml.xml import parse
from keys.pki import Role, Usage, issue_leaf
from tests.interop import pysaml2_sp, python3_saml_sp
from tests.interop.settings import pysaml2_config, python3_saml_settings
from tests.support import (
    Citizen,
    LiveFederation,
    Page,
    RedisServer,
    bind,
    federation_file_with,
    serve,
    start_federation,
    stop,
    url_of,
)

PYTHON3_SAML = "python3-saml-sp"
PYSAML2 = "pysaml2-sp"
IDP_ONE = "stub-idp-one"
ACCOUNT_CREATION_ENTITY_PATH = "/saml/metadata/account-creation"


@pytest.fixture(scope="session")
def interop_keys_dir(keys_dir: Path) -> Path:
    """The test PKI plus key pairs for each toolkit service, issued by the relying-service CA.

    python3-saml signs and decrypts with one key pair, so its service has only a signing certificate.
    """
    issue_leaf(keys_dir, f"{PYTHON3_SAML}-signing", Role.RP, Usage.SIGNING)
    issue_leaf(keys_dir, f"{PYSAML2}-signing", Role.RP, Usage.SIGNING)
    issue_leaf(keys_dir, f"{PYSAML2}-encryption", Role.RP, Usage.ENCRYPTION)
    return keys_dir


@dataclass
class ToolkitService:
    """One toolkit's relying service: where it listens, what the federation calls it, its app and settings."""

    name: str
    base_url: str
    entity_id: str
    acs_urls: list[str]
    app: Flask
    settings: dict[str, Any]

    @property
    def login_url(self) -> str:
        return f"{self.base_url}/saml/login"


@dataclass
class Interop:
    live: LiveFederation
    keys_dir: Path
    hub_metadata: bytes
    services: dict[str, ToolkitService] = field(default_factory=dict)

    @property
    def hub_entity_id(self) -> str:
        return self.live.federation.hub.entity_id


def _service_entry(name: str, base_url: str, acs_urls: list[str], keys: dict[str, str]) -> dict[str, Any]:
    """A relying-service entry for federation.yaml, every field spelled out (docs/integration-guide.md). It
    joins HMRC, so its department's one matching service answers for it."""
    return {
        "entity_id": f"{base_url}/saml/metadata",
        "display_name": f"Interoperability service ({name})",
        "service_url": f"{base_url}/",
        "assertion_consumer_urls": acs_urls,
        "level_of_assurance": "LEVEL_2",
        "signing_certificates": [keys["signing"]],
        "encryption_certificate": keys["encryption"],
        "account_creation_attributes": [],
        "other_ways": "You can also use this service by post.",
        "profile": "simple",
    }


def verify_metadata_with_xmlsec1(metadata: bytes, certificate: Path, directory: Path) -> None:
    """Check the hub's metadata signature as the integration guide tells a python3-saml service to."""
    path = directory / "hub-metadata.xml"
    path.write_bytes(metadata)
    subprocess.run(
        [
            "xmlsec1",
            "--verify",
            "--pubkey-cert-pem",
            str(certificate),
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
            str(path),
        ],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="session")
def interop(
    interop_keys_dir: Path, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Interop]:
    """The federation with the toolkit services registered and listening, shared by every interop test."""
    directory = tmp_path_factory.mktemp("interop-federation")
    toolkit_servers = {PYTHON3_SAML: bind(), PYSAML2: bind()}  # their URLs go into the federation file
    base = {name: url_of(server) for name, server in toolkit_servers.items()}
    acs_urls = {
        PYTHON3_SAML: [f"{base[PYTHON3_SAML]}/saml/acs"],
        PYSAML2: [f"{base[PYSAML2]}{path}" for path in pysaml2_sp.ACS_PATHS],
    }
    federation_file = federation_file_with(directory)
    data = yaml.safe_load(federation_file.read_text(encoding="utf-8"))
    hmrc = next(department for department in data["departments"] if department["id"] == "hmrc")
    keys = {
        PYTHON3_SAML: {"signing": f"{PYTHON3_SAML}-signing.crt", "encryption": f"{PYTHON3_SAML}-signing.crt"},
        PYSAML2: {"signing": f"{PYSAML2}-signing.crt", "encryption": f"{PYSAML2}-encryption.crt"},
    }
    hmrc["relying_services"] += [
        _service_entry(name, base[name], acs_urls[name], keys[name]) for name in toolkit_servers
    ]
    # The python3-saml service again, under another entity ID, creating accounts for citizens it cannot match.
    creating = _service_entry(PYTHON3_SAML, base[PYTHON3_SAML], acs_urls[PYTHON3_SAML], keys[PYTHON3_SAML])
    creating["entity_id"] = f"{base[PYTHON3_SAML]}{ACCOUNT_CREATION_ENTITY_PATH}"
    creating["account_creation_attributes"] = ["firstname", "surname", "dateofbirth", "currentaddress"]
    hmrc["relying_services"].append(creating)
    federation_file.write_text(yaml.safe_dump(data), encoding="utf-8")

    redis_server.client.flushall()  # what earlier packages left (say, an account made for bob) must not count
    live, servers = start_federation(interop_keys_dir, redis_server.url, federation_file=federation_file)
    hub = live.federation.hub
    metadata = requests.get(hub.entity_id, timeout=10).content
    verify_metadata_with_xmlsec1(metadata, interop_keys_dir / "metadata-signing.crt", directory)
    interop = Interop(live, interop_keys_dir, metadata)

    p3_settings = python3_saml_settings(
        entity_id=f"{base[PYTHON3_SAML]}/saml/metadata",
        acs_url=acs_urls[PYTHON3_SAML][0],
        hub_metadata=metadata.decode("utf-8"),
        key_pem=(interop_keys_dir / f"{PYTHON3_SAML}-signing.key").read_text(),
        cert_pem=(interop_keys_dir / f"{PYTHON3_SAML}-signing.crt").read_text(),
    )
    p2_config = pysaml2_config(
        entity_id=f"{base[PYSAML2]}/saml/metadata",
        acs_urls=acs_urls[PYSAML2],
        hub_metadata_url=hub.entity_id,
        metadata_signing_cert=interop_keys_dir / "metadata-signing.crt",
        signing=(interop_keys_dir / f"{PYSAML2}-signing.key", interop_keys_dir / f"{PYSAML2}-signing.crt"),
        encryption=(interop_keys_dir / f"{PYSAML2}-encryption.key", interop_keys_dir / f"{PYSAML2}-encryption.crt"),
    )
    apps = {
        PYTHON3_SAML: python3_saml_sp.create_app(p3_settings),
        PYSAML2: pysaml2_sp.create_app(p2_config, hub.entity_id),
    }
    settings = {PYTHON3_SAML: p3_settings, PYSAML2: p2_config}
    for name, app in apps.items():
        servers.append(serve(app, toolkit_servers[name]))
        interop.services[name] = ToolkitService(
            name, base[name], f"{base[name]}/saml/metadata", acs_urls[name], app, settings[name]
        )
    yield interop
    stop(servers)


@pytest.fixture()
def python3_saml(interop: Interop) -> Iterator[ToolkitService]:
    """The python3-saml service; a test may change its settings, which are put back afterwards."""
    service = interop.services[PYTHON3_SAML]
    yield service
    service.app.config[python3_saml_sp.SETTINGS] = service.settings


@pytest.fixture()
def pysaml2(interop: Interop) -> Iterator[ToolkitService]:
    """The pysaml2 service; a test may reconfigure it, and it is configured as before afterwards."""
    service = interop.services[PYSAML2]
    yield service
    if service.app.config[pysaml2_sp.CONFIG] is not service.settings:
        pysaml2_sp.configure(service.app, service.settings)


def sent_authn_request(page_or_url: Page | str) -> Any:
    """The AuthnRequest a toolkit sent: from its POST form or its HTTP-Redirect URL."""
    if isinstance(page_or_url, Page):
        return parse(base64.b64decode(page_or_url.hidden("SAMLRequest", "#saml-form")))
    query = parse_qs(urlsplit(page_or_url).query)
    return parse(zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -zlib.MAX_WBITS))


@dataclass
class ToolkitJourney:
    """A citizen going from a toolkit service, through the hub and a stub IDP, back to the toolkit's ACS."""

    interop: Interop
    service: ToolkitService
    binding: str = "redirect"
    query: dict[str, str] = field(default_factory=dict)  # more for the service's login page (acs_index, say)
    citizen: Citizen = field(default_factory=Citizen)
    authn_request: Any = None
    hub_answer: Page | None = None

    @property
    def urls(self) -> dict[str, str]:
        return self.interop.live.urls

    def to_hub(self) -> Page:
        """Ask the service to sign in: it sends the hub an AuthnRequest with this journey's binding."""
        params = {"binding": self.binding, **self.query}
        response = self.citizen.http.get(self.service.login_url, params=params, allow_redirects=False, timeout=30)
        if self.binding == "redirect":
            assert response.status_code == 302, response.text
            location = response.headers["Location"]
            assert location.startswith(self.interop.live.federation.hub.sso_url + "?")
            self.authn_request = sent_authn_request(location)
            return self.citizen.get(location)
        form = self.citizen.page(response)
        assert form.form("#saml-form")["action"] == self.interop.live.federation.hub.sso_url
        self.authn_request = sent_authn_request(form)
        return self.citizen.submit(form, selector="#saml-form")

    def to_idp(self) -> Page:
        hub_start = self.to_hub()
        assert hub_start.h1 == "Prove your identity to continue", hub_start.url
        continue_link = hub_start.soup.select_one("main a.govuk-button")
        assert continue_link is not None
        question = self.citizen.get(self.urls["hub"] + str(continue_link["href"]))
        choose = self.citizen.submit(question, {"evidence": ["photo_id"]})
        assert choose.h1 == "Choose a certified company", choose.url
        idp_entity = f"{self.urls['stub_idp']}/{IDP_ONE}/SAML2/metadata"
        return self.citizen.submit(self.citizen.submit(choose, {"company": idp_entity}), selector="#saml-form")

    def sign_in(self, username: str = "alice") -> Page:
        """Sign in and agree at the IDP; return the hub's page that posts the answer to the service."""
        login = self.to_idp()
        consent = self.citizen.submit(login, {"username": username, "password": "password"}, selector="#sign-in-form")
        back = self.citizen.submit(consent, {"decision": "agree"}, selector="#consent-form")
        return self._answer(self.citizen.wait(self.citizen.submit(back, selector="#saml-form")))

    def cancel_at_idp(self) -> Page:
        """Cancel at the IDP, then 'Go back to the service' from the hub's page."""
        login = self.to_idp()
        back = self.citizen.submit(login, {"outcome": "cancel"}, selector="#outcome-form")
        exit_page = self.citizen.wait(self.citizen.submit(back, selector="#saml-form"))
        assert exit_page.h1 == "You did not finish proving your identity", exit_page.url
        form = next(f for f in exit_page.soup.select("form") if str(f.get("action", "")).endswith("/return-to-service"))
        form["id"] = "return-form"
        return self._answer(self.citizen.submit(exit_page, selector="#return-form"))

    def _answer(self, page: Page) -> Page:
        assert str(page.form("#saml-form")["action"]) in self.service.acs_urls, page.url
        self.hub_answer = page
        return page

    def to_service(self, page: Page | None = None, saml_response: str | None = None) -> dict[str, Any]:
        """Post the hub's answer (or ``saml_response`` in its place) to the service's ACS; return what the
        toolkit made of it."""
        page = page or self.hub_answer
        assert page is not None
        fields: dict[str, str | list[str]] | None = None if saml_response is None else {"SAMLResponse": saml_response}
        outcome = self.citizen.submit(page, fields, selector="#saml-form")
        assert outcome.status == 200, outcome.response.text
        result: dict[str, Any] = outcome.response.json()
        return result

    @property
    def saml_response(self) -> str:
        assert self.hub_answer is not None
        return self.hub_answer.hidden("SAMLResponse", "#saml-form")
