"""A citizen's journey through the hub, kept server-side in the store under an opaque ID.

The record holds what the hub needs to answer the relying service and to recognise the identity
provider's answer. While matching runs it also holds personal data: the matching dataset, the pairwise
identifier and any cycle 3 answer (the hub needs them to match again or to create an account), then what the
answer to the service carries. That data is kept only at the stages that need it (``NEEDED_AT``: the record
written at any other stage simply lacks it), and never in plain text: it is sealed as one value with the hub's
data key, bound to the journey's ID (``federation.sealing``). A record that holds the dataset lives at most
``DATASET_SECONDS`` from its last write; the whole record is deleted as soon as the relying service has been
answered, and expires with the journey otherwise. It never holds the identity provider's persistent ID.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from federation.errors import JourneyNotFoundError, ReplayError
from federation.full_profile import RelyingServiceRequest
from federation.loa import LevelOfAssurance
from federation.mds import MatchingDataset
from federation.sealing import Sealer, UnsealError
from federation.stats import steps_reached_by
from federation.store import Store, replay_key


class Stage(StrEnum):
    """Where the journey is. The hub's pages and the answer to the service follow from it."""

    STARTED = "started"
    AT_IDP = "at-idp"
    # identity provider outcomes that end at an exit page
    AUTHN_FAILED = "authn-failed"
    CANCELLED = "cancelled"
    PENDING = "pending"
    REQUESTER_ERROR = "requester-error"
    FRAUD = "fraud"
    LEVEL_REFUSED = "level-refused"
    # matching
    MATCHING = "matching"
    AWAITING_CYCLE3 = "awaiting-cycle3"
    CREATING_ACCOUNT = "creating-account"
    MATCHED = "matched"
    NO_MATCH = "no-match"
    ACCOUNT_CREATED = "account-created"
    ACCOUNT_CREATION_FAILED = "account-creation-failed"
    MATCHING_ERROR = "matching-error"
    CYCLE3_CANCELLED = "cycle3-cancelled"


# The stages in which a matching request is in flight.
IN_FLIGHT = frozenset({Stage.MATCHING, Stage.CREATING_ACCOUNT})
# How long an AuthnRequest's ID is remembered: twice the age we accept, so a replay is refused for as long as
# the request could be fresh.
REQUEST_MEMORY_SECONDS = 12 * 60
# How long a record that holds the matching dataset lives after its last write: long enough to answer the cycle 3
# question, and far longer than any matching attempt (matching_timeout_seconds); a citizen who leaves the
# question for longer starts again.
DATASET_SECONDS = 15 * 60
_MATCHING_OPEN = frozenset({Stage.MATCHING, Stage.CREATING_ACCOUNT, Stage.AWAITING_CYCLE3})
_SUCCESS = frozenset({Stage.MATCHED, Stage.ACCOUNT_CREATED})
# The personal fields, and the stages that need each. A record written at any other stage lacks the field: the
# dataset and the cycle 3 answer go as soon as matching concludes in any way; what the answer to the service
# carries (the pairwise identifier, the full-profile assertion, the new account's attributes) goes with the
# journey when the service is answered, and at once if matching concluded without success.
NEEDED_AT: dict[str, frozenset[Stage]] = {
    "dataset": _MATCHING_OPEN,
    "cycle3_value": frozenset({Stage.MATCHING, Stage.CREATING_ACCOUNT}),
    "pairwise_id": _MATCHING_OPEN | _SUCCESS,
    "service_assertion": _SUCCESS,
    "account_attributes": frozenset({Stage.ACCOUNT_CREATED}),
}


def log_id_for(journey_id: str) -> str:
    """A name for a journey in logs and audit records; the ID itself is a bearer secret (the cookie)."""
    return hashlib.sha256(journey_id.encode()).hexdigest()[:16]


