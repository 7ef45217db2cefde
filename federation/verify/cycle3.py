"""Cycle 3: one extra fact a relying service may ask for when matching on the dataset alone fails.

Each attribute has the wording the citizen sees and the published format its value must have.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from federation.words import N_


class Cycle3AttributeName(StrEnum):
    NATIONAL_INSURANCE_NUMBER = "NationalInsuranceNumber"
    DRIVING_LICENCE_NUMBER = "DrivingLicenceNumber"


@dataclass(frozen=True)
class Cycle3Attribute:
    name: Cycle3AttributeName
    label: str
    hint: str
    pattern: re.Pattern[str]
    empty_error: str
    format_error: str
    width_class: str
    # The hint's example, and what a citizen who copies it is told: it is not theirs, whatever its format.
    example: str
    example_error: str

    def normalise(self, raw: str) -> str:
        return "".join(raw.split()).upper()

    def validate(self, raw: str) -> tuple[str | None, str | None]:
        """(normalised value, None) when valid; (None, error message in Design System words) otherwise."""
        value = self.normalise(raw)
        if not value:
            return None, self.empty_error
        if value == self.normalise(self.example):
            return None, self.example_error
        if not self.pattern.fullmatch(value):
            return None, self.format_error
        return value, None


CYCLE3_ATTRIBUTES = {
    Cycle3AttributeName.NATIONAL_INSURANCE_NUMBER: Cycle3Attribute(
        name=Cycle3AttributeName.NATIONAL_INSURANCE_NUMBER,
        label=N_("What is your National Insurance number?"),
        hint=N_("It’s on your National Insurance card, benefit letter, payslip or P60. For example, ‘QQ 12 34 56 C’."),
        # HMRC's published format (NIM39110): two prefix letters (D, F, I, Q, U, V never; O never second;
        # BG, GB, KN, NK, NT, TN, ZZ never allocated), six digits, suffix A to D.
        pattern=re.compile(r"(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TY-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]"),
        empty_error=N_("Enter your National Insurance number"),
        format_error=N_("Enter a National Insurance number in the correct format"),
        width_class="govuk-input--width-10",
        example="QQ 12 34 56 C",
        example_error=N_("Enter your own National Insurance number, not the example"),
    ),
    Cycle3AttributeName.DRIVING_LICENCE_NUMBER: Cycle3Attribute(
        name=Cycle3AttributeName.DRIVING_LICENCE_NUMBER,
        label=N_("What is your driving licence number?"),
        hint=N_(
            "It’s 16 characters long and is in section 5 of your photocard licence. For example, ‘MORGA753116SM9IJ’."
        ),
        pattern=re.compile(r"[A-Z9]{5}[0-9][0156][0-9]([0][1-9]|[12][0-9]|3[01])[0-9][A-Z9]{2}[0-9][A-Z]{2}"),
        empty_error=N_("Enter your driving licence number"),
        format_error=N_("Enter a driving licence number in the correct format"),
        width_class="govuk-input--width-20",
        example="MORGA753116SM9IJ",
        example_error=N_("Enter your own driving licence number, not the example"),
    ),
}
