"""Server-side validation of the sign-in and consent forms, in the GOV.UK Design System's words.

Framework-free: each reader takes the submitted fields as a mapping and returns what it understood plus
the errors, in page order, that the template shows in the error summary and beside each field. Messages and
labels are catalogue messages (``N_``): the view puts them in the page's language.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from federation.saml.xml import GPG45_FRAUD_STATUSES
from federation.verify.loa import LevelOfAssurance
from federation.words import N_
from stub_idp.responses import Fraud

LEVEL_X = "LEVEL_X"
RETURN_LEVELS = {
    LevelOfAssurance.LEVEL_1.value: N_("Level 1"),
    LevelOfAssurance.LEVEL_2.value: N_("Level 2"),
    LEVEL_X: N_("Level X: report a fraud event"),
}
_GPG45_MEANINGS = {"DF01": N_("document fraud"), "FI01": N_("false identity"), "IT01": N_("identity theft")}


def gpg45_labels(gettext: Callable[[str], str]) -> dict[str, str]:
    """Each GPG 45 fraud status with its meaning in the page's language; the status itself is a code, not words."""
    return {status: f"{status}: {gettext(_GPG45_MEANINGS[status])}" for status in GPG45_FRAUD_STATUSES}


@dataclass(frozen=True)
class FieldError:
    """One field's error: the message, and the id of the input the error summary links to.

    ``message`` is a catalogue message, with ``%(name)s`` placeholders for ``variables``; ``in_words`` gives the
    error with its message in the page's language, filled in.
    """

    message: str
    anchor: str
    parts: tuple[str, ...] = ()  # for a date: which of day, month and year are wrong
    variables: Mapping[str, str | int] = field(default_factory=dict)

    def in_words(self, gettext: Callable[..., str]) -> FieldError:
        """This error with its message translated by ``gettext`` and its placeholders filled in."""
        return FieldError(gettext(self.message, **self.variables), self.anchor, self.parts)


Errors = dict[str, FieldError]


def error_summary(errors: Errors) -> list[dict[str, str]]:
    """The ``errorList`` for govukErrorSummary: each message linking to its field."""
    return [{"text": error.message, "href": f"#{error.anchor}"} for error in errors.values()]


def inline_error(errors: Errors, name: str) -> dict[str, str] | None:
    """The ``errorMessage`` for a field's macro: the same words as in the summary."""
    error = errors.get(name)
    return {"text": error.message} if error else None


@dataclass(frozen=True)
class SignInForm:
    """The username and password form; a wrong pair is one error on the username, as GOV.UK sign-in pages do."""

    username: str
    password: str
    errors: Errors = field(default_factory=dict)

    @classmethod
    def read(cls, form: Mapping[str, str]) -> SignInForm:
        username, password = form.get("username", "").strip(), form.get("password", "")
        errors: Errors = {}
        if not username:
            errors["username"] = FieldError(N_("Enter your username"), "username")
        if not password:
            errors["password"] = FieldError(N_("Enter your password"), "password")
        return cls(username, password, errors)

    def refused(self) -> SignInForm:
        """The same answers with the error for a wrong username or password."""
        return SignInForm(
            self.username, "", {"username": FieldError(N_("Enter a correct username and password"), "username")}
        )


@dataclass(frozen=True)
class ConsentForm:
    """The level to return and, for a fraud event, its GPG 45 status.

    A field left out takes the value the page shows selected (the user's own level, the first status), so a
    plain HTTP client can agree with only ``request_token`` and ``decision``.
    """

    level: str
    gpg45_status: str
    errors: Errors = field(default_factory=dict)

    @classmethod
    def defaults(cls, user_level: LevelOfAssurance) -> ConsentForm:
        return cls(user_level.value, GPG45_FRAUD_STATUSES[0])

    @classmethod
    def read(cls, form: Mapping[str, str], user_level: LevelOfAssurance) -> ConsentForm:
        level = form.get("level", user_level.value)
        status = form.get("gpg45_status", GPG45_FRAUD_STATUSES[0])
        errors: Errors = {}
        if level not in RETURN_LEVELS:
            errors["level"] = FieldError(N_("Select the level of assurance to return"), "level")
        elif level == LEVEL_X and status not in GPG45_FRAUD_STATUSES:
            errors["gpg45_status"] = FieldError(N_("Select a GPG 45 fraud status from the list"), "gpg45_status")
        return cls(level, status, errors)

    def returned_level(self) -> LevelOfAssurance | Fraud:
        """What goes in the authentication assertion; only meaningful when there are no errors."""
        return Fraud(self.gpg45_status) if self.level == LEVEL_X else LevelOfAssurance(self.level)
