"""Two departments, one citizen: each department sees its own identifier and nothing that joins the two.

alice is known to HMRC (PAYE-1001) and to DWP (SP-2001). She signs in to Check your PAYE tax (HMRC) and to View
your State Pension (DWP) through the same identity provider. The tests below take everything the two
departments hold afterwards and look for anything that joins her two accounts.

What a colluding pair of departments holds (the attacker of ``test_colluding_departments_hold_no_shared_identifier``):

- each department's records, and the links its matching service made (pairwise identifier to record);
- every query and answer its matching service received and sent, with every assertion in them decrypted with the
  matching service's own key (they are encrypted to it);
- the SAML Response each of its services received, its assertion decrypted with that service's key;
- every line the stub service logged while it served that department.

A fragment counts as a possible identifier if it is at least 12 characters long and is none of the things
below, nor the code's own vocabulary (element names, log messages: any text in the repository's code).

What they do not hold: the hub's keys and store, the identity provider's keys and records (so neither the IDP's
persistent ID for alice nor anything derived from it but their own pairwise identifier).

What joins the two accounts anyway, and is left out of the comparison on purpose: the personal data both
departments are given to match on (alice's names, date of birth, addresses), which two departments that pool
their records can always compare; the federation's public facts (entity IDs, URLs, certificates, SAML's
vocabulary); and times (two sign-ins a minute apart may be the same person; the hub adds no identifier to
that). docs/protocol.md says the same.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from federation.saml.crypto import decrypt_assertion
from federation.saml.keys import KeyPair
from federation.saml.xml import q
from federation.store import MemoryStore, RedisStore, Store
from stub_service.services import services as stub_service_services
from tests.journeys.drive import PAYE, PENSION, Journey
from tests.support import LiveFederation

# alice's personal data, as the stub IDP vouches for it and both departments' records hold it.
ALICE_PERSONAL = {
    "alice",
    "smith",
    "jones",
    "mary",
    "1980-05-14",
    "10 downing street",
    "london",
    "sw1a 2aa",
    "1 acacia avenue",
    "leeds",
    "ls1 1aa",
    "ab123456c",
    "female",
}
# What every log record carries (where in the code it was logged, the thread): not the department's data.
_STANDARD_RECORD_FIELDS = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
_WORD = re.compile(r"[A-Za-z0-9_\-./=+]{12,}")


@functools.cache
def _source_text() -> str:
    """Every word the federation's code and templates hold: vocabulary, never an identifier made at run time."""
    root = Path(__file__).resolve().parents[2]
    files = [
        path for package in ("federation", "hub", "stub_idp", "stub_service") for path in (root / package).rglob("*")
    ]
    return "\n".join(p.read_text(encoding="utf-8") for p in files if p.suffix in (".py", ".html") and p.is_file())


