"""Messages the hub sends: AuthnRequests to identity providers and Responses to relying services."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from federation.config import IdentityProviderEntry, RelyingServiceEntry
from federation.crypto import encrypt_assertion, sign
from federation.loa import LevelOfAssurance
from federation.messages import Subject, assertion, authn_request, response
from federation.runtime import Runtime
from federation.xml import (
    STATUS_AUTHN_FAILED,
    STATUS_NO_AUTHN_CONTEXT,
    STATUS_REQUESTER,
    STATUS_RESPONDER,
    STATUS_SUCCESS,
    now,
)
from hub.journeys import Journey

ASSERTION_LIFETIME = dt.timedelta(minutes=5)


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
) -> etree._Element:
    """A hub-signed Response; on success it carries one hub-signed assertion encrypted to the service."""
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
    if status == STATUS_SUCCESS:
        if pairwise_id is None or level is None:
            raise ValueError("a success response needs the pairwise identifier and the level")
        statement = assertion(
            issuer=hub.entity_id,
            subject=Subject(name_id=pairwise_id, in_response_to=journey.rp_request_id, recipient=journey.acs_url),
            audience=service.entity_id,
            moment=moment,
            lifetime=ASSERTION_LIFETIME,
            level=level,
        )
        sign(statement, signing_key)
        message.append(encrypt_assertion(statement, runtime.federation.cert(service.encryption_certificate)))
    sign(message, signing_key)
    return message


def status_for_service(idp_status: str, idp_sub_status: str | None) -> tuple[str, str]:
    """The status a relying service is told for an identity provider's non-success answer (README table)."""
    if idp_sub_status == STATUS_AUTHN_FAILED:
        return STATUS_RESPONDER, STATUS_AUTHN_FAILED
    if idp_status == STATUS_REQUESTER:
        return STATUS_RESPONDER, STATUS_REQUESTER
    return STATUS_RESPONDER, STATUS_NO_AUTHN_CONTEXT
