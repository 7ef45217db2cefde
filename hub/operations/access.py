"""Optional operator sign-in: one shared token, as a bearer token (Prometheus) or a basic-auth password.

The internal port is the real protection: the operations app must never be reachable from the internet.
When ``OPERATIONS_TOKEN`` is set, every page but /_status and the static assets also asks for it, so that
someone who reaches the port by mistake still sees nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from flask import request

from federation import web

# Load balancers poll /_status; the assets are GOV.UK Frontend's, needed to show the sign-in page itself.
OPEN_ENDPOINTS = frozenset({"federation.status", "federation.govuk_assets", "static"})
REALM = 'Basic realm="Hub operations", charset="UTF-8"'


def presented_token() -> str | None:
    """The request's token: ``Authorization: Bearer <token>``, or Basic with the token as the password."""
    authorization = request.authorization  # werkzeug parses both schemes, and refuses bad base64 or UTF-8
    if authorization is None:
        return None
    if authorization.type == "bearer":
        return authorization.token
    return authorization.password if authorization.type == "basic" else None


def token_matches(presented: str | None, expected: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def require_token(expected: str) -> Callable[[], tuple[str, int, dict[str, str]] | None]:
    """A ``before_request`` hook: 401 with a basic-auth challenge unless the request carries ``expected``."""

    def check() -> tuple[str, int, dict[str, str]] | None:
        if request.endpoint in OPEN_ENDPOINTS:
            return None
        if token_matches(presented_token(), expected):
            return None
        body, status = web.error_page(
            401,
            "Sign in to see this page",
            "Use the operations token your team gave you as the password. Any user name will do.",
        )
        return body, status, {"WWW-Authenticate": REALM}

    return check
