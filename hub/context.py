"""Request-time access to the hub's runtime, journeys and the current journey, for the views."""

from __future__ import annotations

from typing import cast

from flask import current_app, g, request
from werkzeug.wrappers import Response

from federation.audit import Auditor
from federation.config import RelyingServiceEntry
from federation.errors import JourneyNotFoundError
from federation.runtime import Runtime
from hub.journeys import Journey, JourneyRepository

JOURNEY_COOKIE = "hub_journey"
# Which service the citizen came from (an entity ID, not personal data): lets "You need to start again"
# send them back there after their journey has expired.
SERVICE_COOKIE = "hub_service"


def runtime() -> Runtime:
    return cast(Runtime, current_app.extensions["runtime"])


def auditor() -> Auditor:
    return cast(Auditor, current_app.extensions["audit"])


def journeys() -> JourneyRepository:
    return cast(JourneyRepository, current_app.extensions["journeys"])


def current_journey() -> Journey:
    journey = journeys().load(request.cookies.get(JOURNEY_COOKIE))
    g.journey_id = journey.log_id
    return journey


def service_for(journey: Journey) -> RelyingServiceEntry:
    service = runtime().federation.relying_service(journey.rp_entity_id)
    if service is None:  # the federation file changed under a live journey
        raise JourneyNotFoundError("journey's relying service is no longer in the federation")
    return service


def set_journey_cookies(response: Response, journey: Journey) -> None:
    hub = runtime().federation.hub
    secure = hub.sso_url.startswith("https://")
    # The identity provider's answer arrives as a cross-site POST: over HTTPS the cookie must be
    # SameSite=None to come with it. Locally every app is on 127.0.0.1, one site, so Lax is enough.
    same_site = "None" if secure else "Lax"
    response.set_cookie(
        JOURNEY_COOKIE, journey.id, httponly=True, secure=secure, samesite=same_site, max_age=hub.journey_minutes * 60
    )
    response.set_cookie(
        SERVICE_COOKIE, journey.rp_entity_id, httponly=True, secure=secure, samesite=same_site, max_age=24 * 60 * 60
    )
