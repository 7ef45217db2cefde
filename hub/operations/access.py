"""Optional operator sign-in: one shared token, as a bearer token (Prometheus) or a basic-auth password.

The internal port is the real protection: the operations app must never be reachable from the internet.
When ``OPERATIONS_TOKEN`` is set, every page but /_status and the static assets also asks for it, so that
someone who reaches the port by mistake still sees nothing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable

from flask import request

from federation import web

# Load balancers poll /_status; the assets are GOV.UK Frontend's, needed to show the sign-in page itself.
OPEN_ENDPOINTS = frozenset({"federation.status", "federation.govuk_assets", "static"})
REALM = 'Basic realm="Hub operations", charset="UTF-8"'


def presented_token(authorization: str) -> str | None:
    """The token in an Authorization header: ``Bearer <token>``, or ``Basic`` with the token as the password."""
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def token_matches(presented: str | None, expected: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def require_token(expected: str) -> Callable[[], tuple[str, int, dict[str, str]] | None]:
    """A ``before_request`` hook: 401 with a basic-auth challenge unless the request carries ``expected``."""

    def check() -> tuple[str, int, dict[str, str]] | None:
        if request.endpoint in OPEN_ENDPOINTS:
            return None
        if token_matches(presented_token(request.headers.get("Authorization", "")), expected):
            return None
        body, status = web.error_page(
            401,
            "Sign in to see this page",
            "Use the operations token your team gave you as the password. Any user name will do.",
        )
        return body, status, {"WWW-Authenticate": REALM}

    return check
