"""The company's pages: the hub's AuthnRequest in, sign in or another outcome, consent, and the answer out.

Views stay thin: SAML is in ``authn_requests`` and ``responses`` (pysaml2's), validation in ``forms``, state in
``pending``. Nothing personal is logged: only the outcome, the level and the request's short log ID.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from werkzeug.wrappers import Response

from federation import web
from federation.web import gettext
from stub_idp.presentation import dataset_rows, level_label, levels_text
from stub_idp.users import TestUser, check_password, persistent_id
from stub_idp_pysaml2.authn_requests import read_authn_request
from stub_idp_pysaml2.errors import NotSignedInError, Pysaml2IdpError, UnknownChoiceError
from stub_idp_pysaml2.forms import RETURN_LEVELS, ConsentForm, Errors, SignInForm, error_summary, gpg45_labels
from stub_idp_pysaml2.pending import PendingRequest
from stub_idp_pysaml2.responses import Outcome, outcome_response, success_response
from stub_idp_pysaml2.services import services
from stub_idp_pysaml2.settings import pid_secret

logger = logging.getLogger(__name__)
blueprint = Blueprint("idp", __name__, template_folder="templates")
# Globals, not filters: apps share the compiled GOV.UK macros only while their filters are the same
# (federation.web.govuk).
blueprint.add_app_template_global(level_label)
blueprint.add_app_template_global(levels_text)


def _pending() -> PendingRequest:
    """The hub's request this page answers (the token from the form on a POST, the query otherwise); logs from
    here on carry its short log ID."""
    source = request.form if request.method == "POST" else request.args
    pending = services().pending.find(source.get("request_token", ""))
    g.journey_id = pending.log_id
    return pending


def _in_words(options: Mapping[str, str]) -> dict[str, str]:
    """A field's options (values and catalogue messages) with their texts in the page's language."""
    return {value: gettext(text) for value, text in options.items()}


def _page(template: str, errors: Errors | None = None, **context: Any) -> tuple[str, int]:
    """One of the company's pages; 400 with "Error: " in the title when its form has errors (in its language)."""
    g.no_store = True
    errors = {name: error.in_words(gettext) for name, error in (errors or {}).items()}
    html = render_template(
        template,
        company=services().idp.entry.in_language(web.current_language()),
        service_name=services().idp.entry.display_name,
        errors=errors,
        error_list=error_summary(errors),
        error_prefix=bool(errors),
        **context,
    )
    return html, 400 if errors else 200


@blueprint.errorhandler(Pysaml2IdpError)
def refused(error: Pysaml2IdpError) -> tuple[str, int]:
    """A page in plain words under the company's name; the log gets the class and the detail, nothing personal.
    pysaml2's own exception, kept as the cause, is named in the detail and never shown."""
    logger.warning("Refused: %s (%s)", type(error).__name__, error.detail, extra={"http_status": error.http_status})
    company = services().idp.entry.display_name
    return web.error_page(error.http_status, error.title, error.description, service_name=company)


@blueprint.get("/")
def index() -> tuple[str, int]:
    """The company, what it is certified for, and the test users it accepts."""
    return _page("index.html", users=services().users.seeded)


@blueprint.route("/SAML2/SSO", methods=["GET", "POST"])
def single_sign_on() -> Response:
    """The hub's AuthnRequest, by HTTP-POST (as the hub sends it) or HTTP-Redirect: pysaml2 checks it; then the
    tester signs in."""
    posted = request.method == "POST"
    source, binding = (request.form, BINDING_HTTP_POST) if posted else (request.args, BINDING_HTTP_REDIRECT)
    current = services()
    hub_request = read_authn_request(
        current.idp.server(),
        source.get("SAMLRequest", ""),
        binding,
        hub_entity_id=current.runtime.federation.hub.entity_id,
        relay_state=source.get("RelayState"),
        sig_alg=source.get("SigAlg") if binding == BINDING_HTTP_REDIRECT else None,
        signature=source.get("Signature") if binding == BINDING_HTTP_REDIRECT else None,
    )
    pending = current.pending.start(hub_request)
    g.journey_id = pending.log_id
    logger.info(
        "AuthnRequest accepted",
        extra={"binding": binding.rsplit(":", 1)[-1], "requested_level": hub_request.requested_level},
    )
    return redirect(url_for("idp.sign_in", request_token=pending.token), code=303)