class Tap:
    """WSGI middleware keeping each request's path, body and answer: what the stub service app received."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.exchanges: list[tuple[str, bytes, bytes]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = BytesIO(body)
        answer = b"".join(self.app(environ, start_response))
        self.exchanges.append((environ.get("PATH_INFO", ""), body, answer))
        return [answer]

    def matching_queries(self, department: str) -> list[tuple[bytes, bytes]]:
        prefix = f"/{department}/matching-service/"
        return [(body, answer) for path, body, answer in self.exchanges if path.startswith(prefix)]


@dataclass
class Holdings:
    """Everything one department holds after the sign-ins, as text fragments and parsed XML."""

    texts: list[str] = field(default_factory=list)

    def add_xml(self, element: etree._Element, keys: list[KeyPair]) -> None:
        for encrypted in element.iter(q("saml", "EncryptedAssertion")):
            for key in keys:
                try:
                    self.add_xml(decrypt_assertion(encrypted, key), keys)
                    break
                except Exception:  # noqa: BLE001 - not this key's: try the next
                    continue
        for node in element.iter():
            if isinstance(node.tag, str):
                self.texts.extend(str(value) for value in node.attrib.values())
                if node.text and node.text.strip():
                    self.texts.append(node.text.strip())

    def tokens(self, public: set[str], certificates: list[str]) -> set[str]:
        """Every fragment that could be an identifier: long enough, not public, not a time, not personal data."""
        found: set[str] = set()
        for text in self.texts:
            if _TIMESTAMP.match(text):
                continue
            whole = [] if any(c.isspace() or c == ":" for c in text) else [text]
            for token in _WORD.findall(text) + whole:
                lowered = token.lower()
                if len(token) < 12 or _TIMESTAMP.match(token) or any(token in fact for fact in public):
                    continue
                if any("".join(token.split()) in certificate for certificate in certificates):
                    continue  # a published certificate, as a KeyInfo wraps it
                if token in _source_text():
                    continue  # the code's own words: element and attribute names, log messages
                if lowered in ALICE_PERSONAL or token.startswith(("urn:", "http://", "https://")):
                    continue
                found.add(token)
        return found


def _store_dump(store: Store, redis_prefix: str) -> list[str]:
    """Every key and value in a store, as text."""
    if isinstance(store, MemoryStore):
        return [f"{key} {store.get(key)}" for key in store.keys()]
    assert isinstance(store, RedisStore)
    client, found = store.client, []
    for key in client.scan_iter(f"{redis_prefix}:*"):
        value = client.get(key) if client.type(key) == b"string" else client.hgetall(key)
        found.append(f"{key.decode()} {value!r}")
    return found


def _key(live: LiveFederation, certificate: str) -> KeyPair:
    return KeyPair(live.keys_dir / certificate.replace(".crt", ".key"), live.federation.cert(certificate))


@pytest.fixture()
def tapped(live_federation: LiveFederation) -> Iterable[tuple[LiveFederation, Tap]]:
    app = live_federation.apps["stub_service"]
    original = app.wsgi_app
    tap = Tap(original)
    app.wsgi_app = tap  # type: ignore[method-assign]
    yield live_federation, tap
    app.wsgi_app = original  # type: ignore[method-assign]


@dataclass
class SignIn:
    journey: Journey
    outcome_page: Any
    final_page: Any

    @property
    def pairwise_id(self) -> str:
        return str(self.outcome_page.text("#pairwise-id"))


def _sign_in(live: LiveFederation, service: str) -> SignIn:
    journey = Journey(live, service=service)
    final = journey.sign_in("alice")
    return SignIn(journey, journey.to_service(final), final)


def test_one_person_at_two_departments_has_two_identifiers_and_each_department_its_own_record(
    tapped: tuple[LiveFederation, Tap],
) -> None:
    live, tap = tapped
    hmrc = _sign_in(live, PAYE)
    assert [len(tap.matching_queries("hmrc")), len(tap.matching_queries("dwp"))] == [1, 0]
    dwp = _sign_in(live, PENSION)
    assert [len(tap.matching_queries("hmrc")), len(tap.matching_queries("dwp"))] == [1, 1]

    assert hmrc.outcome_page.text("#record-reference") == "PAYE-1001"
    assert dwp.outcome_page.text("#record-reference") == "SP-2001"
    assert hmrc.pairwise_id != dwp.pairwise_id
    # Each is the hash of the IDP, the department's matching service and the IDP's persistent ID: joining them
    # needs that persistent ID, which only the IDP and the hub hold.
    idp = live.federation.identity_provider(f"{live.urls['stub_idp']}/stub-idp-one/SAML2/metadata")
    assert idp is not None
    for sign_in, department in ((hmrc, "hmrc"), (dwp, "dwp")):
        matching = f"{live.urls['stub_service']}/{department}/matching-service/SAML2/metadata"
        expected = hashlib.sha256(f"{idp.entity_id}{matching}{sign_in.journey.idp_persistent_id()}".encode())
        assert sign_in.pairwise_id == expected.hexdigest()


def test_a_matching_service_only_answers_for_its_own_departments_services(live_federation: LiveFederation) -> None:
    services = stub_service_services(live_federation.apps["stub_service"])
    hmrc, dwp = services.departments["hmrc"], services.departments["dwp"]
    assert set(hmrc.variants) == {"check-your-paye-tax", "claim-a-tax-refund", "register-for-self-assessment"}
    assert set(dwp.variants) == {"view-your-state-pension", "apply-for-carers-allowance"}
    # Nothing is shared: not the records, the matcher, the store, nor any variant.
    for name in ("records", "matcher", "store", "matching_service"):
        assert getattr(hmrc, name) is not getattr(dwp, name), name
    assert {r.reference for r in hmrc.records.all()}.isdisjoint({r.reference for r in dwp.records.all()})
    assert hmrc.records.get("SP-2001") is None and dwp.records.get("PAYE-1001") is None


def test_the_hub_keeps_nothing_that_links_the_two_sign_ins(tapped: tuple[LiveFederation, Tap]) -> None:
    live, _ = tapped
    hmrc, dwp = _sign_in(live, PAYE), _sign_in(live, PENSION)
    persistent = hmrc.journey.idp_persistent_id()
    held = "\n".join(_store_dump(live.apps["hub"].extensions["runtime"].store, "hub"))
    for secret in (hmrc.pairwise_id, dwp.pairwise_id, persistent, "Alice", "1980-05-14"):
        assert secret not in held
    assert "sealed" not in held  # no personal field outlives a journey's answer


def test_colluding_departments_hold_no_shared_identifier(
    tapped: tuple[LiveFederation, Tap], caplog: pytest.LogCaptureFixture
) -> None:
    live, tap = tapped
    holdings = {"hmrc": Holdings(), "dwp": Holdings()}
    sign_ins = {}
    for department, service in (("hmrc", PAYE), ("dwp", PENSION)):
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            sign_ins[department] = _sign_in(live, service)
        own = holdings[department]
        # Its logs.
        for record in caplog.records:
            if record.name.startswith("stub_service"):
                own.texts.append(record.getMessage())
                extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_RECORD_FIELDS}
                own.texts.extend(str(value) for value in extras.values())
        # Its matching service's queries and answers, opened with its own key.
        entry = live.federation.file.department(department)
        assert entry is not None
        msa_key = _key(live, entry.matching_services[0].encryption_certificate)
        for body, answer in tap.matching_queries(department):
            own.add_xml(etree.fromstring(body), [msa_key])
            own.add_xml(etree.fromstring(answer), [msa_key])
        # What its service received from the hub, opened with the service's key.
        service_entry = live.federation.relying_service(f"{live.urls['stub_service']}/{service}/SAML2/metadata")
        assert service_entry is not None
        response = base64.b64decode(sign_ins[department].final_page.hidden("SAMLResponse", "#saml-form"))
        own.add_xml(etree.fromstring(response), [_key(live, service_entry.encryption_certificate)])
        own.texts.append(sign_ins[department].pairwise_id)
    # Its records and links, and everything else in its store.
    departments = stub_service_services(live.apps["stub_service"]).departments
    for department, own in holdings.items():
        own.texts.extend(_store_dump(departments[department].store, f"stub-service:{department}"))
        own.texts.extend(record.model_dump_json() for record in departments[department].records.all())

    public = _public_facts(live)
    certificates = [certificate.der_base64 for certificate in live.federation.certificates.values()]
    hmrc_tokens = holdings["hmrc"].tokens(public, certificates)
    dwp_tokens = holdings["dwp"].tokens(public, certificates)
    assert sign_ins["hmrc"].pairwise_id in hmrc_tokens and sign_ins["dwp"].pairwise_id in dwp_tokens
    assert hmrc_tokens & dwp_tokens == set()
    persistent = sign_ins["hmrc"].journey.idp_persistent_id()
    assert not any(persistent in text for own in holdings.values() for text in own.texts)
    assert not any(sign_ins["dwp"].pairwise_id in text for text in holdings["hmrc"].texts)
    assert not any(sign_ins["hmrc"].pairwise_id in text for text in holdings["dwp"].texts)


def _public_facts(live: LiveFederation) -> set[str]:
    """What anyone can read: every string in the federation file, certificates (as published), metadata."""
    facts: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, str):
            facts.add(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(live.federation.file.model_dump(mode="json"))
    return facts


def test_the_audit_trail_names_the_department_with_the_service(
    live_federation: LiveFederation, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ida.audit"):
        for service in (PAYE, PENSION):
            journey = Journey(live_federation, service=service)
            journey.to_service(journey.sign_in("alice"))
    events = [json.loads(record.getMessage()) for record in caplog.records if record.name == "ida.audit"]
    by_department = {
        department: {event["event"] for event in events if event.get("department") == department}
        for department in ("hmrc", "dwp")
    }
    steps = {"journey_started", "company_chosen", "idp_outcome", "matching_outcome", "response_sent"}
    assert by_department == {"hmrc": steps, "dwp": steps}
    assert all(("/check-your-paye-tax/" in e["relying_service"]) == (e["department"] == "hmrc") for e in events)
