"""Which page the citizen sees for where their journey is: one module, so that no view module imports another."""

from __future__ import annotations

from flask import redirect, url_for
from flask.typing import ResponseReturnValue

from hub.journey import STAGE_PAGES, Journey, JourneyStageError


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
