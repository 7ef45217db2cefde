"""Validating the registration form and turning it into a new test user with a full matching dataset.

Framework-free. Error messages follow the GOV.UK Design System's patterns (names, dates, addresses,
passwords); every value of a registered user's dataset is verified. Messages and option texts are catalogue
messages (``N_``), each a whole sentence so that it can be translated as one; the view puts them in the page's
language.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from federation.verify.loa import LevelOfAssurance
from federation.verify.mds import Address, DateValue, Gender, MatchingDataset, Name
from federation.words import DATE_OF_BIRTH_PARTS_MISSING, N_
from stub_idp.forms import Errors, FieldError
from stub_idp.users import USERNAME_PATTERN, TestUser, new_registered_user

TEXT_FIELDS = (
    "first_name",
    "middle_names",
    "surname",
    "date_of_birth-day",
    "date_of_birth-month",
    "date_of_birth-year",
    "gender",
    "address_line_1",
    "address_line_2",
    "address_town",
    "postcode",
    "username",
    "level",
)
GENDERS = {"FEMALE": N_("Female"), "MALE": N_("Male"), "NOT_SPECIFIED": N_("Not specified")}
REGISTRATION_LEVELS = {LevelOfAssurance.LEVEL_1.value: N_("Level 1"), LevelOfAssurance.LEVEL_2.value: N_("Level 2")}
MAX_TEXT = 100
# The messages for a name left out (None: it may be) and for one that is too long.
_NAMES: dict[str, tuple[str | None, str]] = {
    "first_name": (N_("Enter the first name"), N_("First name must be %(max)d characters or fewer")),
    "middle_names": (None, N_("Middle names must be %(max)d characters or fewer")),
    "surname": (N_("Enter the last name"), N_("Last name must be %(max)d characters or fewer")),
}
_TOO_LONG = {
    "address_line_1": N_("Address line 1 must be %(max)d characters or fewer"),
    "address_line_2": N_("Address line 2 must be %(max)d characters or fewer"),
    "address_town": N_("Town or city must be %(max)d characters or fewer"),
}
_POSTCODE = re.compile(r"[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}")
_DATE_PARTS = ("day", "month", "year")
EARLIEST_BIRTH_DATE = dt.date(1900, 1, 1)


@dataclass(frozen=True)
class Registration:
    """What the tester typed (never the password), the errors, and the new user when there are none."""

    values: dict[str, str]
    errors: Errors = field(default_factory=dict)
    user: TestUser | None = None


def read_registration(form: Mapping[str, str], *, is_taken: Callable[[str], bool], today: dt.date) -> Registration:
    """Check every answer; when all are right, build the user (its password hashed, every value verified)."""
    values = {name: form.get(name, "").strip() for name in TEXT_FIELDS}
    password = form.get("password", "")
    errors: Errors = {}
    for name in _NAMES:
        _name(values, errors, name)
    birth_date = _date_of_birth(values, errors, today)
    if values["gender"] not in ("", *GENDERS):
        errors["gender"] = FieldError(N_("Select a gender from the list"), "gender")
    if not values["address_line_1"]:
        errors["address_line_1"] = FieldError(
            N_("Enter address line 1, typically the building and street"), "address_line_1"
        )
    for name, too_long in _TOO_LONG.items():
        if len(values[name]) > MAX_TEXT:
            errors[name] = FieldError(too_long, name, variables={"max": MAX_TEXT})
    postcode = _postcode(values, errors)
    _username(values, errors, is_taken)
    if not password:
        errors["password"] = FieldError(N_("Enter a password"), "password")
    elif not 8 <= len(password) <= MAX_TEXT:
        errors["password"] = FieldError(
            N_("Password must be between 8 and %(max)d characters"), "password", variables={"max": MAX_TEXT}
        )
    if values["level"] not in REGISTRATION_LEVELS:
        errors["level"] = FieldError(N_("Select the level of assurance the test user is verified to"), "level")
    # Errors go in in page order: the summary lists them as the page does.
    if errors or birth_date is None or postcode is None:
        return Registration(values, errors)
    dataset = MatchingDataset(
        first_names=[Name(value=values["first_name"])],
        middle_names=[Name(value=values["middle_names"])] if values["middle_names"] else [],
        surnames=[Name(value=values["surname"])],
        dates_of_birth=[DateValue(value=birth_date)],
        gender=Gender.model_validate({"value": values["gender"]}) if values["gender"] else None,
        current_addresses=[Address(lines=_address_lines(values), postcode=postcode)],
    )
    user = new_registered_user(
        username=values["username"], password=password, level=LevelOfAssurance(values["level"]), dataset=dataset
    )
    return Registration(values, user=user)


def _name(values: dict[str, str], errors: Errors, name: str) -> None:
    missing, too_long = _NAMES[name]
    if missing and not values[name]:
        errors[name] = FieldError(missing, name)
    elif len(values[name]) > MAX_TEXT:
        errors[name] = FieldError(too_long, name, variables={"max": MAX_TEXT})


def _date_of_birth(values: dict[str, str], errors: Errors, today: dt.date) -> dt.date | None:
    parts = {part: values[f"date_of_birth-{part}"] for part in _DATE_PARTS}
    missing = tuple(part for part in _DATE_PARTS if not parts[part])

    def fail(message: str, wrong: tuple[str, ...] = _DATE_PARTS) -> None:
        errors["date_of_birth"] = FieldError(message, f"date_of_birth-{wrong[0]}", wrong)

    if len(missing) == len(_DATE_PARTS):
        fail(N_("Enter the date of birth"))
    elif missing:
        fail(DATE_OF_BIRTH_PARTS_MISSING[missing], missing)
    elif not all(value.isdigit() for value in parts.values()):
        fail(N_("Date of birth must be a real date"))
    elif len(parts["year"]) != 4:
        fail(N_("Year must include 4 numbers"), ("year",))
    else:
        try:
            date = dt.date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
        except ValueError:
            fail(N_("Date of birth must be a real date"))
            return None
        if date >= today:
            fail(N_("Date of birth must be in the past"))
        elif date < EARLIEST_BIRTH_DATE:
            fail(N_("Date of birth must be the same as or after 1 January 1900"))
        else:
            return date
    return None


def _postcode(values: dict[str, str], errors: Errors) -> str | None:
    compact = re.sub(r"\s+", "", values["postcode"]).upper()
    if not compact:
        errors["postcode"] = FieldError(N_("Enter the postcode"), "postcode")
    elif not _POSTCODE.fullmatch(compact):
        errors["postcode"] = FieldError(N_("Enter a full UK postcode, like AA1 1AA"), "postcode")
    else:
        return f"{compact[:-3]} {compact[-3:]}"
    return None


def _username(values: dict[str, str], errors: Errors, is_taken: Callable[[str], bool]) -> None:
    username = values["username"]
    if not username:
        errors["username"] = FieldError(N_("Enter a username"), "username")
    elif not USERNAME_PATTERN.fullmatch(username):
        errors["username"] = FieldError(
            N_(
                "Username must be 3 to 40 characters and only include lowercase letters, numbers, dots, hyphens "
                "and underscores, starting with a letter or number"
            ),
            "username",
        )
    elif is_taken(username):
        errors["username"] = taken_error()


def taken_error() -> FieldError:
    return FieldError(N_("That username is already taken. Choose another username"), "username")


def _address_lines(values: dict[str, str]) -> list[str]:
    return [values[name] for name in ("address_line_1", "address_line_2", "address_town") if values[name]]
