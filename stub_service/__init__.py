"""The stub relying service, "Check your PAYE tax", and its matching service.

It sends the hub a signed AuthnRequest, checks the hub's signed Response, decrypts the assertion and shows
the outcome: the pairwise identifier, the level of assurance and the department record that matched.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any, cast

from flask import Blueprint, Flask, current_app, render_template, request
from werkzeug.wrappers import Response

from federation import web
from federation.config import RelyingServiceEntry
from federation.crypto import decrypt_assertion, sign, verify
from federation.errors import InvalidSamlMessageError, ProtocolError, UnknownEntityError
from federation.loa import LevelOfAssurance
from federation.messages import authn_request, check_assertion, check_message, read_status
from federation.runtime import Runtime, load_runtime
from federation.settings import AppSettings
from federation.web import encode_message, post_form, read_posted_message
from federation.xml import STATUS_NO_MATCH, STATUS_SUCCESS, now, q
from stub_service.matching_service import blueprint as matching_blueprint
from stub_service.records import Matcher, load_records

logger = logging.getLogger(__name__)
blueprint = Blueprint("stub_service", __name__, template_folder="templates")
COOKIE = "stub_service_session"
PENDING_SECONDS = 2 * 60 * 60

OUTCOMES = {
    STATUS_NO_MATCH: ("We could not find your record", "Your identity was confirmed, but we could not find your "
                      "PAYE record. Call the PAYE helpline to continue."),
    "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext": ("You have not been signed in",
                                                          "You did not finish proving your identity."),
    "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed": ("You have not been signed in",
                                                       "The company could not confirm your identity."),
    "urn:oasis:names:tc:SAML:2.0:status:Requester": ("Sorry, there is a problem with the service",
                                                     "Our sign-in request could not be handled."),
}


def _runtime() -> Runtime:
    return cast(Runtime, current_app.extensions["runtime"])


def _service() -> RelyingServiceEntry:
    return cast(RelyingServiceEntry, current_app.extensions["relying_service"])


@blueprint.get("/")
def start() -> str:
    return render_template("start.html", service=_service())


@blueprint.post("/start")
def send_to_hub() -> Response:
    runtime, service = _runtime(), _service()
    hub = runtime.federation.hub
    saml_request = authn_request(
        issuer=service.entity_id, destination=hub.sso_url, acs_url=service.default_acs_url, moment=now()
    )
    sign(saml_request, runtime.key_pair(service.signing_certificates[0]))
    token = secrets.token_urlsafe(24)
    runtime.store.put(f"pending:{token}", {"request_id": saml_request.get("ID")}, PENDING_SECONDS)
    page = post_form(
        hub.sso_url,
        {"SAMLRequest": encode_message(saml_request), "RelayState": secrets.token_urlsafe(12)},
        title="Continue to GOV.UK Sign in",
        lead="You will now go to GOV.UK Sign in to prove your identity.",
    )
    response = Response(page, mimetype="text/html")
    response.set_cookie(COOKIE, token, httponly=True, samesite="Lax", max_age=PENDING_SECONDS)
    return response


@blueprint.post("/SAML2/SSO/Response/POST")
def assertion_consumer() -> tuple[str, int] | str:
    """The hub's Response: signed by the hub, for our request, with one assertion encrypted to us."""
    runtime, service = _runtime(), _service()
    hub = runtime.federation.hub
    moment = now()
    element = read_posted_message("SAMLResponse")
    acs_url = service.default_acs_url
    issuer = check_message(element, tag="Response", destination=acs_url, now=moment, skew=runtime.skew)
    if issuer != hub.entity_id:
        raise UnknownEntityError("Response not from the hub")
    hub_certs = runtime.federation.certs(hub.signing_certificates)
    verify(element, hub_certs)
    token = request.cookies.get(COOKIE, "")
    pending = runtime.store.take(f"pending:{token}") if token else None
    if pending is None or pending.get("request_id") != element.get("InResponseTo"):
        raise ProtocolError("Response does not answer a request this browser made")
    status = read_status(element)
    encrypted = element.findall(q("saml", "EncryptedAssertion"))
    if status != STATUS_SUCCESS:
        title, text = OUTCOMES.get(sub_status or "", OUTCOMES["urn:oasis:names:tc:SAML:2.0:status:Requester"])
        return render_template("outcome.html", title=title, text=text, status=status, sub_status=sub_status), 200
    if len(encrypted) != 1:
        raise InvalidSamlMessageError("a success response must carry exactly one encrypted assertion")
    checked = check_assertion(
        decrypt_assertion(encrypted[0], runtime.key_pair(service.encryption_certificate)),
        certificates=hub_certs,
        issuer=hub.entity_id,
        audience=service.entity_id,
        recipient=acs_url,
        in_response_to=pending["request_id"],
        now=moment,
        skew=runtime.skew,
    )
    level = LevelOfAssurance.from_uri(checked.authn_context or "")
    if level is None or not level.satisfies(service.level_of_assurance):
        raise ProtocolError("assertion's level of assurance is below what this service needs")
    record = cast(Matcher, current_app.extensions["matcher"]).linked_record(checked.name_id)
    return render_template("signed_in.html", pairwise_id=checked.name_id, level=level, record=record,
                           service=service, status=status)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    settings = AppSettings.build(config)
    web.configure_logging(logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO))
    runtime = load_runtime(settings, store_prefix="stub-service")
    base_url = runtime.federation.file.urls.get("stub_service", "").rstrip("/")
    services = [rp for rp in runtime.federation.file.relying_services if rp.default_acs_url.startswith(base_url + "/")]
    if not services:
        raise RuntimeError(f"no relying service in {settings.federation_file} has its ACS under {base_url}")
    app = Flask(__name__)
    app.config.update(TESTING=settings.testing, SERVICE_NAME=services[0].display_name)
    app.extensions["runtime"] = runtime
    app.extensions["relying_service"] = services[0]
    app.extensions["matcher"] = Matcher(load_records(), runtime.store)
    app.jinja_env.globals["service_name"] = services[0].display_name
    web.init_app(app)
    app.register_blueprint(blueprint)
    app.register_blueprint(matching_blueprint)
    logger.info("Stub service %r ready at %s", services[0].display_name, base_url)
    return app