@dataclass
class Journey:
    id: str
    csrf_token: str
    rp_entity_id: str
    rp_request_id: str
    acs_url: str
    relay_state: str | None
    level: LevelOfAssurance
    stage: Stage = Stage.STARTED
    evidence: list[str] | None = None
    idp_entity_id: str | None = None
    idp_request_id: str | None = None
    # Personal data, held only while matching needs it:
    pairwise_id: str | None = None
    asserted_level: LevelOfAssurance | None = None
    dataset: dict[str, Any] | None = None
    cycle3_value: str | None = None
    cycle3_tried: bool = False
    # Full profile only: the matching service's signed assertion for the service, as XML, until it is sent.
    service_assertion: str | None = None
    # Simple profile, account created: the attributes the service asked for (name → values), taken from the
    # dataset when the account was made, so the dataset need not be kept until the answer.
    account_attributes: dict[str, list[str]] | None = None
    attempt: str | None = None
    attempt_started: float | None = None
    started_at: float = 0.0
    # The dashboard funnel's steps this journey has reached, so that each journey counts once in each.
    reached: list[str] = field(default_factory=list)

    @property
    def log_id(self) -> str:
        return log_id_for(self.id)

    @property
    def service_request(self) -> RelyingServiceRequest:
        """The relying service's request this journey answers: what its assertion must name."""
        return RelyingServiceRequest(self.rp_entity_id, self.acs_url, self.rp_request_id)

    @property
    def matching_dataset(self) -> MatchingDataset | None:
        return None if self.dataset is None else MatchingDataset.model_validate(self.dataset)

    def audit_fields(self) -> dict[str, object]:
        """What an audit record may say about this journey: nothing personal, and not its ID (the cookie)."""
        return {
            "journey": self.log_id,
            "relying_service": self.rp_entity_id,
            "idp": self.idp_entity_id,
            "level": self.level.value,
            "seconds": round(time.time() - self.started_at, 3) if self.started_at else None,
        }

    def reach(self, event: str, *, outcome: str | None = None, result: str | None = None) -> list[str]:
        """Mark the funnel steps that ``event`` reaches, and return those this journey had not reached before:
        its audit record names them (``reached``) so the dashboard counts each journey once, not each try."""
        return self.mark([step.value for step in steps_reached_by(event, outcome=outcome, result=result)])

    def mark(self, steps: Sequence[str]) -> list[str]:
        """Add ``steps`` to those reached; return the ones that are new."""
        new = [step for step in dict.fromkeys(steps) if step not in self.reached]
        self.reached = [*self.reached, *new]
        return new

    def forget_what_is_not_needed(self) -> None:
        """Drop each personal field the journey's stage does not need (``NEEDED_AT``)."""
        for name, stages in NEEDED_AT.items():
            if self.stage not in stages:
                setattr(self, name, None)

    def begin_attempt(self, stage: Stage) -> str:
        self.stage = stage
        self.attempt = secrets.token_hex(8)
        self.attempt_started = time.time()
        return self.attempt

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
            started_at=time.time(),
        )


_PLAIN_FIELDS = tuple(item.name for item in fields(Journey) if item.name not in NEEDED_AT)


def _record(journey: Journey, sealer: Sealer) -> dict[str, Any]:
    """The journey as the store keeps it: its plain fields as they are (the store writes JSON, enums as their
    values; no deep copy as asdict makes), and the personal fields its stage needs sealed together as ``sealed``,
    bound to the journey's key. The journey in hand forgets the rest too, so it is what was stored."""
    journey.forget_what_is_not_needed()
    record = {name: getattr(journey, name) for name in _PLAIN_FIELDS}
    personal = {name: value for name in NEEDED_AT if (value := getattr(journey, name)) is not None}
    if personal:
        plaintext = json.dumps(personal, separators=(",", ":")).encode()
        record["sealed"] = sealer.seal(plaintext, _key(journey.id))
    return record


def _key(journey_id: str) -> str:
    return f"journey:{journey_id}"


