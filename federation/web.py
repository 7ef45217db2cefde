"""The Flask side of the shared plumbing: error pages, SAML form posting, logging context, headers.

Every app calls ``init_app``. Everything else in ``federation`` stays free of Flask.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from flask import Blueprint, Flask, Response, g, has_request_context, render_template, request
from lxml import etree
from werkzeug.exceptions import HTTPException

from federation.errors import FederationError, InvalidSamlMessageError
from federation.xml import MAX_MESSAGE_BYTES, XmlError, parse, to_bytes

logger = logging.getLogger(__name__)

blueprint = Blueprint("federation", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/federation-static")

_PLAIN_WORDS = {
    400: ("There is a problem with the request", "The page could not use what your browser sent."),
    403: ("You cannot do that", "Your browser sent something we could not accept. Go back and try again."),
    404: ("Page not found", "If you typed the web address, check it is correct."),
    405: ("Page not found", "This page cannot be used in that way."),
    413: ("The request was too large", "Your browser sent more than this service accepts."),
    500: ("Sorry, there is a problem with the service", "Try again later."),
    503: ("Sorry, the service is unavailable", "You will be able to use the service later."),
}


class JourneyLogFilter(logging.Filter):
    """Adds ``journey_id`` (opaque, not personal) to every record logged during a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        journey = g.get("journey_id") if has_request_context() else None
        record.journey_id = journey or "-"
        return True


def configure_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if not any(isinstance(f, JourneyLogFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.addFilter(JourneyLogFilter())
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [journey=%(journey_id)s] %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)


def error_page(status: int, title: str, description: str, **context: Any) -> tuple[str, int]:
    return render_template("federation/error.html", title=title, description=description, status=status, **context), status


def _handle_federation_error(error: FederationError) -> tuple[str, int]:
    logger.warning("Refused: %s (%s)", type(error).__name__, error.detail, extra={"http_status": error.http_status})
    return error_page(error.http_status, error.title, error.description)


def _handle_http_error(error: HTTPException) -> tuple[str, int] | HTTPException:
    status = error.code or 500
    if status < 400:
        return error
    title, description = _PLAIN_WORDS.get(status, _PLAIN_WORDS[400 if status < 500 else 500])
    return error_page(status, title, description)


def _handle_unexpected(error: Exception) -> tuple[str, int]:
    logger.error("Unexpected error: %s", type(error).__name__, exc_info=error)
    title, description = _PLAIN_WORDS[500]
    return error_page(500, title, description)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action *")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if g.get("no_store"):
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Shared templates, error pages in plain words, request-size cap and security headers."""
    app.register_blueprint(blueprint)
    app.config.setdefault("MAX_CONTENT_LENGTH", MAX_MESSAGE_BYTES * 2)
    app.register_error_handler(FederationError, _handle_federation_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(Exception, _handle_unexpected)
    app.after_request(_security_headers)


def read_posted_message(field: str) -> etree._Element:
    """Decode and parse a base64 SAML message from a POST form field (the HTTP-POST binding)."""
    value = request.form.get(field, "")
    if not value:
        raise InvalidSamlMessageError(f"no {field} in the form")
    if len(value) > MAX_MESSAGE_BYTES * 4 // 3 + 4:
        raise InvalidSamlMessageError(f"{field} is too large")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSamlMessageError(f"{field} is not base64") from exc
    try:
        return parse(data)
    except XmlError as exc:
        raise InvalidSamlMessageError(f"{field} rejected: {exc}") from exc


def post_form(
    url: str, fields: dict[str, str], *, title: str, button: str = "Continue", lead: str | None = None
) -> str:
    """An HTML form that posts ``fields`` to ``url``: submits itself with JavaScript, shows a button without."""
    g.no_store = True
    return render_template("federation/post_form.html", url=url, fields=fields, title=title, button=button, lead=lead)


def encode_message(element: etree._Element) -> str:
    return base64.b64encode(to_bytes(element)).decode("ascii")
