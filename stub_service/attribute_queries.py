"""Reading the hub's AttributeQuery at the matching service, and the signed answer (docs/protocol.md).

The query carries one or two hub-signed assertions encrypted to us: the matching dataset (an AuthnStatement
with the level and an AttributeStatement of ``MDS_*``) and, in cycle 3, one attribute named after the cycle 3
fact with the citizen's answer. They are told apart by what they hold, not by their order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field

from lxml import etree

from federation.config import AccountCreationAttribute, MatchingServiceEntry
from federation.errors import InvalidSamlMessageError, ProtocolError, ReplayError, UnknownEntityError
from federation.runtime import Runtime
from federation.saml.attributes import attributes_by_name
from federation.saml.build import confirmation_data, response, soap_envelope
from federation.saml.checks import CheckedAssertion, check_assertion, check_message, exact_uri, soap_body
from federation.saml.crypto import decrypt_assertion, encrypt_assertion, sign, verify
from federation.saml.xml import MAX_NAME_ID_CHARS, STATUS_SUCCESS, child, q, text_of
from federation.store import Store, replay_key
from federation.verify.account_attributes import to_attributes as account_attributes
from federation.verify.cycle3 import Cycle3AttributeName
from federation.verify.full_profile import RelyingServiceRequest, read_request_extension, service_assertion
from federation.verify.loa import LevelOfAssurance
from federation.verify.mds import MatchingDataset, from_attribute_statement
from stub_service.matcher import Cycle3Answer

SEEN_QUERY_SECONDS = 15 * 60


@dataclass(frozen=True)
class CheckedQuery:
    """A checked AttributeQuery: about whom, at what level, with which dataset and answers."""

    id: str
    pairwise_id: str
    level: LevelOfAssurance
    dataset: MatchingDataset
    cycle3: Cycle3Answer | None = None
    requested: list[AccountCreationAttribute] = field(default_factory=list)
    # Full profile: the service request our answer's assertion is for.
    service_request: RelyingServiceRequest | None = None


def read_query(
    body: bytes,
    *,
    runtime: Runtime,
    entry: MatchingServiceEntry,
    url: str,
    cycle3_names: Collection[Cycle3AttributeName],
    account_creation: bool,
    now: dt.datetime,
    services: Collection[str] = (),
    store: Store | None = None,
) -> CheckedQuery:
    """Check a SOAP AttributeQuery posted to ``url`` (our matching or account creation URL) and read it.

    ``services`` are the entity IDs of the relying services we match for: a full-profile query must name one.
    ``store`` keeps the query IDs seen (the department's own; the app's by default).
    """
    hub = runtime.federation.hub
    query = soap_body(body)
    issuer = check_message(query, tag="AttributeQuery", destination=url, now=now, skew=runtime.skew)
    if issuer != hub.entity_id:
        raise UnknownEntityError("AttributeQuery not from the hub")
    hub_certs = runtime.federation.certs(hub.signing_certificates)
    verify(query, hub_certs)
    query_id = query.get("ID", "")
    if not (store or runtime.store).add_once(replay_key("query", query_id), SEEN_QUERY_SECONDS):
        raise ReplayError("AttributeQuery ID seen before")
    subject = child(query, "saml", "Subject")
    name_id = None if subject is None else child(subject, "saml", "NameID")
    pairwise_id = exact_uri(name_id, "AttributeQuery subject", MAX_NAME_ID_CHARS)
    encrypted = confirmation_data(query).findall(q("saml", "EncryptedAssertion"))
    if not 1 <= len(encrypted) <= 2:
        raise InvalidSamlMessageError("AttributeQuery must carry one or two encrypted assertions")
    key = runtime.key_pair(entry.encryption_certificate)
    checked = [
        check_assertion(
            decrypt_assertion(item, key),
            certificates=hub_certs,
            issuer=hub.entity_id,
            audience=entry.entity_id,
            recipient=url,
            in_response_to=query_id,
            now=now,
            skew=runtime.skew,
        )
        for item in encrypted
    ]
    if any(item.name_id != pairwise_id for item in checked):
        raise ProtocolError("AttributeQuery subject differs from its assertions'")
    datasets = [item for item in checked if item.authn_context is not None]
    answers = [item for item in checked if item.authn_context is None]
    if len(datasets) != 1 or datasets[0].attribute_statement is None:
        raise InvalidSamlMessageError("AttributeQuery must carry exactly one matching dataset assertion")
    level = LevelOfAssurance.from_uri(datasets[0].authn_context or "")
    if level is None:
        raise ProtocolError("matching dataset assertion has no level of assurance we know")
    service_request = read_request_extension(query)
    if service_request is not None and service_request.entity_id not in services:
        raise UnknownEntityError("AttributeQuery names a relying service we do not match for")
    return CheckedQuery(
        id=query_id,
        pairwise_id=pairwise_id,
        level=level,
        dataset=from_attribute_statement(datasets[0].attribute_statement),
        cycle3=_cycle3_answer(answers[0], cycle3_names) if answers else None,
        requested=_requested_attributes(query, account_creation),
        service_request=service_request,
    )


def _cycle3_answer(checked: CheckedAssertion, names: Collection[Cycle3AttributeName]) -> Cycle3Answer:
    statement = checked.attribute_statement
    attributes = {} if statement is None else attributes_by_name(statement, {n.value for n in names}, "cycle 3")
    if len(attributes) != 1:
        raise InvalidSamlMessageError("cycle 3 assertion must carry exactly one attribute")
    [(name, attribute)] = attributes.items()
    values = attribute.findall(q("saml", "AttributeValue"))
    if len(values) != 1:
        raise InvalidSamlMessageError("cycle 3 assertion must carry exactly one value")
    return Cycle3Answer.of(Cycle3AttributeName(name), text_of(values[0]))


def _requested_attributes(query: etree._Element, account_creation: bool) -> list[AccountCreationAttribute]:
    attributes = query.findall(q("saml", "Attribute"))
    if attributes and not account_creation:
        raise ProtocolError("a matching query must not ask for attributes")
    known = {a.value for a in AccountCreationAttribute}
    if any(len(a) or a.get("Name") not in known for a in attributes):
        raise InvalidSamlMessageError("AttributeQuery asks for an attribute we do not know")
    return [AccountCreationAttribute(a.get("Name", "")) for a in attributes]


def answer(
    *,
    query: CheckedQuery,
    runtime: Runtime,
    entry: MatchingServiceEntry,
    status: str,
    sub_status: str,
    moment: dt.datetime,
) -> bytes:
    """Our signed SOAP Response: Issuer = this matching service, InResponseTo = the query.

    To a full-profile query that matched (or made an account) we add our own signed assertion for the service,
    encrypted to the hub; a simple-profile query gets no assertion.
    """
    key_pair = runtime.key_pair(entry.signing_certificates[0])
    message = response(
        issuer=entry.entity_id,
        destination=None,
        in_response_to=query.id,
        moment=moment,
        status=status,
        sub_status=sub_status,
    )
    if query.service_request is not None and status == STATUS_SUCCESS:
        statement = service_assertion(
            issuer=entry.entity_id,
            request=query.service_request,
            pairwise_id=query.pairwise_id,
            level=query.level,
            moment=moment,
            attributes=account_attributes(query.requested, query.dataset, query.cycle3.value if query.cycle3 else None)
            or None,
        )
        sign(statement, key_pair)
        hub = runtime.federation.hub
        message.append(encrypt_assertion(statement, runtime.federation.cert(hub.encryption_certificate)))
    sign(message, key_pair)
    return soap_envelope(message)
