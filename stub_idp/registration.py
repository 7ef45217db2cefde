"""Validating the registration form and turning it into a new test user with a full matching dataset.

Framework-free. Error messages follow the GOV.UK Design System's patterns (names, dates, addresses,
passwords); every value of a registered user's dataset is verified.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from federation.verify.loa import LevelOfAssurance
from federation.verify.mds import Address, DateValue, Gender, MatchingDataset, Name
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
GENDERS = {"FEMALE": "Female", "MALE": "Male", "NOT_SPECIFIED": "Not specified"}
REGISTRATION_LEVELS = {LevelOfAssurance.LEVEL_1.value: "Level 1", LevelOfAssurance.LEVEL_2.value: "Level 2"}
MAX_TEXT = 100
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
    _text(values, errors, "first_name", "first name", required=True)
    _text(values, errors, "middle_names", "middle names", required=False)
    _text(values, errors, "surname", "last name", required=True)
    birth_date = _date_of_birth(values, errors, today)
    if values["gender"] not in ("", *GENDERS):
        errors["gender"] = FieldError("Select a gender from the list", "gender")
    if not values["address_line_1"]:
        errors["address_line_1"] = FieldError(
            "Enter address line 1, typically the building and street", "address_line_1"
        )
    for name, words in (
        ("address_line_1", "Address line 1"),
        ("address_line_2", "Address line 2"),
        ("address_town", "Town or city"),
    ):
        if len(values[name]) > MAX_TEXT:
            errors[name] = FieldError(f"{words} must be {MAX_TEXT} characters or fewer", name)
    postcode = _postcode(values, errors)
    _username(values, errors, is_taken)
    if not password:
        errors["password"] = FieldError("Enter a password", "password")
    elif not 8 <= len(password) <= MAX_TEXT:
        errors["password"] = FieldError(f"Password must be between 8 and {MAX_TEXT} characters", "password")
    if values["level"] not in REGISTRATION_LEVELS:
        errors["level"] = FieldError("Select the level of assurance the test user is verified to", "level")
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


def _text(values: dict[str, str], errors: Errors, name: str, words: str, *, required: bool) -> None:
    if required and not values[name]:
        errors[name] = FieldError(f"Enter the {words}", name)
    elif len(values[name]) > MAX_TEXT:
        errors[name] = FieldError(f"{words.capitalize()} must be {MAX_TEXT} characters or fewer", name)


def _date_of_birth(values: dict[str, str], errors: Errors, today: dt.date) -> dt.date | None:
    parts = {part: values[f"date_of_birth-{part}"] for part in _DATE_PARTS}
    missing = tuple(part for part in _DATE_PARTS if not parts[part])

    def fail(message: str, wrong: tuple[str, ...] = _DATE_PARTS) -> None:
        errors["date_of_birth"] = FieldError(message, f"date_of_birth-{wrong[0]}", wrong)

    if len(missing) == len(_DATE_PARTS):
        fail("Enter the date of birth")
    elif missing:
        fail(f"Date of birth must include a {' and '.join(missing)}", missing)
    elif not all(value.isdigit() for value in parts.values()):
        fail("Date of birth must be a real date")
    elif len(parts["year"]) != 4:
        fail("Year must include 4 numbers", ("year",))
    else:
        try:
            date = dt.date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
        except ValueError:
            fail("Date of birth must be a real date")
            return None
        if date >= today:
            fail("Date of birth must be in the past")
        elif date < EARLIEST_BIRTH_DATE:
            fail("Date of birth must be the same as or after 1 January 1900")
        else:
            return date
    return None


def _postcode(values: dict[str, str], errors: Errors) -> str | None:
    compact = re.sub(r"\s+", "", values["postcode"]).upper()
    if not compact:
        errors["postcode"] = FieldError("Enter the postcode", "postcode")
    elif not _POSTCODE.fullmatch(compact):
        errors["postcode"] = FieldError("Enter a full UK postcode, like AA1 1AA", "postcode")
    else:
        return f"{compact[:-3]} {compact[-3:]}"
    return None


def _username(values: dict[str, str], errors: Errors, is_taken: Callable[[str], bool]) -> None:
    username = values["username"]
    if not username:
        errors["username"] = FieldError("Enter a username", "username")
    elif not USERNAME_PATTERN.fullmatch(username):
        errors["username"] = FieldError(
            "Username must be 3 to 40 characters and only include lowercase letters, numbers, dots, hyphens "
            "and underscores, starting with a letter or number",
            "username",
        )
    elif is_taken(username):
        errors["username"] = taken_error()


def taken_error() -> FieldError:
    return FieldError("That username is already taken. Choose another username", "username")


def _address_lines(values: dict[str, str]) -> list[str]:
    return [values[name] for name in ("address_line_1", "address_line_2", "address_town") if values[name]]
