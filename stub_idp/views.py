"""The stub IDPs' pages: the hub's AuthnRequest in, sign in or another outcome, consent, registration.

Views stay thin: validation is in ``forms`` and ``registration``, SAML in ``responses``, state in ``pending``
and ``users``. Nothing personal is logged: only the IDP, the outcome, the level and message IDs.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from lxml import etree
from werkzeug.wrappers import Response

from federation import web
from federation.errors import ProtocolError, UnknownEntityError
from federation.runtime import Runtime
from federation.saml.checks import check_message, describe
from federation.saml.crypto import verify
from federation.saml.xml import exact_text, now, q
from federation.verify.loa import LevelOfAssurance
from federation.web import encode_message, gettext, post_form, read_posted_message
from stub_idp.errors import NotSignedInError, StubIdpError, UnknownChoiceError
from stub_idp.forms import RETURN_LEVELS, ConsentForm, SignInForm, error_summary, gpg45_labels, inline_error
from stub_idp.idps import StubIdp
from stub_idp.pending import PendingRequest, PendingRequests
from stub_idp.presentation import dataset_rows, level_label, levels_text
from stub_idp.registration import GENDERS, REGISTRATION_LEVELS, Registration, read_registration, taken_error
from stub_idp.responses import Outcome, outcome_response, success_response
from stub_idp.services import services
from stub_idp.users import UserDirectory, check_password

logger = logging.getLogger(__name__)
blueprint = Blueprint("stub_idp", __name__, template_folder="templates")
# Globals, not filters: apps share the compiled GOV.UK macros only while their filters are the same
# (federation.web.govuk).
blueprint.add_app_template_global(level_label)
blueprint.add_app_template_global(levels_text)


def _runtime() -> Runtime:
    return services().runtime


def _idps() -> dict[str, StubIdp]:
    return services().idps


def _directory() -> UserDirectory:
    return services().users


def _requests() -> PendingRequests:
    return services().pending


def _idp(slug: str) -> StubIdp:
    idp = _idps().get(slug)
    if idp is None:
        abort(404)
    return idp


def _token() -> str:
    """The request token: from the form on a POST, from the query string otherwise."""
    source = request.form if request.method == "POST" else request.args
    return source.get("request_token", "")


def _pending(slug: str) -> PendingRequest:
    """The hub's request this page is answering; logs from here on carry its short log ID."""
    pending = _requests().find(_token(), slug)
    g.journey_id = pending.log_id
    return pending


def _in_words(options: Mapping[str, str]) -> dict[str, str]:
    """A field's options (values and catalogue messages) with their texts in the page's language."""
    return {value: gettext(text) for value, text in options.items()}


def _page(template: str, idp: StubIdp, **context: Any) -> tuple[str, int]:
    """Render one of this IDP's pages; 400 with "Error: " in the title when its form has errors."""
    g.no_store = True
    errors = {name: error.in_words(gettext) for name, error in (context.pop("errors", None) or {}).items()}
    html = render_template(
        template,
        idp=idp,
        service_name=idp.entry.display_name,
        errors=errors,
        error_list=error_summary(errors),
        error_prefix=bool(errors),
        inline_error=lambda name: inline_error(errors, name),
        **context,
    )
    return html, 400 if errors else 200


@blueprint.errorhandler(StubIdpError)
def stub_idp_error(error: StubIdpError) -> tuple[str, int]:
    """A 400 page in plain words under the IDP's own name; the log gets the class and detail, nothing personal."""
    logger.warning("Refused: %s (%s)", type(error).__name__, error.detail, extra={"http_status": error.http_status})
    idp = _idps().get(str((request.view_args or {}).get("slug", "")))
    context = {"service_name": idp.entry.display_name} if idp else {}
    return web.error_page(error.http_status, error.title, error.description, **context)


@blueprint.get("/")
def index() -> str:
    """Every company this app plays, with its levels and evidence, and every seeded test user."""
    return render_template(
        "index.html",
        idps=[(idp, [gettext(label) for label in idp.evidence]) for idp in _idps().values()],
        users=_directory().seeded,
        registered=request.args.get("registered") == "true",
        service_name=gettext("Stub identity providers"),
    )


@blueprint.post("/<slug>/SAML2/SSO")
def single_sign_on(slug: str) -> Response:
    """The hub's AuthnRequest: check it came from the hub, then ask the tester to sign in."""
    idp = _idp(slug)
    runtime = _runtime()
    hub = runtime.federation.hub
    element = read_posted_message("SAMLRequest")
    issuer = check_message(element, tag="AuthnRequest", destination=idp.entry.sso_url, now=now(), skew=runtime.skew)
    if issuer != hub.entity_id:
        raise UnknownEntityError("AuthnRequest not from the hub")
    verify(element, runtime.federation.certs(hub.signing_certificates))
    if element.get("AssertionConsumerServiceURL") not in (None, hub.acs_url):
        raise ProtocolError("AuthnRequest names an assertion consumer that is not the hub's")
    class_ref = element.find(f"{q('samlp', 'RequestedAuthnContext')}/{q('saml', 'AuthnContextClassRef')}")
    requested = None if class_ref is None else LevelOfAssurance.from_uri(exact_text(class_ref) or "")
    pending = _requests().start(
        slug=slug, request_id=element.get("ID", ""), requested_level=requested.value if requested else None
    )
    g.journey_id = pending.log_id
    logger.info("AuthnRequest accepted", extra={"idp": slug, **describe(element)})
    return redirect(url_for("stub_idp.login", slug=slug, request_token=pending.token), code=303)


