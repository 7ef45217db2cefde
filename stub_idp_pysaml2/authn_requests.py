"""The hub's AuthnRequest, read and checked by pysaml2's IdP.

pysaml2 decodes the binding, checks the XML against the SAML schema, checks the signature (the enveloped one for
HTTP-POST, the query string's for HTTP-Redirect) with the keys in the hub's metadata only, and checks the
Destination. It also works out whether the IssueInstant is within a day, then ignores the answer
(``Entity._parse_request`` drops ``verify()``'s result): that is checked here, as is the AssertionConsumerService,
which must be one the hub's metadata lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from saml2 import BINDING_HTTP_POST

from stub_idp_pysaml2.errors import InvalidAuthnRequestError, released
from stub_idp_pysaml2.idp_server import VerifyIdpServer
from stub_idp_pysaml2.vocabulary import level_of

MAX_RELAY_STATE_BYTES = 80  # saml-bindings §3.4.3 and §3.5.3


@dataclass(frozen=True)
class HubRequest:
    """What the answer needs from the hub's request; nothing in it is personal."""

    id: str
    hub_entity_id: str
    acs_url: str  # from the hub's metadata, matched to the request's AssertionConsumerServiceURL
    requested_level: str | None  # LEVEL_1 or LEVEL_2, when the hub asked for one
    relay_state: str | None = None  # returned with the answer, unchanged (saml-bindings §3.4.3, §3.5.3)


def _requested_level(message: Any) -> str | None:
    context = message.requested_authn_context
    refs = [] if context is None else context.authn_context_class_ref
    return level_of(refs[0].text) if len(refs) == 1 else None


def read_authn_request(
    server: VerifyIdpServer,
    saml_request: str,
    binding: str,
    *,
    hub_entity_id: str,
    relay_state: str | None = None,
    sig_alg: str | None = None,
    signature: str | None = None,
) -> HubRequest:
    """The checked request, or InvalidAuthnRequestError naming what was wrong (never quoting the message)."""
    if not saml_request:
        raise InvalidAuthnRequestError("no SAMLRequest")
    if relay_state is not None and len(relay_state.encode()) > MAX_RELAY_STATE_BYTES:
        raise InvalidAuthnRequestError(f"RelayState longer than {MAX_RELAY_STATE_BYTES} bytes")
    try:
        request = server.parse_authn_request(
            saml_request, binding, relay_state=relay_state, sigalg=sig_alg, signature=signature
        )
    except Exception as exc:  # pysaml2's errors have two dozen roots: the log names which, never its message
        raise InvalidAuthnRequestError(f"pysaml2 refused the AuthnRequest ({type(exc).__name__})") from released(exc)
    if request is None or request.message is None:
        raise InvalidAuthnRequestError("pysaml2 read no AuthnRequest")
    if not request.issue_instant_ok():
        raise InvalidAuthnRequestError("AuthnRequest issued more than a day from now")
    issuer = request.message.issuer
    if issuer is None or (issuer.text or "").strip() != hub_entity_id:
        raise InvalidAuthnRequestError("AuthnRequest not from the hub")
    try:
        answer = server.response_args(request.message, [BINDING_HTTP_POST])
    except Exception as exc:
        reason = "AuthnRequest names an assertion consumer the hub does not list"
        raise InvalidAuthnRequestError(reason) from released(exc)
    return HubRequest(
        id=str(request.message.id),
        hub_entity_id=hub_entity_id,
        acs_url=str(answer["destination"]),
        requested_level=_requested_level(request.message),
        relay_state=relay_state,
    )