class JourneyRepository:
    """Journeys in the store, and the request IDs and message IDs that belong to them.

    Each method is one round trip to the store, so a request that loads and saves its journey costs two
    (``start`` takes a second to delete the journey it refuses, on a replay only). ``sealer`` holds the hub's
    data keys; without one, a key made for this repository alone (tests that never restart it).
    """

    def __init__(self, store: Store, ttl_seconds: int, sealer: Sealer | None = None) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._sealer = sealer or Sealer.ephemeral()

    @property
    def dataset_seconds(self) -> int:
        """How long a record that holds the dataset lives after its last write (the cycle 3 question says so)."""
        return min(self._ttl, DATASET_SECONDS)

    def _ttl_for(self, journey: Journey) -> int:
        return self.dataset_seconds if journey.dataset is not None else self._ttl

    def save(self, journey: Journey, *, sent_request: str | None = None) -> None:
        """Write the journey; with ``sent_request``, the ID of an AuthnRequest it sent to an identity provider,
        record that as outstanding too, so any worker can match the answer to the journey."""
        record, key = _record(journey, self._sealer), _key(journey.id)
        if sent_request is None:
            self._store.put(key, record, self._ttl_for(journey))
        else:
            values = {key: record, f"outstanding:{sent_request}": {"journey": journey.id}}
            self._store.put_many(values, self._ttl_for(journey))

    def start(self, journey: Journey) -> None:
        """Save a new journey and mark the AuthnRequest it answers as used, in one round trip. ReplayError, and
        the journey deleted again, if any worker has seen that request before."""
        key, request = _key(journey.id), replay_key("authn-request", journey.rp_entity_id, journey.rp_request_id)
        record = _record(journey, self._sealer)
        if not self._store.put_and_add_once(key, record, self._ttl_for(journey), request, REQUEST_MEMORY_SECONDS):
            self._store.delete(key)
            raise ReplayError("AuthnRequest ID already used")

    def save_if_at(self, journey: Journey, attempt: str) -> bool:
        """Write the journey only if the one stored is still in flight at matching ``attempt`` (the citizen has
        not moved on, and the wait has not run out): checked and written in one round trip. Whether it wrote."""
        expected = {"attempt": [attempt], "stage": sorted(stage.value for stage in IN_FLIGHT)}
        record = _record(journey, self._sealer)
        return self._store.put_if(_key(journey.id), record, self._ttl_for(journey), expected)

    def load(self, journey_id: str | None) -> Journey:
        """The journey, its personal fields opened; JourneyNotFoundError if there is none, or if they were
        sealed with a data key this hub no longer holds (the citizen starts again)."""
        record = self._store.get(_key(journey_id)) if journey_id else None
        if record is None or journey_id is None:
            raise JourneyNotFoundError("no journey for this browser")
        sealed = record.pop("sealed", None)
        if sealed is not None:
            try:
                record.update(json.loads(self._sealer.open(str(sealed), _key(journey_id))))
            except UnsealError as exc:
                raise JourneyNotFoundError(f"journey's personal data could not be opened: {exc.detail}") from exc
        record["level"] = LevelOfAssurance(record["level"])
        record["stage"] = Stage(record["stage"])
        if record.get("asserted_level"):
            record["asserted_level"] = LevelOfAssurance(record["asserted_level"])
        return Journey(**record)

    def end(self, journey: Journey) -> None:
        outstanding = [f"outstanding:{journey.idp_request_id}"] if journey.idp_request_id else []
        self._store.delete(_key(journey.id), *outstanding)

    def claim_request(self, request_id: str, journey: Journey) -> bool:
        """Use an outstanding request once, and only from the journey that sent it."""
        record = self._store.take(f"outstanding:{request_id}")
        return record is not None and record.get("journey") == journey.id

    def claim_answer(
        self, request_id: str, journey: Journey, kind: str, message_id: str, ttl_seconds: int
    ) -> tuple[bool, bool]:
        """``claim_request`` for the request an answer is to, and marking the answer's own ID as seen, in one
        round trip: (claimed, first use). The answer's ID is marked as seen whether or not the claim succeeds."""
        record, first = self._store.take_and_add_once(
            f"outstanding:{request_id}", replay_key(kind, message_id), ttl_seconds
        )
        return record is not None and record.get("journey") == journey.id, first

    def first_use_all(self, kind: str, messages: Sequence[tuple[str, int]]) -> bool:
        """The replay cache: mark each (message ID, ttl) as seen by any worker, in one round trip; True if none
        of them had been seen before."""
        return all(self._store.add_once_many([(replay_key(kind, message_id), ttl) for message_id, ttl in messages]))
