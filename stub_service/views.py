"""The citizen's side of each hosted service: index, start page, the trip to the hub and the outcome page."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import format_date
from werkzeug.wrappers import Response

from federation.errors import ProtocolError
from federation.runtime import Runtime
from federation.saml.build import authn_request
from federation.saml.crypto import sign
from federation.saml.xml import now
from federation.web import encode_message, gettext, post_form, read_posted_message
from stub_service.outcomes import OutcomeKind, check_hub_response, read_outcome
from stub_service.services import services
from stub_service.variants import ACS_PATH, Variant, Words

logger = logging.getLogger(__name__)
blueprint = Blueprint("stub_service", __name__, template_folder="templates")
PENDING_SECONDS = 2 * 60 * 60


def _runtime() -> Runtime:
    return services().runtime


def _variants() -> dict[str, Variant]:
    return services().variants


def _variant(slug: str) -> Variant:
    variant = _variants().get(slug)
    if variant is None:
        abort(404)
    return variant


@blueprint.app_template_filter("govuk_date")
def govuk_date(value: str) -> str:
    """An ISO date as GOV.UK writes dates, in the page's language ("3 March 1970", "3 Mawrth 1970"); anything
    else as it is."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return value
    return str(format_date(day, "d MMMM y"))


def _in_page_language(words: Words | None) -> str | None:
    """A catalogue message with its placeholders' values, as the page's language says it."""
    if words is None:
        return None
    message, variables = words
    return gettext(message, **variables)


@blueprint.context_processor
def _variant_context() -> dict[str, Any]:
    """Pages under a service's slug, error pages included, carry that service's name in the header."""
    variant = _variants().get(str((request.view_args or {}).get("slug", "")))
    if variant is None:
        return {}
    return {"service_name": variant.name, "service_home": url_for("stub_service.start_page", slug=variant.slug)}


@blueprint.get("/")
def index() -> str:
    return render_template("index.html", variants=list(_variants().values()), departments=services().departments)


@blueprint.get("/<slug>/")
def start_page(slug: str) -> str:
    variant = _variant(slug)
    return render_template(
        "start_page.html",
        variant=variant,
        service_name=variant.name,
        description=_in_page_language(variant.description),
        cycle3_asked=_in_page_language(variant.cycle3_asked),
    )


@blueprint.post("/<slug>/start")
def start(slug: str) -> Response:
    """Send the hub a signed AuthnRequest; remember its ID against a random token in this browser's cookie."""
    variant, runtime = _variant(slug), _runtime()
    hub = runtime.federation.hub
    saml_request = authn_request(
        issuer=variant.entry.entity_id, destination=hub.sso_url, acs_url=variant.acs_url, moment=now()
    )
    sign(saml_request, runtime.key_pair(variant.entry.signing_certificates[0]))
    token = secrets.token_urlsafe(24)
    store = services().department_of(variant).store
    store.put(f"pending:{token}", {"request_id": saml_request.get("ID"), "slug": slug}, PENDING_SECONDS)
    page = post_form(
        hub.sso_url,
        {"SAMLRequest": encode_message(saml_request), "RelayState": secrets.token_urlsafe(12)},
        title=gettext("Continue to GOV.UK Sign in"),
        lead=gettext("You will now go to GOV.UK Sign in to prove your identity."),
    )
    response = Response(page, mimetype="text/html")
    secure = variant.acs_url.startswith("https://")
    # The hub's answer arrives as a cross-site POST: over HTTPS the cookie must be SameSite=None to come with it.
    response.set_cookie(
        variant.cookie,
        token,
        max_age=PENDING_SECONDS,
        path=f"/{slug}/",
        httponly=True,
        secure=secure,
        samesite="None" if secure else "Lax",
    )
    logger.info("AuthnRequest sent to the hub", extra={"relying_service": variant.entry.entity_id})
    return response


@blueprint.post(f"/<slug>/{ACS_PATH}")
def assertion_consumer(slug: str) -> Response:
    """The hub's Response: signed by the hub, to this variant's ACS, answering this browser's pending request."""
    variant, runtime = _variant(slug), _runtime()
    moment = now()
    element = read_posted_message("SAMLResponse")
    check_hub_response(element, runtime=runtime, variant=variant, now=moment)
    token = request.cookies.get(variant.cookie, "")
    department = services().department_of(variant)
    pending = department.store.take(f"pending:{token}") if token else None
    if pending is None or pending.get("slug") != slug:
        raise ProtocolError("Response does not answer a request this browser made")
    outcome = read_outcome(
        element, runtime=runtime, variant=variant, request_id=str(pending.get("request_id")), now=moment
    )
    record = None
    if outcome.pairwise_id is not None:
        record = department.matcher.linked_record(outcome.pairwise_id)
    logger.info("Hub response: %s", outcome.kind.value, extra={"relying_service": variant.entry.entity_id})
    page = render_template(
        "assertion_consumer.html",
        variant=variant,
        outcome=outcome,
        title=gettext(outcome.title),
        lead=gettext(outcome.lead),
        phrase=gettext(outcome.kind.value),
        kinds=OutcomeKind,
        record=record,
        attributes=[(gettext(label), values) for label, values in outcome.labelled_attributes(variant)],
    )
    response = Response(page, mimetype="text/html")
    response.delete_cookie(variant.cookie, path=f"/{slug}/")
    return response
