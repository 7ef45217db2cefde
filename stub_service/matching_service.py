"""The stub service's matching service: answers the hub's AttributeQuery over SOAP with match or no-match."""

from __future__ import annotations

import logging
from typing import cast

from flask import Blueprint, Response, current_app, request

from federation.config import RelyingServiceEntry
from federation.crypto import decrypt_assertion, sign, verify
from federation.errors import InvalidSamlMessageError, ProtocolError, UnknownEntityError
from federation.mds import from_attribute_statement
from federation.messages import (
    check_assertion,
    check_message,
    confirmation_data,
    response,
    soap_body,
    soap_envelope,
)
from federation.runtime import Runtime
from federation.xml import STATUS_MATCH, STATUS_NO_MATCH, STATUS_RESPONDER, STATUS_SUCCESS, child, now, q, text_of
from stub_service.records import Matcher

logger = logging.getLogger(__name__)
blueprint = Blueprint("matching_service", __name__)


@blueprint.post("/matching-service/POST")
def attribute_query() -> Response:
    runtime = cast(Runtime, current_app.extensions["runtime"])
    service = cast(RelyingServiceEntry, current_app.extensions["relying_service"])
    matcher_entry = service.matching_service
    hub = runtime.federation.hub
    moment = now()
    query = soap_body(request.get_data())
    issuer = check_message(query, tag="AttributeQuery", destination=matcher_entry.url, now=moment, skew=runtime.skew)
    if issuer != hub.entity_id:
        raise UnknownEntityError("AttributeQuery not from the hub")
    hub_certs = runtime.federation.certs(hub.signing_certificates)
    verify(query, hub_certs)
    evidence = confirmation_data(query).findall(q("saml", "EncryptedAssertion"))
    if len(evidence) != 1:
        raise InvalidSamlMessageError("AttributeQuery must carry one encrypted assertion")
    checked = check_assertion(
        decrypt_assertion(evidence[0], runtime.key_pair(matcher_entry.encryption_certificate)),
        certificates=hub_certs,
        issuer=hub.entity_id,
        audience=matcher_entry.entity_id,
        recipient=matcher_entry.url,
        in_response_to=query.get("ID"),
        now=moment,
        skew=runtime.skew,
    )
    subject = child(query, "saml", "Subject")
    if subject is None or text_of(child(subject, "saml", "NameID")) != checked.name_id:
        raise ProtocolError("AttributeQuery subject differs from its assertion's")
    if checked.attribute_statement is None:
        raise InvalidSamlMessageError("AttributeQuery carries no matching dataset")
    dataset = from_attribute_statement(checked.attribute_statement)
    record = cast(Matcher, current_app.extensions["matcher"]).match(checked.name_id, dataset)
    logger.info("Matching request answered: %s", "match" if record else "no-match")
    status, sub_status = (STATUS_SUCCESS, STATUS_MATCH) if record else (STATUS_RESPONDER, STATUS_NO_MATCH)
    answer = response(
        issuer=matcher_entry.entity_id,
        destination=None,
        in_response_to=query.get("ID", ""),
        moment=now(),
        status=status,
        sub_status=sub_status,
    )
    sign(answer, runtime.key_pair(matcher_entry.signing_certificates[0]))
    return Response(soap_envelope(answer), mimetype="text/xml")
