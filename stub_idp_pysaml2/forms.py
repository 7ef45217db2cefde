"""Server-side validation of the sign-in and consent forms, in the GOV.UK Design System's words.

Framework-free: each reader takes the submitted fields and returns what it understood plus the errors, in page
order, for the error summary and beside each field. The fields are the stub IDPs' (README, "Automation
contract"), so the same drivers work here. Messages and labels are catalogue messages (``N_``): the view puts
them in the page's language.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from federation.words import N_
from stub_idp_pysaml2.responses import Fraud
from stub_idp_pysaml2.vocabulary import GPG45_STATUSES

LEVEL_X = "LEVEL_X"
RETURN_LEVELS = {"LEVEL_1": N_("Level 1"), "LEVEL_2": N_("Level 2"), LEVEL_X: N_("Level X: report a fraud event")}
_GPG45_MEANINGS = {"DF01": N_("document fraud"), "FI01": N_("false identity"), "IT01": N_("identity theft")}


def gpg45_labels(gettext: Callable[[str], str]) -> dict[str, str]:
    """Each GPG 45 fraud status with its meaning in the page's language; the status itself is a code, not words."""
    return {status: f"{status}: {gettext(_GPG45_MEANINGS[status])}" for status in GPG45_STATUSES}


@dataclass(frozen=True)
class FieldError:
    message: str  # a catalogue message: ``in_words`` gives the error in the page's language
    anchor: str  # the id of the input the error summary links to

    def in_words(self, gettext: Callable[[str], str]) -> FieldError:
        return FieldError(gettext(self.message), self.anchor)


Errors = dict[str, FieldError]


def error_summary(errors: Errors) -> list[dict[str, str]]:
    """The ``errorList`` for govukErrorSummary: each message linking to its field."""
    return [{"text": error.message, "href": f"#{error.anchor}"} for error in errors.values()]


@dataclass(frozen=True)
class SignInForm:
    """The username and password; a wrong pair is one error on the username, as GOV.UK sign-in pages say."""

    username: str = ""
    errors: Errors = field(default_factory=dict)

    @classmethod
    def read(cls, form: Mapping[str, str]) -> tuple[SignInForm, str]:
        """The form and the password (kept out of the form, which goes back to the page)."""
        username, password = form.get("username", "").strip(), form.get("password", "")
        errors: Errors = {}
        if not username:
            errors["username"] = FieldError(N_("Enter your username"), "username")
        if not password:
            errors["password"] = FieldError(N_("Enter your password"), "password")
        return cls(username, errors), password

    def refused(self) -> SignInForm:
        return SignInForm(
            self.username, {"username": FieldError(N_("Enter a correct username and password"), "username")}
        )


@dataclass(frozen=True)
class ConsentForm:
    """The level to return and, for a fraud event, its GPG 45 status. A field left out takes what the page shows
    selected (the user's own level, the first status), so a plain HTTP client can agree with ``decision`` alone."""

    level: str
    gpg45_status: str
    errors: Errors = field(default_factory=dict)

    @classmethod
    def defaults(cls, user_level: str) -> ConsentForm:
        return cls(user_level, next(iter(GPG45_STATUSES)))

    @classmethod
    def read(cls, form: Mapping[str, str], user_level: str) -> ConsentForm:
        level = form.get("level", user_level)
        status = form.get("gpg45_status", next(iter(GPG45_STATUSES)))
        errors: Errors = {}
        if level not in RETURN_LEVELS:
            errors["level"] = FieldError(N_("Select the level of assurance to return"), "level")
        elif level == LEVEL_X and status not in GPG45_STATUSES:
            errors["gpg45_status"] = FieldError(N_("Select a GPG 45 fraud status from the list"), "gpg45_status")
        return cls(level, status, errors)

    def returned_level(self) -> str | Fraud:
        """What goes in the authentication assertion; only meaningful when there are no errors."""
        return Fraud(self.gpg45_status) if self.level == LEVEL_X else self.level
