"""The stub IDP's errors: one root under the federation's, each with its status and plain words for testers.

The words are catalogue messages (``N_``): the error page shows them in the page's language.
"""

from __future__ import annotations

from federation.errors import FederationError
from federation.words import N_


class StubIdpError(FederationError):
    """Something a tester's browser sent that the stub identity provider cannot use."""

    title = N_("There is a problem with the request")
    description = N_("The page could not use what your browser sent. Go back and try again.")


class RequestNotFoundError(StubIdpError):
    """The request token is missing, unknown, expired, already answered or for another identity provider."""

    title = N_("You need to start again")
    description = N_(
        "This sign-in has no request from GOV.UK Sign in, or it has expired or already been answered. "
        "Go back to the service you were using and start again."
    )


class NotSignedInError(StubIdpError):
    """The consent page was reached for a request nobody has signed in for."""

    title = N_("You need to sign in first")
    description = N_("Sign in as a test user before choosing what to share. Go back to the sign-in page.")


class UnknownChoiceError(StubIdpError):
    """A button or field sent a value the page never offered."""

    description = N_("The page sent a choice it does not offer. Go back, choose one of the buttons and try again.")
