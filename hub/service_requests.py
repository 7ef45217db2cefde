"""AuthnRequests from relying services: checked before a journey starts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lxml import etree

from federation.bindings import RedirectMessage, verify_redirect
from federation.config import RelyingServiceEntry
from federation.crypto import verify
from federation.errors import ProtocolError, ReplayError, UnknownEntityError
from federation.messages import check_message
from federation.runtime import Runtime
from federation.xml import BINDING_HTTP_POST, now, q
from hub.journeys import JourneyRepository

MAX_RELAY_STATE = 80  # SAML bindings §3.5.3: RelayState MUST NOT exceed 80 bytes


@dataclass(frozen=True)
class ServiceRequest:
    relying_service: RelyingServiceEntry
    request_id: str
    acs_url: str


def check_service_request(
    element: etree._Element,
    relay_state: str | None,
    runtime: Runtime,
    journeys: JourneyRepository,
    redirect: RedirectMessage | None = None,
) -> ServiceRequest:
    """Signature by the relying service's configured key, known issuer, configured ACS, fresh, not replayed.

    With the HTTP-Redirect binding (``redirect`` given) the signature is the query string's; with HTTP-POST it
    is the AuthnRequest's own enveloped signature.
    """
    moment = now()
    issuer = check_message(
        element, tag="AuthnRequest", destination=runtime.federation.hub.sso_url, now=moment, skew=runtime.skew
    )
    service = runtime.federation.relying_service(issuer)
    if service is None:
        raise UnknownEntityError("AuthnRequest from an issuer not in the federation")
    certificates = runtime.federation.certs(service.signing_certificates)
    if redirect is not None:
        verify_redirect(redirect, certificates)
    else:
        verify(element, certificates)
    acs_url = element.get("AssertionConsumerServiceURL")
    if acs_url is None:
        acs_url = service.default_acs_url
    elif acs_url not in service.assertion_consumer_urls:
        raise ProtocolError("AssertionConsumerServiceURL is not one configured for this service")
    binding = element.get("ProtocolBinding")
    if binding is not None and binding != BINDING_HTTP_POST:
        raise ProtocolError("only the HTTP-POST binding is supported for responses")
    if element.get("IsPassive") in ("true", "1"):
        raise ProtocolError("passive authentication is not supported")
    if element.find(q("samlp", "Scoping")) is not None:
        # Verify forbade Scoping too: a service must not steer the citizen to, or away from, a company.
        raise ProtocolError("Scoping is not supported")
    if relay_state is not None and len(relay_state.encode()) > MAX_RELAY_STATE:
        raise ProtocolError("RelayState is longer than 80 bytes")
    request_id = element.get("ID", "")
    # Remember the ID for twice the age we accept, so a replay is refused for as long as it could be fresh.
    if not journeys.first_use("authn-request", f"{issuer}|{request_id}", int(dt.timedelta(minutes=12).total_seconds())):
        raise ReplayError("AuthnRequest ID already used")
    return ServiceRequest(relying_service=service, request_id=request_id, acs_url=acs_url)
