"""The hub's endpoints: SAML in and out, the company picker, metadata and status. Views stay thin."""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import threading
from typing import cast

import requests
from lxml import etree
from flask import Blueprint, Response, abort, current_app, g, jsonify, redirect, render_template, request, url_for

from federation.errors import MatchingServiceError
from federation.metadata import federation_metadata, hub_metadata
from federation.pairwise import pairwise_identifier
from federation.runtime import Runtime
from federation.web import encode_message, post_form, read_posted_message
from federation.xml import STATUS_NO_AUTHN_CONTEXT, STATUS_NO_MATCH, STATUS_RESPONDER, now
from hub.idp_responses import check_idp_response
from hub.journeys import Journey, JourneyRepository
from hub.matching import MatchResult, ask_matching_service
from hub.outbound import request_to_idp, response_to_service, status_for_service
from hub.service_requests import check_service_request

logger = logging.getLogger(__name__)
blueprint = Blueprint("hub", __name__)

COOKIE = "hub_journey"
METADATA_VALIDITY = dt.timedelta(days=7)
METADATA_REFRESH = dt.timedelta(hours=1)


def _runtime() -> Runtime:
    return cast(Runtime, current_app.extensions["runtime"])


def _journeys() -> JourneyRepository:
    return cast(JourneyRepository, current_app.extensions["journeys"])


def _current_journey() -> Journey:
    journey = _journeys().load(request.cookies.get(COOKIE))
    g.journey_id = journey.log_id
    return journey


def _set_journey_cookie(response: Response, journey: Journey) -> None:
    secure = _runtime().federation.hub.sso_url.startswith("https://")
    # The identity provider's answer arrives as a cross-site POST: over HTTPS the cookie must be
    # SameSite=None to come with it. Locally every app is on 127.0.0.1, one site, so Lax is enough.
    response.set_cookie(
        COOKIE,
        journey.id,
        httponly=True,
        secure=secure,
        samesite="None" if secure else "Lax",
        max_age=_runtime().federation.hub.journey_minutes * 60,
    )


@blueprint.post("/SAML2/SSO")
def single_sign_on() -> Response:
    """A relying service's AuthnRequest (HTTP-POST binding) starts a journey."""
    g.no_store = True
    runtime, journeys = _runtime(), _journeys()
    element = read_posted_message("SAMLRequest")
    relay_state = request.form.get("RelayState")
    checked = check_service_request(element, relay_state, runtime, journeys)
    journey = Journey.start(
        rp_entity_id=checked.relying_service.entity_id,
        rp_request_id=checked.request_id,
        acs_url=checked.acs_url,
        relay_state=relay_state,
        level=checked.relying_service.level_of_assurance,
    )
    journeys.save(journey)
    g.journey_id = journey.log_id
    logger.info("Journey started", extra={"relying_service": journey.rp_entity_id, "level": journey.level.value})
    response = redirect(url_for("hub.choose_a_certified_company"), code=303)
    _set_journey_cookie(response, journey)
    return response


def _eligible_idps(journey: Journey) -> list[dict[str, str]]:
    return [
        {"entity_id": idp.entity_id, "name": idp.display_name, "description": idp.description}
        for idp in _runtime().federation.file.identity_providers
        if any(level.satisfies(journey.level) for level in idp.levels_of_assurance)
    ]


@blueprint.route("/choose-a-certified-company", methods=["GET", "POST"])
def choose_a_certified_company() -> Response | str | tuple[str, int]:
    journey = _current_journey()
    companies = _eligible_idps(journey)
    service = _runtime().federation.relying_service(journey.rp_entity_id)
    error = None
    if request.method == "POST":
        if not hmac.compare_digest(request.form.get("csrf_token", ""), journey.csrf_token):
            abort(403)
        choice = request.form.get("company", "")
        idp = _runtime().federation.identity_provider(choice)
        if idp is not None and any(c["entity_id"] == choice for c in companies):
            return _send_to_idp(journey, choice)
        error = "Select a certified company"
    page = render_template(
        "choose_a_certified_company.html",
        companies=companies,
        journey=journey,
        service_display_name=service.display_name if service else "",
        error=error,
        error_prefix=bool(error),
    )
    return (page, 400) if error else page


def _send_to_idp(journey: Journey, idp_entity_id: str) -> str:
    runtime, journeys = _runtime(), _journeys()
    idp = runtime.federation.identity_provider(idp_entity_id)
    if idp is None:
        abort(400)
    saml_request = request_to_idp(runtime, idp, journey.level)
    if journey.idp_request_id:
        journeys.claim_request(journey.idp_request_id, journey)  # a new choice cancels the old request
    journey.idp_entity_id = idp.entity_id
    journey.idp_request_id = saml_request.get("ID")
    journeys.save(journey)
    journeys.remember_request(saml_request.get("ID", ""), journey)
    logger.info("Company chosen", extra={"idp": idp.entity_id})
    return post_form(
        idp.sso_url,
        {"SAMLRequest": encode_message(saml_request)},
        title=f"Continue to {idp.display_name}",
        lead=f"You will now go to {idp.display_name} to prove your identity.",
    )


