"""The hub's outstanding AuthnRequests, each held in the store under an opaque token until it is answered.

The token travels in the tester's forms and links; the request ID, the level the hub asked for and who
signed in stay on the server, never in cookies.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import asdict, dataclass

from federation.store import Store
from stub_idp.errors import RequestNotFoundError

PENDING_SECONDS = 60 * 60
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass
class PendingRequest:
    """One AuthnRequest from the hub, waiting for its answer."""

    token: str
    slug: str
    request_id: str
    requested_level: str | None = None  # a LevelOfAssurance value, when the hub named one
    username: str | None = None  # set once the tester has signed in

    @property
    def log_id(self) -> str:
        """A short ID for log lines that cannot be turned back into the token."""
        return "idp-" + hashlib.sha256(self.token.encode()).hexdigest()[:12]


class PendingRequests:
    """The store's ``pending:<token>`` entries: started by the hub's request, claimed once by the answer."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def start(self, *, slug: str, request_id: str, requested_level: str | None) -> PendingRequest:
        pending = PendingRequest(secrets.token_urlsafe(24), slug, request_id, requested_level)
        self._save(pending)
        return pending

    def find(self, token: str, slug: str) -> PendingRequest:
        """The request behind ``token``, if it is still waiting and belongs to this identity provider."""
        stored = self._store.get(f"pending:{token}") if _TOKEN.fullmatch(token) else None
        if stored is None or stored.get("slug") != slug or not stored.get("request_id"):
            raise RequestNotFoundError("request token unknown, expired or for another identity provider")
        return PendingRequest(
            token=token,
            slug=slug,
            request_id=str(stored["request_id"]),
            requested_level=stored.get("requested_level"),
            username=stored.get("username"),
        )

    def signed_in(self, pending: PendingRequest, username: str) -> None:
        pending.username = username
        self._save(pending)

    def finish(self, pending: PendingRequest) -> None:
        """Claim the request for answering: each request gets exactly one response."""
        if self._store.take(f"pending:{pending.token}") is None:
            raise RequestNotFoundError("request already answered")

    def _save(self, pending: PendingRequest) -> None:
        value = {key: val for key, val in asdict(pending).items() if key != "token" and val is not None}
        self._store.put(f"pending:{pending.token}", value, PENDING_SECONDS)
