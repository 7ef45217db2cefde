"""The back channel to a relying service's matching service: a signed AttributeQuery over SOAP.

The query's subject is the pairwise identifier, never the IDP's persistent ID. The matching dataset (and in
cycle 3 the citizen's extra answer) goes in hub-signed assertions encrypted to the matching service, so only
that service can read them. docs/protocol.md has the contract.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from enum import StrEnum

import urllib3
from lxml import etree
from urllib3.util.retry import Retry

from federation.config import Profile, RelyingServiceEntry
from federation.crypto import decrypt_assertion, encrypt_assertion, sign, verify
from federation.errors import FederationError, MatchingServiceError
from federation.full_profile import RelyingServiceRequest, add_request_extension
from federation.loa import LevelOfAssurance
from federation.mds import MatchingDataset, attribute_element, to_attributes
from federation.messages import (
    Subject,
    assertion,
    attribute_query,
    check_assertion,
    check_message,
    confirmation_data,
    read_status,
    soap_body,
    soap_envelope,
)
from federation.runtime import Runtime
from federation.xml import (
    MAX_MESSAGE_BYTES,
    STATUS_CREATE_FAILURE,
    STATUS_CREATED,
    STATUS_MATCH,
    STATUS_NO_MATCH,
    STATUS_SUCCESS,
    now,
    q,
    to_bytes,
)

logger = logging.getLogger(__name__)
EVIDENCE_LIFETIME = dt.timedelta(minutes=5)


class MatchResult(StrEnum):
    MATCH = "match"
    NO_MATCH = "no-match"
    CREATED = "created"
    CREATE_FAILURE = "create-failure"

    @property
    def success(self) -> bool:
        return self in (MatchResult.MATCH, MatchResult.CREATED)


@dataclass(frozen=True)
class MatchAnswer:
    """The matching service's answer; for a full-profile service's success, also its signed assertion (XML)."""

    result: MatchResult
    service_assertion: bytes | None = None


@dataclass(frozen=True)
class MatchSubject:
    """Whom a query is about, at what level, for which service request; a full-profile answer must match it."""

    pairwise_id: str
    level: LevelOfAssurance
    service_request: RelyingServiceRequest


_RESULTS = {
    (True, STATUS_MATCH): MatchResult.MATCH,
    (False, STATUS_NO_MATCH): MatchResult.NO_MATCH,
    (True, STATUS_CREATED): MatchResult.CREATED,
    (False, STATUS_CREATE_FAILURE): MatchResult.CREATE_FAILURE,
}


def build_query(
    *,
    runtime: Runtime,
    service: RelyingServiceEntry,
    subject: MatchSubject,
    dataset: MatchingDataset,
    cycle3_value: str | None = None,
    account_creation: bool = False,
) -> etree._Element:
    """A signed AttributeQuery for matching (cycle 1 or 3) or, with ``account_creation``, for a new account.

    For a full-profile service the query also names the service's request, so that the matching service can
    address its own assertion to the service (federation/full_profile.py).
    """
    hub = runtime.federation.hub
    matcher = service.matching_service
    url = matcher.account_creation_url if account_creation else matcher.url
    if url is None:
        raise MatchingServiceError("relying service allows no account creation")
    moment = now()
    signing_key = runtime.key_pair(hub.signing_certificates[0])
    query = attribute_query(issuer=hub.entity_id, destination=url, name_id=subject.pairwise_id, moment=moment)
    if service.profile is Profile.FULL:
        add_request_extension(query, subject.service_request)
    common = {
        "issuer": hub.entity_id,
        "subject": Subject(name_id=subject.pairwise_id, in_response_to=query.get("ID", ""), recipient=url),
        "audience": matcher.entity_id,
        "moment": moment,
        "lifetime": EVIDENCE_LIFETIME,
    }
    evidence = [assertion(level=subject.level, attributes=to_attributes(dataset), **common)]  # type: ignore[arg-type]
    if cycle3_value is not None and service.cycle3_attribute is not None:
        answer = attribute_element(service.cycle3_attribute.value)
        etree.SubElement(answer, q("saml", "AttributeValue")).text = cycle3_value
        evidence.append(assertion(attributes=[answer], **common))  # type: ignore[arg-type]
    holder = confirmation_data(query)
    for item in evidence:
        sign(item, signing_key)
        holder.append(encrypt_assertion(item, runtime.federation.cert(matcher.encryption_certificate)))
    if account_creation:
        for name in service.account_creation_attributes:
            query.append(attribute_element(name.value))
    sign(query, signing_key)
    return query


_SOAP_HEADERS = {
    "Content-Type": "text/xml; charset=utf-8",
    "SOAPAction": "http://www.oasis-open.org/committees/security",
}


def back_channel() -> urllib3.PoolManager:
    """One pool of HTTP connections per process for the back channel to matching services.

    urllib3 directly, not requests: requests' per-call preparation (proxy and .netrc lookups in the
    environment, hooks, cookie jars) cost the hub about half a millisecond a journey and bought nothing here.
    A pooled connection the matching service has just closed as idle fails before it carries the query;
    one retry on a fresh connection covers that race (seen in 34 of 3,200 benchmark journeys without it). A
    query that did arrive is never processed twice: the matching service refuses a query ID it has seen.
    Redirects are not followed: a matching service answers where it was asked.
    """
    retries = Retry(total=1, connect=1, read=1, status=0, other=0, redirect=0, allowed_methods=None, backoff_factor=0)
    return urllib3.PoolManager(num_pools=32, maxsize=8, retries=retries)


def _post(http: urllib3.PoolManager, query: etree._Element, timeout: float) -> tuple[int, bytes]:
    """POST the query in a SOAP envelope to its Destination: the HTTP status and at most the size limit of body."""
    try:
        reply = http.request(
            "POST",
            query.get("Destination", ""),
            body=soap_envelope(query),
            headers=_SOAP_HEADERS,
            timeout=urllib3.Timeout(total=timeout),
            redirect=False,
            preload_content=False,
        )
        body = reply.read(MAX_MESSAGE_BYTES + 1)
    except urllib3.exceptions.HTTPError as exc:
        raise MatchingServiceError(f"matching service unreachable: {type(exc).__name__}") from exc
    if len(body) > MAX_MESSAGE_BYTES:
        reply.close()  # the rest is unread: the connection cannot carry another query
        raise MatchingServiceError("matching service answer is too large")
    reply.release_conn()
    return reply.status, body


def send_query(
    *,
    runtime: Runtime,
    service: RelyingServiceEntry,
    query: etree._Element,
    http: urllib3.PoolManager,
    subject: MatchSubject,
) -> MatchAnswer:
    """POST the query and check the signed answer. Raises MatchingServiceError for anything but a clear answer."""
    matcher = service.matching_service
    started = now()
    http_status, body = _post(http, query, runtime.federation.hub.matching_timeout_seconds)
    elapsed_ms = (now() - started).total_seconds() * 1000
    where = {"matching_service": matcher.entity_id}
    logger.info("Matching service answered HTTP %s in %.0f ms", http_status, elapsed_ms, extra=where)
    if http_status != 200:
        raise MatchingServiceError(f"matching service answered HTTP {http_status}")
    try:
        response = soap_body(body)
        issuer = check_message(response, tag="Response", destination=None, now=now(), skew=runtime.skew)
        if issuer != matcher.entity_id:
            raise MatchingServiceError("matching service response from the wrong issuer")
        verify(response, runtime.federation.certs(matcher.signing_certificates))
        if response.get("InResponseTo") != query.get("ID"):
            raise MatchingServiceError("matching service answered a different query")
        status = read_status(response)
        result = _RESULTS.get((status.code == STATUS_SUCCESS, status.sub_code or ""))
        if result is None:
            raise MatchingServiceError("matching service answered with a status we do not understand")
        if service.profile is Profile.FULL and result.success:
            return MatchAnswer(result, _service_assertion(runtime, service, response, subject))
    except MatchingServiceError:
        raise
    except FederationError as exc:
        raise MatchingServiceError(f"matching service response rejected: {exc.detail}") from exc
    return MatchAnswer(result)


def _service_assertion(
    runtime: Runtime,
    service: RelyingServiceEntry,
    response: etree._Element,
    subject: MatchSubject,
) -> bytes:
    """The matching service's assertion for a full-profile service, checked as the service itself will check it.

    Exactly one, encrypted to the hub, signed by the matching service, about the pairwise identifier, for this
    service's request and ACS. The hub re-encrypts it unchanged, so its signature still holds at the service.
    """
    encrypted = response.findall(q("saml", "EncryptedAssertion"))
    if len(encrypted) != 1 or response.find(q("saml", "Assertion")) is not None:
        raise MatchingServiceError("full-profile matching answer must carry exactly one encrypted assertion")
    hub = runtime.federation.hub
    element = decrypt_assertion(encrypted[0], runtime.key_pair(hub.encryption_certificate))
    checked = check_assertion(
        element,
        certificates=runtime.federation.certs(service.matching_service.signing_certificates),
        issuer=service.matching_service.entity_id,
        audience=subject.service_request.entity_id,
        recipient=subject.service_request.acs_url,
        in_response_to=subject.service_request.request_id,
        now=now(),
        skew=runtime.skew,
    )
    if checked.name_id != subject.pairwise_id:
        raise MatchingServiceError("matching service assertion is about someone else")
    if checked.authn_context != subject.level.uri:
        raise MatchingServiceError("matching service assertion states another level than the identity provider's")
    return to_bytes(element)
