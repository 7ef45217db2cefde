"""A citizen's journey: what the hub keeps about it, and the guarded moves that take it from stage to stage.

Every change of stage is one of the methods below (``choose_company``, ``idp_answered``,
``matching_answered``, ``answer_cycle3``, ``decline_cycle3``, ``time_out``, ``end``). Each checks the move
against ``hub.journey.stages.TRANSITIONS`` and refuses one its stage does not allow with ``JourneyStageError``.
Views and the matching thread call moves; they never set a stage.

While matching runs the journey also holds personal data: the matching dataset, the pairwise identifier and any
cycle 3 answer (the hub needs them to match again or to create an account), then what the answer to the service
carries. ``NEEDED_AT`` says at which stages each is kept; the record written at any other stage lacks it
(``hub.journey.repository`` seals what is kept). It never holds the identity provider's persistent ID.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from federation.errors import FederationError
from federation.verify.full_profile import RelyingServiceRequest
from federation.verify.loa import LevelOfAssurance
from federation.verify.mds import MatchingDataset
from hub.journey.stages import IN_FLIGHT, TRANSITIONS, Move, Stage

_MATCHING_OPEN = IN_FLIGHT | {Stage.AWAITING_CYCLE3}
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


class JourneyStageError(FederationError):
    """A move that the journey's stage does not allow (a second tab, a late answer, a bug): nothing is changed.

    The hub answers it by sending the citizen to the page for where the journey is (``hub.pages.page_for``).
    """

    def __init__(self, journey: Journey, move: Move, to: Stage | None) -> None:
        target = f" to {to.value}" if to is not None else ""
        super().__init__(f"{move.value} is not allowed at {journey.stage.value}{target}")
        self.journey = journey


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
    # The relying service's department (its id in federation.yaml): the audit trail names it with the service.
    department: str = ""

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
            "department": self.department,
            "idp": self.idp_entity_id,
            "level": self.level.value,
            "seconds": round(time.time() - self.started_at, 3) if self.started_at else None,
        }

    def forget_what_is_not_needed(self) -> None:
        """Drop each personal field the journey's stage does not need (``NEEDED_AT``)."""
        for name, stages in NEEDED_AT.items():
            if self.stage not in stages:
                setattr(self, name, None)

    # ---- moves: the only way a stage changes (hub.journey.stages.TRANSITIONS) ----------------------------------

    def allows(self, move: Move) -> bool:
        """Whether ``move`` may start from the journey's stage."""
        return self.stage in TRANSITIONS[move].sources

    def _move(self, move: Move, to: Stage | None = None) -> None:
        transition = TRANSITIONS[move]
        if self.stage not in transition.sources or (to is not None and to not in transition.targets):
            raise JourneyStageError(self, move, to)
        if to is not None:
            self.stage = to

    def _begin_attempt(self) -> str:
        """A new matching attempt: the matching thread writes its answer only if the journey is still at it."""
        self.attempt = secrets.token_hex(8)
        self.attempt_started = time.time()
        return self.attempt

    def give_evidence(self, evidence: list[str]) -> None:
        """The citizen said which documents they have (the stage stays)."""
        self._move(Move.EVIDENCE_GIVEN)
        self.evidence = evidence

    def choose_company(self, idp_entity_id: str, request_id: str) -> None:
        """The citizen chose a company, and the hub sent it the AuthnRequest ``request_id``."""
        self._move(Move.COMPANY_CHOSEN, Stage.AT_IDP)
        self.idp_entity_id, self.idp_request_id = idp_entity_id, request_id

    def idp_answered(
        self,
        outcome: Stage,
        *,
        pairwise_id: str | None = None,
        level: LevelOfAssurance | None = None,
        dataset: MatchingDataset | None = None,
    ) -> str | None:
        """The identity provider answered with ``outcome``. For ``MATCHING`` (identity verified) the journey takes
        the pairwise identifier, the level and the dataset, and a matching attempt begins: its ID is returned."""
        if outcome is Stage.MATCHING and (pairwise_id is None or level is None or dataset is None):
            raise ValueError("matching needs the pairwise identifier, the level and the dataset")
        self._move(Move.IDP_ANSWERED, outcome)
        if outcome is not Stage.MATCHING:
            return None
        self.pairwise_id, self.asserted_level = pairwise_id, level
        self.dataset = None if dataset is None else dataset.model_dump(mode="json", by_alias=True)
        return self._begin_attempt()

    def matching_answered(
        self,
        outcome: Stage,
        *,
        service_assertion: str | None = None,
        account_attributes: dict[str, list[str]] | None = None,
    ) -> str | None:
        """The matching service answered (or failed to): the journey moves to ``outcome``. A success keeps what the
        answer to the service needs; ``CREATING_ACCOUNT`` begins the next attempt, whose ID is returned."""
        self._move(Move.MATCHING_ANSWERED, outcome)
        if outcome in (Stage.MATCHED, Stage.ACCOUNT_CREATED):
            self.service_assertion = service_assertion
        if outcome is Stage.ACCOUNT_CREATED:
            self.account_attributes = account_attributes
        return self._begin_attempt() if outcome is Stage.CREATING_ACCOUNT else None

    def answer_cycle3(self, value: str) -> str:
        """The citizen answered the cycle 3 question: match again with ``value``; the new attempt's ID."""
        self._move(Move.CYCLE3_ANSWERED, Stage.MATCHING)
        self.cycle3_value, self.cycle3_tried = value, True
        return self._begin_attempt()

    def decline_cycle3(self) -> None:
        self._move(Move.CYCLE3_DECLINED, Stage.CYCLE3_CANCELLED)

    def time_out(self) -> None:
        """The matching service took longer than the hub waits."""
        self._move(Move.TIMED_OUT, Stage.MATCHING_ERROR)

    def go_back_from_the_company(self) -> None:
        """The hub refused the company's answer and the citizen chose to go back to the service."""
        self._move(Move.WENT_BACK, Stage.CANCELLED)

    def end(self) -> None:
        """The relying service is being answered: the journey may end only where there is an answer to give."""
        self._move(Move.ENDED)

    @classmethod
    def start(
        cls,
        *,
        rp_entity_id: str,
        rp_request_id: str,
        acs_url: str,
        relay_state: str | None,
        level: LevelOfAssurance,
        department: str = "",
    ) -> Journey:
        return cls(
            department=department,
            id=secrets.token_urlsafe(32),
            csrf_token=secrets.token_urlsafe(32),
            rp_entity_id=rp_entity_id,
            rp_request_id=rp_request_id,
            acs_url=acs_url,
            relay_state=relay_state,
            level=level,
            started_at=time.time(),
        )
