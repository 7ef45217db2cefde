"""The citizen's journey through the hub, whole: its stages, every move between them, and where each stage leads.

This is the one place that says how a journey may go. ``TRANSITIONS`` lists each move with the stages it may
start from and the stages it may end in; ``hub.journey.record.Journey`` refuses any other. ``STAGE_PAGES`` and
``STATUS_FOR_STAGE`` say which page a stage shows the citizen and what the relying service is told when the
journey ends there. ``docs/journey.md`` is drawn from these tables (``python -m hub.journey.diagram``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from federation.saml.xml import (
    DETAIL_LOA_PENDING,
    STATUS_AUTHN_FAILED,
    STATUS_NO_AUTHN_CONTEXT,
    STATUS_NO_MATCH,
    STATUS_REQUESTER,
    STATUS_RESPONDER,
    STATUS_SUCCESS,
)
from federation.words import N_


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


class Move(StrEnum):
    """What can happen to a journey. Each is a method of ``Journey``; nothing else sets a stage."""

    EVIDENCE_GIVEN = "evidence given"
    COMPANY_CHOSEN = "company chosen"
    IDP_ANSWERED = "identity provider answered"
    MATCHING_ANSWERED = "matching answered"
    CYCLE3_ANSWERED = "cycle 3 answered"
    CYCLE3_DECLINED = "cycle 3 declined"
    TIMED_OUT = "timed out"
    WENT_BACK = "went back from the company"
    ENDED = "service answered"


# Where a citizen may (re)choose a company: before any answer, after an answer that lets them try again, or
# from the cycle 3 question (its back link), which gives up what the first company proved.
CAN_CHOOSE = frozenset(
    {
        Stage.STARTED,
        Stage.AT_IDP,
        Stage.AUTHN_FAILED,
        Stage.CANCELLED,
        Stage.LEVEL_REFUSED,
        Stage.REQUESTER_ERROR,
        Stage.AWAITING_CYCLE3,
    }
)
# The stages in which a matching request is in flight.
IN_FLIGHT = frozenset({Stage.MATCHING, Stage.CREATING_ACCOUNT})
# Matching has answered for good: the waiting page answers the service.
FINAL_MATCHING = frozenset({Stage.MATCHED, Stage.NO_MATCH, Stage.ACCOUNT_CREATED})
IDP_OUTCOMES = frozenset(
    {
        Stage.MATCHING,
        Stage.AUTHN_FAILED,
        Stage.CANCELLED,
        Stage.PENDING,
        Stage.REQUESTER_ERROR,
        Stage.FRAUD,
        Stage.LEVEL_REFUSED,
    }
)
MATCHING_OUTCOMES = frozenset(
    {
        Stage.MATCHED,
        Stage.NO_MATCH,
        Stage.AWAITING_CYCLE3,
        Stage.CREATING_ACCOUNT,
        Stage.ACCOUNT_CREATED,
        Stage.ACCOUNT_CREATION_FAILED,
        Stage.MATCHING_ERROR,
    }
)


@dataclass(frozen=True)
class ExitPage:
    """A page that ends the citizen's visit to the hub: it says what happened and returns them to the service.

    ``title`` is a catalogue message (``%(company)s`` and ``%(service)s`` are filled in), in the page's language
    where the page is built."""

    path: str
    title: str
    try_another: bool = False


EXIT_PAGES: dict[Stage, ExitPage] = {
    Stage.AUTHN_FAILED: ExitPage(
        "/sign-in-failed", N_("%(company)s could not confirm your identity"), try_another=True
    ),
    Stage.CANCELLED: ExitPage("/sign-in-cancelled", N_("You did not finish proving your identity"), try_another=True),
    Stage.LEVEL_REFUSED: ExitPage(
        "/identity-not-proved-to-the-level-needed",
        N_("%(company)s could not prove your identity well enough"),
        try_another=True,
    ),
    Stage.PENDING: ExitPage("/registration-paused", N_("You have saved your progress with %(company)s")),
    Stage.FRAUD: ExitPage("/we-could-not-confirm-your-identity", N_("We could not confirm your identity")),
    Stage.ACCOUNT_CREATION_FAILED: ExitPage(
        "/account-not-created", N_("%(service)s could not create an account for you")
    ),
    Stage.REQUESTER_ERROR: ExitPage(
        "/something-went-wrong",
        N_("A technical problem stopped %(company)s checking your identity"),
        try_another=True,
    ),
    Stage.MATCHING_ERROR: ExitPage("/could-not-check-your-details", N_("Sorry, there is a problem with the service")),
    Stage.CYCLE3_CANCELLED: ExitPage("/details-not-given", N_("You have not been signed in")),
}
# Where the journey may end: the relying service is answered from here.
ANSWERABLE = frozenset(EXIT_PAGES) | FINAL_MATCHING


@dataclass(frozen=True)
class Transition:
    """A move: the stages it may start from, and those it may lead to (empty: the stage stays; for ``ENDED``,
    the journey is deleted)."""

    sources: frozenset[Stage]
    targets: frozenset[Stage]


TRANSITIONS: dict[Move, Transition] = {
    Move.EVIDENCE_GIVEN: Transition(CAN_CHOOSE, frozenset()),
    Move.COMPANY_CHOSEN: Transition(CAN_CHOOSE, frozenset({Stage.AT_IDP})),
    Move.IDP_ANSWERED: Transition(frozenset({Stage.AT_IDP}), IDP_OUTCOMES),
    Move.MATCHING_ANSWERED: Transition(IN_FLIGHT, MATCHING_OUTCOMES),
    Move.CYCLE3_ANSWERED: Transition(frozenset({Stage.AWAITING_CYCLE3}), frozenset({Stage.MATCHING})),
    Move.CYCLE3_DECLINED: Transition(frozenset({Stage.AWAITING_CYCLE3}), frozenset({Stage.CYCLE3_CANCELLED})),
    Move.TIMED_OUT: Transition(IN_FLIGHT, frozenset({Stage.MATCHING_ERROR})),
    # The company's answer was refused (its clock fast, say): the citizen goes back to the service, which hears
    # that no one was authenticated, as when they cancel at the company.
    Move.WENT_BACK: Transition(frozenset({Stage.AT_IDP}), frozenset({Stage.CANCELLED})),
    Move.ENDED: Transition(ANSWERABLE, frozenset()),
}


# The page each stage shows (an endpoint of hub.journey_views); exit pages are ``journey.exit_<stage>``.
STAGE_PAGES: dict[Stage, str] = {
    Stage.STARTED: "journey.start",
    Stage.AT_IDP: "journey.choose_a_certified_company",
    Stage.AWAITING_CYCLE3: "journey.further_information",
    **dict.fromkeys(IN_FLIGHT | FINAL_MATCHING, "journey.response_processing"),
    **{stage: "journey.exit_" + stage.value.replace("-", "_") for stage in EXIT_PAGES},
}


# What the relying service is told when the journey ends at each stage (docs/protocol.md, README). Cancelled,
# paused, fraud, a refused level, a matching error or time-out, a failed account creation and a cancelled cycle 3
# all tell the service only that there was no authentication (NoAuthnContext).
STATUS_FOR_STAGE: dict[Stage, tuple[str, str | None]] = {
    Stage.MATCHED: (STATUS_SUCCESS, None),
    Stage.ACCOUNT_CREATED: (STATUS_SUCCESS, None),
    Stage.NO_MATCH: (STATUS_RESPONDER, STATUS_NO_MATCH),
    Stage.AUTHN_FAILED: (STATUS_RESPONDER, STATUS_AUTHN_FAILED),
    Stage.REQUESTER_ERROR: (STATUS_RESPONDER, STATUS_REQUESTER),
    **dict.fromkeys(
        (
            Stage.CANCELLED,
            Stage.PENDING,
            Stage.FRAUD,
            Stage.LEVEL_REFUSED,
            Stage.ACCOUNT_CREATION_FAILED,
            Stage.MATCHING_ERROR,
            Stage.CYCLE3_CANCELLED,
        ),
        (STATUS_RESPONDER, STATUS_NO_AUTHN_CONTEXT),
    ),
}


def stage_after_idp_failure(code: str, sub_code: str | None, detail: str | None) -> Stage:
    """The stage an identity provider's non-success status leads to."""
    if code == STATUS_REQUESTER:
        return Stage.REQUESTER_ERROR
    if code == STATUS_RESPONDER and sub_code == STATUS_AUTHN_FAILED:
        return Stage.AUTHN_FAILED
    if detail == DETAIL_LOA_PENDING:
        return Stage.PENDING
    # authn-cancel, or NoAuthnContext with no detail: the citizen did not finish (Verify treated both as cancel)
    return Stage.CANCELLED


def stage_after_matching(
    result: str | None, *, creating_account: bool, cycle3_open: bool, account_creation_allowed: bool
) -> Stage:
    """The stage a matching service's answer leads to: ``result`` is ``match``, ``no-match``, ``created``,
    ``create-failure``, or None for no usable answer.

    A no-match moves on by itself: to the cycle 3 question when the service names one that has not been asked,
    else to account creation when the service allows it (and this was not already account creation), else to
    the final no-match.
    """
    decided = {
        "match": Stage.MATCHED,
        "created": Stage.ACCOUNT_CREATED,
        "create-failure": Stage.ACCOUNT_CREATION_FAILED,
        None: Stage.MATCHING_ERROR,
    }
    if result in decided:
        return decided[result]
    if result != "no-match":
        raise ValueError(f"unknown matching result {result!r}")
    if cycle3_open:
        return Stage.AWAITING_CYCLE3
    if account_creation_allowed and not creating_account:
        return Stage.CREATING_ACCOUNT
    return Stage.NO_MATCH
