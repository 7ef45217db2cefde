"""Reading the hub's Response at a variant's ACS: every check, then the outcome in plain words.

No Flask here: the view finds the pending request for this browser and passes its ID in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from lxml import etree

from federation.config import Profile
from federation.errors import InvalidSamlMessageError, ProtocolError, UnknownEntityError
from federation.runtime import Runtime
from federation.saml.checks import Status, check_assertion, check_message, read_status
from federation.saml.crypto import decrypt_assertion, verify
from federation.saml.xml import (
    STATUS_AUTHN_FAILED,
    STATUS_NO_AUTHN_CONTEXT,
    STATUS_NO_MATCH,
    STATUS_REQUESTER,
    STATUS_RESPONDER,
    q,
)
from federation.verify.account_attributes import (
    LEVEL_ATTRIBUTE,
    OUTCOME_ACCOUNT_CREATED,
    OUTCOME_ATTRIBUTE,
    OUTCOME_MATCH,
    read_attributes,
)
from federation.verify.loa import LevelOfAssurance
from federation.words import N_
from stub_service.variants import Variant


class OutcomeKind(StrEnum):
    """Each thing the hub can tell a service, as a short phrase that tests and testers can rely on (in English;
    the page shows it in its own language, the log in English)."""

    MATCHED = N_("Matched")
    ACCOUNT_CREATED = N_("Account created")
    NO_MATCH = N_("No match")
    NOT_SIGNED_IN = N_("Not signed in")
    AUTHN_FAILED = N_("Authentication failed")
    REQUEST_ERROR = N_("Request error")


# (h1, what happened), in the citizen's words: catalogue messages, translated by the page that shows them.
WORDING = {
    OutcomeKind.MATCHED: (N_("You are signed in"), N_("We have found your record.")),
    OutcomeKind.ACCOUNT_CREATED: (
        N_("Your account has been created"),
        N_("We could not find a record for you, so we have made one from the details the certified company checked."),
    ),
    OutcomeKind.NO_MATCH: (
        N_("We could not find your record"),
        N_("Your identity was confirmed, but we could not find your record from the details the company checked."),
    ),
    OutcomeKind.NOT_SIGNED_IN: (N_("You have not been signed in"), N_("You did not finish proving your identity.")),
    OutcomeKind.AUTHN_FAILED: (
        N_("The company could not confirm your identity"),
        N_("The certified company you chose could not confirm who you are."),
    ),
    OutcomeKind.REQUEST_ERROR: (
        N_("Sorry, there is a problem with the service"),
        N_("Your request to sign in could not be handled."),
    ),
}

# Account creation attribute names, and cycle 3 facts, as a citizen would call them (catalogue messages).
ATTRIBUTE_LABELS = {
    "firstname": N_("First name"),
    "middlename": N_("Middle name"),
    "surname": N_("Last name"),
    "dateofbirth": N_("Date of birth"),
    "currentaddress": N_("Address"),
    "addresshistory": N_("Previous addresses"),
}
EXTRA_ANSWER = N_("Your answer to the extra question")

_FAILURES = {
    STATUS_NO_MATCH: OutcomeKind.NO_MATCH,
    STATUS_NO_AUTHN_CONTEXT: OutcomeKind.NOT_SIGNED_IN,
    STATUS_AUTHN_FAILED: OutcomeKind.AUTHN_FAILED,
    STATUS_REQUESTER: OutcomeKind.REQUEST_ERROR,
}


@dataclass(frozen=True)
class Outcome:
    """What the hub said, checked: for a success, who (pairwise identifier) at what level, and any attributes."""

    kind: OutcomeKind
    status: Status
    pairwise_id: str | None = None
    level: LevelOfAssurance | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return WORDING[self.kind][0]

    @property
    def lead(self) -> str:
        return WORDING[self.kind][1]

    def labelled_attributes(self, variant: Variant) -> list[tuple[str, list[str]]]:
        """The attributes received, each under the name a citizen would use (a catalogue message, or the
        attribute's own name if we have none for it), in the order received."""
        labels = {**ATTRIBUTE_LABELS, "cycle_3": variant.cycle3_label or EXTRA_ANSWER}
        return [(labels.get(name, name), values) for name, values in self.attributes.items()]


def check_hub_response(element: etree._Element, *, runtime: Runtime, variant: Variant, now: dt.datetime) -> None:
    """Shape, time, Destination (this variant's ACS), issuer (the hub) and the hub's signature."""
    hub = runtime.federation.hub
    issuer = check_message(element, tag="Response", destination=variant.acs_url, now=now, skew=runtime.skew)
    if issuer != hub.entity_id:
        raise UnknownEntityError("Response not from the hub")
    verify(element, runtime.federation.certs(hub.signing_certificates))


def read_outcome(
    element: etree._Element, *, runtime: Runtime, variant: Variant, request_id: str, now: dt.datetime
) -> Outcome:
    """The outcome of a checked Response that answers ``request_id``, this browser's pending request."""
    if element.get("InResponseTo") != request_id:
        raise ProtocolError("Response does not answer a request this browser made")
    status = read_status(element)
    encrypted = element.findall(q("saml", "EncryptedAssertion"))
    if not status.success:
        if encrypted or element.find(q("saml", "Assertion")) is not None:
            raise ProtocolError("a non-success response must not carry assertions")
        kind = _FAILURES.get(status.sub_code or "") if status.code == STATUS_RESPONDER else None
        return Outcome(kind or OutcomeKind.REQUEST_ERROR, status)
    if len(encrypted) != 1 or element.find(q("saml", "Assertion")) is not None:
        raise InvalidSamlMessageError("a success response must carry exactly one encrypted assertion")
    # Full profile: the assertion is our own matching service's; simple: the hub's.
    full = variant.entry.profile is Profile.FULL
    asserting = variant.entry.matching_service if full else runtime.federation.hub
    checked = check_assertion(
        decrypt_assertion(encrypted[0], runtime.key_pair(variant.entry.encryption_certificate)),
        certificates=runtime.federation.certs(asserting.signing_certificates),
        issuer=asserting.entity_id,
        audience=variant.entry.entity_id,
        recipient=variant.acs_url,
        in_response_to=request_id,
        now=now,
        skew=runtime.skew,
    )
    level = LevelOfAssurance.from_uri(checked.authn_context or "")
    if level is None or not level.satisfies(variant.entry.level_of_assurance):
        raise ProtocolError("assertion's level of assurance is below what this service needs")
    attributes = {} if checked.attribute_statement is None else read_attributes(checked.attribute_statement)
    # The simple profile names the outcome and level; the full profile's matching service adds attributes only
    # to a new account.
    outcome = attributes.pop(OUTCOME_ATTRIBUTE, None)
    stated_level = attributes.pop(LEVEL_ATTRIBUTE, None)
    if not full and (stated_level != [level.value] or outcome not in ([OUTCOME_MATCH], [OUTCOME_ACCOUNT_CREATED])):
        raise ProtocolError("assertion does not state the outcome and level")
    created = outcome == [OUTCOME_ACCOUNT_CREATED] if not full else bool(attributes)
    requested = {name.value for name in variant.entry.account_creation_attributes}
    if (created and not attributes) or not set(attributes) <= requested:
        raise ProtocolError("assertion carries attributes this service did not ask for")
    if not created:
        return Outcome(OutcomeKind.MATCHED, status, checked.name_id, level)
    return Outcome(OutcomeKind.ACCOUNT_CREATED, status, checked.name_id, level, attributes)
