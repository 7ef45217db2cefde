"""The Responses this identity provider sends the hub, made by pysaml2's IdP (docs/protocol.md, first table).

Success: pysaml2's ``create_authn_response`` makes each of the two assertions the profile needs (it makes one a
call), signs it and encrypts it to the hub; the second's EncryptedAssertion joins the first Response, which
pysaml2 then signs (``Entity.sign``). Non-success: pysaml2's error Response with Verify's status in it, signed.
Everything is RSA-SHA256 and AES-256-GCM to the hub's encryption certificate from its metadata.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from saml2 import ExtensionElement, samlp
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID

from federation.verify.mds import MatchingDataset
from federation.words import N_
from stub_idp_pysaml2.attributes import Identity, dataset_identity, fraud_identity
from stub_idp_pysaml2.authn_requests import HubRequest
from stub_idp_pysaml2.errors import ResponseBuildError, released
from stub_idp_pysaml2.idp_server import VerifyIdpServer
from stub_idp_pysaml2.vocabulary import (
    DETAIL_AUTHN_CANCEL,
    DETAIL_LOA_PENDING,
    FRAUD_LEVEL_URI,
    IDA_NAMESPACE,
    LEVEL_URIS,
    STATUS_AUTHN_FAILED,
    STATUS_NO_AUTHN_CONTEXT,
    STATUS_REQUEST_DENIED,
    STATUS_REQUESTER,
    STATUS_RESPONDER,
)


class Outcome(StrEnum):
    """What a tester can return without signing in (and ``cancel`` when they refuse consent)."""

    CANCEL = "cancel"
    AUTHN_FAILED = "authn-failed"
    PENDING = "pending"
    REQUESTER_ERROR = "requester-error"

    @property
    def label(self) -> str:
        return _LABELS[self]


# Catalogue messages: the page shows them in its language.
_LABELS = {
    Outcome.CANCEL: N_("Cancel"),
    Outcome.AUTHN_FAILED: N_("Authentication failed"),
    Outcome.PENDING: N_("Registration pending"),
    Outcome.REQUESTER_ERROR: N_("Requester error"),
}
# Top-level status, second-level status and Verify's StatusDetail value.
_STATUSES: dict[Outcome, tuple[str, str, str | None]] = {
    Outcome.CANCEL: (STATUS_RESPONDER, STATUS_NO_AUTHN_CONTEXT, DETAIL_AUTHN_CANCEL),
    Outcome.AUTHN_FAILED: (STATUS_RESPONDER, STATUS_AUTHN_FAILED, None),
    Outcome.PENDING: (STATUS_RESPONDER, STATUS_NO_AUTHN_CONTEXT, DETAIL_LOA_PENDING),
    Outcome.REQUESTER_ERROR: (STATUS_REQUESTER, STATUS_REQUEST_DENIED, None),
}


@dataclass(frozen=True)
class Fraud:
    """A fraud event reported instead of a level: the GPG 45 status and this identity provider's event ID."""

    gpg45_status: str
    event_id: str = field(default_factory=lambda: "fraud-" + secrets.token_hex(8))


def _text(made: Any, what: str) -> str:
    """pysaml2 answers some failures with an error Response, or its lines, instead of raising: refuse those."""
    if not isinstance(made, str):
        raise ResponseBuildError(f"pysaml2 did not make the {what}")
    return made


@contextmanager
def _made_by_pysaml2(what: str) -> Iterator[None]:
    """pysaml2's failures as ResponseBuildError, logged by name: their messages can quote the assertion."""
    try:
        yield
    except ResponseBuildError:
        raise
    except Exception as exc:  # pysaml2's errors have no common root
        raise ResponseBuildError(f"pysaml2 could not make the {what} ({type(exc).__name__})") from released(exc)


def success_response(
    server: VerifyIdpServer,
    request: HubRequest,
    *,
    persistent_id: str,
    level: str | Fraud,
    dataset: MatchingDataset,
    authn_instant: int,
) -> str:
    """A signed Success with the authentication assertion (the level, or a fraud event) and the matching dataset
    assertion, both about ``persistent_id``, each signed and then encrypted to the hub.

    ``level`` is what the tester chose (``LEVEL_1`` or ``LEVEL_2``), which may be one this company is not
    certified for or below what the hub asked: the hub must refuse those. ``authn_instant``: when the tester
    signed in, in seconds since the epoch.
    """
    name_id = NameID(format=NAMEID_FORMAT_PERSISTENT, sp_name_qualifier=request.hub_entity_id, text=persistent_id)
    common: dict[str, Any] = {
        "in_response_to": request.id,
        "destination": request.acs_url,
        "sp_entity_id": request.hub_entity_id,
        "name_id": name_id,
        "sign_assertion": True,
        "sign_response": False,
        "encrypt_assertion": True,
        # Each assertion declares its own namespaces before it is encrypted: the second's EncryptedAssertion moves
        # to the first's Response, away from the declarations pysaml2 would otherwise leave on its own Response.
        "encrypt_assertion_self_contained": True,
    }
    if isinstance(level, Fraud):
        class_ref, authn_identity = FRAUD_LEVEL_URI, fraud_identity(level.event_id, level.gpg45_status)
    else:
        class_ref, authn_identity = LEVEL_URIS[level], {}
    authn: dict[str, Any] = {"class_ref": class_ref, "authn_instant": authn_instant}
    identity: Identity = dataset_identity(dataset)
    with _made_by_pysaml2("success Response"):
        first = _text(server.create_authn_response(authn_identity, authn=authn, **common), "authentication assertion")
        second = _text(server.create_authn_response(identity, **common), "matching dataset assertion")
        response = samlp.response_from_string(first)
        response.encrypted_assertion.extend(samlp.response_from_string(second).encrypted_assertion)
        return _text(server.sign(response), "signed Response")


def outcome_response(server: VerifyIdpServer, request: HubRequest, outcome: Outcome) -> str:
    """A signed non-success Response with no assertions.

    pysaml2's ``create_error_response`` makes the Response but always says Responder at the top and has no
    StatusDetail; Verify's statuses need both, so its Status is replaced before pysaml2 signs it.
    """
    top, second, detail = _STATUSES[outcome]
    with _made_by_pysaml2(f"{outcome} Response"):
        response = server.create_error_response(request.id, request.acs_url, info=(second, None), sign=False)
        response.status = samlp.Status(
            status_code=samlp.StatusCode(value=top, status_code=samlp.StatusCode(value=second)),
            status_detail=None
            if detail is None
            else samlp.StatusDetail(
                extension_elements=[ExtensionElement("StatusValue", namespace=IDA_NAMESPACE, text=detail)]
            ),
        )
        return _text(server.sign(response), "signed Response")
