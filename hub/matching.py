"""The back channel to a relying service's matching service: a signed AttributeQuery over SOAP.

The query's subject is the pairwise identifier, never the IDP's persistent ID. The matching dataset goes
in a hub-signed assertion encrypted to the matching service, so only that service can read it.
"""

from __future__ import annotations

import datetime as dt
import logging
from enum import StrEnum

import requests

from federation.config import RelyingServiceEntry
from federation.crypto import encrypt_assertion, sign, verify
from federation.errors import FederationError, MatchingServiceError
from federation.loa import LevelOfAssurance
from federation.mds import MatchingDataset, to_attributes
from federation.messages import (
    Subject,
    assertion,
    attribute_query,
    check_message,
    confirmation_data,
    read_status,
    soap_body,
    soap_envelope,
)
from federation.runtime import Runtime
from federation.xml import STATUS_MATCH, STATUS_NO_MATCH, STATUS_SUCCESS, now

logger = logging.getLogger(__name__)


class MatchResult(StrEnum):
    MATCH = "match"
    NO_MATCH = "no-match"


def ask_matching_service(
    *,
    runtime: Runtime,
    service: RelyingServiceEntry,
    pairwise_id: str,
    level: LevelOfAssurance,
    dataset: MatchingDataset,
    session: requests.Session,
) -> MatchResult:
    federation = runtime.federation
    hub = federation.hub
    matcher = service.matching_service
    moment = now()
    signing_key = runtime.key_pair(hub.signing_certificates[0])
    query = attribute_query(issuer=hub.entity_id, destination=matcher.url, name_id=pairwise_id, moment=moment)
    evidence = assertion(
        issuer=hub.entity_id,
        subject=Subject(name_id=pairwise_id, in_response_to=query.get("ID", ""), recipient=matcher.url),
        audience=matcher.entity_id,
        moment=moment,
        lifetime=dt.timedelta(minutes=5),
        level=level,
        attributes=to_attributes(dataset),
    )
    sign(evidence, signing_key)
    confirmation_data(query).append(encrypt_assertion(evidence, federation.cert(matcher.encryption_certificate)))
    sign(query, signing_key)
    started = now()
    try:
        reply = session.post(
            matcher.url,
            data=soap_envelope(query),
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": "http://www.oasis-open.org/committees/security"},
            timeout=hub.matching_timeout_seconds,
        )
    except requests.RequestException as exc:
        raise MatchingServiceError(f"matching service unreachable: {type(exc).__name__}") from exc
    elapsed_ms = (now() - started).total_seconds() * 1000
    logger.info("Matching service answered HTTP %s in %.0f ms", reply.status_code, elapsed_ms,
                extra={"matching_service": matcher.entity_id})
    if reply.status_code != 200:
        raise MatchingServiceError(f"matching service answered HTTP {reply.status_code}")
    try:
        response = soap_body(reply.content)
        issuer = check_message(response, tag="Response", destination=None, now=now(), skew=runtime.skew)
        if issuer != matcher.entity_id:
            raise MatchingServiceError("matching service response from the wrong issuer")
        verify(response, federation.certs(matcher.signing_certificates))
        if response.get("InResponseTo") != query.get("ID"):
            raise MatchingServiceError("matching service answered a different query")
        status = read_status(response)
    except MatchingServiceError:
        raise
    except FederationError as exc:
        raise MatchingServiceError(f"matching service response rejected: {exc.detail}") from exc
    if status == STATUS_SUCCESS and sub_status == STATUS_MATCH:
        return MatchResult.MATCH
    if sub_status == STATUS_NO_MATCH:
        return MatchResult.NO_MATCH
    raise MatchingServiceError("matching service answered with a status we do not understand")
