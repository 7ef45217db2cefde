"""This identity provider's errors: one root, each with its HTTP status and plain words for testers.

Under the federation's root so that the shared error pages (``federation.web``) render them, in the page's
language (the words are catalogue messages, ``N_``); pysaml2's own exceptions, which have no common root, are
caught where they are raised and kept as the cause, never shown.
"""

from __future__ import annotations

import traceback

from federation.errors import FederationError
from federation.words import N_


def released(exc: BaseException) -> BaseException:
    """``exc``, its cause and context, with the local variables of their finished frames let go.

    pysaml2 writes each certificate it checks a signature with to a temporary file and leaves the file open for the
    garbage collector; and its request parser keeps the exception it raises in a frame that the exception's
    traceback holds, a cycle. Until the collector breaks the cycle, the files stay open, and then each is closed
    with a ResourceWarning. Clearing the frames closes them at once, and keeps every line of the traceback.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        pending += [current.__cause__, current.__context__]
    return exc


class Pysaml2IdpError(FederationError):
    """Something a tester's browser sent that this identity provider cannot use."""

    title = N_("There is a problem with the request")
    description = N_("The page could not use what your browser sent. Go back and try again.")


class InvalidAuthnRequestError(Pysaml2IdpError):
    """The SAMLRequest is missing, not a signed AuthnRequest from the hub, or not for this identity provider."""

    title = N_("There is a problem with the sign-in request")
    description = N_(
        "The sign-in request your browser brought from GOV.UK Sign in could not be used. "
        "Go back to the service you were using and start again."
    )


class RequestNotFoundError(Pysaml2IdpError):
    """The request token is missing, unknown, expired or already answered."""

    title = N_("You need to start again")
    description = N_(
        "This sign-in has no request from GOV.UK Sign in, or it has expired or already been answered. "
        "Go back to the service you were using and start again."
    )


class NotSignedInError(Pysaml2IdpError):
    """The consent page was reached for a request nobody has signed in for."""

    title = N_("You need to sign in first")
    description = N_("Sign in as a test user before choosing what to share. Go back to the sign-in page.")


class UnknownChoiceError(Pysaml2IdpError):
    """A button or field sent a value the page never offered."""

    description = N_("The page sent a choice it does not offer. Go back, choose one of the buttons and try again.")


class HubMetadataError(Pysaml2IdpError):
    """The hub's metadata could not be fetched, checked or read: nothing can be answered without it."""

    http_status = 503
    title = N_("Sorry, the service is unavailable")
    description = N_("This identity provider cannot reach GOV.UK Sign in just now. Try again later.")


class ResponseBuildError(Pysaml2IdpError):
    """pysaml2 did not make the Response asked for (it answers some failures with an error Response instead)."""

    http_status = 500
    title = N_("Sorry, there is a problem with the service")
    description = N_("Try again later.")
