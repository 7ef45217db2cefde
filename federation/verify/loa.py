"""Levels of assurance, as GOV.UK Verify named them, and their SAML AuthnContextClassRef URIs."""

from __future__ import annotations

from enum import StrEnum

_URI_PREFIX = "urn:uk:gov:cabinet-office:tc:saml:authn-context:"


class LevelOfAssurance(StrEnum):
    LEVEL_1 = "LEVEL_1"
    LEVEL_2 = "LEVEL_2"

    @property
    def uri(self) -> str:
        return f"{_URI_PREFIX}level{self.rank}"

    @property
    def rank(self) -> int:
        return int(self.value.rsplit("_", 1)[1])

    @property
    def label(self) -> str:
        return f"Level {self.rank}"

    @classmethod
    def from_uri(cls, uri: str) -> LevelOfAssurance | None:
        return next((level for level in cls if level.uri == uri), None)

    def satisfies(self, required: LevelOfAssurance) -> bool:
        return self.rank >= required.rank


# An identity provider reports a suspected fraud as this class instead of a level.
FRAUD_LEVEL_URI = f"{_URI_PREFIX}levelX"
