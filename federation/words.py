"""Marking text for the Welsh catalogue where it is written, in code that has no request to translate it for."""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 (gettext's own name for it, which the extractor looks for)
    """``message``, unchanged: marked for the catalogue (``make translations``), translated where it is shown.

    For words fixed before any page is built (an error's title, a form's label) in modules that must not load
    Flask; the page that shows them passes them through ``gettext``.
    """
    return message


# A date of birth with some of its parts left out, by the parts left out: the message for it on the stub IDPs'
# registration form and the stub service's record form.
DATE_OF_BIRTH_PARTS_MISSING: dict[tuple[str, ...], str] = {
    ("day",): N_("Date of birth must include a day"),
    ("month",): N_("Date of birth must include a month"),
    ("year",): N_("Date of birth must include a year"),
    ("day", "month"): N_("Date of birth must include a day and month"),
    ("day", "year"): N_("Date of birth must include a day and year"),
    ("month", "year"): N_("Date of birth must include a month and year"),
}
