"""The relying services this app hosts: every one in the federation file whose ACS lies under its base URL.

Each variant is served under its own slug, the path of its ``service_url``: ``/check-your-paye-tax/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from federation.config import RelyingServiceEntry
from federation.verify.cycle3 import CYCLE3_ATTRIBUTES, Cycle3Attribute

ACS_PATH = "SAML2/SSO/Response/POST"
_SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
# Paths the app uses for itself; a service slug must not shadow them.
RESERVED_SLUGS = frozenset({"assets", "federation-static", "matching-service", "records", "_status"})

DESCRIPTIONS = {
    "check-your-paye-tax": "Use this service to check your tax code and the employer we hold for you.",
    "claim-a-tax-refund": "Use this service to claim back tax you paid on your wages or pension that you did not owe.",
    "register-for-self-assessment": "Use this service to register for Self Assessment if you need to send a "
    "tax return.",
    "view-your-state-pension": "Use this service to see how much State Pension you could get and when you can get it.",
    "apply-for-carers-allowance": "Use this service to apply for Carer's Allowance if you care for someone at least "
    "35 hours a week.",
}


# A cycle 3 fact as a citizen would name it.
CYCLE3_WORDS = {
    "NationalInsuranceNumber": "National Insurance number",
    "DrivingLicenceNumber": "driving licence number",
}


class VariantConfigError(RuntimeError):
    """A relying service under this app's base URL cannot be served as it is configured."""


@dataclass(frozen=True)
class Variant:
    """One relying service hosted by the stub service app."""

    slug: str
    entry: RelyingServiceEntry

    @property
    def name(self) -> str:
        return self.entry.display_name

    @property
    def acs_url(self) -> str:
        return self.entry.default_acs_url

    @property
    def description(self) -> str:
        return DESCRIPTIONS.get(self.slug, f"Use this service to {self.name[:1].lower()}{self.name[1:]}.")

    @property
    def cycle3(self) -> Cycle3Attribute | None:
        name = self.entry.cycle3_attribute
        return None if name is None else CYCLE3_ATTRIBUTES[name]

    @property
    def cycle3_words(self) -> str | None:
        name = self.entry.cycle3_attribute
        return None if name is None else CYCLE3_WORDS.get(name.value, name.value)

    @property
    def creates_accounts(self) -> bool:
        return bool(self.entry.account_creation_attributes)

    @property
    def department(self) -> str:
        return self.entry.department

    @property
    def cookie(self) -> str:
        """The pending-request cookie: one per variant, so two services started in one browser do not collide."""
        return "stub_service_" + self.slug.replace("-", "_")


def find_variants(services: Iterable[RelyingServiceEntry], base_url: str) -> list[Variant]:
    """Every service whose default ACS URL is under ``base_url``, checked to fit this app's URL scheme."""
    base = base_url.rstrip("/")
    variants: list[Variant] = []
    for entry in services:
        if not entry.default_acs_url.startswith(base + "/"):
            continue
        slug = urlsplit(entry.service_url).path.strip("/")
        where = f"relying service {entry.entity_id}"
        if not entry.service_url.startswith(base + "/") or not _SLUG.fullmatch(slug) or slug in RESERVED_SLUGS:
            raise VariantConfigError(f"{where}: service_url must be {base}/<kebab-case-slug>/")
        if entry.default_acs_url != f"{base}/{slug}/{ACS_PATH}":
            raise VariantConfigError(f"{where}: its first ACS URL must be {base}/{slug}/{ACS_PATH}")
        if any(v.slug == slug for v in variants):
            raise VariantConfigError(f"{where}: another service already uses /{slug}/")
        variants.append(Variant(slug, entry))
    return variants
