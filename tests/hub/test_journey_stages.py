"""The journey's one state machine (hub/journey/stages.py): every move from every stage is either allowed or
refused, nothing but the record's moves sets a stage, and docs/journey.md is drawn from the table."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from federation.saml.xml import DETAIL_LOA_PENDING, STATUS_AUTHN_FAILED, STATUS_REQUESTER, STATUS_RESPONDER
from federation.verify.loa import LevelOfAssurance
from federation.verify.mds import MatchingDataset
from hub.journey import (
    ANSWERABLE,
    EXIT_PAGES,
    STAGE_PAGES,
    STATUS_FOR_STAGE,
    TRANSITIONS,
    Journey,
    JourneyStageError,
    Move,
    Stage,
)
from hub.journey.diagram import DOC, page
from hub.journey.stages import stage_after_idp_failure, stage_after_matching

DATASET = MatchingDataset.model_validate(
    {"first_names": [{"value": "A"}], "surnames": [{"value": "B"}], "dates_of_birth": [{"value": "1980-01-01"}]}
)
L2 = LevelOfAssurance.LEVEL_2

# Each move, called as a view or the matching thread calls it, towards a stage its table allows.
CALLS: dict[Move, Callable[[Journey], object]] = {
    Move.EVIDENCE_GIVEN: lambda j: j.give_evidence(["photo_id"]),
    Move.COMPANY_CHOSEN: lambda j: j.choose_company("http://idp", "_request"),
    Move.IDP_ANSWERED: lambda j: j.idp_answered(Stage.MATCHING, pairwise_id="p" * 64, level=L2, dataset=DATASET),
    Move.MATCHING_ANSWERED: lambda j: j.matching_answered(Stage.NO_MATCH),
    Move.CYCLE3_ANSWERED: lambda j: j.answer_cycle3("SE123456C"),
    Move.CYCLE3_DECLINED: lambda j: j.decline_cycle3(),
    Move.TIMED_OUT: lambda j: j.time_out(),
    Move.WENT_BACK: lambda j: j.go_back_from_the_company(),
    Move.ENDED: lambda j: j.end(),
}


def _at(stage: Stage) -> Journey:
    journey = Journey.start(
        rp_entity_id="http://service", rp_request_id="_r", acs_url="http://service/acs", relay_state=None, level=L2
    )
    journey.stage = stage  # the test puts the journey where it wants it; the code under test only moves it
    return journey


def test_every_move_has_a_method() -> None:
    assert set(CALLS) == set(Move) == set(TRANSITIONS)


@pytest.mark.parametrize("stage", list(Stage))
@pytest.mark.parametrize("move", list(Move))
def test_every_move_from_every_stage_is_allowed_or_refused_as_the_table_says(move: Move, stage: Stage) -> None:
    journey = _at(stage)
    transition = TRANSITIONS[move]
    if stage in transition.sources:
        CALLS[move](journey)
        assert journey.stage in (transition.targets or {stage})
    else:
        before = vars(journey).copy()
        with pytest.raises(JourneyStageError):
            CALLS[move](journey)
        assert vars(journey) == before  # a refused move changes nothing


@pytest.mark.parametrize("move", [Move.IDP_ANSWERED, Move.MATCHING_ANSWERED])
def test_a_move_to_a_stage_outside_its_targets_is_refused(move: Move) -> None:
    source = next(iter(TRANSITIONS[move].sources))
    outside = next(stage for stage in Stage if stage not in TRANSITIONS[move].targets)
    journey = _at(source)
    with pytest.raises(JourneyStageError):
        if move is Move.IDP_ANSWERED:
            journey.idp_answered(outside)
        else:
            journey.matching_answered(outside)
    assert journey.stage is source


def test_moves_into_matching_begin_a_new_attempt() -> None:
    journey = _at(Stage.AT_IDP)
    first = journey.idp_answered(Stage.MATCHING, pairwise_id="p" * 64, level=L2, dataset=DATASET)
    assert first and journey.attempt == first and journey.dataset and journey.pairwise_id
    assert journey.matching_answered(Stage.AWAITING_CYCLE3) is None
    second = journey.answer_cycle3("SE123456C")
    assert second and second != first and journey.cycle3_tried
    third = journey.matching_answered(Stage.CREATING_ACCOUNT)
    assert third and third not in (first, second) and journey.stage is Stage.CREATING_ACCOUNT


def test_every_stage_has_a_page_and_every_end_an_answer_for_the_service() -> None:
    assert set(STAGE_PAGES) == set(Stage)
    assert set(STATUS_FOR_STAGE) == ANSWERABLE
    assert set(EXIT_PAGES) <= ANSWERABLE


@pytest.mark.parametrize(
    ("code", "sub_code", "detail", "stage"),
    [
        (STATUS_REQUESTER, None, None, Stage.REQUESTER_ERROR),
        (STATUS_RESPONDER, STATUS_AUTHN_FAILED, None, Stage.AUTHN_FAILED),
        (STATUS_RESPONDER, None, DETAIL_LOA_PENDING, Stage.PENDING),
        (STATUS_RESPONDER, None, "authn-cancel", Stage.CANCELLED),
        (STATUS_RESPONDER, None, None, Stage.CANCELLED),
    ],
)
def test_an_identity_providers_failure_leads_to_its_stage(
    code: str, sub_code: str | None, detail: str | None, stage: Stage
) -> None:
    assert stage_after_idp_failure(code, sub_code, detail) is stage


@pytest.mark.parametrize(
    ("result", "creating", "cycle3_open", "creation_allowed", "stage"),
    [
        ("match", False, True, True, Stage.MATCHED),
        ("created", True, False, True, Stage.ACCOUNT_CREATED),
        ("create-failure", True, False, True, Stage.ACCOUNT_CREATION_FAILED),
        (None, False, True, True, Stage.MATCHING_ERROR),
        ("no-match", False, True, True, Stage.AWAITING_CYCLE3),
        ("no-match", False, False, True, Stage.CREATING_ACCOUNT),
        ("no-match", False, False, False, Stage.NO_MATCH),
        ("no-match", True, False, True, Stage.NO_MATCH),
    ],
)
def test_a_matching_answer_leads_to_its_stage(
    result: str | None, creating: bool, cycle3_open: bool, creation_allowed: bool, stage: Stage
) -> None:
    decided = stage_after_matching(
        result, creating_account=creating, cycle3_open=cycle3_open, account_creation_allowed=creation_allowed
    )
    assert decided is stage and decided in TRANSITIONS[Move.MATCHING_ANSWERED].targets


def test_nothing_but_the_journeys_moves_sets_a_stage() -> None:
    """No view, thread or helper assigns ``.stage``: only hub/journey/record.py does, inside its moves."""
    hub_dir = Path(__file__).resolve().parents[2] / "hub"
    assigning = []
    for path in hub_dir.rglob("*.py"):
        if path.name == "record.py" and path.parent.name == "journey":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                assigning += [
                    f"{path.relative_to(hub_dir)}:{node.lineno}"
                    for target in targets
                    if isinstance(target, ast.Attribute) and target.attr == "stage"
                ]
    assert assigning == []


def test_the_journey_diagram_in_docs_is_drawn_from_the_table() -> None:
    assert DOC.read_text(encoding="utf-8") == page(), "run: python -m hub.journey.diagram --write"
