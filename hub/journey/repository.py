"""Journeys in the store: the record (its personal fields sealed), outstanding requests and the replay cache."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from federation.errors import JourneyNotFoundError, ReplayError
from federation.sealing import Sealer, UnsealError
from federation.store import Store, replay_key
from federation.verify.loa import LevelOfAssurance
from hub.journey.record import NEEDED_AT, Journey
from hub.journey.stages import IN_FLIGHT, Stage

# How long an AuthnRequest's ID is remembered: twice the age we accept, so a replay is refused for as long as
# the request could be fresh.
REQUEST_MEMORY_SECONDS = 12 * 60
# How long a record that holds the matching dataset lives after its last write: long enough to answer the cycle 3
# question, and far longer than any matching attempt (matching_timeout_seconds); a citizen who leaves the
# question for longer starts again.
DATASET_SECONDS = 15 * 60
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
        record.pop("reached", None)  # the funnel's steps, kept in the journey by hubs before December 2026
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
