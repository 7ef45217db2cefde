"""Which page the citizen sees for where their journey is, or for a journey that has gone: one module, so that
no view module imports another."""

from __future__ import annotations

import logging

from flask import redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from federation.errors import InvalidSamlMessageError, JourneyNotFoundError
from federation.web import gettext, ngettext, note_refusal
from federation.words import N_
from hub.context import journeys, runtime, service_for, service_from_cookie
from hub.journey import STAGE_PAGES, Journey, JourneyStageError

logger = logging.getLogger(__name__)


def in_words(minutes: int) -> str:
    """A length of time as the hub's pages say it, in the page's language: "1 minute", "15 minutes", "90 minutes",
    "2 hours"."""
    if minutes >= 120 and minutes % 60 == 0:
        return ngettext("%(num)d hour", "%(num)d hours", minutes // 60)
    return ngettext("%(num)d minute", "%(num)d minutes", minutes)


# A count whose plural form is the "other" one in English and in Welsh (Welsh sets 0, 1, 2, 3 and 6 apart).
_OTHER = 100


def seconds_in_words(seconds: float) -> str:
    """A number of seconds as the hub's pages say it: "1 second", "10 seconds", "2.5 seconds". A fraction takes
    the "other" plural form, as it does in both languages."""
    count = int(seconds) if float(seconds).is_integer() else _OTHER
    shown = format(seconds, "g")
    return ngettext("%(seconds)s second", "%(seconds)s seconds", count, seconds=shown)


def page_for(journey: Journey) -> str:
    """The URL of the page for where ``journey`` is now (``hub.journey.stages.STAGE_PAGES``)."""
    return url_for(STAGE_PAGES[journey.stage])


def started_matching(recorded: Journey | None) -> ResponseReturnValue:
    """The answer to the form post that started matching (``matching_runner.start``): always a redirect, so
    that a refresh or the back button asks again with a GET and never posts the form twice.

    To the waiting page, which answers the service (at once, if matching has already answered for good); or,
    when matching answered within the wait with a question (cycle 3) or an exit page, straight there.
    """
    return redirect(url_for("journey.response_processing") if recorded is None else page_for(recorded), code=303)


def to_the_page_for_the_stage(error: JourneyStageError) -> ResponseReturnValue:
    """A move the journey's stage does not allow (a second tab, the back button): show where the journey is."""
    return redirect(page_for(error.journey), code=303)


def start_again(error: JourneyNotFoundError) -> tuple[str, int]:
    """'You need to start again' (the hub's answer to ``JourneyNotFoundError``): why a journey ends, and always a
    way on: back to the service the citizen came from when the ``hub_service`` cookie says which, otherwise the
    hub's home page, which lists the services."""
    logger.info("Journey not found: %s", error.detail)
    page = render_template(
        "start_again.html",
        service=service_from_cookie(),
        journey_limit=in_words(runtime().federation.hub.journey_minutes),
        question_limit=in_words(journeys().dataset_seconds // 60),
    )
    return page, error.http_status


def company_name(journey: Journey, unknown: str = N_("the company")) -> str:
    """The chosen company's name (never translated: it is the company's own), or ``unknown`` in the page's language."""
    idp = runtime().federation.identity_provider(journey.idp_entity_id or "")
    return idp.display_name if idp else gettext(unknown)


def answer_refused(journey: Journey, error: InvalidSamlMessageError) -> tuple[str, int]:
    """The company's answer was refused (not signed by it, issued at a time we cannot accept, used before): say so,
    and offer a way on, as the exit pages do: another company, or back to the service (``Move.WENT_BACK``), which
    then hears that no one was authenticated. The journey itself is unchanged until the citizen chooses: a
    message anyone could post must not end it."""
    note_refusal(error)
    company = company_name(journey)
    page = render_template(
        "exit/answer-refused.html",
        journey=journey,
        service=service_for(journey),
        company=company,
        title=gettext("We could not accept the answer from %(company)s", company=company),
        reason=gettext(error.description),
        try_another=True,
    )
    return page, error.http_status
