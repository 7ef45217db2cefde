"""Drive a whole journey over plain HTTP, as the automation contract in the README promises."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from lxml import etree

from federation.saml.crypto import decrypt_assertion
from federation.saml.keys import KeyPair
from federation.saml.xml import parse, q, text_of
from tests.support import Citizen, LiveFederation, Page

PAYE = "check-your-paye-tax"
REFUND = "claim-a-tax-refund"
SELF_ASSESSMENT = "register-for-self-assessment"
PENSION = "view-your-state-pension"


def idp_entity(live: LiveFederation, slug: str) -> str:
    return f"{live.urls['stub_idp']}/{slug}/SAML2/metadata"


@dataclass
class Journey:
    live: LiveFederation
    service: str = PAYE
    citizen: Citizen = field(default_factory=Citizen)
    idp: str = "stub-idp-one"
    idp_answer: Page | None = None

    def to_idp(self, evidence: list[str] | None = None) -> Page:
        """From the service's start page to the identity provider's sign-in page."""
        citizen = self.citizen
        start = citizen.get(f"{self.live.urls['stub_service']}/{self.service}/")
        to_hub = citizen.submit(start)
        hub_start = citizen.submit(to_hub, selector="#saml-form")
        assert hub_start.h1 == "Prove your identity to continue", hub_start.url
        continue_link = hub_start.soup.select_one("main a.govuk-button")
        assert continue_link is not None and continue_link.get_text(strip=True) == "Start now"
        question = citizen.get(self.live.urls["hub"] + str(continue_link["href"]))
        choose = citizen.submit(question, {"evidence": evidence or ["photo_id"]})
        assert choose.h1 == "Choose a certified company", choose.url
        to_idp = citizen.submit(choose, {"company": idp_entity(self.live, self.idp)})
        return citizen.submit(to_idp, selector="#saml-form")

    def sign_in_without_waiting(
        self, username: str, level: str | None = None, decision: str = "agree", gpg45_status: str = "DF01"
    ) -> Page:
        """Sign in at the IDP and consent; return the IDP's form back to the hub, not yet posted."""
        login = self.to_idp()
        consent = self.citizen.submit(login, {"username": username, "password": "password"}, selector="#sign-in-form")
        fields = {"decision": decision, "gpg45_status": gpg45_status}
        if level:
            fields["level"] = level
        back = self.citizen.submit(consent, fields, selector="#consent-form")
        self.idp_answer = back
        return back

    def sign_in(
        self, username: str, level: str | None = None, decision: str = "agree", gpg45_status: str = "DF01"
    ) -> Page:
        """Sign in at the IDP, consent, and come back to the hub; return the first hub page after waiting."""
        back = self.sign_in_without_waiting(username, level, decision, gpg45_status)
        return self.citizen.wait(self.citizen.submit(back, selector="#saml-form"))

    def idp_outcome(self, outcome: str) -> Page:
        """Return a non-success outcome from the IDP's sign-in page."""
        login = self.to_idp()
        back = self.citizen.submit(login, {"outcome": outcome}, selector="#outcome-form")
        self.idp_answer = back
        return self.citizen.wait(self.citizen.submit(back, selector="#saml-form"))

    def to_service(self, page: Page) -> Page:
        """Post the hub's final form to the service and return the service's outcome page."""
        assert page.form("#saml-form")["action"].startswith(f"{self.live.urls['stub_service']}/{self.service}/")
        return self.citizen.submit(page, selector="#saml-form")

    def return_to_service(self, exit_page: Page) -> Page:
        """From a hub exit page: 'Go back to the service'."""
        form = next(f for f in exit_page.soup.select("form") if f.get("action", "").endswith("/return-to-service"))
        form["id"] = "return-form"
        return self.to_service(self.citizen.submit(exit_page, selector="#return-form"))

    def service_assertion(self, page: Page) -> etree._Element:
        """The assertion in the hub's final form (``page``), decrypted with the service's key."""
        response = parse(base64.b64decode(page.hidden("SAMLResponse", "#saml-form")))
        entry = self.live.federation.relying_service(f"{self.live.urls['stub_service']}/{self.service}/SAML2/metadata")
        assert entry is not None
        certificate = entry.encryption_certificate
        key = KeyPair(self.live.keys_dir / certificate.replace(".crt", ".key"), self.live.federation.cert(certificate))
        (encrypted,) = response.findall(q("saml", "EncryptedAssertion"))
        return decrypt_assertion(encrypted, key)

    def idp_persistent_id(self) -> str:
        """The NameID the IDP sent, read with the hub's key: what the service must never see."""
        assert self.idp_answer is not None
        response = parse(base64.b64decode(self.idp_answer.hidden("SAMLResponse", "#saml-form")))
        hub_key = KeyPair(self.live.keys_dir / "hub-encryption.key", self.live.federation.cert("hub-encryption.crt"))
        assertion = decrypt_assertion(response.findall(q("saml", "EncryptedAssertion"))[0], hub_key)
        return text_of(assertion.find(f"{q('saml', 'Subject')}/{q('saml', 'NameID')}"))
