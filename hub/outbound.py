"""Messages the hub sends: AuthnRequests to identity providers and Responses to relying services."""

from __future__ import annotations

from lxml import etree

from federation.config import IdentityProviderEntry, Profile, RelyingServiceEntry
from federation.errors import ProtocolError
from federation.runtime import Runtime
from federation.saml.build import authn_request, response
from federation.saml.crypto import encrypt_assertion, sign
from federation.saml.xml import (
    STATUS_SUCCESS,
    now,
    q,
    text_of,
)
from federation.verify import full_profile
from federation.verify.account_attributes import (
    LEVEL_ATTRIBUTE,
    OUTCOME_ACCOUNT_CREATED,
    OUTCOME_ATTRIBUTE,
    OUTCOME_MATCH,
    to_plain_attributes,
)
from federation.verify.loa import LevelOfAssurance
from federation.verify.mds import MatchingDataset, text_attribute
from hub.journey import STATUS_FOR_STAGE, Journey, Stage

OUTCOMES = {Stage.MATCHED: OUTCOME_MATCH, Stage.ACCOUNT_CREATED: OUTCOME_ACCOUNT_CREATED}


def request_to_idp(runtime: Runtime, idp: IdentityProviderEntry, level: LevelOfAssurance) -> etree._Element:
    """A signed AuthnRequest. It names the hub only: nothing in it says which service the citizen came from."""
    hub = runtime.federation.hub
    request = authn_request(
        issuer=hub.entity_id, destination=idp.sso_url, acs_url=hub.acs_url, moment=now(), level=level
    )
    sign(request, runtime.key_pair(hub.signing_certificates[0]))
    return request


def response_to_service(
    runtime: Runtime,
    journey: Journey,
    service: RelyingServiceEntry,
    *,
    status: str = STATUS_SUCCESS,
    sub_status: str | None = None,
    pairwise_id: str | None = None,
    level: LevelOfAssurance | None = None,
    attributes: list[etree._Element] | None = None,
    service_assertion: bytes | None = None,
) -> etree._Element:
    """A hub-signed Response; on success it carries one assertion encrypted to the service.

    Simple profile: the assertion is the hub's, signed by the hub. Full profile: ``service_assertion``, the
    matching service's own signed assertion, re-encrypted unchanged.
    """
    hub = runtime.federation.hub
    moment = now()
    signing_key = runtime.key_pair(hub.signing_certificates[0])
    message = response(
        issuer=hub.entity_id,
        destination=journey.acs_url,
        in_response_to=journey.rp_request_id,
        moment=moment,
        status=status,
        sub_status=sub_status,
    )
    if status == STATUS_SUCCESS and service_assertion is not None:
        message.append(encrypt_assertion(service_assertion, runtime.federation.cert(service.encryption_certificate)))
    elif status == STATUS_SUCCESS:
        if pairwise_id is None or level is None:
            raise ValueError("a success response needs the pairwise identifier and the level")
        statement = full_profile.service_assertion(  # the same assertion a full-profile matching service makes
            issuer=hub.entity_id,
            request=journey.service_request,
            pairwise_id=pairwise_id,
            level=level,
            moment=moment,
            attributes=attributes,
        )
        sign(statement, signing_key)
        message.append(encrypt_assertion(statement, runtime.federation.cert(service.encryption_certificate)))
    sign(message, signing_key)
    return message


def account_attributes(
    service: RelyingServiceEntry, dataset: MatchingDataset, cycle3_value: str | None
) -> dict[str, list[str]]:
    """What a simple-profile service that has created an account is sent: the attributes it asked for, as plain
    text (name → values). Taken when the account is made, so the journey keeps these rather than the dataset
    until the service is answered (``final_response`` makes them into attributes again)."""
    return {
        attribute.get("Name", ""): [text_of(value) for value in attribute.findall(q("saml", "AttributeValue"))]
        for attribute in to_plain_attributes(service.account_creation_attributes, dataset, cycle3_value)
    }


def final_response(runtime: Runtime, journey: Journey, service: RelyingServiceEntry) -> etree._Element:
    """The signed Response that ends ``journey``, built from where it stands."""
    status, sub_status = STATUS_FOR_STAGE[journey.stage]
    if status != STATUS_SUCCESS:
        return response_to_service(runtime, journey, service, status=status, sub_status=sub_status)
    if service.profile is Profile.FULL:
        if journey.service_assertion is None:
            raise ProtocolError("full-profile journey has no assertion from the matching service")
        return response_to_service(runtime, journey, service, service_assertion=journey.service_assertion.encode())
    level = journey.asserted_level
    attributes = [text_attribute(OUTCOME_ATTRIBUTE, OUTCOMES[journey.stage])]
    if level is not None:
        attributes.append(text_attribute(LEVEL_ATTRIBUTE, level.value))
    if journey.stage is Stage.ACCOUNT_CREATED and journey.account_attributes:
        attributes += [text_attribute(name, *values) for name, values in journey.account_attributes.items()]
    return response_to_service(
        runtime, journey, service, pairwise_id=journey.pairwise_id, level=level, attributes=attributes
    )
