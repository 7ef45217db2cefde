"""The matching dataset as rows for govukSummaryList: every value with its dates and whether it is verified."""

from __future__ import annotations

import datetime as dt
from typing import Any

from markupsafe import Markup, escape

from federation.verify.loa import LevelOfAssurance
from federation.verify.mds import Address, DateValue, Gender, MatchingDataset, Name

_GENDER_WORDS = {"FEMALE": "Female", "MALE": "Male", "NOT_SPECIFIED": "Not specified"}


def long_date(day: dt.date) -> str:
    """The GOV.UK style for dates: 21 June 2008."""
    return f"{day.day} {day:%B %Y}"


def _note(value: Name | DateValue | Gender | Address) -> str:
    words = ["verified" if value.verified else "not verified"]
    if value.from_date:
        words.append(f"from {long_date(value.from_date)}")
    if value.to_date:
        words.append(f"to {long_date(value.to_date)}")
    return ", ".join(words)


def _item(lines: list[str], value: Name | DateValue | Gender | Address) -> Markup:
    text = Markup("<br>").join(escape(line) for line in lines)
    return Markup('<li>{}<br><span class="govuk-hint govuk-!-margin-bottom-0">{}</span></li>').format(
        text, _note(value)
    )


def _row(key: str, items: list[Markup]) -> dict[str, Any]:
    html = Markup('<ul class="govuk-list govuk-!-margin-bottom-0">{}</ul>').format(Markup("").join(items))
    return {"key": {"text": key}, "value": {"html": html}}


def dataset_rows(dataset: MatchingDataset, level: LevelOfAssurance) -> list[dict[str, Any]]:
    """Names, date of birth, gender, addresses and the level, in the order the dataset assertion carries them."""
    rows = [
        _row("First name", [_item([name.value], name) for name in dataset.first_names]),
    ]
    if dataset.middle_names:
        rows.append(_row("Middle names", [_item([name.value], name) for name in dataset.middle_names]))
    rows.append(_row("Last name", [_item([name.value], name) for name in dataset.surnames]))
    rows.append(_row("Date of birth", [_item([long_date(dob.value)], dob) for dob in dataset.dates_of_birth]))
    if dataset.gender:
        rows.append(_row("Gender", [_item([_GENDER_WORDS[dataset.gender.value]], dataset.gender)]))
    for key, addresses in (
        ("Current address", dataset.current_addresses),
        ("Previous addresses", dataset.previous_addresses),
    ):
        if addresses:
            rows.append(_row(key, [_item([*a.lines, *([a.postcode] if a.postcode else [])], a) for a in addresses]))
    rows.append({"key": {"text": "Level of assurance"}, "value": {"text": level.label}})
    return rows
