"""The citizen's journey: one state machine (``stages``), the record with its guarded moves (``record``) and the
store it lives in (``repository``)."""

from hub.journey.record import NEEDED_AT, Journey, JourneyStageError, log_id_for
from hub.journey.repository import DATASET_SECONDS, REQUEST_MEMORY_SECONDS, JourneyRepository
from hub.journey.stages import (
    ANSWERABLE,
    CAN_CHOOSE,
    EXIT_PAGES,
    FINAL_MATCHING,
    IN_FLIGHT,
    STAGE_PAGES,
    STATUS_FOR_STAGE,
    TRANSITIONS,
    ExitPage,
    Move,
    Stage,
)

__all__ = [
    "ANSWERABLE",
    "CAN_CHOOSE",
    "DATASET_SECONDS",
    "EXIT_PAGES",
    "FINAL_MATCHING",
    "IN_FLIGHT",
    "NEEDED_AT",
    "REQUEST_MEMORY_SECONDS",
    "STAGE_PAGES",
    "STATUS_FOR_STAGE",
    "TRANSITIONS",
    "ExitPage",
    "Journey",
    "JourneyRepository",
    "JourneyStageError",
    "Move",
    "Stage",
    "log_id_for",
]
