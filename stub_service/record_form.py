"""The add-a-record form: its fields, and server-side validation with GOV.UK Design System messages."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from federation.verify.cycle3 import CYCLE3_ATTRIBUTES, Cycle3AttributeName
from federation.web import gettext
from federation.words import DATE_OF_BIRTH_PARTS_MISSING, N_
from stub_service.records import NewRecord

NAME_MAX = 100
DATE_PARTS = ("day", "month", "year")
# A UK postcode's shape (outward code, space optional, inward code), as the Design System's address pattern asks.
_POSTCODE = re.compile(r"([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})")
NINO = CYCLE3_ATTRIBUTES[Cycle3AttributeName.NATIONAL_INSURANCE_NUMBER]
# Each name field's messages: when it is empty, and when it is too long (``max`` characters at most).
_NAME_MESSAGES = {
    "first_name": (N_("Enter a first name"), N_("First name must be %(max)d characters or fewer")),
    "surname": (N_("Enter a last name"), N_("Last name must be %(max)d characters or fewer")),
}


@dataclass
class RecordForm:
    """What was typed, what is wrong with it (field → message in the page's language, in page order) and, if
    nothing, the record."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    anchors: dict[str, str] = field(default_factory=dict)
    date_parts_in_error: tuple[str, ...] = ()
    record: NewRecord | None = None

    def error_list(self) -> list[dict[str, str]]:
        """The error summary's items, each linking to the field (or first date part) in error."""
        return [{"text": message, "href": f"#{self.anchors[name]}"} for name, message in self.errors.items()]


def _name(values: dict[str, str], key: str, form: RecordForm) -> str:
    value = " ".join(values[key].split())
    empty, too_long = _NAME_MESSAGES[key]
    if not value:
        form.errors[key] = gettext(empty)
    elif len(value) > NAME_MAX:
        form.errors[key] = gettext(too_long, max=NAME_MAX)
    form.anchors[key] = key
    return value


def _date_problem(parts: dict[str, str], today: dt.date) -> tuple[str, tuple[str, ...]] | dt.date:
    """The date, or the message (a catalogue message) and the parts to highlight (the Design System's date input
    rules)."""
    missing = tuple(part for part in DATE_PARTS if not parts[part])
    if len(missing) == len(DATE_PARTS):
        return N_("Enter a date of birth"), DATE_PARTS
    if missing:
        return DATE_OF_BIRTH_PARTS_MISSING[missing], missing
    try:
        if not all(parts[p].isdigit() for p in DATE_PARTS) or len(parts["year"]) != 4:
            raise ValueError("not a date")
        born = dt.date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
    except ValueError:
        return N_("Date of birth must be a real date"), DATE_PARTS
    return born if born < today else (N_("Date of birth must be in the past"), DATE_PARTS)


def _date_of_birth(values: dict[str, str], today: dt.date, form: RecordForm) -> str:
    parts = {part: values[f"date_of_birth-{part}"].strip() for part in DATE_PARTS}
    checked = _date_problem(parts, today)
    if isinstance(checked, dt.date):
        return checked.isoformat()
    message, in_error = checked
    form.errors["date_of_birth"] = gettext(message)
    form.anchors["date_of_birth"] = f"date_of_birth-{in_error[0]}"
    form.date_parts_in_error = in_error
    return ""


def _postcode(values: dict[str, str], form: RecordForm) -> str:
    form.anchors["postcode"] = "postcode"
    raw = values["postcode"].strip().upper()
    match = _POSTCODE.fullmatch(raw)
    if not raw:
        form.errors["postcode"] = gettext("Enter a postcode")
    elif match is None:
        form.errors["postcode"] = gettext("Enter a real postcode")
    else:
        return f"{match.group(1)} {match.group(2)}"
    return ""


def _nino(values: dict[str, str], form: RecordForm) -> str | None:
    form.anchors["nino"] = "nino"
    if not values["nino"].strip():
        return None
    value, error = NINO.validate(values["nino"])
    if error:
        form.errors["nino"] = gettext(error)  # the federation's cycle 3 words, in the page's language if it has them
    return value


FIELDS = ("first_name", "surname", *(f"date_of_birth-{part}" for part in DATE_PARTS), "postcode", "nino")


def read_record_form(posted: Mapping[str, str], today: dt.date) -> RecordForm:
    """Validate every field; the record is set only when nothing is wrong."""
    values = {key: str(posted.get(key, ""))[:200] for key in FIELDS}
    form = RecordForm(values)
    first_name = _name(values, "first_name", form)
    surname = _name(values, "surname", form)
    born = _date_of_birth(values, today, form)
    postcode = _postcode(values, form)
    nino = _nino(values, form)
    if not form.errors:
        form.record = NewRecord(
            first_name=first_name, surname=surname, date_of_birth=born, postcode=postcode, nino=nino
        )
    return form
