"""The department's matching service: real hub-signed queries in, signed match / created answers out."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

import pytest
from flask import Flask
from lxml import etree

import stub_service
from federation.config import Federation, MatchingServiceEntry
from federation.saml.build import Subject, assertion, attribute_query, confirmation_data, soap_envelope
from federation.saml.checks import read_status, soap_body
from federation.saml.crypto import encrypt_assertion, sign, verify
from federation.saml.xml import (
    STATUS_CREATE_FAILURE,
    STATUS_CREATED,
    STATUS_MATCH,
    STATUS_NO_MATCH,
    STATUS_RESPONDER,
    STATUS_SUCCESS,
    now,
    q,
)
from federation.verify.loa import LevelOfAssurance
from federation.verify.mds import MatchingDataset, attribute_element, to_attributes
from stub_service.matcher import Matcher
from stub_service.records import RecordBook
from stub_service.services import services as stub_service_services
from tests.factories import key_pair

HUB_KEY = "hub-signing.crt"
PAIRWISE = "a" * 64

ALICE = {
    "first_names": [{"value": "Alice", "verified": True}],
    "surnames": [
        {"value": "Smith", "verified": True, "from": "2008-06-21"},
        {"value": "Jones", "verified": True, "to": "2008-06-20"},
    ],
    "dates_of_birth": [{"value": "1980-05-14", "verified": True}],
    "current_addresses": [{"lines": ["10 Downing Street", "London"], "postcode": "SW1A 2AA", "verified": True}],
}
BOB = {
    "first_names": [{"value": "Bob", "verified": True}],
    "surnames": [{"value": "Brown", "verified": True}],
    "dates_of_birth": [{"value": "1975-11-02", "verified": True}],
    "current_addresses": [{"lines": ["22 High Street", "Bristol"], "postcode": "BS1 4DJ", "verified": True}],
}
# Her record says Evans-Hughes: cycle 1 cannot find her, her National Insurance number can.
ERIN = {
    "first_names": [{"value": "Erin", "verified": True}],
    "surnames": [{"value": "Evans", "verified": True}],
    "dates_of_birth": [{"value": "1970-03-03", "verified": True}],
    "current_addresses": [{"lines": ["1 Marina", "Swansea"], "postcode": "SA1 1AA", "verified": True}],
}
PERSONAL = [
    "Alice",
    "Smith",
    "1980-05-14",
    "Bob",
    "Brown",
    "1975-11-02",
    "BS1 4DJ",
    "Erin",
    "Evans",
    "1970-03-03",
    "SE123456C",
    "SE 12 34 56 C",
    PAIRWISE,
]


@pytest.fixture()
def service_app(app_config: dict[str, object]) -> Flask:
    return stub_service.create_app(app_config)


@pytest.fixture()
def msa(federation: Federation) -> MatchingServiceEntry:
    return federation.file.relying_services[0].matching_service


def _evidence(
    federation: Federation,
    msa: MatchingServiceEntry,
    *,
    query_id: str,
    url: str,
    pairwise_id: str,
    signer: str,
    level: LevelOfAssurance | None,
    attributes: list[etree._Element],
) -> etree._Element:
    item = assertion(
        issuer=federation.hub.entity_id,
        subject=Subject(name_id=pairwise_id, in_response_to=query_id, recipient=url),
        audience=msa.entity_id,
        moment=now(),
        lifetime=dt.timedelta(minutes=5),
        level=level,
        attributes=attributes,
    )
    sign(item, key_pair(federation, signer))
    return encrypt_assertion(item, federation.cert(msa.encryption_certificate))


def build_query(
    federation: Federation,
    msa: MatchingServiceEntry,
    dataset: dict[str, Any],
    *,
    pairwise_id: str = PAIRWISE,
    cycle3: str | None = None,
    cycle3_first: bool = False,
    account_creation: bool = False,
    requested: tuple[str, ...] = (),
    signer: str = HUB_KEY,
    evidence_signer: str = HUB_KEY,
    evidence_pairwise_id: str | None = None,
    recipient: str | None = None,
) -> tuple[str, bytes]:
    """A hub-signed SOAP AttributeQuery, as the hub sends it (docs/protocol.md); returns its ID and bytes."""
    url = msa.account_creation_url if account_creation else msa.url
    assert url is not None
    query = attribute_query(issuer=federation.hub.entity_id, destination=url, name_id=pairwise_id, moment=now())
    query_id = query.get("ID", "")
    common = {
        "query_id": query_id,
        "url": recipient or url,
        "pairwise_id": evidence_pairwise_id or pairwise_id,
        "signer": evidence_signer,
    }
    mds = MatchingDataset.model_validate(dataset)
    items = [_evidence(federation, msa, level=LevelOfAssurance.LEVEL_2, attributes=to_attributes(mds), **common)]
    if cycle3 is not None:
        answer = attribute_element("NationalInsuranceNumber")
        etree.SubElement(answer, q("saml", "AttributeValue")).text = cycle3
        items.insert(0 if cycle3_first else 1, _evidence(federation, msa, level=None, attributes=[answer], **common))
    confirmation_data(query).extend(items)
    for name in requested:
        query.append(attribute_element(name))
    sign(query, key_pair(federation, signer))
    return query_id, soap_envelope(query)


def post(app: Flask, body: bytes, *, account_creation: bool = False) -> Any:
    path = "/hmrc/matching-service/account-creation/POST" if account_creation else "/hmrc/matching-service/POST"
    return app.test_client().post(path, data=body, content_type="text/xml; charset=utf-8")


def read_answer(federation: Federation, msa: MatchingServiceEntry, reply: Any, query_id: str) -> tuple[str, str | None]:
    """Check the answer is ours, signed, for this query and without assertions; return its two status codes."""
    assert reply.status_code == 200, reply.get_data(as_text=True)
    message = soap_body(reply.data)
    verify(message, federation.certs(msa.signing_certificates))
    assert message.findtext(q("saml", "Issuer")) == msa.entity_id
    assert message.get("InResponseTo") == query_id
    assert message.find(q("saml", "Assertion")) is None and message.find(q("saml", "EncryptedAssertion")) is None
    status = read_status(message)
    return status.code, status.sub_code


def _matcher(app: Flask) -> Matcher:
    matcher: Matcher = stub_service_services(app).departments["hmrc"].matcher
    return matcher


def test_cycle1_match_answers_match_and_links_the_pairwise_id(
    service_app: Flask, federation: Federation, msa: MatchingServiceEntry
) -> None:
    query_id, body = build_query(federation, msa, ALICE)
    assert read_answer(federation, msa, post(service_app, body), query_id) == (STATUS_SUCCESS, STATUS_MATCH)
    linked = _matcher(service_app).linked_record(PAIRWISE)
    assert linked is not None and linked.reference == "PAYE-1001"


def test_cycle0_finds_a_linked_pairwise_id_whatever_the_dataset(
    service_app: Flask, federation: Federation, msa: MatchingServiceEntry
) -> None:
    query_id, body = build_query(federation, msa, ALICE)
    read_answer(federation, msa, post(service_app, body), query_id)
    query_id, body = build_query(federation, msa, BOB)
    assert read_answer(federation, msa, post(service_app, body), query_id) == (STATUS_SUCCESS, STATUS_MATCH)


def test_cycle1_no_match_answers_no_match_and_links_nothing(
    service_app: Flask, federation: Federation, msa: MatchingServiceEntry
) -> None:
    query_id, body = build_query(federation, msa, BOB)
    assert read_answer(federation, msa, post(service_app, body), query_id) == (STATUS_RESPONDER, STATUS_NO_MATCH)
    assert _matcher(service_app).linked_record(PAIRWISE) is None


def test_cycle1_cannot_find_erin_under_her_other_surname(
    service_app: Flask, federation: Federation, msa: MatchingServiceEntry
) -> None:
    query_id, body = build_query(federation, msa, ERIN)
    assert read_answer(federation, msa, post(service_app, body), query_id) == (STATUS_RESPONDER, STATUS_NO_MATCH)


@pytest.mark.parametrize("answer", ["SE123456C", "se 12 34 56 c"], ids=["as-stored", "spaced-lower-case"])
@pytest.mark.parametrize("cycle3_first", [False, True], ids=["dataset-first", "cycle3-first"])
def test_cycle3_matches_erin_on_her_national_insurance_number(
    service_app: Flask, federation: Federation, msa: MatchingServiceEntry, answer: str, cycle3_first: bool
) -> None:
    query_id, body = build_query(federation, msa, ERIN, cycle3=answer, cycle3_first=cycle3_first)
    assert read_answer(federation, msa, post(service_app, body), query_id) == (STATUS_SUCCESS, STATUS_MATCH)
    linked = _matcher(service_app).linked_record(PAIRWISE)
    assert linked is not None and linked.reference == "PAYE-1005"


def test_cycle3_with_a_wrong_national_insurance_number_is_no_match(
    service_app: Flask, federation: Federation, msa: MatchingServiceEntry
) -> None:
    query_id, body = build_query(federation, msa, ERIN, cycle3="AB123456C")  # Alice's: right format, wrong person
    assert read_answer(federation, msa, post(service_app, body), query_id) == (STATUS_RESPONDER, STATUS_NO_MATCH)
    assert _matcher(service_app).linked_record(PAIRWISE) is None


def test_cycle3_needs_a_verified_date_of_birth_that_fits(
    service_app: Flask, federation: Federation, msa: MatchingServiceEntry
) -> None:
    unverified = {**ERIN, "dates_of_birth": [{"value": "1970-03-03", "verified": False}]}
    query_id, body = build_query(federation, msa, unverified, cycle3="SE123456C")
    assert read_answer(federation, msa, post(service_app, body), query_id) == (STATUS_RESPONDER, STATUS_NO_MATCH)


def test_account_creation_makes_a_linked_record_from_the_verified_dataset(
    service_app: Flask, federation: Federation, msa: MatchingServiceEntry
) -> None:
    query_id, body = build_query(
        federation, msa, BOB, account_creation=True, requested=("firstname", "surname", "dateofbirth", "currentaddress")
    )
    reply = post(service_app, body, account_creation=True)
    assert read_answer(federation, msa, reply, query_id) == (STATUS_SUCCESS, STATUS_CREATED)
    record = _matcher(service_app).linked_record(PAIRWISE)
    assert record is not None and re.fullmatch(r"PAYE-9\d{4}", record.reference)
    assert (record.first_name, record.surname, record.date_of_birth, record.postcode) == (
        "Bob",
        "Brown",
        "1975-11-02",
        "BS1 4DJ",
    )
    assert (record.details, record.nino) == ({"Tax code": "1257L", "Employer": "Not yet known"}, None)
    book: RecordBook = stub_service_services(service_app).departments["hmrc"].records
    assert record in book.all()


def test_account_creation_keeps_the_cycle3_answer_as_the_national_insurance_number(
    service_app: Flask, federation: Federation, msa: MatchingServiceEntry
) -> None:
    query_id, body = build_query(
        federation, msa, BOB, account_creation=True, cycle3="jg 10 37 59 b", requested=("firstname", "cycle_3")
    )
    assert read_answer(federation, msa, post(service_app, body, account_creation=True), query_id)[1] == STATUS_CREATED
    record = _matcher(service_app).linked_record(PAIRWISE)
    assert record is not None and record.nino == "JG103759B"


def test_a_created_record_is_found_by_cycle1_later(
    service_app: Flask, federation: Federation, msa: MatchingServiceEntry
) -> None:
    query_id, body = build_query(federation, msa, BOB, account_creation=True, requested=("firstname",))
    post(service_app, body, account_creation=True)
    query_id, body = build_query(federation, msa, BOB, pairwise_id="b" * 64)
    assert read_answer(federation, msa, post(service_app, body), query_id) == (STATUS_SUCCESS, STATUS_MATCH)


@pytest.mark.parametrize(
    "address",
    [
        {"lines": ["22 High Street"], "postcode": "BS1 4DJ", "verified": False},
        {"lines": ["22 High Street"], "postcode": "BS1 4DJ", "verified": True, "to": "2020-01-01"},
    ],
    ids=["unverified", "not-current"],
)
def test_account_creation_without_a_verified_current_address_fails(
    service_app: Flask, federation: Federation, msa: MatchingServiceEntry, address: dict[str, Any]
) -> None:
    query_id, body = build_query(
        federation,
        msa,
        {**BOB, "current_addresses": [address]},
        account_creation=True,
        requested=("firstname", "currentaddress"),
    )
    reply = post(service_app, body, account_creation=True)
    assert read_answer(federation, msa, reply, query_id) == (STATUS_RESPONDER, STATUS_CREATE_FAILURE)
    assert _matcher(service_app).linked_record(PAIRWISE) is None
    book: RecordBook = stub_service_services(service_app).departments["hmrc"].records
    assert not [r for r in book.all() if r.reference.startswith("PAYE-9")]


def check_plain_400(reply: Any) -> None:
    assert reply.status_code == 400
    text = reply.get_data(as_text=True)
    assert reply.mimetype == "text/plain"
    assert text.startswith("The matching service could not accept this query.")
    assert "Traceback" not in text and "<" not in text


def test_a_query_signed_by_another_key_is_refused(
    service_app: Flask, federation: Federation, msa: MatchingServiceEntry
) -> None:
    _, body = build_query(federation, msa, ALICE, signer="stub-idp-one-signing.crt")
    check_plain_400(post(service_app, body))
    assert _matcher(service_app).linked_record(PAIRWISE) is None


@pytest.mark.parametrize(
    "change",
    [
        {"evidence_signer": "hmrc-msa-signing.crt"},
        {"evidence_pairwise_id": "c" * 64},
        {"recipient": "http://service.you-forgot-to-start-it.invalid/matching-service/account-creation/POST"},
        {"requested": ("firstname",)},
    ],
    ids=[
        "assertion-signed-by-another-key",
        "assertion-about-someone-else",
        "assertion-for-another-url",
        "matching-query-asking-for-attributes",
    ],
)
def test_a_query_whose_evidence_does_not_fit_is_refused(
    service_app: Flask, federation: Federation, msa: MatchingServiceEntry, change: dict[str, Any]
) -> None:
    _, body = build_query(federation, msa, ALICE, **change)
    check_plain_400(post(service_app, body))


def test_a_matching_query_posted_to_account_creation_is_refused(
    service_app: Flask, federation: Federation, msa: MatchingServiceEntry
) -> None:
    _, body = build_query(federation, msa, BOB)  # its Destination and Recipient are the matching URL
    check_plain_400(post(service_app, body, account_creation=True))
    assert _matcher(service_app).linked_record(PAIRWISE) is None


def test_a_replayed_query_is_refused(service_app: Flask, federation: Federation, msa: MatchingServiceEntry) -> None:
    query_id, body = build_query(federation, msa, ALICE)
    read_answer(federation, msa, post(service_app, body), query_id)
    check_plain_400(post(service_app, body))


@pytest.mark.parametrize("body", [b"", b"<soap:Envelope", b"\x00\xff"], ids=["empty", "truncated", "binary"])
def test_account_creation_refuses_garbage(service_app: Flask, body: bytes) -> None:
    check_plain_400(post(service_app, body, account_creation=True))


def test_nothing_personal_is_logged(
    service_app: Flask, federation: Federation, msa: MatchingServiceEntry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for dataset, cycle3 in ((ALICE, None), (ERIN, "SE 12 34 56 C"), (BOB, None)):
        query_id, body = build_query(federation, msa, dataset, cycle3=cycle3, pairwise_id=PAIRWISE)
        read_answer(federation, msa, post(service_app, body), query_id)
    _, body = build_query(federation, msa, BOB, pairwise_id="d" * 64, account_creation=True, requested=("surname",))
    post(service_app, body, account_creation=True)
    assert "Matching query answered" in caplog.text
    for value in [*PERSONAL, "d" * 64]:
        assert value not in caplog.text
    assert "<saml" not in caplog.text and "PAYE-" not in caplog.text
