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
from federation.web.language import current_language
from federation.words import N_

ACS_PATH = "SAML2/SSO/Response/POST"
_SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
# Paths the app uses for itself; a service slug must not shadow them.
RESERVED_SLUGS = frozenset({"assets", "federation-static", "matching-service", "records", "_status"})

# What each service's start page says it is for (catalogue messages, in the page's language where shown).
DESCRIPTIONS = {
    "check-your-paye-tax": N_("Use this service to check your tax code and the employer we hold for you."),
    "claim-a-tax-refund": N_(
        "Use this service to claim back tax you paid on your wages or pension that you did not owe."
    ),
    "register-for-self-assessment": N_(
        "Use this service to register for Self Assessment if you need to send a tax return."
    ),
    "view-your-state-pension": N_(
        "Use this service to see how much State Pension you could get and when you can get it."
    ),
    "apply-for-carers-allowance": N_(
        "Use this service to apply for Carer's Allowance if you care for someone at least 35 hours a week."
    ),
}
# A service with no description of its own: ``what`` is its name, as the end of the sentence.
DESCRIPTION = N_("Use this service to %(what)s.")

# A cycle 3 fact as a citizen would name it, as a label on its own.
CYCLE3_LABELS = {
    "NationalInsuranceNumber": N_("National Insurance number"),
    "DrivingLicenceNumber": N_("Driving licence number"),
}
# What the start page says about being asked for it: whole sentences, as Welsh words the fact differently
# mid-sentence than as a label. ``fact`` names a fact with no sentence of its own.
CYCLE3_ASKED = {
    "NationalInsuranceNumber": N_(
        "If we cannot find your record from the details the company checks, "
        "you may be asked for your National Insurance number."
    ),
    "DrivingLicenceNumber": N_(
        "If we cannot find your record from the details the company checks, "
        "you may be asked for your driving licence number."
    ),
}
CYCLE3_ASKED_FOR = N_(
    "If we cannot find your record from the details the company checks, you may be asked for your %(fact)s."
)
# A catalogue message and the values of its placeholders: words a page puts in its language (``gettext``).
Words = tuple[str, dict[str, str]]


class VariantConfigError(RuntimeError):
    """A relying service under this app's base URL cannot be served as it is configured."""


@dataclass(frozen=True)
class Variant:
    """One relying service hosted by the stub service app."""

    slug: str
    entry: RelyingServiceEntry

    @property
    def name(self) -> str:
        """The service's name in the page's language."""
        return self.entry.in_language(current_language()).display_name

    @property
    def other_ways(self) -> str:
        """How to use the service without proving identity online, in the page's language."""
        return self.entry.in_language(current_language()).other_ways

    @property
    def acs_url(self) -> str:
        return self.entry.default_acs_url

    @property
    def description(self) -> Words:
        """What the service is for."""
        known = DESCRIPTIONS.get(self.slug)
        if known is not None:
            return known, {}
        return DESCRIPTION, {"what": f"{self.name[:1].lower()}{self.name[1:]}"}

    @property
    def cycle3(self) -> Cycle3Attribute | None:
        name = self.entry.cycle3_attribute
        return None if name is None else CYCLE3_ATTRIBUTES[name]

    @property
    def cycle3_label(self) -> str | None:
        """The cycle 3 fact as a label (a catalogue message), or its attribute's name if it has no words of ours."""
        name = self.entry.cycle3_attribute
        return None if name is None else CYCLE3_LABELS.get(name.value, name.value)

    @property
    def cycle3_asked(self) -> Words | None:
        """The start page's sentence about being asked for the cycle 3 fact, if the service asks for one."""
        name = self.entry.cycle3_attribute
        if name is None:
            return None
        known = CYCLE3_ASKED.get(name.value)
        return (known, {}) if known is not None else (CYCLE3_ASKED_FOR, {"fact": name.value})

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