@blueprint.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Response | tuple[str, int]:
    """Sign in as a seeded or registered test user, or return another outcome without signing in."""
    pending = _pending()
    form = SignInForm()
    if request.method == "POST":
        form, password = SignInForm.read(request.form)
        if not form.errors:
            user = services().users.find(form.username)
            if check_password(user, password) and user is not None:
                services().pending.signed_in(pending, user.username, int(time.time()))
                logger.info("Test user signed in")
                return redirect(url_for("idp.share_your_details", request_token=pending.token), code=303)
            logger.info("Sign-in refused")
            form = form.refused()
    outcomes = {outcome.value: gettext(outcome.label) for outcome in Outcome}
    return _page("sign_in.html", form.errors, token=pending.token, form=form, outcomes=outcomes)


@blueprint.post("/other-outcome")
def other_outcome() -> str:
    """Return a non-success outcome to the hub without signing in."""
    pending = _pending()
    try:
        chosen = Outcome(request.form.get("outcome", ""))
    except ValueError:
        raise UnknownChoiceError("outcome not one the page offers") from None
    services().pending.finish(pending)
    answer = outcome_response(services().idp.server(), pending.request, chosen)
    return _post_to_hub(pending, answer, chosen.value)


@blueprint.route("/share-your-details", methods=["GET", "POST"])
def share_your_details() -> str | tuple[str, int]:
    """Show what will be shared; agree with a level (or a fraud event), or refuse."""
    pending = _pending()
    user = services().users.find(pending.username) if pending.username else None
    if user is None:
        raise NotSignedInError("consent before sign-in")
    form = ConsentForm.defaults(user.level.value)
    if request.method == "POST":
        decision = request.form.get("decision", "")
        if decision == "refuse":
            services().pending.finish(pending)
            answer = outcome_response(services().idp.server(), pending.request, Outcome.CANCEL)
            return _post_to_hub(pending, answer, "refused")
        if decision != "agree":
            raise UnknownChoiceError("consent decision not agree or refuse")
        form = ConsentForm.read(request.form, user.level.value)
        if not form.errors:
            services().pending.finish(pending)
            return _post_to_hub(pending, _success(pending, user, form), "success", level=form.level)
    requested = RETURN_LEVELS.get(pending.request.requested_level or "")
    return _page(
        "share_your_details.html",
        form.errors,
        token=pending.token,
        form=form,
        user=user,
        rows=dataset_rows(user.dataset, user.level),
        levels=_in_words(RETURN_LEVELS),
        gpg45_statuses=gpg45_labels(gettext),
        requested_level=gettext(requested) if requested else None,
    )


def _success(pending: PendingRequest, user: TestUser, form: ConsentForm) -> str:
    current = services()
    return success_response(
        current.idp.server(),
        pending.request,
        persistent_id=persistent_id(pid_secret(current.idp.setup), current.idp.entry.entity_id, user),
        level=form.returned_level(),
        dataset=user.dataset,
        authn_instant=pending.signed_in_at or int(time.time()),
    )


def _post_to_hub(pending: PendingRequest, answer: str, result: str, **extra: str) -> str:
    """The page that posts the signed Response to the hub (by itself with JavaScript, by its button without)."""
    logger.info("Response sent to the hub", extra={"result": result, **extra})
    fields = {"SAMLResponse": base64.b64encode(answer.encode("utf-8")).decode("ascii")}
    if pending.request.relay_state is not None:
        fields["RelayState"] = pending.request.relay_state
    return web.post_form(
        pending.request.acs_url,
        fields,
        title=gettext("Returning you to GOV.UK Sign in"),
        lead=gettext("%(company)s has finished.", company=services().idp.entry.display_name),
        service_name=services().idp.entry.display_name,
    )
