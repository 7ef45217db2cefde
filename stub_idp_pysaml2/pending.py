"""The hub's outstanding AuthnRequests, each held in the store under an opaque token until it is answered.

The token travels in the tester's forms and links; the request's ID, where to answer it and who signed in stay
on the server, never in cookies.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from federation.store import Store
from stub_idp_pysaml2.authn_requests import HubRequest
from stub_idp_pysaml2.errors import RequestNotFoundError

PENDING_SECONDS = 60 * 60
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_KEY = "pysaml2-request:"


@dataclass(frozen=True)
class PendingRequest:
    """One AuthnRequest from the hub, waiting for its answer; ``username`` once a tester has signed in."""

    token: str
    request: HubRequest
    username: str | None = None
    signed_in_at: int | None = None  # seconds since the epoch: the AuthnInstant

    @property
    def log_id(self) -> str:
        """A short ID for log lines that cannot be turned back into the token."""
        return "idp-" + hashlib.sha256(self.token.encode()).hexdigest()[:12]


class PendingRequests:
    """The store's ``pysaml2-request:<token>`` entries: started by the hub's request, claimed once by the answer."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def start(self, request: HubRequest) -> PendingRequest:
        pending = PendingRequest(secrets.token_urlsafe(24), request)
        self._save(pending)
        return pending

    def find(self, token: str) -> PendingRequest:
        """The request behind ``token``, if it is still waiting."""
        stored = self._store.get(_KEY + token) if _TOKEN.fullmatch(token) else None
        if stored is None:
            raise RequestNotFoundError("request token unknown or expired")
        try:
            request = HubRequest(
                id=str(stored["id"]),
                hub_entity_id=str(stored["hub_entity_id"]),
                acs_url=str(stored["acs_url"]),
                requested_level=stored.get("requested_level"),
                relay_state=stored.get("relay_state"),
            )
        except KeyError as exc:
            raise RequestNotFoundError("stored request incomplete") from exc
        return PendingRequest(token, request, stored.get("username"), stored.get("signed_in_at"))

    def signed_in(self, pending: PendingRequest, username: str, moment: int) -> PendingRequest:
        signed_in = PendingRequest(pending.token, pending.request, username, moment)
        self._save(signed_in)
        return signed_in

    def finish(self, pending: PendingRequest) -> None:
        """Claim the request for answering: each request gets exactly one response."""
        if self._store.take(_KEY + pending.token) is None:
            raise RequestNotFoundError("request already answered")

    def _save(self, pending: PendingRequest) -> None:
        request = pending.request
        value = {
            "id": request.id,
            "hub_entity_id": request.hub_entity_id,
            "acs_url": request.acs_url,
            "requested_level": request.requested_level,
            "relay_state": request.relay_state,
            "username": pending.username,
            "signed_in_at": pending.signed_in_at,
        }
        self._store.put(_KEY + pending.token, value, PENDING_SECONDS)
