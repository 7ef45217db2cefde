"""One error root for the federation's SAML plumbing, in the manner of werkzeug's HTTP exceptions.

Each class says, as class attributes, the HTTP status a browser gets, the SAML status a relying service
would be told and a description in plain words that is safe to show a citizen. The library's own message
is kept as the cause (``raise ... from exc``) and logged, never shown.
"""

from __future__ import annotations

from typing import ClassVar

from federation.saml.xml import STATUS_REQUESTER, STATUS_RESPONDER
from federation.words import N_


class FederationError(Exception):
    http_status: ClassVar[int] = 400
    saml_status: ClassVar[str] = STATUS_REQUESTER
    title: ClassVar[str] = N_("There is a problem with the sign-in request")
    description: ClassVar[str] = N_("We could not accept the sign-in message your browser sent.")

    def __init__(self, detail: str = "") -> None:
        # ``detail`` is for the log: it must never carry personal data or message bodies.
        super().__init__(detail or self.description)
        self.detail = detail or self.description


class InvalidSamlMessageError(FederationError):
    description = N_("The sign-in message was missing, damaged or not in the format we expect.")


class SignatureError(InvalidSamlMessageError):
    description = N_("The sign-in message was not signed by an organisation we trust.")


class DisallowedAlgorithmError(InvalidSamlMessageError):
    description = N_("The sign-in message used a signing or encryption method we do not accept.")


class UnknownEntityError(InvalidSamlMessageError):
    description = N_("The sign-in message came from an organisation that is not part of this service.")


class ProtocolError(InvalidSamlMessageError):
    description = N_("The sign-in message was not valid for this step of signing in.")


class ReplayError(InvalidSamlMessageError):
    description = N_("This sign-in message has already been used. Start again from the service you were using.")


class JourneyNotFoundError(FederationError):
    http_status = 400
    title = N_("You need to start again")
    description = N_(
        "Your session has ended or could not be found. Go back to the service you were using and start again."
    )


class MatchingServiceError(FederationError):
    http_status = 502
    saml_status = STATUS_RESPONDER
    title = N_("Sorry, there is a problem with the service")
    description = N_("The service you are using could not check your details just now.")


class StoreUnavailableError(FederationError):
    http_status = 503
    saml_status = STATUS_RESPONDER
    title = N_("Sorry, the service is unavailable")
    description = N_("You will be able to use the service later.")


class SuspendedError(FederationError):
    """A relying service or identity provider the federation has suspended (``suspended: true``)."""

    http_status = 403
    saml_status = STATUS_RESPONDER


class ServiceSuspendedError(SuspendedError):
    title = N_("You cannot prove your identity online for this service at the moment")
    description = N_("Go back to the service you were using: it can tell you other ways to use it.")


class CompanySuspendedError(SuspendedError):
    title = N_("The company you chose cannot prove your identity at the moment")
    description = N_("Go back to the service you were using and start again, then choose another company.")
