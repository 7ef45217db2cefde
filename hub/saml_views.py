"""The hub's SAML endpoints, metadata and status. Views stay thin: the checks live in their own modules."""

from __future__ import annotations

import datetime as dt
import logging
import threading

from flask import Blueprint, Response, current_app, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from federation.errors import InvalidSamlMessageError
from federation.saml.bindings import decode_redirect
from federation.saml.metadata import METADATA_REFRESH, PUBLISHED_VALIDITY, federation_metadata, hub_metadata
from federation.saml.xml import now
from federation.verify.pairwise import pairwise_identifier
from federation.web import read_posted_message
from hub import matching_runner
from hub.context import auditor, current_journey, journeys, runtime, service_for, set_journey_cookies
from hub.idp_responses import check_idp_response
from hub.journey import Journey, Move, Stage
from hub.pages import answer_refused, page_for, started_matching
from hub.service_requests import check_service_request
from hub.services import services

logger = logging.getLogger(__name__)
blueprint = Blueprint("saml", __name__)


@blueprint.route("/SAML2/SSO", methods=["GET", "POST"])
def single_sign_on() -> ResponseReturnValue:
    """A relying service's AuthnRequest (HTTP-POST or HTTP-Redirect binding) starts a journey."""
    g.no_store = True
    if request.method == "GET":
        redirect_message = decode_redirect(request.query_string)
        element, relay_state = redirect_message.element, redirect_message.relay_state
    else:
        redirect_message = None
        element, relay_state = read_posted_message("SAMLRequest"), request.form.get("RelayState")
    checked = check_service_request(element, relay_state, runtime(), redirect_message)
    journey = Journey.start(
        rp_entity_id=checked.relying_service.entity_id,
        rp_request_id=checked.request_id,
        acs_url=checked.acs_url,
        relay_state=relay_state,
        level=checked.level,
        department=checked.relying_service.department,
    )
    journeys().start(journey)  # refuses a request seen before
    g.journey_id = journey.log_id
    logger.info("Journey started", extra={"relying_service": journey.rp_entity_id, "level": journey.level.value})
    auditor().event("journey_started", **journey.audit_fields(), binding="redirect" if redirect_message else "post")
    response = redirect(url_for("journey.start"), code=303)
    set_journey_cookies(response, journey)
    return response


@blueprint.post("/SAML2/SSO/Response/POST")
def idp_response() -> ResponseReturnValue:
    """An identity provider's Response: check it, then start matching or show what happened."""
    g.no_store = True
    journey = current_journey()
    element = read_posted_message("SAMLResponse")
    service = service_for(journey)
    try:
        outcome = check_idp_response(element, journey, runtime(), journeys())
    except InvalidSamlMessageError as error:
        if not journey.allows(Move.WENT_BACK):
            raise
        return answer_refused(journey, error)
    logger.info("Identity provider answered", extra={"idp": journey.idp_entity_id, "outcome": outcome.stage.value})
    auditor().event(
        "idp_outcome",
        **journey.audit_fields(),
        outcome=outcome.stage.value,
        asserted_level=outcome.level.value if outcome.level else None,
    )
    if outcome.stage is not Stage.MATCHING or outcome.persistent_id is None or outcome.dataset is None:
        journey.idp_answered(outcome.stage)
        journeys().save(journey)
        return redirect(page_for(journey), code=303)
    pairwise_id = pairwise_identifier(
        journey.idp_entity_id or "", service.matching_service.entity_id, outcome.persistent_id
    )
    journey.idp_answered(Stage.MATCHING, pairwise_id=pairwise_id, level=outcome.level, dataset=outcome.dataset)
    return started_matching(matching_runner.start(services(), journey))


_metadata_lock = threading.Lock()


def _metadata(kind: str) -> ResponseReturnValue:
    """Signed metadata, built once an hour rather than on every request."""
    cache: dict[str, tuple[dt.datetime, bytes]] = current_app.extensions.setdefault("metadata_cache", {})
    with _metadata_lock:
        cached = cache.get(kind)
        moment = now()
        if cached is None or moment - cached[0] > METADATA_REFRESH:
            federation = runtime().federation
            signer = runtime().key_pair(federation.file.metadata_signing_certificate)
            build = hub_metadata if kind == "hub" else federation_metadata
            cached = (moment, build(federation, signer, moment, PUBLISHED_VALIDITY))
            cache[kind] = cached
    return Response(cached[1], mimetype="application/samlmetadata+xml")


@blueprint.get("/SAML2/metadata")
def metadata() -> ResponseReturnValue:
    return _metadata("hub")


@blueprint.get("/SAML2/metadata/federation")
def metadata_federation() -> ResponseReturnValue:
    return _metadata("federation")
