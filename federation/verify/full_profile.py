"""The full profile: the matching service's own signed assertion goes to the relying service.

GOV.UK Verify's default: the hub signs the Response, and the assertion inside it is the matching service's,
signed by the matching service and re-encrypted by the hub to the relying service. For that, the matching
service must know whom the assertion is for. The hub says so in the AttributeQuery's ``samlp:Extensions``:

    <hub:RelyingServiceRequest EntityID="…service…" AssertionConsumerServiceURL="…acs…" RequestID="…"/>

The matching service then answers a match (or a created account) with one EncryptedAssertion, encrypted to
the hub: issuer the matching service, subject the pairwise identifier, Recipient the ACS, InResponseTo the
service's request ID, audience the service, the level, and for a new account the attributes asked for.
docs/protocol.md has the whole contract.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lxml import etree

from federation.errors import InvalidSamlMessageError
from federation.saml.build import Subject, assertion
from federation.saml.xml import child, q
from federation.verify.loa import LevelOfAssurance

HUB_NS = "urn:uk:gov:ida-hub:saml:extensions"
_REQUEST_TAG = f"{{{HUB_NS}}}RelyingServiceRequest"
ASSERTION_LIFETIME = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class RelyingServiceRequest:
    """Which service's request a full-profile matching answer is for."""

    entity_id: str
    acs_url: str
    request_id: str


def add_request_extension(query: etree._Element, request: RelyingServiceRequest) -> None:
    """Put ``request`` in the query's Extensions (after the Issuer: schema order, before signing)."""
    extensions = etree.Element(q("samlp", "Extensions"))
    etree.SubElement(
        extensions,
        _REQUEST_TAG,
        nsmap={"hub": HUB_NS},
        EntityID=request.entity_id,
        AssertionConsumerServiceURL=request.acs_url,
        RequestID=request.request_id,
    )
    issuer = child(query, "saml", "Issuer")
    if issuer is None:
        raise InvalidSamlMessageError("query has no Issuer")
    issuer.addnext(extensions)


def read_request_extension(query: etree._Element) -> RelyingServiceRequest | None:
    """The service request named in a (signature-checked) query, or None for the simple profile."""
    extensions = query.findall(q("samlp", "Extensions"))
    if not extensions:
        return None
    found = extensions[0].findall(_REQUEST_TAG)
    if len(extensions) != 1 or len(found) != 1:
        raise InvalidSamlMessageError("query Extensions must name exactly one relying service request")
    node = found[0]
    values = [node.get(name, "") for name in ("EntityID", "AssertionConsumerServiceURL", "RequestID")]
    if not all(values):
        raise InvalidSamlMessageError("relying service request in the query is incomplete")
    return RelyingServiceRequest(*values)


def service_assertion(
    *,
    issuer: str,
    request: RelyingServiceRequest,
    pairwise_id: str,
    level: LevelOfAssurance,
    moment: dt.datetime,
    attributes: list[etree._Element] | None = None,
) -> etree._Element:
    """The matching service's (unsigned) assertion about ``pairwise_id`` for the relying service."""
    return assertion(
        issuer=issuer,
        subject=Subject(name_id=pairwise_id, in_response_to=request.request_id, recipient=request.acs_url),
        audience=request.entity_id,
        moment=moment,
        lifetime=ASSERTION_LIFETIME,
        level=level,
        attributes=attributes,
    )
