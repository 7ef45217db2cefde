"""A citizen's journey through the hub, kept server-side in the store under an opaque ID.

The record holds what the hub needs to answer the relying service and to recognise the identity
provider's answer. It never holds the matching dataset or a persistent ID, and it is deleted when the
relying service has been answered.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass

from federation.errors import JourneyNotFoundError
from federation.loa import LevelOfAssurance
from federation.store import Store


@dataclass
class Journey:
    id: str
    csrf_token: str
    rp_entity_id: str
    rp_request_id: str
    acs_url: str
    relay_state: str | None
    level: LevelOfAssurance
    idp_entity_id: str | None = None
    idp_request_id: str | None = None

    @property
    def log_id(self) -> str:
        """A name for this journey in logs and audit records; the ID itself is a bearer secret (the cookie)."""
        return hashlib.sha256(self.id.encode()).hexdigest()[:16]

    @classmethod
    def start(
        cls, *, rp_entity_id: str, rp_request_id: str, acs_url: str, relay_state: str | None, level: LevelOfAssurance
    ) -> Journey:
        return cls(
            id=secrets.token_urlsafe(32),
            csrf_token=secrets.token_urlsafe(32),
            rp_entity_id=rp_entity_id,
            rp_request_id=rp_request_id,
            acs_url=acs_url,
            relay_state=relay_state,
            level=level,
        )


class JourneyRepository:
    def __init__(self, store: Store, ttl_seconds: int) -> None:
        self._store = store
        self._ttl = ttl_seconds

    def save(self, journey: Journey) -> None:
        self._store.put(f"journey:{journey.id}", asdict(journey), self._ttl)

    def load(self, journey_id: str | None) -> Journey:
        record = self._store.get(f"journey:{journey_id}") if journey_id else None
        if record is None:
            raise JourneyNotFoundError("no journey for this browser")
        record["level"] = LevelOfAssurance(record["level"])
        return Journey(**record)

    def end(self, journey: Journey) -> None:
        self._store.delete(f"journey:{journey.id}")
        if journey.idp_request_id:
            self._store.delete(f"outstanding:{journey.idp_request_id}")

    def remember_request(self, request_id: str, journey: Journey) -> None:
        """Record an AuthnRequest we sent to an IDP, so any worker can match the answer to the journey."""
        self._store.put(f"outstanding:{request_id}", {"journey": journey.id}, self._ttl)

    def claim_request(self, request_id: str, journey: Journey) -> bool:
        """Use an outstanding request once, and only from the journey that sent it."""
        record = self._store.take(f"outstanding:{request_id}")
        return record is not None and record.get("journey") == journey.id

    def first_use(self, kind: str, message_id: str, ttl_seconds: int) -> bool:
        """True the first time any worker sees this message ID: the replay cache."""
        return self._store.add_once(f"seen:{kind}:{message_id}", ttl_seconds)
