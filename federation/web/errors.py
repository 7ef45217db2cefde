"""Error pages in plain words, for the federation's own refusals, HTTP errors and anything unexpected.

Never a traceback: an unexpected error is logged by its type and the citizen sees a plain page.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    render_template,
)
from werkzeug.exceptions import HTTPException

from federation.errors import FederationError
from federation.metrics import ERRORS
from federation.web.language import gettext
from federation.words import N_

logger = logging.getLogger(__name__)

_PLAIN_WORDS = {
    400: (N_("There is a problem with the request"), N_("The page could not use what your browser sent.")),
    403: (
        N_("You cannot do that"),
        N_("Your browser sent something we could not accept. Go back and try again."),
    ),
    404: (
        N_("Page not found"),
        N_(
            "If you typed the web address, check it is correct. "
            "If you pasted the web address, check you copied the entire address."
        ),
    ),
    405: (N_("You cannot use this page in that way"), N_("Go back to the page you were on and try again.")),
    413: (N_("The request was too large"), N_("Your browser sent more than this service accepts.")),
    500: (N_("Sorry, there is a problem with the service"), N_("Try again later.")),
    503: (N_("Sorry, the service is unavailable"), N_("You will be able to use the service later.")),
}


def error_page(status: int, title: str, description: str, **context: Any) -> tuple[str, int]:
    """The error page, its ``title`` and ``description`` in the page's language (both are catalogue messages)."""
    return render_template(
        "federation/error.html", title=gettext(title), description=gettext(description), status=status, **context
    ), status


def note_refusal(error: FederationError) -> None:
    """Count and log a refusal (its type and detail, never the message), for an app that shows its own page."""
    ERRORS.labels(current_app.name, type(error).__name__).inc()
    logger.warning("Refused: %s (%s)", type(error).__name__, error.detail, extra={"http_status": error.http_status})


def _handle_federation_error(error: FederationError) -> tuple[str, int]:
    note_refusal(error)
    return error_page(error.http_status, error.title, error.description)


def _handle_http_error(error: HTTPException) -> Response | HTTPException:
    status = error.code or 500
    if status < 400:
        return error
    logger.info("HTTP %s: %s", status, type(error).__name__)  # which kind of 400 (a body cut short, say)
    title, description = _PLAIN_WORDS.get(status, _PLAIN_WORDS[400 if status < 500 else 500])
    body, _ = error_page(status, title, description)
    # The exception's own headers: a 405's Allow, say (RFC 9110 §15.5.6 requires it).
    headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
    return Response(body, status, headers=headers, mimetype="text/html")


def _handle_unexpected(error: Exception) -> tuple[str, int]:
    ERRORS.labels(current_app.name, "unexpected").inc()
    logger.error("Unexpected error: %s", type(error).__name__, exc_info=error)
    title, description = _PLAIN_WORDS[500]
    return error_page(500, title, description)


def register_error_pages(app: Flask) -> None:
    app.register_error_handler(FederationError, _handle_federation_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(Exception, _handle_unexpected)
