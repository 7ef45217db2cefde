"""What every request goes through: the body cap, a refusal of repeated SAML parameters, a CSP nonce and the
security headers."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    current_app,
    g,
    request,
)
from werkzeug.exceptions import RequestEntityTooLarge

from federation.errors import InvalidSamlMessageError
from federation.saml.xml import MAX_MESSAGE_BYTES

# The largest request body any app reads: a SAML message at its cap, base64-encoded in a form, and room for the
# form's other fields.
MAX_REQUEST_BYTES = MAX_MESSAGE_BYTES * 2
SAML_PARAMETERS = ("SAMLRequest", "SAMLResponse", "RelayState", "Signature", "SigAlg")
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def new_nonce() -> None:
    g.csp_nonce = secrets.token_urlsafe(16)


def csp_nonce() -> str:
    nonce: str = g.get("csp_nonce") or ""
    return nonce


def security_headers_for(form_targets: Callable[[], str]) -> Any:
    """The headers every response carries; ``form_targets`` gives the origins its SAML forms may post to now."""

    def add_headers(response: Response) -> Response:
        nonce = csp_nonce()
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; "
            f"font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
            f"form-action 'self' {form_targets()}",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.scheme == "https":
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if g.get("no_store"):
            response.headers["Cache-Control"] = "no-store"
        return response

    return add_headers


def cap_streamed_body() -> None:
    """A body with no Content-Length (chunked) over the cap gets a 413 too.

    Werkzeug caps such a stream at ``MAX_CONTENT_LENGTH`` but stops there quietly, so the form would be read from
    the first half megabyte as if it were all. Read it once (at most the cap), keep it for the form parser, and
    refuse it if it filled the cap.
    """
    if request.content_length is None and request.environ.get("wsgi.input_terminated"):
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        if len(request.get_data(cache=True)) >= limit:
            raise RequestEntityTooLarge


def refuse_repeated_saml_parameters() -> None:
    """A SAML parameter sent twice, in the query, the form or both, is refused (400): which copy a reader takes
    is a guess, and the guess is an attack (a second SAMLResponse behind the first)."""
    for name in SAML_PARAMETERS:
        copies = len(request.args.getlist(name))
        if request.method == "POST" and request.mimetype in _FORM_TYPES:
            copies += len(request.form.getlist(name))
        if copies > 1:
            raise InvalidSamlMessageError(f"{name} sent more than once")


def origins(urls: Iterable[str]) -> str:
    """The origins of ``urls``, as a CSP source list."""
    return " ".join(sorted({_origin(url) for url in urls}))


def install_guards(app: Flask, form_targets: Callable[[], str]) -> None:
    """The body cap, the parameter check, the nonce and the headers, on every request to ``app``."""
    app.before_request(new_nonce)
    # Flask defines the key as None, so setdefault would never cap anything. Werkzeug refuses a larger declared
    # Content-Length before reading a byte, and stops reading a chunked body at the cap: 413 either way.
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_REQUEST_BYTES
    app.before_request(cap_streamed_body)
    app.before_request(refuse_repeated_saml_parameters)
    app.after_request(security_headers_for(form_targets))
