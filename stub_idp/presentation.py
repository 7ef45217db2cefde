"""The matching dataset as rows for govukSummaryList: every value with its dates and whether it is verified.

Built while the page is, in the page's language: the words through ``gettext``, dates as the language writes
them. The test user's own data (names, addresses) is shown as it is. Shared with ``stub_idp_pysaml2``, which
reads stub_idp's catalogue for these words.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import reduce
from typing import Any

import flask_babel
from markupsafe import Markup, escape

from federation.verify.loa import LevelOfAssurance
from federation.verify.mds import Address, DateValue, Gender, MatchingDataset, Name
from federation.web import gettext
from federation.words import N_

_GENDER_WORDS = {"FEMALE": N_("Female"), "MALE": N_("Male"), "NOT_SPECIFIED": N_("Not specified")}
# ``LevelOfAssurance.label``'s words, as catalogue messages.
_LEVEL_LABELS = {LevelOfAssurance.LEVEL_1: N_("Level 1"), LevelOfAssurance.LEVEL_2: N_("Level 2")}
_KEYS = {
    "first_names": N_("First name"),
    "middle_names": N_("Middle names"),
    "surnames": N_("Last name"),
    "dates_of_birth": N_("Date of birth"),
    "gender": N_("Gender"),
    "current_addresses": N_("Current address"),
    "previous_addresses": N_("Previous addresses"),
    "level": N_("Level of assurance"),
}
_VERIFIED, _NOT_VERIFIED = N_("verified"), N_("not verified")
_FROM, _TO = N_("from %(date)s"), N_("to %(date)s")
# Translators: two levels of assurance, as in "Level 1 and Level 2".
_AND = N_("%(first)s and %(second)s")


def long_date(day: dt.date) -> str:
    """The GOV.UK style for dates, in the page's language: 21 June 2008, 21 Mehefin 2008."""
    return str(flask_babel.format_date(day, "d MMMM y"))


def level_label(level: LevelOfAssurance | str) -> str:
    """The level's name in the page's language: Level 1, Lefel 1 (a global of both stub IDPs' pages)."""
    return gettext(_LEVEL_LABELS[LevelOfAssurance(level)])


def levels_text(levels: Iterable[LevelOfAssurance | str]) -> str:
    """The levels as one phrase in the page's language: Level 1 and Level 2 (a page global too)."""
    labels = [level_label(level) for level in levels]
    return reduce(lambda first, second: gettext(_AND, first=first, second=second), labels) if labels else ""


def _note(value: Name | DateValue | Gender | Address) -> str:
    words = [gettext(_VERIFIED if value.verified else _NOT_VERIFIED)]
    if value.from_date:
        words.append(gettext(_FROM, date=long_date(value.from_date)))
    if value.to_date:
        words.append(gettext(_TO, date=long_date(value.to_date)))
    return ", ".join(words)


def _item(lines: list[str], value: Name | DateValue | Gender | Address) -> Markup:
    text = Markup("<br>").join(escape(line) for line in lines)
    return Markup('<li>{}<br><span class="govuk-hint govuk-!-margin-bottom-0">{}</span></li>').format(
        text, _note(value)
    )


def _row(key: str, items: list[Markup]) -> dict[str, Any]:
    html = Markup('<ul class="govuk-list govuk-!-margin-bottom-0">{}</ul>').format(Markup("").join(items))
    return {"key": {"text": gettext(_KEYS[key])}, "value": {"html": html}}


def dataset_rows(dataset: MatchingDataset, level: LevelOfAssurance) -> list[dict[str, Any]]:
    """Names, date of birth, gender, addresses and the level, in the order the dataset assertion carries them."""
    rows = [
        _row("first_names", [_item([name.value], name) for name in dataset.first_names]),
    ]
    if dataset.middle_names:
        rows.append(_row("middle_names", [_item([name.value], name) for name in dataset.middle_names]))
    rows.append(_row("surnames", [_item([name.value], name) for name in dataset.surnames]))
    rows.append(_row("dates_of_birth", [_item([long_date(dob.value)], dob) for dob in dataset.dates_of_birth]))
    if dataset.gender:
        rows.append(_row("gender", [_item([gettext(_GENDER_WORDS[dataset.gender.value])], dataset.gender)]))
    for key, addresses in (
        ("current_addresses", dataset.current_addresses),
        ("previous_addresses", dataset.previous_addresses),
    ):
        if addresses:
            rows.append(_row(key, [_item([*a.lines, *([a.postcode] if a.postcode else [])], a) for a in addresses]))
    rows.append({"key": {"text": gettext(_KEYS["level"])}, "value": {"text": level_label(level)}})
    return rows
