"""Runs matching in a thread of its own: the request that starts it waits a little for the answer, and
otherwise the citizen's browser waits on /response-processing.

The thread asks the matching service and writes the answer into the journey, only if the journey is still
waiting for that attempt (one atomic check and write); any worker then shows it. A no-match moves on by
itself: to the cycle 3 question when the service names one and it has not been asked yet, else to account
creation when the service allows it, else to the final no-match. An answer that arrives after the journey
moved on (the wait ran out, or the citizen left) is logged and dropped.
"""

from __future__ import annotations

import copy
import logging
import threading
import time

from federation.config import Profile
from federation.errors import FederationError, MatchingServiceError
from federation.metrics import MATCHING_SECONDS
from federation.runtime import Runtime
from hub.journey import IN_FLIGHT, Journey, Stage
from hub.journey.stages import stage_after_matching
from hub.matching import MatchSubject, build_query, send_query
from hub.outbound import account_attributes
from hub.services import HubServices

logger = logging.getLogger(__name__)


# How long the request that starts matching waits for the answer before showing the waiting page. Most
# matching services answer well within this, so most citizens never see the waiting page at all.
INLINE_WAIT_SECONDS = 1.5


def start(services: HubServices, journey: Journey) -> Journey | None:
    """Save ``journey``, just moved into matching (``Journey.idp_answered`` or ``answer_cycle3`` began its
    attempt), and run the attempt in a thread.

    This waits up to ``INLINE_WAIT_SECONDS`` for it, without polling. Returns the journey as the attempt recorded
    it when it finished within the wait (the caller can then show the outcome at once, with no store round trip),
    else None: it goes on in the background.
    """
    if journey.stage not in IN_FLIGHT or journey.attempt is None:
        raise ValueError("start matching only for a journey whose move began an attempt")
    services.journeys.save(journey)
    recorded: list[Journey] = []
    # A copy of the journey as saved, so the thread need not load it again and the request's own is left alone.
    worker = threading.Thread(
        target=_run,
        args=(services, copy.copy(journey), journey.attempt, recorded),
        name=f"matching-{journey.log_id}",
        daemon=True,
    )
    worker.start()
    worker.join(INLINE_WAIT_SECONDS)
    return recorded[0] if recorded and not worker.is_alive() else None


def timed_out(journey: Journey, runtime: Runtime) -> bool:
    """Whether an in-flight attempt has outlived the configured wait (plus a little for the round trip)."""
    if journey.stage not in IN_FLIGHT or journey.attempt_started is None:
        return False
    return time.time() - journey.attempt_started > runtime.federation.hub.matching_timeout_seconds + 2


def _run(services: HubServices, journey: Journey, attempt: str, recorded: list[Journey]) -> None:
    """One attempt, then account creation in the same thread when a no-match leads there; the journey as
    the last attempt saved it goes into ``recorded`` (nothing when its answer was dropped)."""
    step: tuple[Journey, str | None] | None = (journey, attempt)
    while step is not None and step[1] is not None:
        step = _attempt(services, step[0], step[1])
    if step is not None:
        recorded.append(step[0])


def _cycle(journey: Journey) -> str:
    """Which matching cycle an attempt is, for the audit trail."""
    if journey.cycle3_value:
        return "3"
    return "account-creation" if journey.stage is Stage.CREATING_ACCOUNT else "0-1"


def _attempt(services: HubServices, journey: Journey, attempt: str) -> tuple[Journey, str | None] | None:
    """Ask the matching service once about ``journey`` (as saved when ``attempt`` began) and record the answer.

    Returns the journey as saved with the ID of the next attempt, if there is one (else None in its place), or
    None if the answer was not recorded."""
    service_assertion: str | None = None
    new_account_attributes: dict[str, list[str]] | None = None
    runtime, journeys, http = services.runtime, services.journeys, services.http
    try:
        service = runtime.federation.relying_service(journey.rp_entity_id)
        dataset = journey.matching_dataset
        if service is None or dataset is None or journey.pairwise_id is None or journey.asserted_level is None:
            raise MatchingServiceError("journey has nothing to match")
        subject = MatchSubject(journey.pairwise_id, journey.asserted_level, journey.service_request)
        query = build_query(
            runtime=runtime,
            service=service,
            subject=subject,
            dataset=dataset,
            cycle3_value=journey.cycle3_value,
            account_creation=journey.stage is Stage.CREATING_ACCOUNT,
        )
        started = time.monotonic()
        answer = send_query(runtime=runtime, service=service, query=query, http=http, subject=subject)
        result, seconds = answer.result, time.monotonic() - started
        MATCHING_SECONDS.labels(service.entity_id, result.value).observe(seconds)
        logger.info("Matching result: %s", result.value, extra={"journey_id": journey.log_id})
        services.audit.event(
            "matching_outcome",
            **journey.audit_fields(),
            result=result.value,
            cycle=_cycle(journey),
            matching_ms=round(seconds * 1000, 1),
        )
        next_stage = stage_after_matching(
            result.value,
            creating_account=journey.stage is Stage.CREATING_ACCOUNT,
            cycle3_open=service.cycle3_attribute is not None and not journey.cycle3_tried,
            account_creation_allowed=bool(service.account_creation_attributes),
        )
        service_assertion = answer.service_assertion.decode() if answer.service_assertion else None
        if next_stage is Stage.ACCOUNT_CREATED and service.profile is not Profile.FULL:
            # Taken now, so that the dataset is forgotten with this write rather than kept until the answer.
            new_account_attributes = account_attributes(service, dataset, journey.cycle3_value)
    except MatchingServiceError as exc:
        logger.warning("Matching failed: %s", exc.detail)
        services.audit.event("matching_outcome", journey=journey.log_id, result="error", error=type(exc).__name__)
        next_stage = Stage.MATCHING_ERROR
    except FederationError as exc:  # the query could not be made: the citizen is told, as for a failed answer
        logger.warning("Matching not attempted: %s", type(exc).__name__)
        next_stage = Stage.MATCHING_ERROR
    except Exception as exc:  # a bug must not leave the citizen waiting for ever
        logger.error("Matching crashed: %s", type(exc).__name__, exc_info=exc)
        next_stage = Stage.MATCHING_ERROR
    # The journey is left alone while an attempt is in flight, so the copy this thread holds is the one stored,
    # unless the citizen moved on or the wait ran out: the answer is written only if it is still at this attempt.
    # Written at a stage that concludes matching, the record no longer holds the dataset (hub.journey.NEEDED_AT).
    next_attempt = journey.matching_answered(
        next_stage, service_assertion=service_assertion, account_attributes=new_account_attributes
    )
    try:
        if not journeys.save_if_at(journey, attempt):
            logger.info("Late matching answer dropped")
            return None
    except FederationError as exc:  # the store: its detail names the Redis error (never personal data)
        logger.warning("Matching answer not recorded: %s", exc.detail)
        return None
    return journey, next_attempt