@blueprint.post("/SAML2/SSO/Response/POST")
def idp_response() -> str | tuple[str, int]:
    """An identity provider's Response: check it, match the person, answer the relying service."""
    g.no_store = True
    runtime, journeys = _runtime(), _journeys()
    journey = _current_journey()
    element = read_posted_message("SAMLResponse")
    service = runtime.federation.relying_service(journey.rp_entity_id)
    if service is None:
        abort(400)
    outcome = check_idp_response(element, journey, runtime, journeys)
    logger.info("Identity provider answered", extra={"idp": journey.idp_entity_id, "idp_status": outcome.status,
                                                       "idp_sub_status": outcome.sub_status})
    if not outcome.succeeded or outcome.persistent_id is None or outcome.dataset is None or outcome.level is None:
        status, sub_status = status_for_service(outcome.status, outcome.sub_status)
        message = response_to_service(runtime, journey, service, status=status, sub_status=sub_status)
        return _answer_service(journey, message, title="You have not been signed in",
                               lead=f"Return to {service.display_name} to choose what to do next.")
    pairwise_id = pairwise_identifier(
        cast(str, journey.idp_entity_id), service.matching_service.entity_id, outcome.persistent_id
    )
    try:
        result = ask_matching_service(
            runtime=runtime,
            service=service,
            pairwise_id=pairwise_id,
            level=outcome.level,
            dataset=outcome.dataset,
            session=cast(requests.Session, current_app.extensions["http"]),
        )
    except MatchingServiceError as exc:
        logger.warning("Matching failed: %s", exc.detail)
        message = response_to_service(runtime, journey, service, status=STATUS_RESPONDER,
                                      sub_status=STATUS_NO_AUTHN_CONTEXT)
        page = _answer_service(journey, message, title=exc.title,
                               lead=f"{service.display_name} could not check your details just now. "
                                    "Go back to the service to try again later.",
                               button=f"Go back to {service.display_name}")
        return page, exc.http_status
    logger.info("Matching service answered", extra={"match_result": result.value})
    if result is MatchResult.MATCH:
        message = response_to_service(runtime, journey, service, pairwise_id=pairwise_id, level=outcome.level)
        return _answer_service(journey, message, title="Your identity has been confirmed",
                               lead=f"You will now return to {service.display_name}.")
    message = response_to_service(runtime, journey, service, status=STATUS_RESPONDER, sub_status=STATUS_NO_MATCH)
    return _answer_service(journey, message, title="Returning you to the service",
                           lead=f"{service.display_name} will tell you what to do next.")


def _answer_service(
    journey: Journey, message: etree._Element, *, title: str, lead: str, button: str = "Continue"
) -> str:
    """Post the Response to the service's ACS and forget the journey: nothing about the citizen stays."""
    fields = {"SAMLResponse": encode_message(message)}
    if journey.relay_state is not None:
        fields["RelayState"] = journey.relay_state
    _journeys().end(journey)
    logger.info("Response sent to the service")
    return post_form(journey.acs_url, fields, title=title, lead=lead, button=button)


_metadata_lock = threading.Lock()


def _metadata(kind: str) -> Response:
    """Signed metadata, built once an hour rather than on every request."""
    runtime = _runtime()
    cache: dict[str, tuple[dt.datetime, bytes]] = current_app.extensions.setdefault("metadata_cache", {})
    with _metadata_lock:
        cached = cache.get(kind)
        moment = now()
        if cached is None or moment - cached[0] > METADATA_REFRESH:
            signer = runtime.key_pair(runtime.federation.file.metadata_signing_certificate)
            build = hub_metadata if kind == "hub" else federation_metadata
            cached = (moment, build(runtime.federation, signer, moment, METADATA_VALIDITY))
            cache[kind] = cached
    return Response(cached[1], mimetype="application/samlmetadata+xml")


@blueprint.get("/SAML2/metadata")
def metadata() -> Response:
    return _metadata("hub")


@blueprint.get("/SAML2/metadata/federation")
def metadata_federation() -> Response:
    return _metadata("federation")


@blueprint.get("/_status")
def status() -> tuple[Response, int]:
    store_ok = _runtime().store.ping()
    return jsonify(status="ok" if store_ok else "degraded", store=_runtime().store.kind, store_ok=store_ok), (
        200 if store_ok else 503
    )
