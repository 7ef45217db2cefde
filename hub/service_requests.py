"""AuthnRequests from relying services: checked before a journey starts.

Besides the security checks, these are the rules for what an off-the-shelf SAML toolkit sends by default
(docs/integration-guide.md): what the hub can honour is accepted, what it cannot is refused with a 400 page
that says so, never quietly answered with something the service did not ask for.

- NameIDPolicy: the hub always answers with a persistent pairwise NameID, so Format ``persistent`` or
  ``unspecified`` (or none) is accepted; ``transient``, ``emailAddress`` and every other format are refused
  (``UnsupportedNameIdPolicyError``), as is an SPNameQualifier naming anyone but the service. AllowCreate is
  ignored: the pairwise identifier is derived, never created or stored.
- RequestedAuthnContext: the levels of assurance the hub knows are honoured as a minimum, never below the
  level the federation file sets for the service; any other class (``PasswordProtectedTransport``, say) and
  the Comparison are ignored and the configured level is used.
- AssertionConsumerServiceIndex ``n`` is the n-th URL (from 1, as toolkits number them in metadata) of the
  service's ``assertion_consumer_urls``; it and AssertionConsumerServiceURL are mutually exclusive.
- ForceAuthn, ProviderName and AttributeConsumingServiceIndex are accepted and need nothing: every journey
  signs in afresh at an identity provider, the name shown is the federation file's and the attributes a
  service receives are set there too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from lxml import etree

from federation.config import RelyingServiceEntry
from federation.errors import ProtocolError, ServiceSuspendedError, UnknownEntityError
from federation.runtime import Runtime
from federation.saml.bindings import RedirectMessage, verify_redirect
from federation.saml.checks import check_message, exact_uri
from federation.saml.crypto import verify
from federation.saml.xml import BINDING_HTTP_POST, NAMEID_PERSISTENT, now, q
from federation.verify.loa import LevelOfAssurance
from federation.words import N_

MAX_RELAY_STATE = 80  # SAML bindings §3.5.3: RelayState MUST NOT exceed 80 bytes
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
ACCEPTED_NAMEID_FORMATS = frozenset({NAMEID_PERSISTENT, NAMEID_UNSPECIFIED})
STATUS_INVALID_NAMEID_POLICY = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"


class UnsupportedNameIdPolicyError(ProtocolError):
    """The service asked for a kind of identifier the hub never issues (SAML's InvalidNameIDPolicy)."""

    saml_sub_status: ClassVar[str] = STATUS_INVALID_NAMEID_POLICY
    description = N_(
        "The service you were using asked for a kind of sign-in this service does not provide. "
        "Go back to the service and tell them about the problem."
    )


@dataclass(frozen=True)
class ServiceRequest:
    """A checked AuthnRequest.

    ``level`` is the level the journey needs: the service's configured level, or higher where its
    RequestedAuthnContext asked for more. Everything after this step reads the level from the journey.
    """

    relying_service: RelyingServiceEntry
    request_id: str
    acs_url: str
    level: LevelOfAssurance


def check_service_request(
    element: etree._Element, relay_state: str | None, runtime: Runtime, redirect: RedirectMessage | None = None
) -> ServiceRequest:
    """Signature by the relying service's configured key, known issuer, configured ACS, fresh.

    With the HTTP-Redirect binding (``redirect`` given) the signature is the query string's; with HTTP-POST it
    is the AuthnRequest's own enveloped signature. Whether it was sent before is checked as the journey it
    starts is saved, in the same round trip (``JourneyRepository.start``).
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
    if service.suspended:
        raise ServiceSuspendedError("AuthnRequest from a suspended relying service")
    acs_url = assertion_consumer_url(element, service)
    binding = element.get("ProtocolBinding")
    if binding is not None and binding != BINDING_HTTP_POST:
        raise ProtocolError("only the HTTP-POST binding is supported for responses")
    if element.get("IsPassive") in ("true", "1"):
        raise ProtocolError("passive authentication is not supported")
    if element.find(q("samlp", "Scoping")) is not None:
        # Verify forbade Scoping too: a service must not steer the citizen to, or away from, a company.
        raise ProtocolError("Scoping is not supported")
    if element.find(q("saml", "Subject")) is not None:
        # Only the citizen says who they are, at the company they choose.
        raise ProtocolError("an AuthnRequest naming a Subject is not supported")
    check_name_id_policy(element, service)
    level = requested_level(element, service.level_of_assurance)
    if relay_state is not None and len(relay_state.encode()) > MAX_RELAY_STATE:
        raise ProtocolError("RelayState is longer than 80 bytes")
    return ServiceRequest(relying_service=service, request_id=element.get("ID", ""), acs_url=acs_url, level=level)


def assertion_consumer_url(element: etree._Element, service: RelyingServiceEntry) -> str:
    """The ACS URL the request names, the one its index points at, or the service's first: always configured."""
    url = element.get("AssertionConsumerServiceURL")
    index = element.get("AssertionConsumerServiceIndex")
    if url is not None and index is not None:
        raise ProtocolError("AssertionConsumerServiceURL and AssertionConsumerServiceIndex are mutually exclusive")
    if url is not None:
        if url not in service.assertion_consumer_urls:
            raise ProtocolError("AssertionConsumerServiceURL is not one configured for this service")
        return url
    if index is not None:
        position = int(index) if index.isascii() and index.isdigit() else 0
        if not 1 <= position <= len(service.assertion_consumer_urls):
            raise ProtocolError("AssertionConsumerServiceIndex does not name a URL configured for this service")
        return service.assertion_consumer_urls[position - 1]
    return service.default_acs_url


def check_name_id_policy(element: etree._Element, service: RelyingServiceEntry) -> None:
    """Refuse a NameIDPolicy the hub cannot honour: it only ever issues a persistent pairwise identifier."""
    policies = element.findall(q("samlp", "NameIDPolicy"))
    if len(policies) > 1:
        raise ProtocolError("AuthnRequest has more than one NameIDPolicy")
    if not policies:
        return
    name_format = policies[0].get("Format")
    if name_format is not None and name_format not in ACCEPTED_NAMEID_FORMATS:
        raise UnsupportedNameIdPolicyError(
            f"NameIDPolicy Format {name_format[:120]!r} refused: the hub issues persistent identifiers only"
        )
    if policies[0].get("SPNameQualifier") not in (None, "", service.entity_id):
        raise UnsupportedNameIdPolicyError("NameIDPolicy SPNameQualifier names a party other than the service")


def requested_level(element: etree._Element, configured: LevelOfAssurance) -> LevelOfAssurance:
    """The level the journey needs: the lowest known level the request lists, but never below ``configured``.

    A service that lists levels accepts any of them, so the lowest is the one it needs at least. Classes the
    hub does not know, and the Comparison, cannot lower or change what the federation file requires.
    """
    contexts = element.findall(q("samlp", "RequestedAuthnContext"))
    if len(contexts) > 1:
        raise ProtocolError("AuthnRequest has more than one RequestedAuthnContext")
    if not contexts:
        return configured
    known = [
        level
        for ref in contexts[0].findall(q("saml", "AuthnContextClassRef"))
        # Exactly as sent (docs/security.md): a padded level is refused, neither trimmed nor ignored, since
        # ignoring it could give the service a lower level than it asked for.
        if (level := LevelOfAssurance.from_uri(exact_uri(ref, "RequestedAuthnContext class reference"))) is not None
    ]
    if not known:
        return configured
    floor = min(known, key=lambda level: level.rank)
    return floor if floor.rank > configured.rank else configured
