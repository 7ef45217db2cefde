"""The apps' gunicorn worker: gunicorn's threaded worker, answering a request it cannot read with our own page.

gunicorn refuses a request line over ``--limit-request-line`` (414), a header over its limits (431) or a
request it cannot parse (400) before any app is called, with a bare page of its own: no security headers, no
GOV.UK page, and a log line that quotes what the client sent, query string and all. This worker answers those
with a plain GOV.UK-style page carrying the headers the apps send (``federation.web``), logs only the kind of
error, and leaves every other error to gunicorn. Behind nginx (deploy/nginx) these rarely reach gunicorn, as
nginx refuses them first with the same words (deploy/nginx/errors); run directly (``make run`` without nginx,
a test) they do.

``launcher.localrun.gunicorn_command`` selects it with ``--worker-class``; so does docker-compose.yml.
"""

from __future__ import annotations

import html
import socket
import time
from datetime import datetime
from typing import Any

from gunicorn.errors import AppImportError
from gunicorn.http import errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.gthread import ThreadWorker as GunicornThreadWorker

# The same words as nginx's pages in deploy/nginx/errors (tests/security/test_proxy.py checks they agree).
PAGES = {
    400: ("Bad Request", "There is a problem with the request", "The page could not use what your browser sent."),
    414: (
        "URI Too Long",
        "The web address is too long",
        "The link that brought you here is longer than this service accepts. Go back to the service you came "
        "from and try again.",
    ),
    431: (
        "Request Header Fields Too Large",
        "There is a problem with the request",
        "Your browser sent more than this service accepts. Go back and try again.",
    ),
}
# The apps' own headers (federation.web), less what only a page with scripts and forms needs.
SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)
# What gunicorn could not read in the request, by the status we answer with. Its errors over the app's own
# response headers (InvalidResponseHeader…) are the app's fault, not the client's: gunicorn answers those 500.
_UNREADABLE = (
    (errors.LimitRequestLine, 414),
    (errors.LimitRequestHeaders, 431),
    (
        (
            errors.InvalidRequestLine,
            errors.InvalidRequestMethod,
            errors.InvalidHTTPVersion,
            errors.InvalidHeader,
            errors.InvalidHeaderName,
            errors.ObsoleteFolding,
            errors.InvalidChunkSize,
            errors.ChunkMissingTerminator,
            errors.InvalidChunkExtension,
            errors.InvalidProxyLine,
            errors.InvalidSchemeHeaders,
        ),
        400,
    ),
)
# How long, at most, to read what is left of a refused request before closing: closing a socket with unread
# data sends a reset, and a browser that gets a reset shows its own error instead of our page.
_DRAIN_SECONDS = 1.0
_DRAIN_BYTES = 64 * 1024


def status_for(exc: BaseException) -> int | None:
    """The status to answer ``exc`` with, or None for an error this worker leaves to gunicorn."""
    if isinstance(exc, (errors.InvalidResponseHeader, errors.InvalidResponseHeaderName)):
        return None
    for kinds, status in _UNREADABLE:
        if isinstance(exc, kinds):
            return status
    return None


def page(status: int) -> bytes:
    """A plain GOV.UK-style page: GOV.UK Frontend's stylesheet, which every app serves at /assets."""
    _, title, description = PAGES[status]
    return (
        '<!DOCTYPE html>\n<html lang="en" class="govuk-template">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)} – GOV.UK</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="stylesheet" href="/assets/govuk-frontend.min.css">\n</head>\n'
        '<body class="govuk-template__body">\n<div class="govuk-width-container">\n'
        '<main class="govuk-main-wrapper" id="main-content">\n'
        f'<h1 class="govuk-heading-l">{html.escape(title)}</h1>\n'
        f'<p class="govuk-body">{html.escape(description)}</p>\n'
        "</main>\n</div>\n</body>\n</html>\n"
    ).encode()


def response(status: int) -> bytes:
    """The whole HTTP response for ``status``: the page, the security headers, and the connection closed."""
    reason = PAGES[status][0]
    body = page(status)
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
        *SECURITY_HEADERS,
    ]
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    return head.encode("latin-1") + body


def _drain(sock: socket.socket) -> None:
    """Read what the client is still sending, briefly, so that closing the socket does not reset it."""
    deadline = time.monotonic() + _DRAIN_SECONDS
    read = 0
    try:
        sock.shutdown(socket.SHUT_WR)
        while read < _DRAIN_BYTES and (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            chunk = sock.recv(16 * 1024)
            if not chunk:
                return
            read += len(chunk)
    except OSError:
        return


class ThreadWorker(GunicornThreadWorker):  # type: ignore[misc]
    """gunicorn's ``gthread`` worker, with our page for a request it cannot read."""

    def load_wsgi(self) -> None:
        """Build the app; when it cannot start (its federation file, or its Redis), say why in plain words, with
        no traceback: gunicorn prints an AppImportError's message alone, and stops ("App failed to load")."""
        from federation.config import FederationConfigError
        from federation.runtime import StoreUnreachableError

        try:
            super().load_wsgi()
        except (FederationConfigError, StoreUnreachableError) as exc:
            raise AppImportError(str(exc)) from None

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        status = status_for(exc)
        if status is None:
            super().handle_error(req, client, addr, exc)
            return
        started = datetime.now()
        where = addr[0] if addr else ""
        # The kind of error only: gunicorn's own message quotes the request line or the header it refused.
        self.log.warning(
            "Refused a request gunicorn could not read: HTTP %s, %s, from %s", status, type(exc).__name__, where
        )
        if req is not None:  # the request line was read: log the request as any other, by the access log format
            environ = default_environ(req, client, self.cfg)
            environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = where, str(addr[1] if addr else "")
            answered = Response(req, client, self.cfg)
            answered.status = f"{status} {PAGES[status][0]}"
            answered.response_length = len(page(status))
            self.log.access(answered, req, environ, datetime.now() - started)
        try:
            client.sendall(response(status))
        except OSError:
            self.log.debug("Could not send the error page.")
            return
        _drain(client)
