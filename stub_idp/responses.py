"""The Responses a stub identity provider sends the hub: success, fraud and every non-success outcome.

Encodings follow docs/protocol.md. Every Response is signed by the IDP; success carries two assertions, each
signed by the IDP and then encrypted to the hub; non-success carries none.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lxml import etree

from federation.runtime import Runtime
from federation.saml.build import Subject, assertion, response
from federation.saml.crypto import encrypt_assertion, sign
from federation.saml.xml import (
    ATTR_FRAUD_EVENT_ID,
    ATTR_GPG45_STATUS,
    DETAIL_AUTHN_CANCEL,
    DETAIL_LOA_PENDING,
    NS,
    STATUS_AUTHN_FAILED,
    STATUS_NO_AUTHN_CONTEXT,
    STATUS_REQUEST_DENIED,
    STATUS_REQUESTER,
    STATUS_RESPONDER,
    now,
    q,
)
from federation.verify.loa import FRAUD_LEVEL_URI, LevelOfAssurance
from federation.verify.mds import attribute_element, to_attributes
from federation.words import N_
from stub_idp.idps import StubIdp
from stub_idp.users import TestUser, persistent_id

ASSERTION_LIFETIME = dt.timedelta(minutes=5)


class Outcome(StrEnum):
    """What a tester can return without signing in (and ``cancel`` when they refuse consent)."""

    CANCEL = "cancel"
    AUTHN_FAILED = "authn-failed"
    PENDING = "pending"
    REQUESTER_ERROR = "requester-error"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def status(self) -> tuple[str, str, str | None]:
        """Top-level status, second-level status and Verify-style StatusDetail."""
        return _STATUSES[self]


# Catalogue messages: the page shows them in its language.
_LABELS = {
    Outcome.CANCEL: N_("Cancel"),
    Outcome.AUTHN_FAILED: N_("Authentication failed"),
    Outcome.PENDING: N_("Registration pending"),
    Outcome.REQUESTER_ERROR: N_("Requester error"),
}
_STATUSES: dict[Outcome, tuple[str, str, str | None]] = {
    Outcome.CANCEL: (STATUS_RESPONDER, STATUS_NO_AUTHN_CONTEXT, DETAIL_AUTHN_CANCEL),
    Outcome.AUTHN_FAILED: (STATUS_RESPONDER, STATUS_AUTHN_FAILED, None),
    Outcome.PENDING: (STATUS_RESPONDER, STATUS_NO_AUTHN_CONTEXT, DETAIL_LOA_PENDING),
    Outcome.REQUESTER_ERROR: (STATUS_REQUESTER, STATUS_REQUEST_DENIED, None),
}


@dataclass(frozen=True)
class Fraud:
    """A fraud event reported instead of a level: the GPG 45 status and the IDP's own event ID."""

    gpg45_status: str
    event_id: str = field(default_factory=lambda: "fraud-" + secrets.token_hex(8))


def idp_now(runtime: Runtime) -> dt.datetime:
    """The stub company's clock: the real time, moved by ``idp_clock_offset_seconds`` to test a company whose
    clock is wrong (the hub allows ``clock_skew_seconds`` either way)."""
    return now() + dt.timedelta(seconds=runtime.settings.idp_clock_offset_seconds)


def outcome_response(runtime: Runtime, idp: StubIdp, request_id: str, outcome: Outcome) -> etree._Element:
    """A signed non-success Response with no assertions."""
    status, sub_status, detail = outcome.status
    message = response(
        issuer=idp.entry.entity_id,
        destination=runtime.federation.hub.acs_url,
        in_response_to=request_id,
        moment=idp_now(runtime),
        status=status,
        sub_status=sub_status,
        status_detail=detail,
    )
    sign(message, runtime.key_pair(idp.entry.signing_certificates[0]))
    return message


def success_response(
    runtime: Runtime, idp: StubIdp, user: TestUser, request_id: str, level: LevelOfAssurance | Fraud
) -> etree._Element:
    """A signed Success with the authentication and matching dataset assertions, encrypted to the hub.

    ``level`` is what the tester chose, which may be one the IDP is not certified for or below what the
    hub asked: the hub must refuse those.
    """
    federation = runtime.federation
    hub = federation.hub
    moment = idp_now(runtime)
    signing_key = runtime.key_pair(idp.entry.signing_certificates[0])
    subject = Subject(
        name_id=persistent_id(idp.secret, idp.entry.entity_id, user),
        in_response_to=request_id,
        recipient=hub.acs_url,
        name_qualifier=hub.entity_id,
    )
    message = response(issuer=idp.entry.entity_id, destination=hub.acs_url, in_response_to=request_id, moment=moment)
    common: dict[str, Any] = {
        "issuer": idp.entry.entity_id,
        "subject": subject,
        "audience": hub.entity_id,
        "moment": moment,
        "lifetime": ASSERTION_LIFETIME,
    }
    if isinstance(level, Fraud):
        authentication = assertion(level=FRAUD_LEVEL_URI, attributes=fraud_attributes(level), **common)
    else:
        authentication = assertion(level=level, **common)
    for statement in (authentication, assertion(attributes=to_attributes(user.dataset), **common)):
        sign(statement, signing_key)
        message.append(encrypt_assertion(statement, federation.cert(hub.encryption_certificate)))
    sign(message, signing_key)
    return message


def fraud_attributes(fraud: Fraud) -> list[etree._Element]:
    """The two FECI attributes that go with AuthnContextClassRef levelX."""
    attributes = []
    for name, value in ((ATTR_FRAUD_EVENT_ID, fraud.event_id), (ATTR_GPG45_STATUS, fraud.gpg45_status)):
        attribute = attribute_element(name)
        node = etree.SubElement(attribute, q("saml", "AttributeValue"), nsmap={"xs": NS["xs"], "xsi": NS["xsi"]})
        node.set(q("xsi", "type"), "xs:string")
        node.text = value
        attributes.append(attribute)
    return attributes