@blueprint.route("/<slug>/login", methods=["GET", "POST"])
def login(slug: str) -> Response | tuple[str, int]:
    """Sign in as a seeded or registered test user, or return another outcome without signing in."""
    idp = _idp(slug)
    pending = _pending(slug)
    form = SignInForm("", "")
    if request.method == "POST":
        form = SignInForm.read(request.form)
        if not form.errors:
            user = _directory().find(form.username)
            if check_password(user, form.password) and user is not None:
                _requests().signed_in(pending, user.username)
                logger.info("Test user signed in", extra={"idp": slug})
                return redirect(url_for("stub_idp.consent", slug=slug, request_token=pending.token), code=303)
            logger.info("Sign-in refused", extra={"idp": slug})
            form = form.refused()
    return _page(
        "login.html",
        idp,
        token=pending.token,
        form=form,
        errors=form.errors,
        outcomes={outcome.value: gettext(outcome.label) for outcome in Outcome},
        registered=request.args.get("registered") == "true",
    )


@blueprint.post("/<slug>/outcome")
def outcome(slug: str) -> str:
    """Return a non-success outcome to the hub without signing in."""
    idp = _idp(slug)
    pending = _pending(slug)
    try:
        chosen = Outcome(request.form.get("outcome", ""))
    except ValueError:
        raise UnknownChoiceError("outcome not one the page offers") from None
    _requests().finish(pending)
    return _post_to_hub(idp, outcome_response(_runtime(), idp, pending.request_id, chosen), chosen.value)


@blueprint.route("/<slug>/consent", methods=["GET", "POST"])
def consent(slug: str) -> str | tuple[str, int]:
    """Show what will be shared; agree with a level (or a fraud event) or refuse."""
    idp = _idp(slug)
    pending = _pending(slug)
    user = _directory().find(pending.username) if pending.username else None
    if user is None:
        raise NotSignedInError("consent before sign-in")
    form = ConsentForm.defaults(user.level)
    if request.method == "POST":
        decision = request.form.get("decision", "")
        if decision == "refuse":
            _requests().finish(pending)
            message = outcome_response(_runtime(), idp, pending.request_id, Outcome.CANCEL)
            return _post_to_hub(idp, message, "refused")
        if decision != "agree":
            raise UnknownChoiceError("consent decision not agree or refuse")
        form = ConsentForm.read(request.form, user.level)
        if not form.errors:
            _requests().finish(pending)
            message = success_response(_runtime(), idp, user, pending.request_id, form.returned_level())
            return _post_to_hub(idp, message, "success", level=form.level)
    return _page(
        "consent.html",
        idp,
        token=pending.token,
        form=form,
        errors=form.errors,
        user_level=user.level,
        rows=dataset_rows(user.dataset, user.level),
        levels=_in_words(RETURN_LEVELS),
        gpg45_statuses=gpg45_labels(gettext),
        requested_level=LevelOfAssurance(pending.requested_level) if pending.requested_level else None,
    )


@blueprint.route("/<slug>/register", methods=["GET", "POST"])
def register(slug: str) -> Response | tuple[str, int]:
    """Register a new test user with a full matching dataset, then go back to sign in."""
    idp = _idp(slug)
    pending = _pending(slug) if _token() else None
    registration = Registration(values={})
    if request.method == "POST":
        directory = _directory()
        registration = read_registration(request.form, is_taken=directory.is_taken, today=now().date())
        if registration.user is not None:
            if directory.register(registration.user):
                logger.info("Test user registered", extra={"idp": slug, "level": registration.user.level.value})
                if pending is None:
                    return redirect(url_for("stub_idp.index", registered="true"), code=303)
                return redirect(
                    url_for("stub_idp.login", slug=slug, request_token=pending.token, registered="true"), code=303
                )
            registration = dataclasses.replace(registration, errors={"username": taken_error()}, user=None)
    return _page(
        "register.html",
        idp,
        token=pending.token if pending else "",
        values=registration.values,
        errors=registration.errors,
        genders=_in_words(GENDERS),
        levels=_in_words(REGISTRATION_LEVELS),
    )


def _post_to_hub(idp: StubIdp, message: etree._Element, result: str, **extra: str) -> str:
    """The page that posts the signed Response to the hub's ACS (by itself with JavaScript, by button without)."""
    logger.info("Response sent to the hub", extra={"idp": idp.slug, "result": result, **extra, **describe(message)})
    return post_form(
        _runtime().federation.hub.acs_url,
        {"SAMLResponse": encode_message(message)},
        title=gettext("Returning you to GOV.UK Sign in"),
        lead=gettext("%(company)s has finished.", company=idp.entry.display_name),
        service_name=idp.entry.display_name,
    )
