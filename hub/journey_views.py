"""The citizen's pages at the hub: start, questions, the company picker, waiting, cycle 3 and every exit.

Each page checks the journey is at a stage where the page makes sense and otherwise sends the citizen to
the page for the stage they are at, so the back button and refreshes never break a journey.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from federation.config import Evidence, IdentityProviderEntry
from federation.metrics import JOURNEYS
from federation.verify.cycle3 import CYCLE3_ATTRIBUTES
from federation.web import current_language, encode_message, gettext, post_form
from federation.words import N_
from hub import matching_runner
from hub.context import auditor, clear_service_cookie, current_journey, journeys, runtime, service_for
from hub.journey import EXIT_PAGES, FINAL_MATCHING, IN_FLIGHT, STAGE_PAGES, STATUS_FOR_STAGE, Journey, Move, Stage
from hub.outbound import final_response, request_to_idp
from hub.pages import company_name, in_words, page_for, seconds_in_words, started_matching
from hub.services import services

logger = logging.getLogger(__name__)
blueprint = Blueprint("journey", __name__)

EVIDENCE_LABELS = {
    Evidence.PHOTO_ID.value: N_("A UK passport or photocard driving licence"),
    Evidence.MOBILE_PHONE.value: N_("A smartphone that can download an app"),
    Evidence.UK_ADDRESS.value: N_("A UK address where you have lived for more than a year"),
}
NO_EVIDENCE_CHOSEN = N_("Select which of these you have, or select ‘None of these’")
# 'None of these' is exclusive: GOV.UK Frontend's script unticks the others, but without JavaScript both can
# arrive, and the answer contradicts itself.
NONE_AND_EVIDENCE_CHOSEN = N_("Select which of these you have, or select only ‘None of these’")
# How often the waiting page asks again: the page's reload without JavaScript, its script's question with it.
POLL_SECONDS = 2


def _checked_form(journey: Journey) -> None:
    if not hmac.compare_digest(request.form.get("csrf_token", ""), journey.csrf_token):
        abort(403)


def _render(template: str, journey: Journey, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(
        template, journey=journey, service=service_for(journey), company=company_name(journey), **context
    ), status


def _journey_seconds() -> int:
    return runtime().federation.hub.journey_minutes * 60


@blueprint.get("/start")
def start() -> ResponseReturnValue:
    journey = current_journey()
    if not journey.allows(Move.COMPANY_CHOSEN):
        return redirect(page_for(journey))
    return _render("start.html", journey, time_limit=in_words(_journey_seconds() // 60))


@blueprint.route("/which-of-these-do-you-have", methods=["GET", "POST"])
def which_of_these_do_you_have() -> ResponseReturnValue:
    journey = current_journey()
    if not journey.allows(Move.EVIDENCE_GIVEN):
        return redirect(page_for(journey))
    error = None
    chosen = journey.evidence or []
    if request.method == "POST":
        _checked_form(journey)
        chosen = request.form.getlist("evidence")
        allowed = {*EVIDENCE_LABELS, "none"}
        if not chosen or any(c not in allowed for c in chosen):
            error = NO_EVIDENCE_CHOSEN
        elif "none" in chosen and len(chosen) > 1:
            error = NONE_AND_EVIDENCE_CHOSEN
        else:
            journey.give_evidence([c for c in chosen if c != "none"])
            journeys().save(journey)
            return redirect(url_for("journey.choose_a_certified_company"), code=303)
    return _render(
        "which_of_these_do_you_have.html",
        journey,
        400 if error else 200,
        error=gettext(error) if error else None,
        chosen=chosen,
        labels={value: gettext(label) for value, label in EVIDENCE_LABELS.items()},
        error_prefix=bool(error),
    )


def _companies(journey: Journey) -> list[tuple[IdentityProviderEntry, bool]]:
    """Companies certified at the level the service needs, recommended ones first."""
    have = set(journey.evidence or [])
    eligible = [
        idp.in_language(current_language())
        for idp in runtime().federation.file.offered_identity_providers
        if any(level.satisfies(journey.level) for level in idp.levels_of_assurance)
    ]
    ranked = [
        (idp, journey.evidence is not None and {e.value for e in idp.evidence_required} <= have) for idp in eligible
    ]
    return sorted(ranked, key=lambda pair: not pair[1])


@blueprint.route("/choose-a-certified-company", methods=["GET", "POST"])
def choose_a_certified_company() -> ResponseReturnValue:
    journey = current_journey()
    if not journey.allows(Move.COMPANY_CHOSEN):
        return redirect(page_for(journey))
    companies = _companies(journey)
    error = None
    if request.method == "POST":
        _checked_form(journey)
        choice = request.form.get("company", "")
        idp = next((idp for idp, _ in companies if idp.entity_id == choice), None)
        if idp is not None:
            return _send_to_idp(journey, idp)
        error = gettext("Select a certified company")
    return _render(
        "choose_a_certified_company.html",
        journey,
        400 if error else 200,
        companies=companies,
        error=error,
        error_prefix=bool(error),
    )


def _send_to_idp(journey: Journey, idp: IdentityProviderEntry) -> str:
    saml_request = request_to_idp(runtime(), idp, journey.level)
    if journey.idp_request_id:
        journeys().claim_request(journey.idp_request_id, journey)  # a new choice cancels the old request
    journey.choose_company(idp.entity_id, saml_request.get("ID", ""))
    journeys().save(journey, sent_request=saml_request.get("ID", ""))
    logger.info("Company chosen", extra={"idp": idp.entity_id})
    auditor().event("company_chosen", **journey.audit_fields(), evidence=sorted(journey.evidence or []))
    company = idp.display_name
    return post_form(
        idp.sso_url,
        {"SAMLRequest": encode_message(saml_request)},
        title=gettext("Continue to %(company)s", company=company),
        lead=gettext(
            "You chose %(company)s to prove your identity. It will not be told which service you are using.",
            company=company,
        ),
        next_step=gettext(
            "You will leave GOV.UK for %(company)s’s website. When you have finished there, %(company)s will send "
            "you back to GOV.UK.",
            company=company,
        ),
        button=gettext("Continue to %(company)s", company=company),
    )


def _waiting_journey() -> Journey:
    """The citizen's journey, moved on to the time-out exit if matching has outlived the hub's wait (unless its
    answer was written since the journey was loaded). Both the waiting page and its script ask through here, so
    the script reaches the time-out exit just as the page does."""
    journey = current_journey()
    if journey.stage in IN_FLIGHT and matching_runner.timed_out(journey, runtime()):
        attempt = journey.attempt or ""
        journey.time_out()
        if journeys().save_if_at(journey, attempt):  # unless the answer was written since it was loaded
            logger.warning("Matching took longer than allowed")
        else:
            journey = current_journey()
    return journey


@blueprint.get("/response-processing")
def response_processing() -> ResponseReturnValue:
    """The waiting page while matching runs. Once matching has answered for good it answers the service;
    otherwise it sends the citizen to the page for where they are.

    Without JavaScript the page reloads itself every ``POLL_SECONDS`` (a meta refresh inside ``<noscript>``, so
    a browser running scripts ignores it); with JavaScript its script asks ``response_processing_status``
    instead and the page is never reloaded."""
    g.no_store = True
    journey = _waiting_journey()
    if journey.stage in IN_FLIGHT:
        wait_limit = seconds_in_words(runtime().federation.hub.matching_timeout_seconds)
        return _render("response_processing.html", journey, poll_seconds=POLL_SECONDS, wait_limit=wait_limit)
    if journey.stage in FINAL_MATCHING:
        return _answer_service(journey)
    return redirect(page_for(journey))


@blueprint.get("/response-processing/status")
def response_processing_status() -> ResponseReturnValue:
    """For the waiting page's script: whether matching has answered (or the wait has run out), and the page to
    go to next. Nothing personal: a flag and one of the hub's own paths. The same cookie as the page, and the
    same answer to a journey that has gone (the page's 'You need to start again', which the script then shows)."""
    g.no_store = True
    journey = _waiting_journey()
    return jsonify(answered=journey.stage not in IN_FLIGHT, next=page_for(journey))


@blueprint.route("/further-information", methods=["GET", "POST"])
def further_information() -> ResponseReturnValue:
    """Cycle 3: ask for the one extra fact the service names, then match again."""
    journey = current_journey()
    if not journey.allows(Move.CYCLE3_ANSWERED):
        return redirect(page_for(journey))
    service = service_for(journey)
    if service.cycle3_attribute is None:
        abort(404)
    attribute = CYCLE3_ATTRIBUTES[service.cycle3_attribute]
    error, value = None, ""
    if request.method == "POST":
        _checked_form(journey)
        value = request.form.get("cycle3", "")[:100]
        normalised, error = attribute.validate(value)
        if normalised is not None:
            journey.answer_cycle3(normalised)
            return started_matching(matching_runner.start(services(), journey))
    return _render(
        "further_information.html",
        journey,
        400 if error else 200,
        time_left=in_words(_minutes_to_answer(journey)),
        attribute=attribute,
        # The question's words are the federation's (federation.verify.cycle3), in its catalogue when marked there.
        question=gettext(attribute.label),
        hint=gettext(attribute.hint),
        error=gettext(error) if error else None,
        value=value,
        error_prefix=bool(error),
    )


def _minutes_to_answer(journey: Journey) -> int:
    """Whole minutes (rounded up, at least 1) until the cycle 3 question lapses: its record lives
    ``dataset_seconds`` from when matching's answer was written (after the attempt began, so this is never later),
    and the journey itself ``journey_minutes`` from its start."""
    now = time.time()
    deadline = (journey.attempt_started or now) + journeys().dataset_seconds
    if journey.started_at:
        deadline = min(deadline, journey.started_at + _journey_seconds())
    return max(1, math.ceil((deadline - now) / 60))


@blueprint.post("/further-information/cancel")
def further_information_cancel() -> ResponseReturnValue:
    journey = current_journey()
    _checked_form(journey)
    if journey.allows(Move.CYCLE3_DECLINED):
        journey.decline_cycle3()
        journeys().save(journey)
    return redirect(page_for(journey), code=303)


def _exit_page(stage: Stage) -> Any:
    def view() -> ResponseReturnValue:
        journey = current_journey()
        if journey.stage is not stage:
            return redirect(page_for(journey))
        page = EXIT_PAGES[stage]
        title = gettext(
            page.title, company=company_name(journey, N_("The company")), service=service_for(journey).display_name
        )
        return _render(f"exit/{stage.value}.html", journey, title=title, try_another=page.try_another)

    view.__name__ = STAGE_PAGES[stage].removeprefix("journey.")
    return view


for _stage, _page in EXIT_PAGES.items():
    blueprint.add_url_rule(_page.path, STAGE_PAGES[_stage].removeprefix("journey."), _exit_page(_stage))


@blueprint.post("/return-to-service")
def return_to_service() -> ResponseReturnValue:
    """From an exit page, or the page that refused the company's answer: answer the service with the status for
    what happened, and end the journey."""
    journey = current_journey()
    _checked_form(journey)
    if journey.allows(Move.WENT_BACK):
        journey.go_back_from_the_company()
    if journey.stage not in EXIT_PAGES:
        return redirect(page_for(journey))
    return _answer_service(journey)


def _answer_service(journey: Journey) -> Response:
    """Post the signed Response to the service's ACS and forget the journey: nothing about the citizen stays,
    and the ``hub_service`` cookie is cleared."""
    service = service_for(journey)
    journey.end()
    fields = {"SAMLResponse": encode_message(final_response(runtime(), journey, service))}
    if journey.relay_state is not None:
        fields["RelayState"] = journey.relay_state
    journeys().end(journey)
    logger.info("Response sent to the service", extra={"outcome": journey.stage.value})
    status, sub_status = STATUS_FOR_STAGE[journey.stage]
    JOURNEYS.labels(journey.rp_entity_id, journey.idp_entity_id or "", journey.stage.value).inc()
    auditor().event(
        "response_sent", **journey.audit_fields(), outcome=journey.stage.value, status=status, sub_status=sub_status
    )
    title, lead = _return_page_words(journey, service.display_name)
    response = Response(
        post_form(
            journey.acs_url,
            fields,
            title=title,
            lead=lead,
            next_step=gettext(
                "You will now go back to %(service)s. It will tell you what happens next.", service=service.display_name
            ),
            button=gettext("Continue to %(service)s", service=service.display_name),
        )
    )
    clear_service_cookie(response)
    return response


def _return_page_words(journey: Journey, service: str) -> tuple[str, str | None]:
    """The title and lead of the page that takes the citizen back to the service, for whoever reads it (without
    JavaScript): what happened. After an exit page, which has said what happened, no lead."""
    company = company_name(journey)
    if journey.stage is Stage.MATCHED:
        return gettext("Your identity has been confirmed"), gettext(
            "%(company)s has confirmed your identity and %(service)s has found your record.",
            company=company,
            service=service,
        )
    if journey.stage is Stage.ACCOUNT_CREATED:
        return gettext("Your identity has been confirmed"), gettext(
            "%(company)s has confirmed your identity and %(service)s has made an account for you.",
            company=company,
            service=service,
        )
    returning = gettext("Returning you to %(service)s", service=service)
    if journey.stage is Stage.NO_MATCH:
        return returning, gettext(
            "%(company)s has confirmed your identity, but %(service)s could not find your record.",
            company=company,
            service=service,
        )
    return returning, None


@blueprint.get("/cookies")
def cookies() -> str:
    return render_template("cookies.html", title=gettext("Cookies"))


@blueprint.get("/privacy")
def privacy() -> str:
    return render_template("privacy.html", title=gettext("Privacy notice"))


@blueprint.get("/about-certified-companies")
def about_certified_companies() -> str:
    return render_template(
        "about_certified_companies.html",
        title=gettext("About certified companies"),
        companies=[idp.in_language(current_language()) for idp in runtime().federation.file.offered_identity_providers],
    )
