"""Request-time access to the hub's runtime, journeys and the current journey, for the views; and the hub's
two cookies."""

from __future__ import annotations

import json
import time

from flask import g, request
from werkzeug.wrappers import Response

from federation.config import RelyingServiceEntry
from federation.errors import JourneyNotFoundError
from federation.runtime import Runtime
from federation.sealing import Sealer, UnsealError
from federation.web.language import current_language
from hub.audit import Auditor
from hub.journey import Journey, JourneyRepository
from hub.services import services

JOURNEY_COOKIE = "hub_journey"
# Which service the citizen came from, sealed (``service_token``): lets "You need to start again" send them back
# there after their journey record has gone, without telling whoever holds the browser's cookies which service
# they were using. It lasts as long as the journey cookie, and is cleared when the service has been answered.
SERVICE_COOKIE = "hub_service"
_SERVICE_TOKEN_CONTEXT = "cookie:hub_service"


def runtime() -> Runtime:
    return services().runtime


def auditor() -> Auditor:
    return services().audit


def journeys() -> JourneyRepository:
    return services().journeys


def sealer() -> Sealer:
    return services().sealer


def current_journey() -> Journey:
    journey = journeys().load(request.cookies.get(JOURNEY_COOKIE))
    g.journey_id = journey.log_id
    return journey


def service_for(journey: Journey) -> RelyingServiceEntry:
    """The journey's service, its name and words in the page's language."""
    service = runtime().federation.relying_service(journey.rp_entity_id)
    if service is None:  # the federation file changed under a live journey
        raise JourneyNotFoundError("journey's relying service is no longer in the federation")
    return service.in_language(current_language())


def _journey_seconds() -> int:
    return runtime().federation.hub.journey_minutes * 60


def _cookie_options() -> tuple[bool, str]:
    """(Secure, SameSite) for the hub's cookies. The identity provider's answer arrives as a cross-site POST: over
    HTTPS the cookie must be SameSite=None to come with it. Locally every app is on 127.0.0.1, one site, so Lax."""
    secure = runtime().federation.hub.sso_url.startswith("https://")
    return secure, "None" if secure else "Lax"


def _token_body(entity_id: str, until: int) -> bytes:
    return json.dumps({"service": entity_id, "until": until}, separators=(",", ":")).encode()


def service_token(entity_id: str) -> str:
    """The ``hub_service`` cookie's value: the service's entity ID and when the token stops working, sealed with
    the hub's data key. Padded to the length of the longest entity ID in the federation, so that not even its
    length tells one service from another."""
    until = int(time.time()) + _journey_seconds()
    width = max(len(_token_body(service.entity_id, until)) for service in runtime().federation.file.relying_services)
    return sealer().seal(_token_body(entity_id, until).ljust(width), _SERVICE_TOKEN_CONTEXT)


def service_from_cookie() -> RelyingServiceEntry | None:
    """The service the ``hub_service`` cookie names, if it opens, is still in date and is still in the federation."""
    token = request.cookies.get(SERVICE_COOKIE)
    if not token:
        return None
    try:
        body = json.loads(sealer().open(token, _SERVICE_TOKEN_CONTEXT))
    except (UnsealError, ValueError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("until"), int) or body["until"] < time.time():
        return None
    service = runtime().federation.relying_service(str(body.get("service", "")))
    return None if service is None else service.in_language(current_language())


def set_journey_cookies(response: Response, journey: Journey) -> None:
    secure, same_site = _cookie_options()
    for name, value in ((JOURNEY_COOKIE, journey.id), (SERVICE_COOKIE, service_token(journey.rp_entity_id))):
        response.set_cookie(name, value, httponly=True, secure=secure, samesite=same_site, max_age=_journey_seconds())


def clear_service_cookie(response: Response) -> None:
    """Expire the ``hub_service`` cookie: once the service has been answered, nothing needs to know it."""
    secure, same_site = _cookie_options()
    response.delete_cookie(SERVICE_COOKIE, httponly=True, secure=secure, samesite=same_site)
