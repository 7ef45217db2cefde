"""Responses from identity providers: signature, binding to the journey, assertions, level and dataset."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lxml import etree

from federation.errors import CompanySuspendedError, ProtocolError, ReplayError, UnknownEntityError
from federation.runtime import Runtime
from federation.saml.attributes import attributes_by_name
from federation.saml.checks import CheckedAssertion, check_assertion, check_message, read_status
from federation.saml.crypto import decrypt_assertion, verify
from federation.saml.xml import (
    ATTR_FRAUD_EVENT_ID,
    ATTR_GPG45_STATUS,
    GPG45_FRAUD_STATUSES,
    STATUS_SUCCESS,
    now,
    q,
    text_of,
)
from federation.verify.loa import FRAUD_LEVEL_URI, LevelOfAssurance
from federation.verify.mds import MatchingDataset, from_attribute_statement
from hub.journey import Journey, JourneyRepository, Stage
from hub.journey.stages import stage_after_idp_failure


@dataclass(frozen=True)
class IdpOutcome:
    """What the IDP said. ``persistent_id`` and ``dataset`` are personal data: never log them."""

    stage: Stage
    level: LevelOfAssurance | None = None
    persistent_id: str | None = None
    dataset: MatchingDataset | None = None


def check_idp_response(
    element: etree._Element, journey: Journey, runtime: Runtime, journeys: JourneyRepository
) -> IdpOutcome:
    federation = runtime.federation
    moment = now()
    issuer = check_message(element, tag="Response", destination=federation.hub.acs_url, now=moment, skew=runtime.skew)
    idp = federation.identity_provider(issuer)
    if idp is None:
        raise UnknownEntityError("Response from an issuer not in the federation")
    if journey.idp_entity_id != issuer:
        raise ProtocolError("Response is not from the identity provider the citizen chose")
    certificates = federation.certs(idp.signing_certificates)
    verify(element, certificates)
    if idp.suspended:
        raise CompanySuspendedError("Response from a suspended identity provider")
    in_response_to = element.get("InResponseTo")
    if not in_response_to or in_response_to != journey.idp_request_id:
        raise ProtocolError("Response does not answer this journey's request")
    claimed, first_use = journeys.claim_answer(
        in_response_to, journey, "idp-response", f"{issuer}|{element.get('ID')}", 2 * 60 * 60
    )
    if not claimed:
        raise ReplayError("Response answers a request that was already answered")
    if not first_use:
        raise ReplayError("Response ID already used")
    status = read_status(element)
    encrypted = element.findall(q("saml", "EncryptedAssertion"))
    if element.find(f".//{q('saml', 'Assertion')}") is not None:
        raise ProtocolError("identity providers must encrypt their assertions")
    if len(element.findall(f".//{q('saml', 'EncryptedAssertion')}")) != len(encrypted):
        raise ProtocolError("encrypted assertions are only allowed as children of the Response")
    if status.code != STATUS_SUCCESS:
        if encrypted:
            raise ProtocolError("a non-success response must not carry assertions")
        return IdpOutcome(stage=stage_after_idp_failure(status.code, status.sub_code, status.detail))
    if len(encrypted) != 2:
        raise ProtocolError(f"a success response must carry 2 assertions, not {len(encrypted)}")
    hub_key = runtime.key_pair(federation.hub.encryption_certificate)
    checked = [
        check_assertion(
            decrypt_assertion(node, hub_key, allow_cbc=idp.allow_aes_cbc),
            certificates=certificates,
            issuer=issuer,
            audience=federation.hub.entity_id,
            recipient=federation.hub.acs_url,
            in_response_to=in_response_to,
            now=moment,
            skew=runtime.skew,
            max_authn_age=dt.timedelta(minutes=federation.hub.authn_max_age_minutes),
        )
        for node in encrypted
    ]
    ids = {element.get("ID"), *(item.id for item in checked)}
    if len(ids) != 1 + len(checked):
        raise ProtocolError("the response and its assertions must have distinct IDs")
    authn, matching = _classify(checked)
    if authn.name_id != matching.name_id:
        raise ProtocolError("the two assertions are about different subjects")
    seen = [
        (f"{issuer}|{item.id}", int((item.not_on_or_after - moment).total_seconds() + runtime.skew.total_seconds()) + 1)
        for item in checked
    ]
    if not journeys.first_use_all("assertion", seen):
        raise ReplayError("assertion ID already used")
    if authn.authn_context == FRAUD_LEVEL_URI:
        _check_fraud_attributes(authn)
        return IdpOutcome(stage=Stage.FRAUD)
    if authn.attribute_statement is not None:
        raise ProtocolError("authentication assertion carries attributes")
    level = LevelOfAssurance.from_uri(authn.authn_context or "")
    if level is None:
        raise ProtocolError("authentication assertion has no level of assurance we recognise")
    if level not in idp.levels_of_assurance or not level.satisfies(journey.level):
        # Signed and in time, but the IDP may not vouch at this level: refuse it, and let the citizen choose again.
        return IdpOutcome(stage=Stage.LEVEL_REFUSED, level=level)
    if matching.attribute_statement is None:
        raise ProtocolError("matching dataset assertion has no attributes")
    dataset = from_attribute_statement(matching.attribute_statement)
    return IdpOutcome(stage=Stage.MATCHING, level=level, persistent_id=authn.name_id, dataset=dataset)


_FRAUD_ATTRIBUTES = frozenset({ATTR_FRAUD_EVENT_ID, ATTR_GPG45_STATUS})


def _check_fraud_attributes(authn: CheckedAssertion) -> None:
    """A fraud event's authentication assertion names the event and its GPG45 status, once each, and nothing else
    (no dataset attribute belongs in it)."""
    statement = authn.attribute_statement
    attributes = {} if statement is None else attributes_by_name(statement, _FRAUD_ATTRIBUTES, "fraud event")
    values = {name: attribute.findall(q("saml", "AttributeValue")) for name, attribute in attributes.items()}
    if any(len(items) != 1 for items in values.values()):
        raise ProtocolError("fraud event attributes must have one value each")
    texts = {name: text_of(items[0]) for name, items in values.items()}
    if not texts.get(ATTR_FRAUD_EVENT_ID) or texts.get(ATTR_GPG45_STATUS) not in GPG45_FRAUD_STATUSES:
        raise ProtocolError("fraud event without a fraud event ID and a GPG45 status")


def _classify(checked: list[CheckedAssertion]) -> tuple[CheckedAssertion, CheckedAssertion]:
    """One assertion with an AuthnStatement, one with the dataset and no AuthnStatement."""
    authn = [a for a in checked if a.authn_context is not None]
    matching = [a for a in checked if a.authn_context is None and a.attribute_statement is not None]
    if len(authn) != 1 or len(matching) != 1:
        raise ProtocolError("expected one authentication assertion and one matching dataset assertion")
    return authn[0], matching[0]
