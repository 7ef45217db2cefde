"""The journey record: what the matching thread may write once the citizen or the wait has moved it on, and
the personal data it keeps, sealed, only while its stage needs it."""

from __future__ import annotations

import copy
import json

import pytest

from federation.errors import JourneyNotFoundError, ReplayError
from federation.sealing import Sealer
from federation.store import MemoryStore, RedisStore
from federation.verify.loa import LevelOfAssurance
from federation.verify.mds import MatchingDataset
from hub.journey import NEEDED_AT, Journey, JourneyRepository, Stage

SMITH = {
    "first_names": [{"value": "Alice", "verified": True}],
    "surnames": [{"value": "Smith", "verified": True}],
    "dates_of_birth": [{"value": "1980-05-14", "verified": True}],
}


def _matching(journeys: JourneyRepository) -> tuple[Journey, str]:
    """A journey whose identity provider has answered: matching attempt begun, and saved."""
    journey = Journey.start(
        rp_entity_id="http://service", rp_request_id="_r", acs_url="http://service/acs", relay_state=None,
        level=LevelOfAssurance.LEVEL_2,
    )  # fmt: skip
    journey.choose_company("http://idp", "_idp_request")
    dataset = MatchingDataset.model_validate(SMITH)
    attempt = journey.idp_answered(
        Stage.MATCHING, pairwise_id="f" * 64, level=LevelOfAssurance.LEVEL_2, dataset=dataset
    )
    assert attempt is not None
    journeys.save(journey)
    return journey, attempt


def test_an_answer_is_recorded_while_the_journey_waits_for_it(store: MemoryStore | RedisStore) -> None:
    journeys = JourneyRepository(store, 60)
    journey, attempt = _matching(journeys)
    answered = copy.copy(journey)
    answered.matching_answered(Stage.MATCHED)
    assert journeys.save_if_at(answered, attempt) is True
    assert journeys.load(journey.id).stage is Stage.MATCHED


def test_a_late_answer_does_not_overwrite_a_journey_that_moved_on(store: MemoryStore | RedisStore) -> None:
    journeys = JourneyRepository(store, 60)
    journey, attempt = _matching(journeys)
    answered = copy.copy(journey)  # what the matching thread holds
    journey.time_out()  # meanwhile the waiting page gave up on the matching service
    journeys.save(journey)
    answered.matching_answered(Stage.MATCHED)
    assert journeys.save_if_at(answered, attempt) is False
    assert journeys.load(journey.id).stage is Stage.MATCHING_ERROR
    # And an answer to an earlier attempt, once a new one has begun (cycle 3, or account creation).
    again, first_attempt = _matching(journeys)
    late = copy.copy(again)
    again.matching_answered(Stage.AWAITING_CYCLE3)
    again.answer_cycle3("SE123456C")
    journeys.save(again)
    late.matching_answered(Stage.MATCHED)
    assert journeys.save_if_at(late, first_attempt) is False
    assert journeys.load(again.id).stage is Stage.MATCHING


def test_a_journey_for_a_request_already_seen_is_refused_and_not_kept(store: MemoryStore | RedisStore) -> None:
    journeys = JourneyRepository(store, 60)
    first, again = (
        Journey.start(
            rp_entity_id="http://service",
            rp_request_id="_same",
            acs_url="http://service/acs",
            relay_state=None,
            level=LevelOfAssurance.LEVEL_2,
        )  # fmt: skip
        for _ in range(2)
    )
    journeys.start(first)
    with pytest.raises(ReplayError):
        journeys.start(again)
    assert journeys.load(first.id).rp_request_id == "_same"
    with pytest.raises(JourneyNotFoundError):
        journeys.load(again.id)


def _with_personal_data(stage: Stage) -> Journey:
    journey = Journey.start(
        rp_entity_id="http://service", rp_request_id="_r", acs_url="http://service/acs", relay_state=None,
        level=LevelOfAssurance.LEVEL_2,
    )  # fmt: skip
    journey.stage = stage
    journey.pairwise_id = "f" * 64
    journey.dataset = SMITH
    journey.cycle3_value = "SE123456C"
    journey.service_assertion = "<saml:Assertion>Smith</saml:Assertion>"
    journey.account_attributes = {"surname": ["Smith"]}
    return journey


