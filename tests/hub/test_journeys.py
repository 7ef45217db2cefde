"""The journey record: what the matching thread may write once the citizen or the wait has moved it on."""

from __future__ import annotations

import copy

import pytest

from federation.errors import JourneyNotFoundError, ReplayError
from federation.loa import LevelOfAssurance
from federation.store import MemoryStore, RedisStore
from hub.journeys import Journey, JourneyRepository, Stage


def _matching(journeys: JourneyRepository) -> tuple[Journey, str]:
    journey = Journey.start(
        rp_entity_id="http://service", rp_request_id="_r", acs_url="http://service/acs", relay_state=None,
        level=LevelOfAssurance.LEVEL_2,
    )  # fmt: skip
    attempt = journey.begin_attempt(Stage.MATCHING)
    journeys.save(journey)
    return journey, attempt


def test_an_answer_is_recorded_while_the_journey_waits_for_it(store: MemoryStore | RedisStore) -> None:
    journeys = JourneyRepository(store, 60)
    journey, attempt = _matching(journeys)
    answered = copy.copy(journey)
    answered.stage = Stage.MATCHED
    assert journeys.save_if_at(answered, attempt) is True
    assert journeys.load(journey.id).stage is Stage.MATCHED


def test_a_late_answer_does_not_overwrite_a_journey_that_moved_on(store: MemoryStore | RedisStore) -> None:
    journeys = JourneyRepository(store, 60)
    journey, attempt = _matching(journeys)
    answered = copy.copy(journey)  # what the matching thread holds
    journey.stage = Stage.MATCHING_ERROR  # meanwhile the waiting page gave up on the matching service
    journeys.save(journey)
    answered.stage = Stage.MATCHED
    assert journeys.save_if_at(answered, attempt) is False
    assert journeys.load(journey.id).stage is Stage.MATCHING_ERROR
    # And an answer to an earlier attempt, once a new one has begun (account creation, or cycle 3).
    again = journeys.load(journey.id)
    again.begin_attempt(Stage.MATCHING)
    journeys.save(again)
    assert journeys.save_if_at(answered, attempt) is False
    assert journeys.load(journey.id).stage is Stage.MATCHING


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
