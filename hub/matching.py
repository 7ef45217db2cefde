"""The back channel to a relying service's matching service: a signed AttributeQuery over SOAP.

The query's subject is the pairwise identifier, never the IDP's persistent ID. The matching dataset (and in
cycle 3 the citizen's extra answer) goes in hub-signed assertions encrypted to the matching service, so only
that service can read them. docs/protocol.md has the contract.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import weakref
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import urllib3
from lxml import etree
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry

from federation.config import Profile, RelyingServiceEntry
from federation.errors import FederationError, MatchingServiceError
from federation.runtime import Runtime
from federation.saml.build import Subject, assertion, attribute_query, confirmation_data, soap_envelope
from federation.saml.checks import check_assertion, check_message, read_status, soap_body
from federation.saml.crypto import decrypt_assertion, encrypt_assertion, sign, verify
from federation.saml.xml import (
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
from federation.verify.full_profile import RelyingServiceRequest, add_request_extension
from federation.verify.loa import LevelOfAssurance
from federation.verify.mds import MatchingDataset, attribute_element, to_attributes

if TYPE_CHECKING:  # urllib3 defines it for type checkers only
    from urllib3._base_connection import BaseHTTPConnection

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
    address its own assertion to the service (federation/verify/full_profile.py).
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
    about = Subject(name_id=subject.pairwise_id, in_response_to=query.get("ID", ""), recipient=url)

    def evidence_assertion(level: LevelOfAssurance | None, attributes: list[etree._Element]) -> etree._Element:
        return assertion(
            issuer=hub.entity_id,
            subject=about,
            audience=matcher.entity_id,
            moment=moment,
            lifetime=EVIDENCE_LIFETIME,
            level=level,
            attributes=attributes,
        )

    evidence = [evidence_assertion(subject.level, to_attributes(dataset))]
    if cycle3_value is not None and service.cycle3_attribute is not None:
        answer = attribute_element(service.cycle3_attribute.value)
        etree.SubElement(answer, q("saml", "AttributeValue")).text = cycle3_value
        evidence.append(evidence_assertion(None, [answer]))
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


# A pooled connection idle for longer than this is not reused: it is closed and the query goes on a new one. Every
# common server keeps an idle connection open for longer (gunicorn 2 s by default, Apache httpd, Node and uvicorn
# 5 s, nginx 75 s), so the hub lets go of a connection before the matching service would, and never sends a query
# down one the service is closing at that very moment (see ``back_channel``).
IDLE_SECONDS = 1.0


class _IdleLimitPool(HTTPConnectionPool):
    """A connection pool that does not reuse a connection left idle for longer than ``IDLE_SECONDS``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._idle_since: weakref.WeakKeyDictionary[BaseHTTPConnection, float] = weakref.WeakKeyDictionary()

    def _get_conn(self, timeout: float | None = None) -> BaseHTTPConnection:
        # urllib3 has already closed a connection the server has closed (its ``is_connection_dropped`` check).
        conn = super()._get_conn(timeout)
        idle_since = self._idle_since.pop(conn, None)
        if idle_since is not None and time.monotonic() - idle_since > IDLE_SECONDS:
            conn.close()  # the request connects it again: a new TCP connection, before any byte is sent
        return conn

    def _put_conn(self, conn: BaseHTTPConnection | None) -> None:
        if conn is not None:
            self._idle_since[conn] = time.monotonic()
        super()._put_conn(conn)


class _IdleLimitHTTPSPool(_IdleLimitPool, HTTPSConnectionPool):
    pass


def back_channel() -> urllib3.PoolManager:
    """One pool of HTTP connections per process for the back channel to matching services.

    urllib3 directly, not requests: requests' per-call preparation (proxy and .netrc lookups in the
    environment, hooks, cookie jars) cost the hub about half a millisecond a journey and bought nothing here.

    A query carries the citizen's matching dataset, so it is sent at most once: it is sent again only when it
    cannot have left. In urllib3's terms (2.x: ``HTTPConnectionPool.urlopen``, ``Retry.increment``):

    - A *connect error* is raised only while the socket connects (``NewConnectionError`` for a refused
      connection or an unknown host, ``ConnectTimeoutError``), before a byte of the request is written. That
      one is retried once (``connect=1``), at once.
    - Everything after the first byte is written counts as a *read error*: ``ReadTimeoutError``, and
      ``ProtocolError`` for a connection reset or closed (``RemoteDisconnected``) after the request went, even
      a request that went down a stale pooled connection. The service may have the query by then, so a read
      error is never retried (``read=0``): the attempt fails as a matching error, and a timeout says so.
    - Nothing else is retried (``other=0``, ``status=0``), and redirects are not followed: a matching
      service answers where it was asked.

    A pooled connection the matching service has closed as idle must not lose the query either (it did in 34
    of 3,200 benchmark journeys when nothing covered it). urllib3 checks a pooled connection as it takes it
    from the pool (``is_connection_dropped``, a zero-timeout poll for EOF), closes it if the service has
    closed it, and connects again without counting a retry; the query then goes once, on the new connection.
    That leaves the race where the service closes the connection while the query is on its way, which no
    client can tell apart from a service that took the query and then dropped the connection (against
    gunicorn's 2 s keep-alive, with every query after 2 to 3.1 s idle: 2 of 2,805 queries lost). So the hub
    never reuses a connection idle for longer than ``IDLE_SECONDS``, less than any common server's keep-alive
    timeout, and the service never closes a connection as idle under a query (the same run: 0 of 2,828). One
    closed for another reason in that instant (the service shutting down) fails the attempt; the citizen can
    try again.
    """
    retries = Retry(total=1, connect=1, read=0, status=0, other=0, redirect=0, allowed_methods=None, backoff_factor=0)
    pools = urllib3.PoolManager(num_pools=32, maxsize=8, retries=retries)
    pools.pool_classes_by_scheme = {"http": _IdleLimitPool, "https": _IdleLimitHTTPSPool}
    return pools


def _failure(exc: urllib3.exceptions.HTTPError, timeout: float) -> MatchingServiceError:
    """Why a query got no answer, in words for the log: a timeout says "timeout", a refused connection
    "unreachable", and a connection lost after the query went says that it is not sent again."""
    error: Exception = exc.reason if isinstance(exc, MaxRetryError) and exc.reason is not None else exc
    name = type(error).__name__
    if isinstance(error, ReadTimeoutError):
        return MatchingServiceError(f"matching service did not answer within {timeout:g} s (timeout)")
    if isinstance(error, NewConnectionError):  # before ConnectTimeoutError, of which it is a kind
        return MatchingServiceError(f"matching service unreachable: could not connect ({name})")
    if isinstance(error, ConnectTimeoutError):
        return MatchingServiceError(f"matching service unreachable: no connection within {timeout:g} s (timeout)")
    if isinstance(error, ProtocolError):
        return MatchingServiceError(f"matching service dropped the connection without answering ({name}); not resent")
    return MatchingServiceError(f"matching service connection failed: {name}")


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
        raise _failure(exc, timeout) from exc
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
    where = {"matching_service": matcher.entity_id}
    try:
        http_status, body = _post(http, query, runtime.federation.hub.matching_timeout_seconds)
    except MatchingServiceError as exc:
        elapsed_ms = (now() - started).total_seconds() * 1000
        logger.info("Matching service gave no answer in %.0f ms: %s", elapsed_ms, exc.detail, extra=where)
        raise
    elapsed_ms = (now() - started).total_seconds() * 1000
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