def test_personal_data_is_stored_sealed_and_opens_when_loaded(store: MemoryStore | RedisStore) -> None:
    journeys = JourneyRepository(store, 60)
    journey = _with_personal_data(Stage.MATCHING)
    journeys.save(journey)
    stored = store.get(f"journey:{journey.id}")
    assert stored is not None and set(NEEDED_AT).isdisjoint(stored)
    assert "Smith" not in json.dumps(stored) and "SE123456C" not in json.dumps(stored) and "f" * 64 not in str(stored)
    loaded = journeys.load(journey.id)
    assert (loaded.dataset, loaded.pairwise_id, loaded.cycle3_value) == (SMITH, "f" * 64, "SE123456C")
    assert loaded.matching_dataset is not None and loaded.matching_dataset.surnames[0].value == "Smith"


@pytest.mark.parametrize("stage", list(Stage))
def test_each_stage_keeps_only_the_personal_data_it_needs(stage: Stage) -> None:
    journeys = JourneyRepository(MemoryStore(), 60)
    journey = _with_personal_data(stage)
    journeys.save(journey)
    loaded = journeys.load(journey.id)
    kept = {name for name in NEEDED_AT if getattr(loaded, name) is not None}
    assert kept == {name for name, stages in NEEDED_AT.items() if stage in stages}
    assert {name for name in NEEDED_AT if getattr(journey, name) is not None} == kept  # and the one in hand
    if stage not in (Stage.MATCHING, Stage.CREATING_ACCOUNT, Stage.AWAITING_CYCLE3):
        assert loaded.dataset is None and loaded.cycle3_value is None  # matching has concluded, or not begun


def test_sealed_data_moved_to_another_journey_does_not_open(store: MemoryStore | RedisStore) -> None:
    journeys = JourneyRepository(store, 60)
    victim, other = _with_personal_data(Stage.MATCHING), _with_personal_data(Stage.MATCHING)
    journeys.save(victim)
    journeys.save(other)
    victim_record, other_record = store.get(f"journey:{victim.id}"), store.get(f"journey:{other.id}")
    assert victim_record is not None and other_record is not None
    store.put(f"journey:{other.id}", {**other_record, "sealed": victim_record["sealed"]}, 60)
    with pytest.raises(JourneyNotFoundError, match="could not be opened"):
        journeys.load(other.id)


def test_a_journey_sealed_with_a_key_the_hub_no_longer_holds_is_lost(store: MemoryStore | RedisStore) -> None:
    before = JourneyRepository(store, 60, Sealer({"old": b"o" * 32}, "old"))
    journey = _with_personal_data(Stage.AWAITING_CYCLE3)
    before.save(journey)
    assert JourneyRepository(store, 60, Sealer({"old": b"o" * 32, "new": b"n" * 32}, "new")).load(journey.id)
    with pytest.raises(JourneyNotFoundError, match="does not hold"):
        JourneyRepository(store, 60, Sealer({"new": b"n" * 32}, "new")).load(journey.id)
    started = _with_personal_data(Stage.AT_IDP)  # no personal data: nothing sealed, nothing to lose
    before.save(started)
    assert JourneyRepository(store, 60, Sealer({"new": b"n" * 32}, "new")).load(started.id).stage is Stage.AT_IDP


def test_the_waiting_pages_time_out_forgets_the_dataset_with_the_same_write(store: MemoryStore | RedisStore) -> None:
    journeys = JourneyRepository(store, 60 * 90)
    journey = _with_personal_data(Stage.MATCHING)
    journey.attempt = attempt = "attempt-1"
    journeys.save(journey)
    assert journeys.dataset_seconds == 15 * 60
    journey.time_out()  # as /response-processing does when the wait has run out
    assert journeys.save_if_at(journey, attempt) is True
    stored = store.get(f"journey:{journey.id}")
    assert stored is not None and "sealed" not in stored  # nothing personal left to seal
    loaded = journeys.load(journey.id)
    assert (loaded.dataset, loaded.cycle3_value, loaded.pairwise_id) == (None, None, None)
